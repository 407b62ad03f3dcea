// One application (`#application/<id>`) as a department's reviewer sees it: the item, who applies
// and until when, the form as sent, the rules' reasons, the decision record with its replay, the
// history, and the actions the server allows the caller now (`allowed`): 受理 accept, 准予 approve
// (for an item needing 会签 the first approval passes it to the countersigning department),
// 补正 return and 不予 refuse (each with a note), 委托 delegate to a colleague. The district's
// staff see the same page read-only.

import { ApiError, api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { decisionPanel } from './decision';
import { APP_ACTION_ORDER, readsApplications } from './roles';
import { appOverdueBadge, appStateBadge, fieldLabel, itemName, loadItems, tOr, valueText, type Items } from './svc';
import type { AppStepDto, ApplicationDto } from './types';
import { directory, orgName, type Directory } from './units';
import { busy, errorBox, errorText } from './util';
import type { View } from './view';

/** Actions taken with one click; the others open a form first. */
const IMMEDIATE = new Set(['accept']);

export function applicationView(me: Me, id: string): View {
  const body = h('div', { class: 'cx-case-body' }, h('p', { class: 'wx-muted' }, t('console.loading')));
  const error = errorBox('app-error');
  const el = h(
    'section',
    { class: 'cx-case cx-app-page', 'data-testid': 'app-page', 'data-app-id': id },
    h('a', { href: '#applications', class: 'cx-back', 'data-testid': 'app-back' }, '← ', t('console.apps.back')),
    error,
    body,
  );
  let ctl: AbortController | null = null;

  const flash = (msg: string) => {
    // One at a time: the last action's word replaces the one before.
    for (const old of el.querySelectorAll('.cx-toast')) old.remove();
    const toast = h('div', { class: 'cx-toast', role: 'status', 'data-testid': 'action-ok' }, msg);
    el.prepend(toast);
    window.setTimeout(() => toast.remove(), 3000);
  };

  const render = (a: ApplicationDto, items: Items, dir: Directory, actionError = '') => {
    const item = items.item(a.item);
    el.dataset.state = a.state;
    const dept = (code: string | null | undefined, name?: string) => (code ? (name ?? orgName(dir, code)) : '—');
    const head = h(
      'header',
      { class: 'cx-case-head' },
      h('h2', {}, h('span', { 'data-testid': 'app-item-name' }, itemName(items, a.item, a.item_name)), ' ', h('span', { class: 'cx-mono', 'data-testid': 'app-id' }, a.id)),
      h(
        'div',
        { class: 'cx-case-badges' },
        appStateBadge(a),
        h('span', { class: 'cx-chip' }, tOr(`console.svc.mode.${a.mode}`, item?.mode_zh ?? a.mode)),
        a.countersign ? h('span', { class: 'cx-chip', 'data-testid': 'app-countersign-chip' }, t('console.apps.needs_countersign')) : null,
        appOverdueBadge(a),
      ),
    );
    const facts = h(
      'dl',
      { class: 'cx-facts', 'data-testid': 'app-facts' },
      ...fact(t('console.apps.col.item'), `${itemName(items, a.item, a.item_name)} (${a.item})`),
      ...fact(t('console.apps.col.department'), dept(a.department, a.department_name ?? item?.department_name)),
      ...(a.countersign ? fact(t('console.apps.countersign'), h('span', { 'data-testid': 'app-countersign' }, dept(a.countersign))) : []),
      ...fact(t('console.apps.col.applicant'), h('span', { class: 'cx-mono' }, a.applicant)),
      ...(a.enterprise ? fact(t('console.apps.enterprise'), h('span', { class: 'cx-mono', 'data-testid': 'app-enterprise' }, a.enterprise)) : []),
      ...fact(t('console.apps.col.created'), formatTime(a.created_at)),
      ...fact(
        t('console.apps.col.due'),
        h('span', { 'data-testid': 'app-due' }, formatTime(a.due_at), item ? ` (${t('console.apps.days', { n: item.time_limit_days })})` : '', ' ', appOverdueBadge(a, 'app-due-overdue')),
      ),
      ...fact(t('console.apps.updated'), formatTime(a.updated_at)),
      ...(a.assignee
        ? fact(t('console.apps.assignee'), h('span', { 'data-testid': 'app-assignee' }, a.assignee === me.id ? t('console.apps.assignee_me') : t('console.apps.assignee_other'), ' ', h('span', { class: 'cx-small wx-muted' }, a.assignee_name ?? a.assignee)))
        : []),
      ...(a.bundle ? fact(t('console.apps.bundle'), h('span', { class: 'cx-mono' }, a.bundle)) : []),
      ...(a.certificate ? fact(t('console.apps.certificate'), h('a', { href: `/verify/${encodeURIComponent(a.certificate)}`, target: '_blank', rel: 'noopener', 'data-testid': 'app-certificate' }, a.certificate)) : []),
    );
    const sent = Object.entries(a.form ?? {});
    const formCard = h(
      'section',
      { class: 'cx-card' },
      h('h3', {}, t('console.apps.form')),
      sent.length
        ? h(
            'table',
            { class: 'cx-kv', 'data-testid': 'app-form' },
            h(
              'tbody',
              {},
              ...sent.map(([k, v]) =>
                h('tr', { 'data-field': k }, h('td', {}, fieldLabel(item, `form.${k}`) ?? k), h('td', { class: 'cx-kv-value' }, valueText(v))),
              ),
            ),
          )
        : h('p', { class: 'wx-muted' }, t('console.apps.no_form')),
    );
    const failures = a.failures.length
      ? h(
          'section',
          { class: 'cx-card cx-app-failures' },
          h('h3', {}, t('console.apps.failures')),
          h('ul', { class: 'cx-failures', 'data-testid': 'app-failures' }, ...a.failures.map((f) => h('li', {}, f))),
          h('p', { class: 'wx-muted cx-small' }, t('console.apps.failures_hint')),
        )
      : null;
    const timeline = h(
      'section',
      { class: 'cx-card cx-timeline-card' },
      h('h3', {}, t('console.apps.timeline')),
      h('ol', { class: 'cx-timeline', 'data-testid': 'app-timeline' }, ...(a.history ?? []).map((s) => step(s, me))),
    );
    replace(
      body,
      head,
      h(
        'div',
        { class: 'cx-case-grid' },
        h(
          'div',
          { class: 'cx-case-main' },
          h('section', { class: 'cx-card' }, facts),
          actionPanel(me, a, dept(a.countersign), actionError, async (action, extra) => {
            const updated = await api<ApplicationDto>(`/api/v1/services/applications/${encodeURIComponent(a.id)}/actions`, {
              json: { action, ...extra },
            });
            render(updated, items, dir);
            flash(t('console.apps.done', { state: updated.state_zh || updated.state }));
          }, (message) => void load(message)),
          failures,
          formCard,
          a.decision ? decisionPanel(a.decision, item) : null,
        ),
        h('div', { class: 'cx-case-side' }, timeline),
      ),
    );
  };

  /** Loads the application; `actionError`: what the last action answered, shown with the fresh state. */
  const load = async (actionError = '') => {
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    try {
      const [a, items, dir] = await Promise.all([
        api<ApplicationDto>(`/api/v1/services/applications/${encodeURIComponent(id)}`, { signal: mine.signal }),
        loadItems(),
        directory(),
      ]);
      if (mine.signal.aborted) return;
      error.textContent = '';
      render(a, items, dir, actionError);
    } catch (e) {
      if (mine.signal.aborted) return;
      if (e instanceof ApiError && e.status === 404) replace(body);
      error.textContent = errorText(e);
    }
  };
  void load();

  return {
    el,
    reload: () => void load(),
    dispose: () => ctl?.abort(),
  };
}

/**
 * The actions the caller may take now. `send` posts one and redraws the page; `conflict` reloads
 * the page (the application moved on meanwhile) and shows the server's words.
 */
function actionPanel(
  me: Me,
  a: ApplicationDto,
  countersignName: string,
  initialError: string,
  send: (action: string, extra: Record<string, unknown>) => Promise<void>,
  conflict: (message: string) => void,
): HTMLElement {
  const error = errorBox('app-action-error');
  error.textContent = initialError;
  if (readsApplications(me)) {
    return h(
      'section',
      { class: 'cx-card cx-actions', 'data-testid': 'app-actions', 'data-readonly': 'true' },
      h('h3', {}, t('console.case.actions')),
      h('p', { class: 'wx-muted', 'data-testid': 'app-readonly' }, t('console.apps.read_only')),
    );
  }
  const actions = APP_ACTION_ORDER.filter((x) => a.allowed.includes(x));
  const formBox = h('div', { class: 'cx-action-form-box' });
  const buttons = actions.map((x) =>
    h(
      'button',
      {
        type: 'button',
        class: x === 'approve' || x === 'accept' ? 'wx-primary' : x === 'refuse' ? 'wx-danger' : '',
        'data-testid': `app-action-${x}`,
        'data-action': x,
      },
      t(`console.apps.action.${x}`),
    ),
  );

  const run = async (action: string, extra: Record<string, unknown>, disable: HTMLButtonElement[]) => {
    error.textContent = '';
    try {
      await busy(disable, () => send(action, extra));
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) return conflict(e.message);
      error.textContent = errorText(e);
    }
  };

  const close = () => {
    replace(formBox);
    for (const b of buttons) b.classList.remove('cx-active');
  };

  const open = (action: string) => {
    error.textContent = '';
    for (const b of buttons) b.classList.toggle('cx-active', b.dataset.action === action);
    const submit = h('button', { type: 'submit', class: action === 'refuse' ? 'wx-danger' : 'wx-primary', 'data-testid': 'app-action-submit' }, t(`console.apps.confirm.${action}`));
    const cancel = h('button', { type: 'button', 'data-testid': 'app-action-cancel', onclick: close }, t('console.cancel'));
    let input: HTMLInputElement | HTMLTextAreaElement | null = null;
    let label: HTMLElement | null = null;
    if (action === 'return' || action === 'refuse') {
      input = h('textarea', { name: 'note', rows: 3, required: true, maxlength: 2000, 'data-testid': 'app-field-note' });
      label = h('label', {}, t(`console.apps.note.${action}`), h('span', { class: 'cx-req' }, ' *'), input);
    } else if (action === 'delegate') {
      input = h('input', { name: 'to', required: true, autocomplete: 'off', placeholder: t('console.apps.delegate_placeholder'), 'data-testid': 'app-field-to' });
      label = h('label', {}, t('console.apps.delegate_to'), h('span', { class: 'cx-req' }, ' *'), input);
    }
    const form = h(
      'form',
      { class: 'cx-action-form', 'data-testid': `app-action-form-${action}`, novalidate: true },
      h(
        'p',
        { class: 'wx-muted' },
        t(action === 'approve' && a.countersign && a.state !== 'countersign' ? 'console.apps.hint.approve_countersign' : `console.apps.hint.${action}`, {
          countersign: countersignName,
        }),
      ),
      label,
      h('div', { class: 'cx-form-buttons' }, submit, cancel),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const extra: Record<string, unknown> = {};
      if (input) {
        const v = input.value.trim();
        if (!v) {
          error.textContent = t(action === 'delegate' ? 'console.apps.delegate_required' : 'console.apps.note_required');
          input.focus();
          return;
        }
        extra[action === 'delegate' ? 'to' : 'note'] = v;
      }
      void run(action, extra, [submit, ...buttons]);
    });
    replace(formBox, form);
    (input ?? submit).focus();
  };

  for (const b of buttons) {
    const action = b.dataset.action!;
    b.addEventListener('click', () => {
      if (!IMMEDIATE.has(action)) return open(action);
      close();
      void run(action, {}, buttons);
    });
  }

  return h(
    'section',
    { class: 'cx-card cx-actions', 'data-testid': 'app-actions' },
    h('h3', {}, t('console.case.actions')),
    actions.length
      ? h('div', { class: 'cx-action-buttons' }, ...buttons)
      : h('p', { class: 'wx-muted', 'data-testid': 'app-no-actions' }, t(waitingText(a, me))),
    formBox,
    error,
  );
}

/** Why there is nothing to do: whose move it is. */
function waitingText(a: ApplicationDto, me: Me): string {
  if (a.assignee && a.assignee !== me.id && !['approved', 'refused', 'withdrawn', 'declined'].includes(a.state)) return 'console.apps.waiting.delegated';
  switch (a.state) {
    case 'correction':
      return 'console.apps.waiting.correction';
    case 'countersign':
      return 'console.apps.waiting.countersign';
    case 'approved':
    case 'refused':
    case 'withdrawn':
    case 'declined':
      return 'console.apps.waiting.done';
    default:
      return 'console.case.no_actions';
  }
}

function fact(label: string, value: Node | string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function step(s: AppStepDto, me: Me): HTMLElement {
  const role = tOr(`console.svc.role.${s.role}`, s.role);
  const who = s.actor === me.id ? t('console.apps.me') : s.actor_name ? `${s.actor_name} · ${role}` : role;
  return h(
    'li',
    { class: `cx-tl cx-tl-${s.action}`, 'data-testid': 'app-timeline-item', 'data-action': s.action },
    h('div', { class: 'cx-tl-head' }, h('strong', {}, tOr(`console.svc.action.${s.action}`, s.action)), ' ', h('time', { datetime: s.at }, formatTime(s.at))),
    h(
      'div',
      { class: 'cx-tl-meta wx-muted', title: s.actor },
      who,
      s.from !== s.to ? ` · ${tOr(`console.svc.state.${s.from}`, s.from)} → ${tOr(`console.svc.state.${s.to}`, s.to)}` : '',
    ),
    s.note ? h('div', { class: 'cx-tl-note', 'data-testid': 'app-timeline-note' }, s.note) : null,
  );
}
