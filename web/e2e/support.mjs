// Helpers the browser tests share: an API client logged in as a demo account, a point inside a
// community by the server's own boundaries, and small PNG tools (making a photo to upload, reading
// a screenshot back to tell it is not blank). Only node: modules, no files.

import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { after, before } from 'node:test';
import { DEMO_PASSWORD, launch, loginThroughForm, startServer } from './harness.mjs';

/**
 * Logs in as `username` through `POST /api/v1/auth/login` and resolves to
 * `call(path, init = {})`, a fetch of `url + path` that sends the bearer token (and a JSON
 * content type when `init.body` is a string; `init.headers` win). `call` resolves to
 * `{ status, body }`: the body parsed as JSON when it is JSON, else its text, null when empty.
 * Throws when the login is refused.
 */
export async function apiAs(url, username, password = DEMO_PASSWORD) {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${text}`);
  const { token } = JSON.parse(text);
  return async (path, init = {}) => {
    const res = await fetch(`${url}${path}`, {
      ...init,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(typeof init.body === 'string' ? { 'Content-Type': 'application/json' } : {}),
        ...(init.headers ?? {}),
      },
    });
    return { status: res.status, body: parseBody(await res.text()) };
  };
}

function parseBody(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Every `[lon, lat]` of a GeoJSON geometry's coordinates (any nesting). */
function positions(coordinates) {
  if (typeof coordinates[0] === 'number') return [coordinates];
  return coordinates.flatMap(positions);
}

/**
 * A point (WGS-84, `{ lon, lat }`) well inside a community by the server's own `/api/v1/locate`.
 * The demo's community boundaries are generated (Voronoi cells), so a hard-coded coordinate could
 * fall in a neighbour; (114.118, 22.548), for one, lies in 花场社区 of 东门街道. The unit's
 * boundary (`/api/v1/units/{code}`, else `/api/v1/boundaries?level=community`) gives a bounding
 * box; points on a grid over it are located in one batch, and of those inside the community the
 * one nearest their middle is taken.
 */
export async function pointIn(url, communityCode) {
  let code = communityCode;
  let geometry = null;
  const unit = await fetch(`${url}/api/v1/units/${encodeURIComponent(communityCode)}`);
  if (unit.ok) {
    const u = await unit.json();
    code = u.code ?? code;
    geometry = u.boundary ?? null;
  }
  if (!geometry) {
    const r = await fetch(`${url}/api/v1/boundaries?level=community`);
    if (!r.ok) throw new Error(`boundaries: ${r.status} ${await r.text()}`);
    const feature = (await r.json()).features.find((f) => f.properties.code === code || f.properties.code.startsWith(communityCode));
    if (!feature?.geometry) throw new Error(`no boundary for community ${communityCode}`);
    code = feature.properties.code;
    geometry = feature.geometry;
  }
  const isIt = (c) => !!c && (c === code || c.startsWith(communityCode));
  const all = positions(geometry.coordinates);
  const [xs, ys] = [all.map((c) => c[0]), all.map((c) => c[1])];
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // A coarse grid first, a finer one should a thin community slip through it.
  for (const n of [12, 48]) {
    const points = [];
    for (let i = 1; i < n; i++) {
      for (let j = 1; j < n; j++) points.push([+(x0 + ((x1 - x0) * i) / n).toFixed(6), +(y0 + ((y1 - y0) * j) / n).toFixed(6)]);
    }
    const r = await fetch(`${url}/api/v1/locate`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ points }),
    });
    if (!r.ok) throw new Error(`locate: ${r.status} ${await r.text()}`);
    const located = await r.json();
    const inside = points.filter((_, k) => isIt(located.results[k]?.community?.code));
    if (!inside.length) continue;
    const mx = inside.reduce((a, p) => a + p[0], 0) / inside.length;
    const my = inside.reduce((a, p) => a + p[1], 0) / inside.length;
    const d = (p) => Math.hypot(p[0] - mx, p[1] - my);
    const best = inside.reduce((a, p) => (d(p) < d(a) ? p : a));
    return { lon: best[0], lat: best[1] };
  }
  throw new Error(`no point found inside community ${communityCode}`);
}

/** A PNG of `width`×`height` pixels of one colour (8-bit RGB), made here so tests need no files. */
export function makePng(width = 48, height = 32, rgb = [40, 160, 90]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  // Each row: filter type 0, then the pixels.
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are) into
 * `{ width, height, channels, pixels }`. Throws on anything else.
 */
export function decodePng(buffer) {
  const buf = Buffer.from(buffer);
  if (buf.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const colour = data[9];
      if (depth !== 8) throw new Error(`PNG bit depth ${depth}: only 8-bit is read`);
      if (data[12] !== 0) throw new Error('interlaced PNG: not read');
      if (colour === 6) channels = 4;
      else if (colour === 2) channels = 3;
      else throw new Error(`PNG colour type ${colour}: only RGB and RGBA are read`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[i] = v & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/**
 * How many distinct RGB colours a PNG has (a blank screenshot has one or two). Takes the file's
 * bytes, or what `decodePng` made of them.
 */
export function pngColours(buffer) {
  const { width, height, channels, pixels } = Buffer.isBuffer(buffer) || buffer instanceof Uint8Array ? decodePng(buffer) : buffer;
  const seen = new Set();
  for (let i = 0; i < width * height; i++) {
    const o = i * channels;
    seen.add((pixels[o] << 16) | (pixels[o + 1] << 8) | pixels[o + 2]);
  }
  return seen.size;
}

/**
 * Registers hooks that start the real server and Chromium before a file's tests and stop them
 * after; the returned object holds them (`ctx.server`, `ctx.browser`) while the tests run.
 */
export function useServerAndBrowser() {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer();
    ctx.browser = await launch();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

/**
 * A console page of `ctx`'s server logged in as `username` through the form, on the tab `tab`
 * (its nav test id is `nav-${tab}`), once the view `view` has loaded. Page errors are collected.
 */
export async function consoleTab(ctx, username, tab, view) {
  const context = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await loginThroughForm(page, ctx.server.url, '/console', username);
  await page.getByTestId('nav').waitFor();
  await page.getByTestId(`nav-${tab}`).click();
  await page.locator(`[data-testid=${view}][data-loaded=true]`).waitFor({ timeout: 15_000 });
  return { context, page, errors };
}
