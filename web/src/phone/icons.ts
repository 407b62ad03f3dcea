// A few line icons drawn as SVG (no icon font, no emoji: the fonts on a closed network may lack them).

const SVG = 'http://www.w3.org/2000/svg';

const PATHS = {
  camera: 'M4 8h3l2-3h6l2 3h3v11H4z M12 17a4 4 0 1 0 0-8a4 4 0 0 0 0 8',
  list: 'M8 6h12 M8 12h12 M8 18h12 M4 6h.01 M4 12h.01 M4 18h.01',
  locate: 'M12 19a7 7 0 1 0 0-14a7 7 0 0 0 0 14 M12 2v3 M12 19v3 M2 12h3 M19 12h3 M12 14a2 2 0 1 0 0-4a2 2 0 0 0 0 4',
  check: 'M5 12l5 5l9-10',
  services: 'M7 3h7l5 5v13H7z M14 3v5h5 M10 13h6 M10 17h6',
} as const;

export function icon(name: keyof typeof PATHS, cls = 'ph-icon'): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', PATHS[name]);
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  return svg;
}
