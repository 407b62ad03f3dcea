// The panels around the map. Each draws into its own element when its data arrives; `null` data
// (an endpoint this server lacks) draws a dash.

import { h, replace } from '../common/dom';
import { formatTime, locale, percent, t } from '../common/i18n';
import { chartIn, echarts, fontPx, ink, type ScreenOption } from './charts';
import type { Alarm, CaseLite, DeviceSummary, Stats, UnitFigures, Warning } from './data';
import { LEVEL_COLOR, OVERDUE_COLOR, STAGE_COLOR, categoryOf, localText } from './mapview';

/** A titled panel; returns the section and its body. */
export function panel(title: string | HTMLElement, testid: string, extra?: HTMLElement): { el: HTMLElement; body: HTMLElement; title: HTMLElement } {
  const heading = h('h2', { class: 'scr-panel-title' }, title);
  const body = h('div', { class: 'scr-panel-body' });
  const el = h('section', { class: 'scr-panel', 'data-testid': testid }, h('div', { class: 'scr-panel-head' }, heading, extra), body);
  return { el, body, title: heading };
}

export const dash = () => h('div', { class: 'scr-dash' }, t('screen.no_data'));

const fmt = (n: number | null | undefined) => (n == null ? t('screen.no_data') : n.toLocaleString(locale() === 'en' ? 'en' : 'zh-CN'));

// ---------------------------------------------------------------- KPI tiles

export interface Kpis {
  todayIntake?: number | null;
  open?: { n: number; capped: boolean } | null;
  overdue?: { n: number; period: 'now' | '30d' } | null;
  monthIntake?: number | null;
  closed?: number | null;
  closureRate?: number | null;
}

export function drawKpis(el: HTMLElement, k: Kpis): void {
  const tile = (testid: string, label: string, value: string, sub: string, cls = '') =>
    h('div', { class: `scr-kpi ${cls}`, 'data-testid': testid }, h('div', { class: 'scr-kpi-value', 'data-testid': `${testid}-value` }, value), h('div', { class: 'scr-kpi-label' }, label), h('div', { class: 'scr-kpi-sub' }, sub));
  replace(
    el,
    tile('kpi-today', t('kpi.today_intake'), fmt(k.todayIntake), t('kpi.today')),
    tile('kpi-open', t('kpi.open'), k.open ? (k.open.capped ? t('kpi.open_capped', { n: fmt(k.open.n) }) : fmt(k.open.n)) : fmt(null), t('kpi.now')),
    tile('kpi-overdue', t('kpi.overdue'), fmt(k.overdue?.n), k.overdue?.period === '30d' ? t('kpi.period_30d') : t('kpi.now'), 'scr-kpi-bad'),
    tile('kpi-month', t('rank.intake'), fmt(k.monthIntake), t('kpi.period_30d')),
    tile('kpi-closed', t('kpi.closed'), fmt(k.closed), t('kpi.period_30d'), 'scr-kpi-good'),
    tile('kpi-closure', t('kpi.closure_rate'), percent(k.closureRate), t('kpi.period_30d'), 'scr-kpi-good'),
  );
}

// ---------------------------------------------------------------- intake by channel

const CHANNELS = ['resident_app', 'hotline_12345', 'inspector', 'sensor', 'video_ai', 'open311', 'import'];

export class ChannelChart {
  private chart: echarts.ECharts | null = null;
  constructor(private el: HTMLElement) {}

  draw(byChannel: [string, number][] | null | undefined): void {
    if (!byChannel) {
      this.chart?.dispose();
      this.chart = null;
      replace(this.el, dash());
      return;
    }
    if (!this.chart) {
      replace(this.el);
      this.chart = chartIn(this.el);
    }
    const counts = new Map(byChannel);
    const rows = [...new Set([...CHANNELS, ...counts.keys()])].map((c) => ({ c, n: counts.get(c) ?? 0 })).reverse();
    this.el.dataset.total = String(rows.reduce((s, r) => s + r.n, 0));
    const fs = fontPx(13);
    const option: ScreenOption = {
      grid: { left: 8, right: 44, top: 6, bottom: 6 },
      xAxis: { type: 'value', show: false },
      yAxis: {
        type: 'category',
        data: rows.map((r) => t(`channel.${r.c}`)),
        axisLabel: { color: ink.text, fontSize: fs },
        axisLine: { show: false },
        axisTick: { show: false },
      },
      series: [
        {
          type: 'bar',
          data: rows.map((r) => r.n),
          barMaxWidth: 14,
          itemStyle: {
            borderRadius: [0, 7, 7, 0],
            color: new echarts.graphic.LinearGradient(0, 0, 1, 0, [
              { offset: 0, color: '#1565c0' },
              { offset: 1, color: '#40c4ff' },
            ]),
          },
          label: { show: true, position: 'right', color: ink.text, fontSize: fs },
          showBackground: true,
          backgroundStyle: { color: 'rgba(64,160,255,0.07)' },
        },
      ],
    };
    this.chart.setOption(option);
  }
}

// ---------------------------------------------------------------- ranking of child units

export type RankKey = 'closure_rate' | 'handled_on_time_rate' | 'satisfaction_rate';
export const RANK_KEYS: RankKey[] = ['closure_rate', 'handled_on_time_rate', 'satisfaction_rate'];

/**
 * Ranks the children of the unit on the map by one indicator, best first: a bar chart drawn with
 * DOM rows (readable at any size, clickable). Units come from the boundaries, figures from
 * `/api/v1/stats/units`; without figures the rows show a dash.
 */
export function drawRanking(
  el: HTMLElement,
  units: { code: string; name: string }[],
  figures: UnitFigures[] | null,
  key: RankKey,
  onPick: (code: string) => void,
): void {
  const byCode = new Map((figures ?? []).map((f) => [f.code, f]));
  const rows = units.map((u) => ({ ...u, f: byCode.get(u.code), v: byCode.get(u.code)?.[key] ?? null }));
  rows.sort((a, b) => (b.v ?? -1) - (a.v ?? -1) || a.name.localeCompare(b.name, 'zh-CN'));
  replace(
    el,
    h(
      'ol',
      { class: 'scr-rank', 'data-testid': 'ranking-list' },
      ...rows.map((r, i) =>
        h(
          'li',
          { 'data-testid': 'ranking-row', 'data-code': r.code, title: r.name, onclick: () => onPick(r.code) },
          h('span', { class: `scr-rank-no ${i < 3 && r.v != null ? 'scr-rank-top' : ''}` }, String(i + 1)),
          h('span', { class: 'scr-rank-name', 'data-testid': 'ranking-name' }, r.name),
          h('span', { class: 'scr-rank-bar' }, h('span', { style: `width:${r.v == null ? 0 : Math.max(1, r.v * 100).toFixed(1)}%` })),
          h('span', { class: 'scr-rank-value' }, percent(r.v)),
          h('span', { class: 'scr-rank-extra' }, r.f ? `${t('rank.intake')} ${fmt(r.f.intake)}` : ''),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- 30-day trend

export class TrendChart {
  private chart: echarts.ECharts | null = null;
  constructor(private el: HTMLElement) {}

  draw(stats: Stats | null, days: string[]): void {
    if (!stats) {
      this.chart?.dispose();
      this.chart = null;
      replace(this.el, dash());
      return;
    }
    if (!this.chart) {
      replace(this.el);
      this.chart = chartIn(this.el);
    }
    const per = new Map(stats.per_day);
    const fs = fontPx(12);
    const option: ScreenOption = {
      grid: { left: 8, right: 16, top: 18, bottom: 4 },
      tooltip: { trigger: 'axis', backgroundColor: 'rgba(6,20,40,0.92)', borderColor: ink.accent, textStyle: { color: ink.text } },
      xAxis: {
        type: 'category',
        data: days.map((d) => d.slice(5)),
        boundaryGap: false,
        axisLabel: { color: ink.muted, fontSize: fs },
        axisLine: { lineStyle: { color: ink.line } },
      },
      yAxis: {
        type: 'value',
        minInterval: 1,
        axisLabel: { color: ink.muted, fontSize: fs },
        splitLine: { lineStyle: { color: ink.line } },
      },
      series: [
        {
          type: 'line',
          name: t('trend.series'),
          data: days.map((d) => per.get(d) ?? 0),
          smooth: true,
          symbol: 'circle',
          symbolSize: 4,
          lineStyle: { color: '#40c4ff', width: 2 },
          itemStyle: { color: '#40c4ff' },
          areaStyle: {
            color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [
              { offset: 0, color: 'rgba(64,196,255,0.45)' },
              { offset: 1, color: 'rgba(64,196,255,0.02)' },
            ]),
          },
        },
      ],
    };
    this.chart.setOption(option);
  }
}

// ---------------------------------------------------------------- devices and alarms

const typeName = (ty: DeviceSummary['by_type'][number]) => (locale() === 'en' && ty.name_en ? ty.name_en : ty.name);

export function drawDevices(el: HTMLElement, d: DeviceSummary | null): void {
  if (!d) {
    replace(el, dash());
    return;
  }
  const rate = d.online_rate ?? (d.total ? d.active / d.total : null);
  replace(
    el,
    h(
      'div',
      { class: 'scr-dev' },
      h(
        'div',
        { class: 'scr-dev-rate', style: `--rate:${((rate ?? 0) * 100).toFixed(1)}` },
        h('div', { class: 'scr-dev-rate-value', 'data-testid': 'device-online-rate' }, percent(rate)),
        h('div', { class: 'scr-dev-rate-label' }, t('devices.online_rate')),
      ),
      h(
        'div',
        { class: 'scr-dev-counts' },
        h('div', {}, t('devices.total', { n: fmt(d.total) })),
        h('div', { class: 'scr-ok' }, t('devices.active', { n: fmt(d.active) })),
        h('div', { class: 'scr-bad' }, t('devices.inactive', { n: fmt(d.inactive) })),
        h('div', { class: 'scr-muted' }, t('devices.disabled', { n: fmt(d.disabled) })),
      ),
    ),
    h(
      'ul',
      { class: 'scr-dev-types' },
      ...d.by_type.slice(0, 6).map((ty) =>
        h(
          'li',
          {},
          h('span', { class: 'scr-dev-type-name', title: typeName(ty) }, typeName(ty)),
          h('span', { class: 'scr-rank-bar' }, h('span', { style: `width:${ty.total ? ((100 * ty.active) / ty.total).toFixed(1) : 0}%` })),
          h('span', { class: 'scr-dev-type-n' }, `${fmt(ty.active)}/${fmt(ty.total)}`),
        ),
      ),
    ),
  );
}

export function drawAlarmLevels(el: HTMLElement, alarms: Alarm[] | null): void {
  if (!alarms) {
    replace(el, dash());
    return;
  }
  const by = new Map<string, number>();
  for (const a of alarms) by.set(a.level, (by.get(a.level) ?? 0) + 1);
  replace(
    el,
    h(
      'div',
      { class: 'scr-levels' },
      ...['red', 'orange', 'yellow', 'blue'].map((lv) =>
        h(
          'div',
          { class: 'scr-level', style: `--c:${LEVEL_COLOR[lv]}`, 'data-testid': `alarms-${lv}` },
          h('div', { class: 'scr-level-n' }, fmt(by.get(lv) ?? 0)),
          h('div', { class: 'scr-level-name' }, t(`level.${lv}`)),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- early warnings


export function drawWarnings(el: HTMLElement, list: Warning[] | null, unitName: (code: string) => string): void {
  if (!list) {
    replace(el, dash());
    return;
  }
  if (!list.length) {
    replace(el, h('div', { class: 'scr-empty' }, t('warnings.empty')));
    return;
  }
  replace(
    el,
    h(
      'ul',
      { class: 'scr-warnings', 'data-testid': 'warning-list' },
      ...list.map((w) =>
        h(
          'li',
          { class: 'scr-warning', style: `--c:${LEVEL_COLOR[w.level] ?? LEVEL_COLOR.blue}`, 'data-testid': 'warning-item' },
          h(
            'div',
            { class: 'scr-warning-head' },
            h('span', { class: 'scr-chip' }, t(`level.${w.level}`)),
            h('span', { class: 'scr-warning-kind' }, t(`warnings.kind.${w.kind}`)),
            h('span', { class: 'scr-warning-area' }, unitName(w.area)),
            h('span', { class: 'scr-warning-time' }, formatTime(w.updated_at)),
          ),
          h('div', { class: 'scr-warning-msg' }, localText(w.message)),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- side card

export function closeButton(onClose: () => void): HTMLButtonElement {
  return h('button', { type: 'button', class: 'scr-card-close', 'aria-label': t('card.close'), title: t('card.close'), 'data-testid': 'card-close', onclick: onClose }, '×');
}

export function unitCard(name: string, stats: Stats | null, open: CaseLite[], unitName: (code: string) => string, onClose: () => void): HTMLElement {
  const ind = (key: string) => stats?.indicators.find((i) => i.key === key)?.value ?? null;
  const fig = (label: string, value: string, cls = '') => h('div', { class: `scr-fig ${cls}` }, h('div', { class: 'scr-fig-v' }, value), h('div', { class: 'scr-fig-l' }, label));
  return h(
    'div',
    { class: 'scr-card', 'data-testid': 'unit-card' },
    h('div', { class: 'scr-card-head' }, h('h3', {}, t('card.unit_title', { name })), closeButton(onClose)),
    h(
      'div',
      { class: 'scr-figs' },
      fig(t('card.intake'), fmt(stats?.intake)),
      fig(t('card.closed'), fmt(stats?.counts.closed), 'scr-ok'),
      fig(t('card.overdue_open'), fmt(stats?.counts.overdue_open), 'scr-bad'),
      fig(t('kpi.open'), fmt(open.length)),
      fig(t('rank.closure_rate'), percent(ind('closure_rate'))),
      fig(t('rank.handled_on_time_rate'), percent(ind('handled_on_time_rate'))),
      fig(t('rank.satisfaction_rate'), percent(ind('satisfaction_rate'))),
      fig(t('card.open_overdue'), fmt(open.filter((c) => c.overdue).length), 'scr-bad'),
    ),
    stats && stats.hotspots.length
      ? h(
          'div',
          { class: 'scr-card-hot' },
          h('h4', {}, t('card.hotspots')),
          h('ol', {}, ...stats.hotspots.slice(0, 5).map(([code, n]) => h('li', {}, h('span', {}, unitName(code)), h('span', {}, fmt(n))))),
        )
      : null,
  );
}

export function caseCard(c: CaseLite | null, id: string, unitName: (code: string) => string, onClose: () => void): HTMLElement {
  const row = (label: string, value: string | HTMLElement, testid?: string) => h('div', { class: 'scr-card-row' }, h('dt', {}, label), h('dd', { 'data-testid': testid }, value));
  if (!c) {
    return h('div', { class: 'scr-card', 'data-testid': 'case-card' }, h('div', { class: 'scr-card-head' }, h('h3', {}, t('card.case_title', { id })), closeButton(onClose)), h('p', {}, t('card.not_found')));
  }
  const color = c.overdue ? OVERDUE_COLOR : STAGE_COLOR[c.stage] ?? '#4fc3f7';
  return h(
    'div',
    { class: 'scr-card', 'data-testid': 'case-card' },
    h('div', { class: 'scr-card-head' }, h('h3', { 'data-testid': 'case-id' }, t('card.case_title', { id: c.id })), closeButton(onClose)),
    h(
      'dl',
      {},
      row(t('card.category'), categoryOf(c) ?? t('card.uncategorised'), 'case-category'),
      row(
        t('card.stage'),
        h('span', {}, h('span', { class: 'scr-chip', style: `--c:${color}` }, t(`stage.${c.stage}`)), c.overdue ? h('span', { class: 'scr-chip', style: `--c:${OVERDUE_COLOR}` }, t('overdue')) : null),
        'case-stage',
      ),
      row(t('card.priority'), t(`priority.${c.priority}`)),
      row(t('card.assignee'), c.assignee ? unitName(c.assignee) : t('screen.no_data'), 'case-assignee'),
      row(t('card.due'), formatTime(c.due_at), 'case-due'),
      row(t('card.location'), c.location.unit_name ?? unitName(c.location.unit)),
      row(t('card.reported'), formatTime(c.created_at)),
    ),
    h('p', { class: 'scr-card-desc', 'data-testid': 'case-description' }, c.description),
  );
}

export function alarmCard(a: Alarm, unitName: (code: string) => string, onClose: () => void): HTMLElement {
  const row = (label: string, value: string) => h('div', { class: 'scr-card-row' }, h('dt', {}, label), h('dd', {}, value));
  return h(
    'div',
    { class: 'scr-card', 'data-testid': 'alarm-card' },
    h('div', { class: 'scr-card-head' }, h('h3', {}, localText(a.title)), closeButton(onClose)),
    h(
      'dl',
      {},
      row(t('map.legend.alarm'), a.device_name),
      row(t('card.stage'), t(`level.${a.level}`)),
      row(t('card.location'), unitName(a.area)),
      row(t('card.reported'), formatTime(a.raised_at)),
    ),
  );
}
