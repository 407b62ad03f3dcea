// The work lists: the dispatcher's manual queue, the handler's tasks, the inspector's
// verification list, the supervisor's overdue list and all cases in the jurisdiction. Each is a
// table of what the API returns for the logged-in account; the live stream refreshes it in place
// (the filter, the scroll position and the focused row stay where they were).

import { ApiError } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import type { Me } from '../common/api';
import type { CaseChange } from '../common/stream';
import type { TabId } from './roles';
import type { CaseDto } from './types';
import { categoryText, errorBox, errorText, fetchCases, overdueBadge, stageBadge } from './util';
import type { View } from './view';

const OPEN_STAGES = ['reported', 'registered', 'dispatched', 'accepted', 'in_progress', 'handled', 'suspended'];
const TASK_STAGES = ['dispatched', 'accepted', 'in_progress', 'suspended'];

interface ListSpec {
  load: (signal: AbortSignal) => Promise<CaseDto[]>;
  /** Extra column: the classifier's suggestions (the manual queue). */
  suggestions?: boolean;
  /** Extra column: when reported (all cases). */
  created?: boolean;
  /** A stage filter (all cases). */
  stageFilter?: boolean;
}

/** Cases not closed or rejected: `?status=open`, or stage by stage where the server lacks it. */
async function loadOpen(signal: AbortSignal): Promise<CaseDto[]> {
  try {
    const list = await fetchCases({ status: 'open', limit: '1000' }, signal);
    if (!list.some((c) => c.stage === 'closed' || c.stage === 'rejected')) return list;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 400)) throw e;
  }
  const parts = await Promise.all(OPEN_STAGES.map((stage) => fetchCases({ stage, limit: '1000' }, signal)));
  return parts.flat();
}

function byUrgency(a: CaseDto, b: CaseDto): number {
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  const da = a.due_at ? Date.parse(a.due_at) : Infinity;
  const db = b.due_at ? Date.parse(b.due_at) : Infinity;
  if (da !== db) return da - db;
  return b.created_at.localeCompare(a.created_at);
}

function specFor(tab: TabId): ListSpec {
  switch (tab) {
    case 'queue':
      return {
        suggestions: true,
        load: async (signal) => {
          const [reported, registered] = await Promise.all([
            fetchCases({ stage: 'reported', limit: '500' }, signal),
            fetchCases({ stage: 'registered', limit: '500' }, signal),
          ]);
          return [...reported, ...registered].sort(byUrgency);
        },
      };
    case 'tasks':
      return {
        load: async (signal) =>
          (await fetchCases({ assignee: 'mine', limit: '1000' }, signal))
            .filter((c) => TASK_STAGES.includes(c.stage))
            .sort(byUrgency),
      };
    case 'verify':
      return { load: async (signal) => (await fetchCases({ stage: 'handled', limit: '500' }, signal)).sort(byUrgency) };
    case 'overdue':
      return { load: async (signal) => (await loadOpen(signal)).filter((c) => c.overdue).sort(byUrgency) };
    default:
      return {
        created: true,
        stageFilter: true,
        load: (signal) => fetchCases({ limit: '300' }, signal),
      };
  }
}

/** A list screen. */
export function listView(tab: TabId, _me: Me): View {
  const spec = specFor(tab);
  const status = h('span', { class: 'wx-muted cx-list-status', 'data-testid': 'list-status' });
  const error = errorBox('list-error');
  const search = h('input', {
    type: 'search',
    class: 'cx-search',
    placeholder: t('console.list.search'),
    'data-testid': 'list-search',
  });
  const stageSel = h(
    'select',
    { class: 'cx-stage-filter', 'data-testid': 'list-stage-filter' },
    h('option', { value: '' }, t('console.list.all_stages')),
    h('option', { value: 'open' }, t('console.list.open_only')),
    ...[...OPEN_STAGES, 'closed', 'rejected'].map((s) => h('option', { value: s }, t(`stage.${s}`))),
  );
  const tbody = h('tbody', {});
  const head = h(
    'tr',
    {},
    h('th', {}, t('console.col.id')),
    h('th', {}, t('console.col.category')),
    spec.suggestions ? h('th', {}, t('console.col.suggestions')) : null,
    h('th', {}, t('console.col.place')),
    h('th', {}, t('console.col.stage')),
    h('th', {}, t('console.col.priority')),
    spec.created ? h('th', {}, t('console.col.created')) : null,
    h('th', {}, t('console.col.due')),
  );
  const table = h('table', { class: 'cx-table', 'data-testid': `list-${tab}` }, h('thead', {}, head), tbody);
  const refreshBtn = h('button', { type: 'button', 'data-testid': 'list-refresh' }, t('console.list.refresh'));
  const el = h(
    'section',
    { class: 'cx-list' },
    h(
      'div',
      { class: 'cx-list-head' },
      h('h2', {}, t(`console.tab.${tab}`)),
      h('p', { class: 'wx-muted cx-hint' }, t(`console.hint.${tab}`)),
    ),
    h('div', { class: 'cx-toolbar' }, search, spec.stageFilter ? stageSel : null, refreshBtn, status),
    error,
    h('div', { class: 'cx-table-wrap' }, table),
  );

  let cases: CaseDto[] = [];
  let versions = new Map<string, number>();
  let ctl: AbortController | null = null;
  let timer: number | undefined;

  const visible = (): CaseDto[] => {
    const q = search.value.trim().toLowerCase();
    const st = stageSel.value;
    return cases.filter((c) => {
      if (st === 'open' && (c.stage === 'closed' || c.stage === 'rejected')) return false;
      if (st && st !== 'open' && c.stage !== st) return false;
      if (!q) return true;
      return [c.id, c.category ?? '', c.category_name ?? '', c.location.unit_name ?? '', c.description]
        .some((x) => x.toLowerCase().includes(q));
    });
  };

  const draw = (changed: Set<string>) => {
    // Keep the user's place: the scroll position and the focused row survive a redraw.
    const scrollY = window.scrollY;
    const focusedId = (document.activeElement as HTMLElement | null)?.closest('tr')?.dataset.caseId;
    const rows = visible().map((c) => row(c, spec, changed.has(c.id)));
    if (!rows.length) {
      const cols = head.children.length;
      rows.push(h('tr', { class: 'cx-empty' }, h('td', { colspan: cols, 'data-testid': 'list-empty' }, t('console.list.empty'))));
    }
    replace(tbody, ...rows);
    status.textContent = t('console.list.count', { n: visible().length });
    if (focusedId) tbody.querySelector<HTMLAnchorElement>(`tr[data-case-id="${CSS.escape(focusedId)}"] a`)?.focus({ preventScroll: true });
    window.scrollTo({ top: scrollY });
  };

  const load = async () => {
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    try {
      const list = await spec.load(mine.signal);
      if (mine.signal.aborted) return;
      const changed = new Set<string>();
      if (versions.size) for (const c of list) if (versions.get(c.id) !== c.version) changed.add(c.id);
      versions = new Map(list.map((c) => [c.id, c.version]));
      cases = list;
      error.textContent = '';
      el.dataset.loaded = 'true';
      draw(changed);
    } catch (e) {
      if (mine.signal.aborted) return;
      error.textContent = errorText(e);
    }
  };

  search.addEventListener('input', () => draw(new Set()));
  stageSel.addEventListener('change', () => draw(new Set()));
  refreshBtn.addEventListener('click', () => void load());
  void load();

  return {
    el,
    onCase: (_c: CaseChange) => {
      // Many changes can arrive together (a simulator, a batch): one reload for them all.
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void load(), 300);
    },
    reload: () => void load(),
    dispose: () => {
      ctl?.abort();
      window.clearTimeout(timer);
    },
  };
}

function row(c: CaseDto, spec: ListSpec, flash: boolean): HTMLTableRowElement {
  const link = h('a', { href: `#case/${encodeURIComponent(c.id)}`, class: 'cx-case-link', 'data-testid': 'case-link' }, c.id);
  const tr = h(
    'tr',
    { class: flash ? 'cx-flash' : '', 'data-testid': 'case-row', 'data-case-id': c.id, 'data-stage': c.stage },
    h('td', { class: 'cx-id' }, link),
    h('td', {}, categoryText(c)),
    spec.suggestions
      ? h(
          'td',
          { class: 'cx-sugg' },
          ...(c.suggestions ?? []).map((s) =>
            h('span', { class: 'cx-chip', title: s.category }, `${s.name} ${Math.round(s.confidence * 100)}%`),
          ),
        )
      : null,
    h('td', {}, c.location.unit_name ?? c.location.unit),
    h('td', {}, stageBadge(c.stage)),
    h('td', {}, h('span', { class: `cx-prio cx-prio-${c.priority}` }, t(`priority.${c.priority}`))),
    spec.created ? h('td', {}, formatTime(c.created_at)) : null,
    h('td', { class: 'cx-due' }, formatTime(c.due_at), ' ', overdueBadge(c)),
  );
  // The whole row opens the case, not only its number.
  tr.addEventListener('click', (e) => {
    if ((e.target as HTMLElement).closest('a')) return;
    location.hash = `#case/${encodeURIComponent(c.id)}`;
  });
  return tr;
}
