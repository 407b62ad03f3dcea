// One application (办件) as its applicant sees it: what became of it (approved with its
// certificate; the rules' reasons and the way to correct and submit again; the reviewer's
// correction note), whether it is past its promised time (超期), the form as sent, the actions the
// applicant may take, 好差评 once it is finished (a bad rating opens a follow-up case, named in the
// rating's history line), and its history. And a bundle application's combined status with each
// member's.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, locale, t } from '../common/i18n';
import { fieldsBlock } from './apply';
import { certificateCard } from './certificate';
import { icon } from './icons';
import {
  bundleName,
  departmentLabel,
  errorLine,
  errorText,
  fieldLabel,
  formKey,
  fresh,
  go,
  itemName,
  loadCatalogue,
  loadServiceMe,
  modeLabel,
  routes,
  stateBadge,
  type Catalogue,
} from './svcdata';
import { LEVELS, type ApplicationDto, type BundleApplicationDto, type StepDto } from './types';

/** An applicant's action on an application. */
export function act(id: string, action: 'confirm' | 'decline' | 'submit' | 'withdraw', form?: Record<string, unknown>): Promise<ApplicationDto> {
  return api<ApplicationDto>(`/api/v1/services/applications/${encodeURIComponent(id)}/actions`, { json: { action, form } });
}

/** 好差评: a satisfaction level and an optional comment, once the application is finished. */
export function rate(id: string, level: string, note?: string): Promise<ApplicationDto> {
  return api<ApplicationDto>(`/api/v1/services/applications/${encodeURIComponent(id)}/actions`, { json: { action: 'rate', level, note } });
}

/** The 超期 marker: the application waited past its promised time limit. */
export function overdueMarker(a: ApplicationDto): HTMLElement | null {
  return a.overdue ? h('span', { class: 'ph-chip ph-svc-overdue', 'data-testid': 'svc-overdue' }, t('overdue')) : null;
}

/** The follow-up case a bad rating opened, as its history line names it. */
const FOLLOW_UP = /follow-up case ([0-9A-Za-z-]+)/;

/**
 * 好差评: the form while `rate` is allowed; afterwards what the rating's history line says (for 不满意
 * or worse it names the follow-up case, linked to its page under 我的上报).
 */
function ratingBlock(a: ApplicationDto, rated: (after: ApplicationDto) => void): HTMLElement | null {
  const steps = (a.history ?? []).filter((s) => s.action === 'rate');
  const last = steps.length ? steps[steps.length - 1] : null;
  if (last && !a.allowed.includes('rate')) {
    const followUp = last.note ? FOLLOW_UP.exec(last.note)?.[1] : undefined;
    return h(
      'div',
      { class: 'ph-rated ph-svc-rated', 'data-testid': 'svc-rated', role: 'status' },
      h('p', {}, t('svc.rate.done')),
      last.note ? h('p', { class: 'ph-svc-note', 'data-testid': 'svc-rated-note' }, last.note) : null,
      followUp
        ? h(
            'p',
            { class: 'ph-small' },
            t('svc.rate.follow_up'),
            ' ',
            h('a', { href: `#/case/${encodeURIComponent(followUp)}`, 'data-testid': 'svc-follow-up-link' }, t('svc.rate.follow_up_open')),
          )
        : null,
    );
  }
  if (!a.allowed.includes('rate')) return null;
  let level: string | null = null;
  const error = errorLine('svc-rate-error');
  const comment = h('textarea', { name: 'svc-rate-note', rows: 3, maxlength: 500, 'data-testid': 'svc-rate-note' });
  const submit = h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'svc-rate-submit' }, t('rate.submit'));
  const redoNote = h('p', { class: 'wx-muted ph-small', 'data-testid': 'svc-rate-hint' }, t('svc.rate.hint'));
  const choice = (l: string) => {
    const input = h('input', { type: 'radio', name: 'svc-rate-level', value: l });
    input.addEventListener('change', () => {
      level = l;
      error.textContent = '';
    });
    return h('label', { class: 'ph-choice', 'data-testid': `svc-rate-level-${l}` }, input, h('span', {}, t(`rating.${l}`)));
  };
  const form = h(
    'form',
    { class: 'ph-rate ph-svc-rate', 'data-testid': 'svc-rate-form', novalidate: true },
    h('h2', { class: 'ph-h2' }, t('svc.rate.heading')),
    h('fieldset', { class: 'ph-choices' }, h('legend', {}, t('rate.level')), ...LEVELS.map(choice)),
    h('label', { class: 'ph-svc-rate-comment' }, t('svc.rate.comment'), comment),
    redoNote,
    error,
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!level) {
      error.textContent = t('rate.pick_level');
      return;
    }
    const chosen = level;
    void (async () => {
      error.textContent = '';
      submit.disabled = true;
      try {
        rated(await rate(a.id, chosen, comment.value.trim() || undefined));
      } catch (err) {
        error.textContent = errorText(err);
        submit.disabled = false;
      }
    })();
  });
  return form;
}

/** The note of the latest step with this action (the reviewer's correction note, the refusal). */
function lastNote(a: ApplicationDto, action: string): string | null {
  const steps = (a.history ?? []).filter((s) => s.action === action && s.note);
  return steps.length ? steps[steps.length - 1].note : null;
}

/** The rules' reasons, in the words of the decision model. */
export function failuresList(a: ApplicationDto): HTMLElement {
  return h('ul', { class: 'ph-svc-failures', 'data-testid': 'svc-failures' }, ...a.failures.map((f) => h('li', {}, f)));
}

/**
 * What became of an application, said plainly: approved (with its certificate), the reasons the
 * rules did not pass, waiting for a reviewer, returned for correction, refused …
 */
export function resultBlock(a: ApplicationDto): HTMLElement {
  const box = (cls: string, ...children: (Node | string | null)[]) =>
    h('div', { class: `ph-svc-result ${cls}`, 'data-testid': 'svc-result', 'data-state': a.state, role: 'status' }, ...children);
  const title = (text: string) => h('p', { class: 'ph-svc-result-title', 'data-testid': 'svc-result-title' }, text);
  const dept = departmentLabel(a.department, a.department_name);
  switch (a.state) {
    case 'approved':
      return box(
        'ph-svc-ok',
        title(t('svc.result.approved')),
        h('p', {}, a.certificate ? t('svc.result.approved_cert') : t('svc.result.approved_plain')),
        a.certificate ? certificateCard(a.certificate) : null,
      );
    case 'pending':
      if (a.failures.length) {
        return box('ph-svc-bad', title(t('svc.result.failed')), failuresList(a), h('p', { class: 'ph-small' }, t('svc.result.failed_next', { department: dept })));
      }
      return box('ph-svc-wait', title(t('svc.result.pending')), h('p', {}, t('svc.result.pending_text', { department: dept, due: formatTime(a.due_at) })));
    case 'review':
      return box('ph-svc-wait', title(t('svc.result.review')), h('p', {}, t('svc.result.review_text', { department: dept, due: formatTime(a.due_at) })));
    case 'correction':
      return box(
        'ph-svc-bad',
        title(t('svc.result.correction')),
        h('p', { class: 'ph-svc-note', 'data-testid': 'svc-correction-note' }, lastNote(a, 'return') ?? ''),
        h('p', { class: 'ph-small' }, t('svc.result.correction_next')),
      );
    case 'refused':
      return box('ph-svc-bad', title(t('svc.result.refused')), h('p', { class: 'ph-svc-note' }, lastNote(a, 'refuse') ?? ''));
    case 'offered':
      return box('ph-svc-wait', title(t('svc.result.offered')), h('p', {}, t('svc.offer.sentence')));
    case 'draft':
      return box('ph-svc-wait', title(t('svc.result.draft')), h('p', {}, t('svc.result.draft_text')));
    default:
      return box('ph-svc-wait', title(t(`svc.result.${a.state}`)));
  }
}

function actionLabel(s: StepDto): string {
  const key = `svc.action.${s.action}`;
  const text = t(key);
  return text === key ? s.action : text;
}

function roleLabel(role: string): string {
  const key = `svc.role.${role}`;
  const text = t(key);
  return text === key ? role : text;
}

/** The history, newest first. */
function timeline(a: ApplicationDto): HTMLElement {
  return h(
    'ol',
    { class: 'ph-timeline', 'data-testid': 'svc-timeline' },
    ...[...(a.history ?? [])].reverse().map((s) =>
      h(
        'li',
        { class: `ph-step ph-svc-step-${s.action}`, 'data-action': s.action },
        h('span', { class: 'ph-step-title' }, actionLabel(s)),
        h('span', { class: 'ph-step-time wx-muted' }, formatTime(s.at)),
        h('span', { class: 'ph-step-stage wx-muted' }, roleLabel(s.role)),
        s.from !== s.to ? h('span', { class: 'ph-step-stage wx-muted' }, `→ ${stateNameOf(s.to)}`) : null,
        s.note ? h('span', { class: 'ph-step-note' }, s.note) : null,
      ),
    ),
  );
}

function stateNameOf(state: string): string {
  const key = `svc.state.${state}`;
  const text = t(key);
  return text === key ? state : text;
}

/** An enterprise's name when it is one of the caller's (the register knows them), else its credit code. */
function enterpriseName(uscc: string): HTMLElement {
  const el = h('span', { 'data-testid': 'svc-app-enterprise' }, uscc);
  loadServiceMe()
    .then((me) => {
      const e = me.enterprises.find((x) => x.uscc === uscc);
      if (e) replace(el, e.name, h('span', { class: 'wx-muted ph-small ph-svc-uscc' }, uscc));
    })
    .catch(() => undefined);
  return el;
}

/** One application. */
export function applicationView(id: string): { el: HTMLElement; reload(): Promise<void> } {
  const body = h('div', {}, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const el = h(
    'section',
    { class: 'ph-case ph-svc-app', 'data-testid': 'svc-app-view', 'data-app-id': id },
    h('button', { type: 'button', class: 'ph-back', 'data-testid': 'svc-back', onclick: () => go(routes.home) }, '‹ ', t('svc.back_home')),
    body,
  );
  let cat: Catalogue | null = null;

  async function reload(): Promise<void> {
    cat = await loadCatalogue().catch(() => null);
    const known = fresh.apps.get(id);
    if (known) {
      fresh.apps.delete(id);
      draw(known);
      return;
    }
    try {
      draw(await api<ApplicationDto>(`/api/v1/services/applications/${encodeURIComponent(id)}`));
    } catch (e) {
      replace(body, h('p', { class: 'wx-error', role: 'alert' }, errorText(e)));
    }
  }

  function draw(a: ApplicationDto): void {
    el.dataset.state = a.state;
    const item = cat?.item(a.item);
    const row = (label: string, ...value: (Node | string | null)[]) => h('div', { class: 'ph-row' }, h('dt', {}, label), h('dd', {}, ...value));
    const error = errorLine();
    const run = async (button: HTMLButtonElement, action: 'confirm' | 'decline' | 'submit' | 'withdraw', form?: Record<string, unknown>) => {
      error.textContent = '';
      button.disabled = true;
      try {
        draw(await act(a.id, action, form));
        window.scrollTo(0, 0);
      } catch (e) {
        error.textContent = errorText(e);
        button.disabled = false;
      }
    };

    // Correct and submit again: after failing rules, or when a reviewer returned it.
    let correction: HTMLElement | null = null;
    const canCorrect = a.allowed.includes('submit') && (a.state === 'correction' || (a.state === 'pending' && a.failures.length > 0));
    if (canCorrect && item) {
      const fields = fieldsBlock(item.form, a.form ?? {});
      const formError = errorLine('svc-correct-error');
      const resubmit = h('button', { type: 'submit', class: 'wx-primary ph-submit', 'data-testid': 'svc-resubmit' }, t('svc.correct.submit'));
      const form = h(
        'form',
        { class: 'ph-form ph-svc-form ph-svc-correct', 'data-testid': 'svc-correct-form', novalidate: true, hidden: true },
        h('p', { class: 'ph-hint wx-muted' }, t('svc.correct.hint')),
        fields.el,
        formError,
        resubmit,
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        formError.textContent = '';
        const read = fields.read();
        if ('error' in read) {
          formError.textContent = read.error;
          read.focus.focus();
          return;
        }
        void (async () => {
          resubmit.disabled = true;
          try {
            draw(await act(a.id, 'submit', read.form));
            window.scrollTo(0, 0);
          } catch (err) {
            formError.textContent = errorText(err);
            resubmit.disabled = false;
          }
        })();
      });
      const open = h('button', { type: 'button', class: 'wx-primary ph-submit', 'data-testid': 'svc-correct-open' }, t('svc.correct.open'));
      open.addEventListener('click', () => {
        form.hidden = false;
        open.hidden = true;
        form.querySelector<HTMLElement>('input, select')?.focus();
      });
      correction = h('div', { class: 'ph-svc-correction' }, open, form);
    }

    // The applicant's other actions.
    const actions: HTMLElement[] = [];
    if (a.allowed.includes('confirm')) {
      const b = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'svc-confirm' }, t('svc.offer.confirm'));
      b.addEventListener('click', () => void run(b, 'confirm'));
      actions.push(b);
    }
    if (a.allowed.includes('decline')) {
      const b = h('button', { type: 'button', 'data-testid': 'svc-decline' }, t('svc.offer.decline'));
      b.addEventListener('click', () => void run(b, 'decline'));
      actions.push(b);
    }
    if (a.allowed.includes('withdraw')) {
      // Two taps: a withdrawn application cannot be taken back.
      const b = h('button', { type: 'button', class: 'ph-svc-withdraw', 'data-testid': 'svc-withdraw' }, t('svc.withdraw'));
      let armed = false;
      b.addEventListener('click', () => {
        if (!armed) {
          armed = true;
          b.textContent = t('svc.withdraw_confirm');
          b.classList.add('wx-danger');
          return;
        }
        void run(b, 'withdraw');
      });
      actions.push(b);
    }

    // The form as sent, with the catalogue's labels.
    const sent = Object.entries(a.form ?? {});
    const label = (key: string) => {
      const f = item?.form.find((x) => formKey(x) === key);
      return f ? fieldLabel(f) : key;
    };
    const shown = (v: unknown) => (v === true ? t('svc.yes') : v === false ? t('svc.no') : String(v));

    replace(
      body,
      h('h1', { class: 'ph-h1', 'data-testid': 'svc-app-name' }, itemName(cat, a.item, a.item_name)),
      h('p', { class: 'ph-chips' }, stateBadge(a), h('span', { class: 'ph-chip' }, modeLabel(a.mode, item?.mode_zh)), overdueMarker(a)),
      resultBlock(a),
      correction,
      error,
      actions.length ? h('div', { class: 'ph-svc-actions' }, ...actions) : null,
      ratingBlock(a, (after) => draw(after)),
      h(
        'dl',
        { class: 'ph-dl' },
        row(t('svc.department'), departmentLabel(a.department, a.department_name)),
        a.enterprise ? row(t('svc.enterprise'), enterpriseName(a.enterprise)) : null,
        row(t('svc.applicant'), a.applicant),
        row(t('svc.created'), formatTime(a.created_at)),
        a.due_at && ['pending', 'review', 'countersign', 'correction'].includes(a.state)
          ? row(t('svc.due'), formatTime(a.due_at), a.overdue ? h('span', { class: 'ph-overdue', 'data-testid': 'svc-due-overdue' }, ` ${t('overdue')}`) : null)
          : null,
        a.bundle
          ? row(
              t('svc.bundle'),
              h('a', { href: routes.bundleApp(a.bundle), 'data-testid': 'svc-bundle-link' }, bundleName(cat, a.bundle)),
            )
          : null,
        row(t('svc.number'), h('span', { class: 'ph-svc-id' }, a.id)),
      ),
      sent.length
        ? h(
            'div',
            {},
            h('h2', { class: 'ph-h2' }, t('svc.form_sent')),
            h('dl', { class: 'ph-dl', 'data-testid': 'svc-form-sent' }, ...sent.map(([k, v]) => row(label(k), shown(v)))),
          )
        : null,
      h('h2', { class: 'ph-h2' }, t('svc.progress')),
      timeline(a),
    );
  }

  return { el, reload };
}

/** A bundle application: its combined status and each member's. */
export function bundleStatusView(id: string): { el: HTMLElement; reload(): Promise<void> } {
  const body = h('div', {}, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const el = h(
    'section',
    { class: 'ph-case ph-svc-bundle-status', 'data-testid': 'svc-bundle-view', 'data-bundle-app-id': id },
    h('button', { type: 'button', class: 'ph-back', 'data-testid': 'svc-back', onclick: () => go(routes.home) }, '‹ ', t('svc.back_home')),
    body,
  );

  async function reload(): Promise<void> {
    const cat = await loadCatalogue().catch(() => null);
    let b = fresh.bundles.get(id);
    fresh.bundles.delete(id);
    if (!b) {
      try {
        b = await api<BundleApplicationDto>(`/api/v1/services/bundle-applications/${encodeURIComponent(id)}`);
      } catch (e) {
        replace(body, h('p', { class: 'wx-error', role: 'alert' }, errorText(e)));
        return;
      }
    }
    draw(cat, b);
  }

  function draw(cat: Catalogue | null, b: BundleApplicationDto): void {
    el.dataset.state = b.state;
    const approved = b.members.filter((m) => m.state === 'approved').length;
    replace(
      body,
      h('h1', { class: 'ph-h1' }, bundleName(cat, b.bundle, b.name_zh)),
      h(
        'div',
        { class: `ph-svc-result ${b.state === 'approved' ? 'ph-svc-ok' : b.state === 'finished' ? 'ph-svc-bad' : 'ph-svc-wait'}`, 'data-testid': 'svc-bundle-state', 'data-state': b.state, role: 'status' },
        h('p', { class: 'ph-svc-result-title', 'data-testid': 'svc-bundle-state-name' }, locale() === 'en' ? t(`svc.bundle.state.${b.state}`) : b.state_zh),
        h('p', {}, t('svc.bundle.count', { done: approved, n: b.members.length })),
      ),
      h(
        'ul',
        { class: 'ph-list', 'data-testid': 'svc-bundle-members' },
        ...b.members.map((m) =>
          h(
            'li',
            {},
            h(
              'button',
              { type: 'button', class: 'ph-item', 'data-testid': 'svc-bundle-member', 'data-app-id': m.id, 'data-state': m.state, onclick: () => go(routes.app(m.id)) },
              h('span', { class: 'ph-item-top' }, h('span', { class: 'ph-item-cat' }, itemName(cat, m.item, m.item_name)), stateBadge(m)),
              h(
                'span',
                { class: 'ph-item-meta wx-muted' },
                departmentLabel(m.department, m.department_name),
                m.certificate ? h('span', { class: 'ph-svc-has-cert' }, icon('check'), t('svc.has_certificate')) : null,
              ),
              m.failures.length ? h('span', { class: 'ph-svc-failure-line' }, m.failures.join('；')) : null,
            ),
          ),
        ),
      ),
    );
  }

  return { el, reload };
}
