// 一屏可视: the leaders' one screen. A dark 1920×1080 board that scales with the window: the map
// of the district with the open cases, sensor alarms and a heat layer in the middle, the figures
// around it, kept live over the event stream.
//
// First paint is cheap however large the store: the map is drawn as soon as the boundaries arrive,
// every other request goes out at the same time and fills its panel when it answers; cases are
// never loaded in full (at most the newest 1000 open ones, for the points), figures come from the
// aggregate endpoints.

import '../common/base.css';
import './screen.css';
import { ApiError, api, logout, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { languageSwitch, t, useMessages } from '../common/i18n';
import { requireLogin } from '../common/login';
import type { Level } from '../common/map';
import { openStream } from '../common/stream';
import zh from '../messages/zh-CN/screen.json';
import en from '../messages/en/screen.json';
import {
  OPEN_LIMIT,
  addDays,
  fetchAlarms,
  fetchCase,
  fetchDevices,
  fetchOpenCases,
  fetchReady,
  fetchStats,
  fetchUnitStats,
  fetchWarnings,
  isOpen,
  levelOf,
  periods,
  type Alarm,
  type CaseLite,
  type Stats,
  type UnitFigures,
  type Warning,
} from './data';
import { Throttle, cstClock, cstTime } from './live';
import { LEVEL_COLOR, MapView, OVERDUE_COLOR, STAGE_COLOR, type View } from './mapview';
import {
  ChannelChart,
  RANK_KEYS,
  TrendChart,
  alarmCard,
  caseCard,
  dash,
  drawAlarmLevels,
  drawDevices,
  drawKpis,
  drawRanking,
  drawWarnings,
  panel,
  unitCard,
  type Kpis,
  type RankKey,
} from './panels';

useMessages(zh, en);
document.title = t('screen.title');
const root = document.getElementById('app')!;
const me = await requireLogin(root, {
  title: t('screen.login_title'),
  demoFilter: (a) => a.roles.some((r) => r === 'leader' || r === 'admin' || r === 'supervisor' || r === 'dispatcher' || r === 'operator'),
});
start(me);

function start(me: Me): void {
  document.body.classList.add('scr-dark');

  // ------------------------------------------------------------ layout
  const clock = h('span', { class: 'scr-clock', 'data-testid': 'clock' });
  const updated = h('span', { class: 'scr-updated', 'data-testid': 'last-updated' }, t('screen.updated_never'));
  const liveText = h('span', {}, t('live.off'));
  const live = h('span', { class: 'scr-live scr-live-off', 'data-testid': 'live-state', 'data-live': '0' }, h('span', { class: 'scr-live-dot' }), liveText);
  const demoBadge = h('span', { class: 'scr-badge', 'data-testid': 'demo-badge', hidden: true }, t('demo.badge'));
  const syntheticNote = h('span', { class: 'scr-note', 'data-testid': 'synthetic-note', hidden: true }, t('map.synthetic'));
  const scopeName = h('span', { class: 'scr-scope' });
  const header = h(
    'header',
    { class: 'scr-head' },
    h('div', { class: 'scr-head-left' }, h('h1', { 'data-testid': 'screen-title' }, t('screen.title')), scopeName),
    h('div', { class: 'scr-head-mid' }, demoBadge, syntheticNote),
    h(
      'div',
      { class: 'scr-head-right' },
      clock,
      updated,
      live,
      languageSwitch(),
      h('button', { type: 'button', class: 'scr-logout', 'data-testid': 'logout', onclick: () => void logout().finally(() => location.reload()) }, t('logout')),
    ),
  );

  const kpis = panel(t('kpi.now'), 'kpis');
  kpis.el.classList.add('scr-kpis-panel');
  kpis.title.remove();
  const channel = panel(t('panel.intake_channel'), 'panel-channel');
  const rankTabs = h('div', { class: 'scr-tabs', role: 'tablist' });
  const ranking = panel(t('panel.ranking.street'), 'panel-ranking', rankTabs);
  const mapPanel = panel(t('panel.map'), 'panel-map');
  const trend = panel(t('panel.trend'), 'panel-trend');
  const devices = panel(t('panel.devices'), 'panel-devices');
  const alarms = panel(t('panel.alarms'), 'panel-alarms');
  const warnings = panel(t('panel.warnings'), 'panel-warnings');

  const crumbs = h('nav', { class: 'scr-crumbs', 'data-testid': 'map-crumbs' });
  mapPanel.title.after(crumbs);
  const mapEl = h('div', { class: 'scr-map', 'data-testid': 'map' });
  const card = h('div', { class: 'scr-card-slot', 'data-testid': 'side-card' });
  const pointCount = h('div', { class: 'scr-map-count', 'data-testid': 'map-points' });
  const legend = h(
    'div',
    { class: 'scr-legend' },
    ...[
      ['registered', STAGE_COLOR.registered],
      ['dispatched', STAGE_COLOR.dispatched],
      ['in_progress', STAGE_COLOR.in_progress],
      ['handled', STAGE_COLOR.handled],
      ['suspended', STAGE_COLOR.suspended],
    ].map(([s, c]) => h('span', { class: 'scr-legend-dot', style: `--c:${c}` }, t(`stage.${s}`))),
    h('span', { class: 'scr-legend-dot scr-legend-overdue', style: `--c:${OVERDUE_COLOR}` }, t('map.legend.overdue')),
    ...['red', 'orange', 'yellow', 'blue'].map((lv) => h('span', { class: 'scr-legend-tri', style: `--c:${LEVEL_COLOR[lv]}` }, t(`level.${lv}`))),
    h('span', { class: 'scr-legend-heat' }, t('map.legend.heat')),
  );
  replace(mapPanel.body, mapEl, card, h('div', { class: 'scr-map-foot' }, legend, pointCount, h('span', { class: 'scr-hint' }, t('map.hint'))));
  mapPanel.body.classList.add('scr-map-body');

  replace(
    root,
    h(
      'div',
      { class: 'scr', 'data-testid': 'screen' },
      header,
      h(
        'main',
        { class: 'scr-grid' },
        h('div', { class: 'scr-col scr-left' }, kpis.el, channel.el, ranking.el),
        h('div', { class: 'scr-col scr-center' }, mapPanel.el, trend.el),
        h('div', { class: 'scr-col scr-right' }, devices.el, alarms.el, warnings.el),
      ),
    ),
  );
  for (const p of [channel, ranking, trend, devices, alarms, warnings]) replace(p.body, h('div', { class: 'scr-loading' }, t('screen.loading')));

  // ------------------------------------------------------------ state
  const names = new Map<string, string>();
  // Departments (区城管局 …) by code, so a case assigned to one names it; a street's staff may see
  // none, and then the code stays.
  void api<{ code: string; name: string }[]>('/api/v1/departments')
    .then((list) => {
      for (const d of list) names.set(d.code, d.name);
      drawCard();
    })
    .catch(() => {});
  // Names of units not loaded with the tree (grids) are looked up once each, then the panels that
  // showed the bare code are drawn again.
  const asked = new Set<string>();
  let redrawNames: ReturnType<typeof setTimeout> | null = null;
  const unitName = (code: string) => {
    const n = names.get(code);
    if (n) return n;
    if (/^\d{12,15}$/.test(code) && !asked.has(code) && asked.size < 300) {
      asked.add(code);
      api<{ name: string }>(`/api/v1/units/${code}`)
        .then((u) => {
          names.set(code, u.name);
          redrawNames ??= setTimeout(() => {
            redrawNames = null;
            if (lastWarnings) drawWarnings(warnings.body, lastWarnings, unitName);
            drawCard();
          }, 300);
        })
        .catch(() => {});
    }
    return code;
  };
  let monthStats: Stats | null = null;
  let capped = false;
  let openLoaded = false;
  let todayIntake: number | null | undefined;
  let rankKey: RankKey = 'closure_rate';
  let rankFigures: UnitFigures[] | null = null;
  let rankFor = '';
  type Selection = { kind: 'unit'; code: string; name: string; stats: Stats | null } | { kind: 'case'; id: string; c: CaseLite | null } | { kind: 'alarm'; a: Alarm };
  let selected: Selection | null = null;

  const touch = () => {
    updated.textContent = t('screen.updated', { time: cstTime(new Date()) });
    updated.dataset.at = String(Date.now());
  };
  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e) => {
      if (e instanceof ApiError && e.status === 401) location.reload();
      throw e;
    });

  // ------------------------------------------------------------ header bits
  const tick = () => (clock.textContent = t('screen.clock', { time: cstClock(new Date()) }));
  tick();
  setInterval(tick, 1000);
  void fetchReady()
    .then((r) => (demoBadge.hidden = !r.demo))
    .catch(() => {});

  // ------------------------------------------------------------ the map
  const map = new MapView(mapEl, {
    view: (v) => onView(v),
    case: (id) => void showCase(id),
    alarm: (a) => {
      selected = { kind: 'alarm', a };
      drawCard();
    },
    leaf: (code, name) => void showUnit(code, name),
  });

  function onView(v: View): void {
    syntheticNote.hidden = !map.stack.some((s) => s.synthetic);
    for (const [code, name] of v.names) names.set(code, name);
    replace(
      crumbs,
      ...map.stack.map((s, i) =>
        i < map.stack.length - 1
          ? h('button', { type: 'button', class: 'scr-crumb', 'data-testid': 'crumb', onclick: () => map.up(i) }, s.name)
          : h('span', { class: 'scr-crumb scr-crumb-here', 'data-testid': 'crumb' }, s.name),
      ),
    );
    ranking.title.textContent = map.stack.length > 1 ? t('panel.ranking_children', { name: v.name }) : t(`panel.ranking.${v.childLevel}`);
    drawPoints();
    void loadRanking();
    if (map.stack.length > 1) void showUnit(v.code, v.name);
    else closeCard();
  }

  function drawPoints(): void {
    const n = map.visibleCases().length;
    pointCount.dataset.count = String(n);
    pointCount.textContent = t('map.points', { n }) + (capped ? ` ${t('map.points_capped', { n: OPEN_LIMIT })}` : '');
  }

  // ------------------------------------------------------------ the side card
  function closeCard(): void {
    selected = null;
    drawCard();
  }
  function drawCard(): void {
    const s = selected;
    if (!s) {
      replace(card);
      card.hidden = true;
      return;
    }
    card.hidden = false;
    if (s.kind === 'unit') replace(card, unitCard(s.name, s.stats, map.allCases().filter((c) => inUnit(s.code, c)), unitName, closeCard));
    else if (s.kind === 'case') replace(card, caseCard(s.c, s.id, unitName, closeCard));
    else replace(card, alarmCard(s.a, unitName, closeCard));
  }
  const inUnit = (code: string, c: CaseLite) => c.location.unit.startsWith(code.slice(0, levelOf(code) === 'district' ? 6 : levelOf(code) === 'street' ? 9 : code.length));

  async function showUnit(code: string, name: string): Promise<void> {
    selected = { kind: 'unit', code, name, stats: null };
    drawCard();
    await refreshUnitCard();
  }
  async function refreshUnitCard(): Promise<void> {
    const s = selected;
    if (s?.kind !== 'unit') return;
    const { month } = periods();
    try {
      const stats = await guard(fetchStats(month.from, month.to, s.code));
      if (selected === s) {
        s.stats = stats;
        drawCard();
      }
    } catch {
      /* the card keeps its dashes */
    }
  }
  async function showCase(id: string): Promise<void> {
    const known = map.allCases().find((c) => c.id === id) ?? null;
    selected = { kind: 'case', id, c: known };
    drawCard();
    try {
      const c = await guard(fetchCase(id));
      if (selected?.kind === 'case' && selected.id === id) {
        selected.c = c;
        drawCard();
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && selected?.kind === 'case' && selected.id === id) {
        selected.c = null;
        drawCard();
      }
    }
  }

  // ------------------------------------------------------------ figures
  function drawKpiTiles(): void {
    const open = map.allCases();
    const k: Kpis = {
      todayIntake,
      open: openLoaded ? { n: open.length, capped } : undefined,
      overdue: openLoaded && !capped ? { n: open.filter((c) => c.overdue).length, period: 'now' } : monthStats ? { n: monthStats.counts.overdue_open ?? 0, period: '30d' } : undefined,
      monthIntake: monthStats?.intake,
      closed: monthStats?.counts.closed,
      closureRate: monthStats?.indicators.find((i) => i.key === 'closure_rate')?.value,
    };
    drawKpis(kpis.body, k);
  }
  drawKpiTiles();

  const channelChart = new ChannelChart(channel.body);
  const trendChart = new TrendChart(trend.body);

  async function loadToday(): Promise<void> {
    const { today } = periods();
    try {
      const s = await guard(fetchStats(today.from, today.to));
      todayIntake = s.intake;
      channelChart.draw(s.by_channel ?? null);
      touch();
    } catch (e) {
      if (todayIntake === undefined) channelChart.draw(null);
      throw e;
    } finally {
      drawKpiTiles();
    }
  }

  async function loadMonth(): Promise<void> {
    const { month } = periods();
    const days: string[] = [];
    for (let d = month.from; d < month.to; d = addDays(d, 1)) days.push(d);
    try {
      monthStats = await guard(fetchStats(month.from, month.to));
      trendChart.draw(monthStats, days);
      touch();
    } catch (e) {
      if (!monthStats) trendChart.draw(null, days);
      throw e;
    } finally {
      drawKpiTiles();
    }
  }

  function drawRank(): void {
    const v = map.current;
    if (!v) return;
    const units = [...v.names].map(([code, name]) => ({ code, name }));
    drawRanking(ranking.body, units, rankFor === v.code ? rankFigures : null, rankKey, (code) => void map.drill(code));
  }
  for (const key of RANK_KEYS) {
    rankTabs.append(
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          class: 'scr-tab',
          'data-key': key,
          'data-testid': `rank-tab-${key}`,
          'aria-selected': key === rankKey ? 'true' : 'false',
          onclick: () => {
            rankKey = key;
            for (const b of rankTabs.children) b.setAttribute('aria-selected', String((b as HTMLElement).dataset.key === key));
            drawRank();
          },
        },
        t(`rank.${key}`),
      ),
    );
  }

  async function loadRanking(): Promise<void> {
    const v = map.current;
    if (!v) return;
    drawRank();
    const { month } = periods();
    const scopeRoot = me.scope.kind === 'subtree' ? me.scope.root : '';
    const unit = v.code === scopeRoot || v.level === 'district' ? undefined : v.code;
    try {
      const answer = await guard(fetchUnitStats(month.from, month.to, unit));
      if (map.current !== v) return;
      rankFigures = answer?.units ?? null;
      rankFor = v.code;
      for (const u of rankFigures ?? []) if (!names.has(u.code)) names.set(u.code, u.name);
      drawRank();
      touch();
    } catch (e) {
      drawRank();
      throw e;
    }
  }

  async function loadCases(): Promise<void> {
    const answer = await guard(fetchOpenCases());
    capped = answer.capped;
    map.setCases(answer.list);
    openLoaded = true;
    drawPoints();
    drawKpiTiles();
    if (selected?.kind === 'unit') drawCard();
    touch();
  }

  let alarmList: Alarm[] | null = null;
  async function loadAlarms(): Promise<void> {
    try {
      alarmList = await guard(fetchAlarms());
      map.setAlarms(alarmList);
      drawAlarmLevels(alarms.body, alarmList);
      touch();
    } catch (e) {
      if (!alarmList) drawAlarmLevels(alarms.body, null);
      throw e;
    }
  }

  let devicesLoaded = false;
  async function loadDevices(): Promise<void> {
    try {
      const d = await guard(fetchDevices());
      drawDevices(devices.body, d);
      devicesLoaded = true;
      touch();
    } catch (e) {
      if (!devicesLoaded) replace(devices.body, dash());
      throw e;
    }
  }

  let lastWarnings: Warning[] | null = null;
  async function loadWarnings(): Promise<void> {
    try {
      const list = await guard(fetchWarnings());
      drawWarnings(warnings.body, list, unitName);
      lastWarnings = list;
      touch();
    } catch (e) {
      if (!lastWarnings) drawWarnings(warnings.body, null, unitName);
      throw e;
    }
  }

  async function loadNames(): Promise<void> {
    type Node = { code: string; name: string; children?: Node[] };
    const walk = (n: Node) => {
      names.set(n.code, n.name);
      n.children?.forEach(walk);
    };
    (await guard(api<Node[]>('/api/v1/units?depth=2'))).forEach(walk);
    scopeName.textContent = t('screen.scope', { name: scopeLabel() });
  }
  const scopeLabel = () => (me.scope.kind === 'subtree' ? unitName(me.scope.root) : me.scope.description);

  // ------------------------------------------------------------ first load: everything at once
  const quiet = (p: Promise<unknown>) => void p.catch((e) => console.warn(e));
  const rootCode = me.scope.kind === 'subtree' ? me.scope.root : '';
  const rootLevel: Level = rootCode ? levelOf(rootCode) : 'district';
  quiet(
    (async () => {
      await map.show(rootCode, me.org.name ?? '', rootLevel, false);
    })(),
  );
  quiet(loadNames().then(() => {
    // The map's root view was named before the unit names arrived.
    const first = map.stack[0];
    if (first && rootCode && names.has(rootCode)) {
      first.name = unitName(rootCode);
      if (map.current) onViewCrumbsOnly();
    }
  }));
  quiet(loadCases());
  quiet(loadToday());
  quiet(loadMonth());
  quiet(loadAlarms());
  quiet(loadDevices());
  quiet(loadWarnings());
  scopeName.textContent = t('screen.scope', { name: me.scope.kind === 'subtree' ? me.org.name ?? me.scope.root : me.scope.description });

  function onViewCrumbsOnly(): void {
    replace(
      crumbs,
      ...map.stack.map((s, i) =>
        i < map.stack.length - 1
          ? h('button', { type: 'button', class: 'scr-crumb', 'data-testid': 'crumb', onclick: () => map.up(i) }, s.name)
          : h('span', { class: 'scr-crumb scr-crumb-here', 'data-testid': 'crumb' }, s.name),
      ),
    );
  }

  // ------------------------------------------------------------ live
  const pendingCases = new Map<string, string>();
  const caseRefresh = new Throttle(async () => {
    const batch = [...pendingCases];
    pendingCases.clear();
    if (batch.length > 25) {
      await loadCases();
    } else {
      await Promise.all(
        batch.map(async ([id, stage]) => {
          if (!isOpen(stage)) {
            map.removeCase(id);
            return;
          }
          try {
            const c = await guard(fetchCase(id));
            if (isOpen(c.stage)) map.upsertCase(c);
            else map.removeCase(id);
            if (selected?.kind === 'case' && selected.id === id) {
              selected.c = c;
              drawCard();
            }
          } catch (e) {
            if (e instanceof ApiError && e.status === 404) map.removeCase(id);
          }
        }),
      );
      drawPoints();
      drawKpiTiles();
      if (selected?.kind === 'unit') drawCard();
      touch();
    }
  });
  const figuresRefresh = new Throttle(() => Promise.allSettled([loadToday(), loadMonth(), loadRanking(), refreshUnitCard()]));
  const alarmRefresh = new Throttle(() => Promise.allSettled([loadAlarms(), loadDevices()]));
  const warningRefresh = new Throttle(() => loadWarnings());
  const everything = new Throttle(() =>
    Promise.allSettled([loadCases(), loadToday(), loadMonth(), loadRanking(), refreshUnitCard(), loadAlarms(), loadDevices(), loadWarnings()]),
  );

  let wasLive = false;
  let everLive = false;
  openStream({
    case: (c) => {
      pendingCases.set(c.id, c.stage);
      caseRefresh.poke();
      figuresRefresh.poke();
    },
    warning: () => warningRefresh.poke(),
    alarm: () => alarmRefresh.poke(),
    lagged: () => everything.poke(),
    onStatus: (on) => {
      live.dataset.live = on ? '1' : '0';
      live.classList.toggle('scr-live-off', !on);
      liveText.textContent = on ? t('live.on') : t('live.off');
      // Back after a gap: what happened meanwhile was not streamed to us.
      if (on && !wasLive && everLive) everything.poke();
      if (on) everLive = true;
      wasLive = on;
    },
  });
  // Overdue figures change with time alone; a slow sweep keeps them true without events.
  setInterval(() => everything.poke(), 60_000);
}
