// 办件 (一网通办 applications): the department's queue — what waits to be taken up (待受理), is
// under review (审查中), waits for its countersignature (会签中) or for the applicant's correction
// (补正), and all of them — from `GET /api/v1/services/applications`, which answers a department
// with its own and those it countersigns, and the district's staff with every one (read-only).
// Each queue is asked of the server by state; nothing streams applications, so the list is read
// again every 30 seconds while it is shown, and on the refresh button.

import { api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { readsApplications } from './roles';
import { appOverdueBadge, appStateBadge, formatDate, itemName, loadItems, type Items } from './svc';
import type { ApplicationDto } from './types';
import { errorBox, errorText } from './util';
import type { View } from './view';

/** The queues, in the order their chips are shown; `all` is every state. */
const FILTERS = ['pending', 'review', 'countersign', 'correction', 'all'] as const;
type Filter = (typeof FILTERS)[number];
const QUEUES: Filter[] = ['pending', 'review', 'countersign', 'correction'];

/** The chip chosen last, kept while the console is open (coming back from an application keeps it). */
let chosen: Filter | null = null;
let chosenItem = '';

const POLL_MS = 30_000;

function byUrgency(a: ApplicationDto, b: ApplicationDto): number {
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  const da = a.due_at ? Date.parse(a.due_at) : Infinity;
  const db = b.due_at ? Date.parse(b.due_at) : Infinity;
  if (da !== db) return da - db;
  return b.created_at.localeCompare(a.created_at);
}

function fetchApps(query: Record<string, string>, signal: AbortSignal): Promise<ApplicationDto[]> {
  const q = new URLSearchParams(query);
  return api<ApplicationDto[]>(`/api/v1/services/applications?${q}`, { signal });
}

export function applicationsView(me: Me): View {
  const readOnly = readsApplications(me);
  let filter: Filter = chosen ?? (readOnly ? 'all' : 'pending');
  const status = h('span', { class: 'wx-muted cx-list-status', 'data-testid': 'list-status' });
  const error = errorBox('list-error');
  const counts = new Map<Filter, HTMLSpanElement>();
  const chips = FILTERS.map((f) => {
    const n = h('span', { class: 'cx-chip-count', 'data-testid': `app-filter-count-${f}` });
    counts.set(f, n);
    const b = h(
      'button',
      { type: 'button', class: 'cx-chip cx-filter', 'data-testid': `app-filter-${f}`, 'data-filter': f, 'aria-pressed': String(f === filter) },
      t(`console.apps.filter.${f}`),
      n,
    );
    b.addEventListener('click', () => {
      if (filter === f) return;
      filter = chosen = f;
      for (const c of chips) c.setAttribute('aria-pressed', String(c.dataset.filter === f));
      void load();
    });
    return b;
  });
  const itemSel = h('select', { class: 'cx-item-filter', 'data-testid': 'app-item-filter' }, h('option', { value: '' }, t('console.apps.all_items')));
  const search = h('input', { type: 'search', class: 'cx-search', placeholder: t('console.apps.search'), 'data-testid': 'list-search' });
  const refreshBtn = h('button', { type: 'button', 'data-testid': 'list-refresh' }, t('console.list.refresh'));
  const tbody = h('tbody', {});
  const head = h(
    'tr',
    {},
    h('th', {}, t('console.apps.col.item')),
    h('th', {}, t('console.apps.col.state')),
    h('th', {}, t('console.apps.col.applicant')),
    h('th', {}, t('console.apps.col.department')),
    h('th', {}, t('console.apps.col.created')),
    h('th', {}, t('console.apps.col.due')),
    h('th', {}, t('console.apps.col.id')),
  );
  const table = h('table', { class: 'cx-table', 'data-testid': 'list-applications' }, h('thead', {}, head), tbody);
  const el = h(
    'section',
    { class: 'cx-list cx-apps', 'data-testid': 'applications-view' },
    h(
      'div',
      { class: 'cx-list-head' },
      h('h2', {}, t('console.tab.applications')),
      h('p', { class: 'wx-muted cx-hint' }, t(readOnly ? 'console.hint.applications_read' : 'console.hint.applications')),
    ),
    h('div', { class: 'cx-toolbar cx-chips', role: 'group', 'aria-label': t('console.apps.filter_label') }, ...chips),
    h('div', { class: 'cx-toolbar' }, search, itemSel, refreshBtn, status),
    error,
    h('div', { class: 'cx-table-wrap' }, table),
  );

  let apps: ApplicationDto[] = [];
  let items: Items | null = null;
  /** Items seen in any answer, so the item filter offers them (a countersigned item is another department's). */
  const seenItems = new Map<string, string>();
  let ctl: AbortController | null = null;
  let timer: number | undefined;

  const fillItems = () => {
    const codes = new Map<string, string>(seenItems);
    for (const i of items?.all ?? []) {
      if (readOnly || i.department === me.org.id) codes.set(i.code, i.name_zh);
    }
    if (chosenItem) codes.set(chosenItem, codes.get(chosenItem) ?? chosenItem);
    const options = [...codes.entries()]
      .map(([code, zh]) => ({ code, name: itemName(items, code, zh) }))
      .sort((a, b) => a.code.localeCompare(b.code));
    replace(
      itemSel,
      h('option', { value: '' }, t('console.apps.all_items')),
      ...options.map((o) => h('option', { value: o.code }, `${o.name} (${o.code})`)),
    );
    itemSel.value = chosenItem;
  };

  const visible = (): ApplicationDto[] => {
    const q = search.value.trim().toLowerCase();
    if (!q) return apps;
    return apps.filter((a) =>
      [a.id, a.item, a.item_name, itemName(items, a.item, a.item_name), a.applicant, a.enterprise ?? '', a.state_zh]
        .some((x) => x.toLowerCase().includes(q)),
    );
  };

  const draw = () => {
    const scrollY = window.scrollY;
    const shown = visible();
    const rows = shown.map((a) => row(a, items, me));
    if (!rows.length) {
      rows.push(h('tr', { class: 'cx-empty' }, h('td', { colspan: head.children.length, 'data-testid': 'list-empty' }, t('console.apps.empty'))));
    }
    replace(tbody, ...rows);
    status.textContent = t('console.apps.count', { n: shown.length });
    window.scrollTo({ top: scrollY });
  };

  /** The next read; a hidden page waits for its turn without asking. */
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => (document.hidden ? schedule() : void load()), POLL_MS);
  };

  const load = async () => {
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    window.clearTimeout(timer);
    el.dataset.loaded = 'false';
    el.dataset.filter = filter;
    try {
      const base: Record<string, string> = chosenItem ? { item: chosenItem } : {};
      // Every queue, for the counts on the chips; `all` besides when it is chosen.
      const [loadedItems, queues, all] = await Promise.all([
        loadItems(),
        Promise.all(QUEUES.map((state) => fetchApps({ ...base, state, limit: '500' }, mine.signal))),
        filter === 'all' ? fetchApps({ ...base, limit: '300' }, mine.signal) : Promise.resolve(null),
      ]);
      if (mine.signal.aborted) return;
      items = loadedItems;
      QUEUES.forEach((q, i) => (counts.get(q)!.textContent = ` ${queues[i].length}`));
      counts.get('all')!.textContent = all ? ` ${all.length}` : '';
      apps = all ?? [...queues[QUEUES.indexOf(filter)]].sort(byUrgency);
      for (const a of [...queues.flat(), ...(all ?? [])]) seenItems.set(a.item, a.item_name);
      fillItems();
      error.textContent = '';
      draw();
      el.dataset.loaded = 'true';
    } catch (e) {
      if (mine.signal.aborted) return;
      error.textContent = errorText(e);
    } finally {
      if (!mine.signal.aborted) schedule();
    }
  };

  search.addEventListener('input', draw);
  itemSel.addEventListener('change', () => {
    chosenItem = itemSel.value;
    void load();
  });
  refreshBtn.addEventListener('click', () => void load());
  void load();

  return {
    el,
    reload: () => void load(),
    dispose: () => {
      ctl?.abort();
      window.clearTimeout(timer);
    },
  };
}

function row(a: ApplicationDto, items: Items | null, me: Me): HTMLTableRowElement {
  const href = `#application/${encodeURIComponent(a.id)}`;
  const link = h('a', { href, class: 'cx-case-link', 'data-testid': 'app-link' }, a.id);
  const countersigned = a.countersign != null && a.countersign === me.org.id;
  const tr = h(
    'tr',
    {
      'data-testid': 'app-row',
      'data-app-id': a.id,
      'data-state': a.state,
      'data-item': a.item,
      'data-overdue': String(a.overdue),
    },
    h('td', {}, h('span', { class: 'cx-app-item', 'data-testid': 'app-row-item' }, itemName(items, a.item, a.item_name)), h('div', { class: 'wx-muted cx-small' }, a.item)),
    h(
      'td',
      {},
      appStateBadge(a, 'app-row-state'),
      a.assignee
        ? h('div', {}, h('span', { class: 'cx-chip', 'data-testid': 'app-row-delegated' }, t(a.assignee === me.id ? 'console.apps.chip.delegated_me' : 'console.apps.chip.delegated')))
        : null,
    ),
    h('td', {}, h('span', { class: 'cx-mono cx-small' }, a.enterprise ?? a.applicant)),
    h(
      'td',
      {},
      a.department_name ?? a.department,
      a.countersign ? h('div', {}, h('span', { class: 'cx-chip', title: a.countersign }, t(countersigned ? 'console.apps.countersigned_here' : 'console.apps.needs_countersign'))) : null,
    ),
    h('td', { class: 'cx-due' }, formatDate(a.created_at), h('div', { class: 'wx-muted cx-small' }, formatTime(a.created_at, false))),
    h('td', { class: 'cx-due', 'data-testid': 'app-row-due' }, formatDate(a.due_at), ' ', appOverdueBadge(a, 'app-row-overdue')),
    h('td', { class: 'cx-id' }, link),
  );
  tr.addEventListener('click', (e) => {
    if ((e.target as HTMLElement).closest('a')) return;
    location.hash = href;
  });
  return tr;
}
