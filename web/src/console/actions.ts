// The action panel of a case page: a button for each action the case's stage allows
// (`allowed_actions`) and the account's roles permit, each opening the fields it needs, posted to
// `POST /api/v1/events/{id}/actions`. Photos are uploaded first (`POST /api/v1/attachments`) and
// named by id in the action. Errors from the API show in place.

import { api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, locale, t } from '../common/i18n';
import { actionsFor } from './roles';
import type { CaseDto, CategoryDto, ClassDto } from './types';
import { ancestors, type Directory } from './units';
import { busy, errorBox, errorText, uploadFiles } from './util';

/** Actions done with one click (no fields). */
const IMMEDIATE = new Set(['accept', 'start', 'register', 'resume']);

let categoriesLoading: Promise<ClassDto[]> | null = null;
function categories(): Promise<ClassDto[]> {
  categoriesLoading ??= api<ClassDto[]>('/api/v1/categories').catch((e) => {
    categoriesLoading = null;
    throw e;
  });
  return categoriesLoading;
}

export interface ActionPanel {
  el: HTMLElement;
  /** Whether a form is open or an action is being sent (a live reload would disturb it). */
  dirty: () => boolean;
  /** Opens the dispatch form with a category chosen (from a suggestion). */
  dispatchWith: (category: string) => void;
}

export function actionPanel(me: Me, c: CaseDto, dir: Directory, onDone: (c: CaseDto) => void): ActionPanel {
  const actions = actionsFor(me, c);
  const error = errorBox('action-error');
  const formBox = h('div', { class: 'cx-action-form-box' });
  const buttons = actions.map((a) =>
    h(
      'button',
      {
        type: 'button',
        class: a === 'accept' || a === 'handle' || a === 'dispatch' || a === 'verify' ? 'wx-primary' : '',
        'data-testid': `action-${a}`,
        'data-action': a,
      },
      t(`action.${a}`),
    ),
  );
  let formOpen = false;
  let sending = 0;
  let openDispatch: ((category: string) => void) | null = null;

  const send = async (action: string, body: Record<string, unknown>) => {
    error.textContent = '';
    sending++;
    try {
      const updated = await api<CaseDto>(`/api/v1/events/${encodeURIComponent(c.id)}/actions`, {
        json: { action, ...body },
      });
      formOpen = false;
      onDone(updated);
    } finally {
      sending--;
    }
  };

  const open = (action: string) => {
    error.textContent = '';
    for (const b of buttons) b.classList.toggle('cx-active', b.dataset.action === action);
    const form = buildForm(action);
    replace(formBox, form.el);
    formOpen = true;
    form.focus?.();
  };

  const close = () => {
    replace(formBox);
    for (const b of buttons) b.classList.remove('cx-active');
    formOpen = false;
  };

  interface Form {
    el: HTMLElement;
    focus?: () => void;
  }

  const text = (name: string, required: boolean, rows = 3) => {
    const input = h('textarea', { name, rows, required, 'data-testid': `field-${name}` });
    return { input, label: h('label', {}, t(`console.field.${name}`), required ? h('span', { class: 'cx-req' }, ' *') : null, input) };
  };

  const photos = () => {
    const input = h('input', { type: 'file', accept: 'image/*', multiple: true, 'data-testid': 'field-photos' });
    const previews = h('div', { class: 'cx-previews', 'data-testid': 'photo-previews' });
    const urls: string[] = [];
    input.addEventListener('change', () => {
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls.length = 0;
      replace(
        previews,
        ...Array.from(input.files ?? []).map((f) => {
          const u = URL.createObjectURL(f);
          urls.push(u);
          return h('img', { src: u, alt: f.name, class: 'cx-thumb' });
        }),
      );
    });
    // An upload that went through is not sent again when the action is retried.
    const uploaded = new Map<File, string>();
    const ids = async (): Promise<string[]> => {
      const files = Array.from(input.files ?? []);
      const fresh = files.filter((f) => !uploaded.has(f));
      const newIds = await uploadFiles(fresh);
      fresh.forEach((f, i) => uploaded.set(f, newIds[i]));
      return files.map((f) => uploaded.get(f)!);
    };
    return { input, ids, label: h('label', {}, t('console.field.photos'), input, previews) };
  };

  const submitRow = (...extra: HTMLButtonElement[]) => {
    const cancel = h('button', { type: 'button', 'data-testid': 'action-cancel', onclick: close }, t('console.cancel'));
    return h('div', { class: 'cx-form-buttons' }, ...extra, cancel);
  };

  const simpleForm = (action: string, fields: { name: string; required: boolean }[], withPhotos: boolean): Form => {
    const inputs = fields.map((f) => ({ ...f, ...text(f.name, f.required) }));
    const pics = withPhotos ? photos() : null;
    const submit = h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'action-submit' }, t(`action.${action}`));
    const form = h(
      'form',
      { class: 'cx-action-form', 'data-testid': `action-form-${action}` },
      h('p', { class: 'wx-muted' }, t(`console.action_hint.${action}`)),
      ...inputs.map((i) => i.label),
      pics?.label,
      submitRow(submit),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body: Record<string, unknown> = {};
      for (const i of inputs) {
        const v = i.input.value.trim();
        if (i.required && !v) {
          error.textContent = t('console.field_required', { field: t(`console.field.${i.name}`) });
          i.input.focus();
          return;
        }
        if (v) body[i.name] = v;
      }
      try {
        await busy([submit], async () => {
          if (pics) {
            const ids = await pics.ids();
            if (ids.length) body.attachments = ids;
          }
          await send(action, body);
        });
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    return {
      el: form,
      focus: () => inputs[0]?.input.focus(),
    };
  };

  const verifyForm = (): Form => {
    const note = text('note', false);
    const pics = photos();
    const pass = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'verify-pass' }, t('console.verify.pass'));
    const fail = h('button', { type: 'button', class: 'wx-danger', 'data-testid': 'verify-fail' }, t('console.verify.fail'));
    const go = async (ok: boolean) => {
      const v = note.input.value.trim();
      if (!ok && !v) {
        error.textContent = t('console.verify.fail_needs_note');
        note.input.focus();
        return;
      }
      try {
        await busy([pass, fail], async () => {
          const ids = await pics.ids();
          await send('verify', { pass: ok, note: v, ...(ids.length ? { attachments: ids } : {}) });
        });
      } catch (err) {
        error.textContent = errorText(err);
      }
    };
    pass.addEventListener('click', () => void go(true));
    fail.addEventListener('click', () => void go(false));
    return {
      el: h(
        'div',
        { class: 'cx-action-form', 'data-testid': 'action-form-verify' },
        h('p', { class: 'wx-muted' }, t('console.action_hint.verify')),
        note.label,
        pics.label,
        submitRow(pass, fail),
      ),
      focus: () => note.input.focus(),
    };
  };

  const decideForm = (): Form => {
    const approve = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'extension-approve' }, t('console.extension.approve'));
    const refuse = h('button', { type: 'button', class: 'wx-danger', 'data-testid': 'extension-refuse' }, t('console.extension.refuse'));
    const go = async (ok: boolean) => {
      try {
        await busy([approve, refuse], () => send('decide_extension', { approve: ok }));
      } catch (err) {
        error.textContent = errorText(err);
      }
    };
    approve.addEventListener('click', () => void go(true));
    refuse.addEventListener('click', () => void go(false));
    return {
      el: h(
        'div',
        { class: 'cx-action-form', 'data-testid': 'action-form-decide_extension' },
        h('p', {}, t('console.extension.requested', { until: formatTime(c.extension_requested_until) })),
        submitRow(approve, refuse),
      ),
    };
  };

  const extensionForm = (): Form => {
    const until = h('input', { type: 'datetime-local', required: true, 'data-testid': 'field-until' });
    const reason = text('reason', true);
    const submit = h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'action-submit' }, t('action.request_extension'));
    const form = h(
      'form',
      { class: 'cx-action-form', 'data-testid': 'action-form-request_extension' },
      h('label', {}, t('console.field.until'), h('span', { class: 'cx-req' }, ' *'), until),
      reason.label,
      submitRow(submit),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const when = until.value ? new Date(until.value) : null;
      if (!when || Number.isNaN(when.getTime())) {
        error.textContent = t('console.field_required', { field: t('console.field.until') });
        return;
      }
      if (!reason.input.value.trim()) {
        error.textContent = t('console.field_required', { field: t('console.field.reason') });
        return;
      }
      try {
        await busy([submit], () => send('request_extension', { until: when.toISOString(), reason: reason.input.value.trim() }));
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    return { el: form };
  };

  /** Dispatch (with a category for an unclassified case) or reassign: to whom. */
  const targetForm = (action: 'dispatch' | 'reassign'): Form => {
    const chain = ancestors(dir, c.location.unit).filter((u) => u.level !== 'grid');
    const toSel = h('select', { required: true, 'data-testid': 'field-to' });
    const unitsGroup = h('optgroup', { label: t('console.to.units') }, ...chain.map((u) => h('option', { value: u.code }, `${u.name} (${t(`console.level.${u.level}`)})`)));
    const deptGroup = dir.departments.length
      ? h('optgroup', { label: t('console.to.departments') }, ...dir.departments.map((d) => h('option', { value: d.code }, d.name)))
      : null;
    const codes = new Set(chain.map((u) => u.code));
    const entities = dir.entities.filter((e) => e.service_area.some((a) => codes.has(a)));
    const entGroup = entities.length
      ? h('optgroup', { label: t('console.to.entities') }, ...entities.map((e) => h('option', { value: `entity:${e.id}` }, e.name)))
      : null;
    toSel.append(h('option', { value: '' }, t('console.to.choose')), unitsGroup);
    if (deptGroup) toSel.append(deptGroup);
    if (entGroup) toSel.append(entGroup);
    let toTouched = false;
    toSel.addEventListener('change', () => (toTouched = true));

    const catSel = h('select', { 'data-testid': 'field-category' }, h('option', { value: '' }, t('console.loading')));
    const byCode = new Map<string, CategoryDto>();
    const why = h('p', { class: 'wx-muted cx-why', 'data-testid': 'dispatch-why' });
    const suggestTarget = () => {
      const cat = byCode.get(catSel.value || c.category || '');
      if (!cat) return;
      const to = responsibleOrg(cat, chain, entities);
      why.textContent = t('console.dispatch.responsible', { name: catName(cat), who: cat.responsible });
      if (to && !toTouched) toSel.value = to;
    };
    const needCategory = action === 'dispatch' && !c.category;
    let pending = '';
    if (action === 'dispatch') {
      categories()
        .then((classes) => {
          replace(catSel, h('option', { value: '' }, t(needCategory ? 'console.dispatch.pick_category' : 'console.dispatch.keep_category')));
          for (const cls of classes) {
            const group = h('optgroup', { label: `${cls.code} ${locale() === 'en' ? cls.name_en : cls.name_zh}` });
            for (const cat of cls.categories) {
              byCode.set(cat.code, cat);
              group.append(h('option', { value: cat.code }, `${cat.code} ${catName(cat)}`));
            }
            catSel.append(group);
          }
          if (pending) catSel.value = pending;
          else if (c.category) catSel.value = c.category;
          suggestTarget();
        })
        .catch((e) => (error.textContent = errorText(e)));
    }
    catSel.addEventListener('change', suggestTarget);
    const suggestions = action === 'dispatch' && c.suggestions?.length
      ? h(
          'div',
          { class: 'cx-sugg-pick' },
          h('span', { class: 'wx-muted' }, t('console.case.suggestions'), ' '),
          ...c.suggestions.map((s) =>
            h(
              'button',
              {
                type: 'button',
                class: 'cx-chip',
                'data-testid': 'suggestion-pick',
                'data-category': s.category,
                onclick: () => choose(s.category),
              },
              `${s.name} ${Math.round(s.confidence * 100)}%`,
            ),
          ),
        )
      : null;
    const choose = (code: string) => {
      pending = code;
      catSel.value = code;
      suggestTarget();
    };
    const submit = h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'action-submit' }, t(`action.${action}`));
    const form = h(
      'form',
      { class: 'cx-action-form', 'data-testid': `action-form-${action}` },
      suggestions,
      action === 'dispatch' ? h('label', {}, t('console.field.category'), needCategory ? h('span', { class: 'cx-req' }, ' *') : null, catSel) : null,
      why,
      h('label', {}, t('console.field.to'), h('span', { class: 'cx-req' }, ' *'), toSel),
      submitRow(submit),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (needCategory && !catSel.value) {
        error.textContent = t('console.field_required', { field: t('console.field.category') });
        return;
      }
      if (!toSel.value) {
        error.textContent = t('console.field_required', { field: t('console.field.to') });
        return;
      }
      const body: Record<string, unknown> = { to: toSel.value };
      if (action === 'dispatch' && catSel.value && catSel.value !== c.category) body.category = catSel.value;
      try {
        await busy([submit], () => send(action, body));
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    if (action === 'dispatch') openDispatch = choose;
    return { el: form };
  };

  const buildForm = (action: string): Form => {
    switch (action) {
      case 'dispatch':
      case 'reassign':
        return targetForm(action);
      case 'return':
      case 'reject':
      case 'suspend':
        return simpleForm(action, [{ name: 'reason', required: true }], false);
      case 'handle':
      case 'progress':
        return simpleForm(action, [{ name: 'note', required: true }], true);
      case 'urge':
        return simpleForm(action, [{ name: 'note', required: true }], false);
      case 'verify':
        return verifyForm();
      case 'decide_extension':
        return decideForm();
      case 'request_extension':
        return extensionForm();
      default:
        return simpleForm(action, [], false);
    }
  };

  for (const b of buttons) {
    const action = b.dataset.action!;
    b.addEventListener('click', async () => {
      if (!IMMEDIATE.has(action)) return open(action);
      close();
      try {
        await busy(buttons, () => send(action, {}));
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
  }

  const el = h(
    'section',
    { class: 'cx-card cx-actions', 'data-testid': 'case-actions' },
    h('h3', {}, t('console.case.actions')),
    actions.length
      ? h('div', { class: 'cx-action-buttons' }, ...buttons)
      : h('p', { class: 'wx-muted', 'data-testid': 'no-actions' }, t('console.case.no_actions')),
    formBox,
    error,
  );
  return {
    el,
    dirty: () => formOpen || sending > 0,
    dispatchWith: (category: string) => {
      if (!actions.includes('dispatch')) return;
      open('dispatch');
      openDispatch?.(category);
    },
  };
}

function catName(cat: CategoryDto): string {
  return locale() === 'en' ? cat.name_en : cat.name_zh;
}

/** The organisation the responsibility list names for a category at this place. */
function responsibleOrg(
  cat: CategoryDto,
  chain: { code: string; level: string }[],
  entities: { id: string; kind: string }[],
): string | null {
  const r = cat.responsible_key;
  const level = (l: string) => chain.find((u) => u.level === l)?.code ?? null;
  if (r === 'community') return level('community') ?? level('street');
  if (r === 'street') return level('street');
  if (r === 'district') return level('district');
  if (r.startsWith('department:')) return r.slice('department:'.length);
  if (r.startsWith('entity:')) {
    const kind = r.slice('entity:'.length);
    const e = entities.find((x) => x.kind === kind);
    return e ? `entity:${e.id}` : level('community');
  }
  return null;
}
