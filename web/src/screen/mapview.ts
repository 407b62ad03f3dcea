// The district map: our own unit boundaries (no internet tiles), the open cases as points coloured
// by stage (overdue in red), the active sensor alarms by level, and a heat layer of where the open
// cases crowd. Clicking a unit drills down (district → streets → communities → grids); zooming in
// past GRID_ZOOM outlines the grids of the unit shown; clicking a point asks the page to show its
// summary.

import type { Boundaries, Level } from '../common/map';
import { h } from '../common/dom';
import { locale, t } from '../common/i18n';
import { chartIn, echarts, fontPx, ink, type ScreenOption } from './charts';
import { boundaries, childLevel, encloses, type Alarm, type CaseLite } from './data';

export const STAGE_COLOR: Record<string, string> = {
  reported: '#4fc3f7',
  registered: '#4fc3f7',
  dispatched: '#b39ddb',
  accepted: '#4dd0a1',
  in_progress: '#4dd0a1',
  handled: '#ffe082',
  suspended: '#90a4ae',
};
export const OVERDUE_COLOR = '#ff3b3b';
export const LEVEL_COLOR: Record<string, string> = {
  red: '#ff2d2d',
  orange: '#ff8c1a',
  yellow: '#ffd400',
  blue: '#2f7bff',
};
const LEVEL_RANK: Record<string, number> = { blue: 1, yellow: 2, orange: 3, red: 4 };
/** Zoom (ECharts geo scale) from which the grids are outlined over a street or district view. */
const GRID_ZOOM = 2.5;

/** One step of the drill-down: the unit shown and the map of its children. */
export interface View {
  code: string;
  name: string;
  level: Level;
  /** The level of the regions drawn. */
  childLevel: Level;
  mapName: string;
  names: Map<string, string>;
  synthetic: boolean;
}

export interface MapEvents {
  /** The view changed (drilled down or up). */
  view(v: View): void;
  case(id: string): void;
  alarm(a: Alarm): void;
  /** A region was clicked at the finest level (nothing below it to drill into). */
  leaf(code: string, name: string): void;
}

export class MapView {
  readonly chart: echarts.ECharts;
  readonly stack: View[] = [];
  private cases = new Map<string, CaseLite>();
  private alarms: Alarm[] = [];
  private drawn = false;
  private pending = 0;
  /** Grid outlines (rings of [lon, lat]) drawn while zoomed in, and for which unit. */
  private grids: { code: string; rings: number[][][] } | null = null;

  constructor(
    readonly el: HTMLElement,
    private on: MapEvents,
  ) {
    this.chart = chartIn(el);
    // For end-to-end tests and the console: the chart behind the element (convertToPixel …).
    (el as HTMLElement & { wxChart?: echarts.ECharts }).wxChart = this.chart;
    this.chart.on('click', (p: any) => {
      if (p.componentType === 'geo') {
        void this.drill(p.name as string);
      } else if (p.seriesId === 'cases' && p.data?.id) {
        this.on.case(p.data.id as string);
      } else if (p.seriesId === 'alarms' && p.data?.alarm) {
        this.on.alarm(p.data.alarm as Alarm);
      }
    });
    this.chart.on('georoam', () => void this.zoomed());
    // Not 'finished': the alarms' ripples keep the chart animating.
    this.chart.on('rendered', () => {
      if (this.stack.length && !el.dataset.ready) el.dataset.ready = '1';
    });
  }

  get current(): View | undefined {
    return this.stack[this.stack.length - 1];
  }

  /** Shows a unit's children; `level` is the unit's own level. */
  async show(code: string, name: string, level: Level, push = true): Promise<void> {
    const below = childLevel(level);
    if (!below) return;
    const ticket = ++this.pending;
    // The district's streets are the canonical layer; below it, the children of one unit.
    const { name: mapName, boundaries: b } = await boundaries(below, level === 'district' ? undefined : code);
    if (ticket !== this.pending) return;
    const view: View = { code, name, level, childLevel: below, mapName, names: namesOf(b), synthetic: b.features.some((f) => f.properties.synthetic) };
    if (!push) this.stack.length = 0;
    this.stack.push(view);
    this.render(true);
    this.on.view(view);
  }

  /** Drills into a child region of the current view. */
  async drill(code: string): Promise<void> {
    const v = this.current;
    if (!v) return;
    const name = v.names.get(code) ?? code;
    if (!childLevel(v.childLevel)) {
      this.on.leaf(code, name);
      return;
    }
    try {
      const { boundaries: b } = await boundaries(childLevel(v.childLevel)!, code);
      if (!b.features.length) {
        this.on.leaf(code, name);
        return;
      }
    } catch {
      this.on.leaf(code, name);
      return;
    }
    await this.show(code, name, v.childLevel);
  }

  /** After a roam: outline the grids when zoomed in far enough, drop them when zoomed out. */
  private async zoomed(): Promise<void> {
    const v = this.current;
    if (!v || v.childLevel === 'grid') return;
    const geo = (this.chart.getOption() as any).geo?.[0];
    const zoom = Number(geo?.zoom ?? 1);
    const want = zoom >= GRID_ZOOM;
    if (!want) {
      if (this.grids) {
        this.grids = null;
        this.el.dataset.grids = '0';
        this.render();
      }
      return;
    }
    if (this.grids?.code === v.code) return;
    try {
      const { boundaries: b } = await boundaries('grid', v.level === 'district' ? undefined : v.code);
      if (this.current !== v) return;
      this.grids = { code: v.code, rings: b.features.flatMap((f) => ringsOf(f.geometry)) };
      this.el.dataset.grids = String(b.features.length);
      this.render();
    } catch {
      /* No grid layer: the map stays as it is. */
    }
  }

  /** Goes back up to the view at `index` of the stack. */
  up(index = this.stack.length - 2): void {
    if (index < 0 || index >= this.stack.length - 1) return;
    this.stack.length = index + 1;
    this.render(true);
    this.on.view(this.current!);
  }

  setCases(list: CaseLite[]): void {
    this.cases = new Map(list.map((c) => [c.id, c]));
    this.render();
  }

  upsertCase(c: CaseLite): void {
    this.cases.set(c.id, c);
    this.render();
  }

  removeCase(id: string): void {
    if (this.cases.delete(id)) this.render();
  }

  hasCase(id: string): boolean {
    return this.cases.has(id);
  }

  setAlarms(list: Alarm[]): void {
    this.alarms = list;
    this.render();
  }

  /** The open cases inside the current view. */
  visibleCases(): CaseLite[] {
    const v = this.current;
    const all = [...this.cases.values()];
    return v && v.level !== 'district' ? all.filter((c) => encloses(v.code, c.location.unit)) : all;
  }

  allCases(): CaseLite[] {
    return [...this.cases.values()];
  }

  private render(newMap = false): void {
    const v = this.current;
    if (!v) return;
    const cases = this.visibleCases();
    const alarms = v.level === 'district' ? this.alarms : this.alarms.filter((a) => encloses(v.code, a.area));
    this.el.dataset.points = String(cases.length);
    this.el.dataset.alarms = String(alarms.length);
    // Regions tinted by how many open cases they hold.
    const perRegion = new Map<string, number>();
    for (const c of cases) {
      for (const code of v.names.keys()) {
        if (encloses(code, c.location.unit)) {
          perRegion.set(code, (perRegion.get(code) ?? 0) + 1);
          break;
        }
      }
    }
    const most = Math.max(1, ...perRegion.values());
    const fs = fontPx(13);
    const option: ScreenOption = {
      backgroundColor: 'transparent',
      tooltip: {
        trigger: 'item',
        backgroundColor: 'rgba(6, 20, 40, 0.92)',
        borderColor: ink.accent,
        textStyle: { color: ink.text, fontSize: fs },
        // DOM nodes, not HTML strings: the data is set as text.
        formatter: ((p: any) => {
          if (p.componentType === 'geo') return h('div', {}, v.names.get(p.name) ?? p.name);
          if (p.seriesId === 'cases') {
            const c = p.data.c as CaseLite;
            return h('div', {}, h('div', {}, c.id),
              h('div', {}, `${categoryOf(c) ?? t('card.uncategorised')} · ${t(`stage.${c.stage}`)}${c.overdue ? ` · ${t('overdue')}` : ''}`));
          }
          if (p.seriesId === 'alarms') {
            const a = p.data.alarm as Alarm;
            return h('div', {}, h('div', {}, localText(a.title)), h('div', {}, `${a.device_name} · ${t(`level.${a.level}`)}`));
          }
          return h('div');
        }) as any,
      },
      visualMap: {
        type: 'continuous',
        show: false,
        // The heat layer (series 1; series 0 is the grid outlines).
        seriesIndex: 1,
        min: 0,
        max: Math.max(3, Math.round(cases.length / 120)),
        inRange: { color: ['rgba(30,80,200,0)', 'rgba(30,144,255,0.55)', 'rgba(255,213,79,0.75)', 'rgba(255,87,34,0.9)'] },
      },
      geo: {
        map: v.mapName,
        nameProperty: 'code',
        roam: true,
        scaleLimit: { min: 0.8, max: 12 },
        layoutCenter: ['50%', '50%'],
        layoutSize: '94%',
        tooltip: { show: true },
        selectedMode: false,
        label: {
          show: true,
          color: '#bcd8ff',
          fontSize: v.childLevel === 'grid' ? Math.max(10, fs - 3) : fs,
          formatter: (p: any) => v.names.get(p.name) ?? p.name,
          textBorderColor: '#04101f',
          textBorderWidth: 2,
        },
        itemStyle: { areaColor: '#0b2848', borderColor: '#3fa7ff', borderWidth: 1.2, shadowColor: 'rgba(63,167,255,0.35)', shadowBlur: 8 },
        emphasis: { label: { color: '#ffffff' }, itemStyle: { areaColor: '#1b4f86' } },
        regions: [...v.names.keys()].map((code) => ({
          name: code,
          itemStyle: { areaColor: tint((perRegion.get(code) ?? 0) / most) },
        })),
      },
      series: [
        {
          id: 'grids',
          type: 'lines',
          coordinateSystem: 'geo',
          polyline: true,
          silent: true,
          lineStyle: { color: 'rgba(140, 200, 255, 0.45)', width: 0.6 },
          data: this.grids && this.grids.code === v.code ? this.grids.rings.map((coords) => ({ coords })) : [],
        },
        {
          id: 'heat',
          type: 'heatmap',
          coordinateSystem: 'geo',
          pointSize: 12,
          blurSize: 20,
          data: cases.map((c) => [c.location.lon, c.location.lat, 1]),
          silent: true,
        },
        {
          id: 'cases',
          type: 'scatter',
          coordinateSystem: 'geo',
          symbolSize: (_: unknown, p: any) => (p.data?.c?.overdue ? 9 : 6),
          data: cases
            // Overdue last, so they are drawn on top.
            .sort((a, b) => Number(a.overdue) - Number(b.overdue))
            .map((c) => ({
              id: c.id,
              value: [c.location.lon, c.location.lat],
              c,
              itemStyle: {
                color: c.overdue ? OVERDUE_COLOR : STAGE_COLOR[c.stage] ?? '#4fc3f7',
                borderColor: c.overdue ? '#ffffff' : 'rgba(0,0,0,0.4)',
                borderWidth: c.overdue ? 1 : 0.5,
              },
            })),
          large: false,
          animation: false,
          zlevel: 1,
        },
        {
          id: 'alarms',
          type: 'effectScatter',
          coordinateSystem: 'geo',
          symbol: 'triangle',
          symbolSize: (_: unknown, p: any) => 8 + 2 * (LEVEL_RANK[p.data?.alarm?.level] ?? 1),
          rippleEffect: { scale: 2.6, brushType: 'stroke', period: 3 },
          showEffectOn: 'render',
          data: alarms
            .slice()
            .sort((a, b) => (LEVEL_RANK[a.level] ?? 0) - (LEVEL_RANK[b.level] ?? 0))
            .map((a) => ({
              value: [a.lon, a.lat],
              alarm: a,
              itemStyle: { color: LEVEL_COLOR[a.level] ?? LEVEL_COLOR.blue, borderColor: '#fff', borderWidth: 1 },
            })),
          zlevel: 2,
        },
      ],
    };
    this.chart.setOption(option, { notMerge: newMap || !this.drawn, lazyUpdate: true });
    this.drawn = true;
  }
}

/** A case's category name in the page's language. */
export function categoryOf(c: CaseLite): string | null {
  return locale() === 'en' ? (c.category_name_en ?? c.category_name) : c.category_name;
}

/** The outer rings of a Polygon or MultiPolygon. */
function ringsOf(g: { type: string; coordinates: unknown }): number[][][] {
  if (g.type === 'Polygon') return [(g.coordinates as number[][][])[0]];
  if (g.type === 'MultiPolygon') return (g.coordinates as number[][][][]).map((p) => p[0]);
  return [];
}

function namesOf(b: Boundaries): Map<string, string> {
  return new Map(b.features.map((f) => [f.properties.code, f.properties.name]));
}

/** Region fill: deep blue, a little lighter the more open cases the region holds. */
function tint(share: number): string {
  const a = [11, 40, 72];
  const b = [28, 78, 130];
  const mix = a.map((x, i) => Math.round(x + (b[i] - x) * Math.min(1, share)));
  return `rgb(${mix.join(',')})`;
}

/** The part of a bilingual server text ("中文 / English") in the current language. */
export function localText(s: string): string {
  const i = s.indexOf(' / ');
  if (i < 0) return s;
  return locale() === 'en' ? s.slice(i + 3) : s.slice(0, i);
}
