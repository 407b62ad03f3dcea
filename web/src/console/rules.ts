// 规则 (decision models): the items decided by rules (秒批 instant, 无感申办 proactive) that the
// account may see — a department's staff their department's, the district's staff every one — with
// the version in force of each (`GET /api/v1/services/items/{code}/model/versions`), and one item's
// model (`#rules/<code>`): the version in force and the version list, and its decision table drawn
// as people read it — one row per reason not to approve at once, a column per field the rules read,
// the rule's reason. Admins (the item's department's, the district's: the server decides) edit the
// rows in place — conditions and reasons, add and delete rows — and save the whole document as a new
// version (`PUT …/model`), which is in force at once; the server checks it and its refusal is shown
// as it gives it. Everyone else reads.

import { api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import {
  asDocument,
  cell,
  freshRowId,
  isRefusalTable,
  literalText,
  otherNodes,
  outputAt,
  tablesOf,
  zenString,
  type JdmColumn,
  type JdmDocument,
  type JdmRow,
  type TableOf,
} from './jdm';
import { editsModels, readsApplications } from './roles';
import { fieldLabel, itemName, loadItems, tOr, type Items } from './svc';
import type { ItemDto, ModelVersionDto } from './types';
import { busy, errorBox, errorText } from './util';
import type { View } from './view';

/** The modes whose applications a model decides. */
const RULE_MODES = ['instant', 'proactive'];

const modelPath = (code: string) => `/api/v1/services/items/${encodeURIComponent(code)}/model`;

/** The rule-decided items the account may see, by code. */
function ruleItems(me: Me, items: Items): ItemDto[] {
  const all = readsApplications(me);
  return items.all
    .filter((i) => RULE_MODES.includes(i.mode) && (all || i.department === me.org.id))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** Who saved a version: the shipped one, me, or the account's name when the API gives it (else its id). */
function authorText(me: Me, v: ModelVersionDto): string {
  if (v.author === 'catalogue') return t('console.rules.author_catalogue');
  if (v.author === me.id) return t('console.rules.author_me', { name: me.display_name });
  return v.author_name || v.author;
}

/** A dotted field path that may wrap after its dots (`applicant.hukou_in_district`). */
function fieldPath(path: string): HTMLElement {
  const el = h('div', { class: 'cx-mono cx-small wx-muted cx-rules-path' });
  path.split('.').forEach((part, i) => {
    if (i) el.append('.', document.createElement('wbr'));
    el.append(part);
  });
  return el;
}

function modeChip(item: ItemDto): HTMLSpanElement {
  return h('span', { class: 'cx-chip', 'data-testid': 'rules-mode' }, tOr(`console.svc.mode.${item.mode}`, item.mode_zh || item.mode));
}

// --- The list. ---

export function rulesView(me: Me): View {
  const status = h('span', { class: 'wx-muted cx-list-status', 'data-testid': 'list-status' });
  const error = errorBox('list-error');
  const refreshBtn = h('button', { type: 'button', 'data-testid': 'list-refresh' }, t('console.list.refresh'));
  const tbody = h('tbody', {});
  const head = h(
    'tr',
    {},
    h('th', {}, t('console.apps.col.item')),
    h('th', {}, t('console.rules.col.mode')),
    h('th', {}, t('console.apps.col.department')),
    h('th', {}, t('console.rules.col.version')),
    h('th', {}, t('console.rules.col.saved')),
  );
  const el = h(
    'section',
    { class: 'cx-list cx-rules-list', 'data-testid': 'rules-view' },
    h(
      'div',
      { class: 'cx-list-head' },
      h('h2', {}, t('console.tab.rules')),
      h('p', { class: 'wx-muted cx-hint' }, t(editsModels(me) ? 'console.hint.rules_edit' : 'console.hint.rules_read')),
    ),
    h('div', { class: 'cx-toolbar' }, refreshBtn, status),
    error,
    h('div', { class: 'cx-table-wrap' }, h('table', { class: 'cx-table', 'data-testid': 'rules-items' }, h('thead', {}, head), tbody)),
  );
  let ctl: AbortController | null = null;

  const load = async () => {
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    el.dataset.loaded = 'false';
    try {
      const items = await loadItems();
      const mineItems = ruleItems(me, items);
      // One item's versions failing (its model missing, or not the caller's) leaves its row without a version.
      const versions = await Promise.all(
        mineItems.map((i) => api<ModelVersionDto[]>(`${modelPath(i.code)}/versions`, { signal: mine.signal }).catch((e: unknown) => (mine.signal.aborted ? Promise.reject(e) : e))),
      );
      if (mine.signal.aborted) return;
      const rows = mineItems.map((i, k) => itemRow(me, items, i, versions[k]));
      if (!rows.length) rows.push(h('tr', { class: 'cx-empty' }, h('td', { colspan: head.children.length, 'data-testid': 'list-empty' }, t('console.rules.empty'))));
      replace(tbody, ...rows);
      status.textContent = t('console.rules.count', { n: mineItems.length });
      error.textContent = '';
      el.dataset.loaded = 'true';
    } catch (e) {
      if (mine.signal.aborted) return;
      error.textContent = errorText(e);
    }
  };

  refreshBtn.addEventListener('click', () => void load());
  void load();
  return { el, reload: () => void load(), dispose: () => ctl?.abort() };
}

function itemRow(me: Me, items: Items, i: ItemDto, versions: ModelVersionDto[] | unknown): HTMLTableRowElement {
  const href = `#rules/${encodeURIComponent(i.code)}`;
  const current = Array.isArray(versions) ? (versions[0] as ModelVersionDto | undefined) : undefined;
  const failed = !Array.isArray(versions);
  const tr = h(
    'tr',
    { 'data-testid': 'rules-item-row', 'data-item': i.code, 'data-version': current ? String(current.version) : '' },
    h(
      'td',
      {},
      h('a', { href, class: 'cx-app-item cx-case-link', 'data-testid': 'rules-item-link' }, itemName(items, i.code, i.name_zh)),
      h('div', { class: 'wx-muted cx-small cx-mono' }, i.code),
    ),
    h('td', {}, modeChip(i)),
    h('td', {}, i.department_name ?? i.department),
    h(
      'td',
      { 'data-testid': 'rules-item-version' },
      current ? t('console.rules.version_n', { version: current.version }) : h('span', { class: 'wx-muted', title: failed ? errorText(versions) : '' }, '—'),
    ),
    h(
      'td',
      { class: 'cx-due' },
      current ? formatTime(current.created_at) : '—',
      current ? h('div', { class: 'wx-muted cx-small' }, authorText(me, current)) : null,
    ),
  );
  tr.style.cursor = 'pointer';
  tr.addEventListener('click', (e) => {
    if ((e.target as HTMLElement).closest('a')) return;
    location.hash = href;
  });
  return tr;
}

// --- One item's model. ---

/** A table column as the page shows it. */
interface Column {
  id: string;
  /** `cond`: an input cell (a unary test); `code`: the rule's code; `reason`: its text; `expr`: any other output. */
  kind: 'cond' | 'code' | 'reason' | 'expr';
  label: string;
  /** The field read (inputs) or written (outputs). */
  field?: string;
  /** An input column reading a field the item does not have (the server will refuse the model). */
  unknown?: boolean;
}

function columnsOf(table: TableOf['table'], item: ItemDto | undefined): Column[] {
  const rule = outputAt(table, 'rule');
  const reason = outputAt(table, 'reason');
  const out = (o: JdmColumn | undefined, kind: Column['kind'], key: string): Column[] =>
    o ? [{ id: o.id, kind, label: t(key), field: o.field }] : [];
  const conds: Column[] = table.inputs.map((c) => {
    const label = c.field ? fieldLabel(item, c.field) : null;
    return { id: c.id, kind: 'cond', label: label ?? c.name ?? c.field ?? c.id, field: c.field, unknown: !!c.field && label === null };
  });
  const others: Column[] = table.outputs
    .filter((o) => o !== rule && o !== reason)
    .map((o) => ({ id: o.id, kind: 'expr', label: o.name ?? o.field ?? o.id, field: o.field }));
  return [...out(rule, 'code', 'console.rules.col.code'), ...conds, ...out(reason, 'reason', 'console.rules.col.reason'), ...others];
}

export function ruleModelView(me: Me, code: string): View {
  const body = h('div', { class: 'cx-case-body' }, h('p', { class: 'wx-muted' }, t('console.loading')));
  const error = errorBox('rules-error');
  const el = h(
    'section',
    { class: 'cx-case cx-rules-page', 'data-testid': 'rules-page', 'data-item': code, 'data-loaded': 'false' },
    h('a', { href: '#rules', class: 'cx-back', 'data-testid': 'rules-back' }, '← ', t('console.rules.back')),
    error,
    body,
  );
  let ctl: AbortController | null = null;
  let items: Items | null = null;
  let loaded: ModelVersionDto | null = null;
  let versions: ModelVersionDto[] = [];
  /** The document being edited (a copy of the loaded one), or null when only reading. */
  let draft: JdmDocument | null = null;
  /** Rows added while editing (their code is asked for). */
  const added = new Set<string>();
  let dirty = false;

  const mayEdit = editsModels(me);

  const flash = (msg: string) => {
    for (const old of el.querySelectorAll('.cx-toast')) old.remove();
    const toast = h('div', { class: 'cx-toast', role: 'status', 'data-testid': 'rules-saved' }, msg);
    el.prepend(toast);
    window.setTimeout(() => toast.remove(), 4000);
  };

  const onLeave = (e: BeforeUnloadEvent) => {
    if (draft && dirty) e.preventDefault();
  };
  window.addEventListener('beforeunload', onLeave);

  const load = async () => {
    // Edits in hand are not thrown away by a reload; saving checks the version still in force.
    if (draft) return;
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    el.dataset.loaded = 'false';
    try {
      const [its, m, vs] = await Promise.all([
        loadItems(),
        api<ModelVersionDto>(modelPath(code), { signal: mine.signal }),
        api<ModelVersionDto[]>(`${modelPath(code)}/versions`, { signal: mine.signal }),
      ]);
      if (mine.signal.aborted) return;
      items = its;
      loaded = m;
      versions = vs;
      error.textContent = '';
      render();
      el.dataset.loaded = 'true';
    } catch (e) {
      if (mine.signal.aborted) return;
      replace(body);
      error.textContent = errorText(e);
      el.dataset.loaded = 'error';
    }
  };

  const render = (saveError = '') => {
    if (!loaded) return;
    const item = items?.item(code);
    const doc = asDocument(draft ?? loaded.model);
    const editing = draft !== null;
    el.dataset.version = String(loaded.version);
    el.dataset.editing = String(editing);
    el.dataset.editable = String(mayEdit && doc !== null);

    const head = h(
      'header',
      { class: 'cx-case-head' },
      h('h2', {}, h('span', { 'data-testid': 'rules-item-name' }, itemName(items, code, item?.name_zh)), ' ', h('span', { class: 'cx-mono' }, code)),
      item ? h('div', { class: 'cx-case-badges' }, modeChip(item), h('span', { class: 'cx-chip' }, item.department_name ?? item.department)) : null,
    );

    const current = h(
      'section',
      { class: 'cx-card', 'data-testid': 'rules-current' },
      h('h3', {}, t('console.rules.in_force')),
      h(
        'dl',
        { class: 'cx-facts' },
        h('dt', {}, t('console.rules.version')),
        h('dd', {}, h('strong', { 'data-testid': 'rules-version', 'data-version': String(loaded.version) }, t('console.rules.version_n', { version: loaded.version }))),
        h('dt', {}, t('console.rules.author')),
        h('dd', { 'data-testid': 'rules-author' }, authorText(me, loaded)),
        h('dt', {}, t('console.rules.saved_at')),
        h('dd', {}, formatTime(loaded.created_at)),
      ),
    );

    const history = h(
      'section',
      { class: 'cx-card' },
      h('h3', {}, t('console.rules.versions')),
      h(
        'ol',
        { class: 'cx-rules-versions', 'data-testid': 'rules-versions' },
        ...versions.map((v) =>
          h(
            'li',
            { 'data-testid': 'rules-version-row', 'data-version': String(v.version) },
            h('strong', {}, t('console.rules.version_n', { version: v.version })),
            v.version === loaded!.version ? h('span', { class: 'cx-chip cx-rules-in-force' }, t('console.rules.in_force_chip')) : null,
            ' ',
            h('span', { class: 'wx-muted cx-small' }, formatTime(v.created_at), ' · ', authorText(me, v)),
          ),
        ),
      ),
      versions.length > 1 ? h('p', { class: 'wx-muted cx-small' }, t('console.rules.versions_hint')) : null,
    );

    replace(
      body,
      head,
      h('div', { class: 'cx-rules-top' }, current, history),
      doc ? modelCard(doc, item, editing, saveError) : h('p', { class: 'wx-error', 'data-testid': 'rules-unreadable' }, t('console.rules.unreadable')),
    );
  };

  /** The decision tables, and the edit controls for who may edit. */
  const modelCard = (doc: JdmDocument, item: ItemDto | undefined, editing: boolean, saveError: string): HTMLElement => {
    const tables = tablesOf(doc);
    const others = otherNodes(doc);
    const saveErr = errorBox('rules-save-error');
    saveErr.textContent = saveError;
    const dirtyNote = h('span', { class: 'cx-warn cx-small', 'data-testid': 'rules-dirty' }, dirty ? t('console.rules.unsaved') : '');
    const markDirty = () => {
      dirty = true;
      dirtyNote.textContent = t('console.rules.unsaved');
    };

    let controls: HTMLElement | null = null;
    if (mayEdit && !editing) {
      const editBtn = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'rules-edit' }, t('console.rules.edit'));
      editBtn.addEventListener('click', () => {
        draft = structuredClone(loaded!.model) as JdmDocument;
        added.clear();
        dirty = false;
        render();
      });
      controls = h('div', { class: 'cx-form-buttons' }, editBtn);
    } else if (editing) {
      const saveBtn = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'rules-save' }, t('console.rules.save'));
      const cancelBtn = h('button', { type: 'button', 'data-testid': 'rules-cancel' }, t('console.rules.cancel'));
      saveBtn.addEventListener('click', () => void save([saveBtn, cancelBtn], saveErr));
      cancelBtn.addEventListener('click', () => {
        if (dirty && !window.confirm(t('console.rules.discard_confirm'))) return;
        draft = null;
        added.clear();
        dirty = false;
        render();
      });
      controls = h('div', { class: 'cx-form-buttons' }, saveBtn, cancelBtn, dirtyNote);
    }

    return h(
      'section',
      { class: 'cx-card cx-rules-model', 'data-testid': 'rules-model' },
      h('h3', {}, t('console.rules.table_title')),
      h('p', { class: 'cx-rules-explain', 'data-testid': 'rules-explain' }, t('console.rules.explain')),
      h('p', { class: 'wx-muted cx-small' }, t(editing ? 'console.rules.legend_edit' : 'console.rules.legend')),
      mayEdit ? null : h('p', { class: 'wx-muted cx-small', 'data-testid': 'rules-readonly' }, t('console.rules.read_only')),
      ...tables.map((tb) => tableBlock(doc, tb, item, editing, markDirty, tables.length > 1)),
      tables.length ? null : h('p', { class: 'wx-muted' }, t('console.rules.no_tables')),
      others.length
        ? h('p', { class: 'wx-muted cx-small', 'data-testid': 'rules-other-nodes' }, t('console.rules.other_nodes', { names: others.map((n) => n.name ?? n.id).join('、') }))
        : null,
      saveErr,
      controls,
    );
  };

  const tableBlock = (doc: JdmDocument, { node, table }: TableOf, item: ItemDto | undefined, editing: boolean, markDirty: () => void, named: boolean): HTMLElement => {
    const cols = columnsOf(table, item);
    const tbody = h('tbody', {});
    const drawRows = () => {
      const rows = table.rules.map((row, k) => ruleRow(row, k));
      if (!rows.length) rows.push(h('tr', { class: 'cx-empty' }, h('td', { colspan: cols.length + (editing ? 2 : 1) }, t('console.rules.no_rows'))));
      replace(tbody, ...rows);
    };
    const ruleRow = (row: JdmRow, k: number): HTMLTableRowElement => {
      const isNew = added.has(row._id);
      const tr = h('tr', { 'data-testid': 'rules-row', 'data-row-id': row._id, 'data-new': String(isNew) }, h('td', { class: 'wx-muted cx-small', title: row._id }, String(k + 1)));
      for (const c of cols) tr.append(cellTd(row, c, isNew, editing, () => {
        tr.classList.add('cx-rules-changed');
        markDirty();
      }));
      if (editing) {
        const del = h('button', { type: 'button', class: 'cx-rules-delete', 'data-testid': 'rules-row-delete', title: t('console.rules.delete_row') }, t('console.rules.delete'));
        del.addEventListener('click', () => {
          const at = table.rules.indexOf(row);
          if (at >= 0) table.rules.splice(at, 1);
          added.delete(row._id);
          markDirty();
          drawRows();
        });
        tr.append(h('td', { class: 'cx-ops' }, del));
      }
      return tr;
    };
    drawRows();

    const headRow = h(
      'tr',
      {},
      h('th', {}, '#'),
      ...cols.map((c) =>
        h(
          'th',
          { 'data-testid': 'rules-col', 'data-column': c.id, 'data-field': c.field ?? '', 'data-kind': c.kind },
          c.label,
          c.kind === 'cond' && c.field ? fieldPath(c.field) : null,
          c.unknown ? h('div', { class: 'cx-warn cx-small' }, t('console.rules.unknown_field')) : null,
        ),
      ),
      editing ? h('th', {}) : null,
    );
    let addBtn: HTMLButtonElement | null = null;
    if (editing) {
      addBtn = h('button', { type: 'button', 'data-testid': 'rules-add-row' }, '+ ', t('console.rules.add_row'));
      addBtn.addEventListener('click', () => {
        const row: JdmRow = { _id: freshRowId(doc), _description: '' };
        for (const c of table.inputs) row[c.id] = '';
        for (const c of table.outputs) row[c.id] = '';
        added.add(row._id);
        table.rules.push(row);
        markDirty();
        drawRows();
        tbody.querySelector<HTMLInputElement>(`tr[data-row-id="${CSS.escape(row._id)}"] input`)?.focus();
      });
    }
    return h(
      'div',
      { class: 'cx-rules-block', 'data-testid': 'rules-table-block', 'data-node': node.id },
      named || !isRefusalTable(table) ? h('h4', {}, node.name ?? node.id) : null,
      isRefusalTable(table) ? null : h('p', { class: 'cx-warn cx-small' }, t('console.rules.not_refusals', { policy: table.hitPolicy ?? '—', path: table.outputPath ?? '—' })),
      h('div', { class: 'cx-table-wrap' }, h('table', { class: 'cx-table cx-rules-table', 'data-testid': 'rules-table' }, h('thead', {}, headRow), tbody)),
      addBtn ? h('div', { class: 'cx-toolbar' }, addBtn) : null,
    );
  };

  /** One cell: read (an expression in code type, a reason as text), or an input that writes the row. */
  const cellTd = (row: JdmRow, c: Column, isNew: boolean, editing: boolean, changed: () => void): HTMLTableCellElement => {
    const expr = cell(row, c.id);
    const text = c.kind === 'code' || c.kind === 'reason' ? literalText(expr) : null;
    const attrs = { 'data-testid': `rules-${c.kind === 'cond' ? 'cell' : c.kind}`, 'data-column': c.id, 'data-field': c.field ?? '', class: `cx-rules-${c.kind}` };
    if (!editing || (c.kind === 'code' && !isNew)) {
      let shown: HTMLElement;
      if (c.kind === 'reason' && text !== null) shown = h('span', { 'data-testid': 'rules-text' }, text);
      else if (c.kind === 'code' && text !== null) shown = h('span', { class: 'cx-mono cx-small', 'data-testid': 'rules-text' }, text);
      else if (expr.trim() === '') shown = h('span', { class: 'wx-muted', title: t('console.rules.any') }, '—');
      else shown = h('code', { 'data-testid': 'rules-text' }, expr);
      return h('td', { ...attrs, 'data-value': expr }, shown);
    }
    // A text edited as text, written back as a zen string literal; anything else as its expression.
    const asText = c.kind === 'code' || (c.kind === 'reason' && (text !== null || expr.trim() === ''));
    // A reason is a sentence: a box of two lines shows it whole (a line break in it is saved as a space).
    const input = h(c.kind === 'reason' && asText ? 'textarea' : 'input', {
      type: c.kind === 'reason' && asText ? null : 'text',
      rows: c.kind === 'reason' && asText ? 2 : null,
      class: `cx-rules-input ${asText && c.kind === 'reason' ? '' : 'cx-mono'}`,
      'data-testid': `rules-${c.kind === 'cond' ? 'cell' : c.kind}-input`,
      'aria-label': c.label,
      placeholder: c.kind === 'cond' ? t('console.rules.any') : c.kind === 'code' ? t('console.rules.code_placeholder') : '',
      spellcheck: false,
    });
    input.value = asText ? (text ?? '') : expr;
    input.addEventListener('input', () => {
      const v = input.value;
      if (c.kind === 'cond' || c.kind === 'expr' || !asText) {
        row[c.id] = v.trim();
      } else {
        const before = literalText(cell(row, c.id));
        row[c.id] = v.trim() === '' ? '' : zenString(v.trim());
        // The row's description is what the audit of a decision shows: it follows the reason when it was the reason.
        if (c.kind === 'reason' && (isNew || row._description === (before ?? ''))) row._description = v.trim();
      }
      td.dataset.value = cell(row, c.id);
      changed();
    });
    const td = h('td', { ...attrs, 'data-value': expr }, input);
    return td;
  };

  /** Checks what the page can check, then saves the draft as a new version. */
  const save = async (buttons: HTMLButtonElement[], saveErr: HTMLElement) => {
    if (!draft || !loaded) return;
    saveErr.textContent = '';
    for (const { table } of tablesOf(draft)) {
      const code = outputAt(table, 'rule');
      const reason = outputAt(table, 'reason');
      for (const [k, row] of table.rules.entries()) {
        if (!added.has(row._id)) continue;
        if (code && !cell(row, code.id)) {
          saveErr.textContent = t('console.rules.need_code', { n: k + 1 });
          return;
        }
        if (reason && !cell(row, reason.id)) {
          saveErr.textContent = t('console.rules.need_reason', { n: k + 1 });
          return;
        }
        for (const o of table.outputs) if (!cell(row, o.id)) row[o.id] = 'null';
      }
    }
    const doc = draft;
    try {
      // `base`: if another admin saved meanwhile, the server refuses (409) rather than replace
      // their version unseen.
      const saved = await busy(buttons, () =>
        api<ModelVersionDto>(`${modelPath(code)}?base=${loaded!.version}`, { method: 'PUT', json: doc }),
      );
      loaded = saved;
      draft = null;
      added.clear();
      dirty = false;
      try {
        versions = await api<ModelVersionDto[]>(`${modelPath(code)}/versions`);
      } catch {
        versions = [{ ...saved, model: undefined }, ...versions];
      }
      render();
      flash(t('console.rules.saved', { version: saved.version }));
    } catch (e) {
      saveErr.textContent = errorText(e);
    }
  };

  void load();
  return {
    el,
    reload: () => void load(),
    dispose: () => {
      ctl?.abort();
      window.removeEventListener('beforeunload', onLeave);
    },
  };
}
