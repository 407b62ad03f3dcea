// Applying (我要办): the form of an item or of a life-event bundle, generated from the catalogue.
// Only what the registers cannot tell is asked (`form`); what they can is listed beside it,
// read-only (`from_registers`: never asked, Decree 716). Enterprise items name one of the
// enterprises the applicant legally represents. The answer opens the application (or the
// bundle's combined status), which says what became of it.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { t } from '../common/i18n';
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
  type Catalogue,
} from './svcdata';
import type { ApplicationDto, BundleApplicationDto, BundleDto, FieldDto, ItemDto, ServiceMe } from './types';

type Read = { form: Record<string, unknown> } | { error: string; focus: HTMLElement };

export interface FieldsBlock {
  el: HTMLElement;
  /** The form as the API takes it, or what is missing. */
  read(): Read;
}

/** Inputs for the form fields, pre-filled from `current` (a form as sent before). */
export function fieldsBlock(fields: FieldDto[], current: Record<string, unknown> = {}): FieldsBlock {
  type One = { key: string; value: unknown } | { error: string; focus: HTMLElement } | null;
  const readers: (() => One)[] = [];
  const els = fields.map((f) => {
    const key = formKey(f);
    const label = fieldLabel(f);
    const testid = `svc-field-${key}`;
    const mark = f.required ? h('span', { class: 'ph-req', title: t('svc.form.required_mark') }, ' *') : null;
    const value = current[key];
    if (f.kind === 'bool') {
      // Always answered: unticked is "no" (so no required mark).
      const box = h('input', { type: 'checkbox', name: key, 'data-testid': testid });
      box.checked = value === true;
      readers.push(() => ({ key, value: box.checked }));
      return h('label', { class: 'ph-label ph-check' }, box, h('span', {}, label));
    }
    let input: HTMLInputElement | HTMLSelectElement;
    if (f.kind === 'choice') {
      input = h(
        'select',
        { name: key, required: f.required, 'data-testid': testid },
        h('option', { value: '' }, t('svc.form.pick')),
        ...(f.choices ?? []).map((c) => h('option', { value: c }, c)),
      );
    } else if (f.kind === 'number') {
      input = h('input', { type: 'number', name: key, inputmode: 'decimal', step: 'any', required: f.required, 'data-testid': testid });
    } else if (f.kind === 'date') {
      input = h('input', { type: 'date', name: key, required: f.required, 'data-testid': testid });
    } else {
      input = h('input', { type: 'text', name: key, maxlength: 500, required: f.required, 'data-testid': testid });
    }
    if (value != null) input.value = String(value);
    const field = input;
    readers.push(() => {
      const raw = field.value.trim();
      if (!raw) return f.required ? { error: t('svc.form.missing', { label }), focus: field } : null;
      if (f.kind !== 'number') return { key, value: raw };
      const n = Number(raw);
      return Number.isFinite(n) ? { key, value: n } : { error: t('svc.form.not_number', { label }), focus: field };
    });
    return h('label', { class: 'ph-label' }, h('span', {}, label, mark), field);
  });
  return {
    el: h('div', { class: 'ph-svc-fields', 'data-testid': 'svc-form-fields' }, ...els),
    read() {
      const form: Record<string, unknown> = {};
      for (const r of readers) {
        const one = r();
        if (!one) continue;
        if ('error' in one) return one;
        form[one.key] = one.value;
      }
      return { form };
    },
  };
}

/** Which register a fact comes from (`person.age` → the population register). */
function registerOf(source: string): string {
  const key = `svc.register.${source.split('.')[0]}`;
  const text = t(key);
  return text === key ? '' : text;
}

/** What the registers supply: listed, never asked. */
export function registersBlock(fields: FieldDto[]): HTMLElement | null {
  if (!fields.length) return null;
  return h(
    'div',
    { class: 'ph-svc-registers', 'data-testid': 'svc-from-registers' },
    h('p', { class: 'ph-svc-registers-title' }, t('svc.form.from_registers')),
    h(
      'ul',
      {},
      ...fields.map((f) => {
        const where = registerOf(f.source);
        return h('li', {}, fieldLabel(f), where ? h('span', { class: 'wx-muted' }, ` · ${where}`) : null);
      }),
    ),
  );
}

/** "Applicant: 王秀英 (440303********1068)", from the population register. */
function applicantLine(me: ServiceMe): HTMLElement {
  return h('p', { class: 'ph-svc-applicant', 'data-testid': 'svc-applicant' }, t('svc.form.applicant', { name: me.name, identity: me.identity }));
}

/** The enterprise to apply for; `optional` adds "none" (a bundle that registers its own). */
function enterpriseSelect(me: ServiceMe, optional: boolean): HTMLSelectElement {
  const select = h(
    'select',
    { name: 'enterprise', required: !optional, 'data-testid': 'svc-enterprise' },
    h('option', { value: '' }, optional ? t('svc.form.enterprise_none') : t('svc.form.enterprise_pick')),
    ...me.enterprises.map((e) => h('option', { value: e.uscc, title: e.uscc }, e.name)),
  );
  if (!optional && me.enterprises.length === 1) select.value = me.enterprises[0].uscc;
  return select;
}

function backLink(): HTMLElement {
  return h('button', { type: 'button', class: 'ph-back', 'data-testid': 'svc-back', onclick: () => go(routes.apply) }, '‹ ', t('svc.back_catalogue'));
}

function chip(text: string, cls = ''): HTMLElement {
  return h('span', { class: `ph-chip ${cls}` }, text);
}

/** The form of one item. */
export function itemApplyView(code: string): HTMLElement {
  return catalogueView('svc-apply-item', code, (cat) => cat.item(code), drawItem);
}

function modeHint(item: ItemDto): string {
  return t(`svc.mode_hint.${item.mode}`, { department: departmentLabel(item.department, item.department_name), days: item.time_limit_days });
}

function drawItem(body: HTMLElement, cat: Catalogue, item: ItemDto): void {
  const row = (label: string, value: Node | string) => h('div', { class: 'ph-row' }, h('dt', {}, label), h('dd', {}, value));
  const fields = fieldsBlock(item.form);
  const who = h('div', { class: 'ph-svc-who' }, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const error = errorLine();
  const submit = h('button', { type: 'submit', class: 'wx-primary ph-submit', 'data-testid': 'svc-submit' }, t('svc.form.submit'));
  let enterprise: HTMLSelectElement | null = null;
  const form = h(
    'form',
    { class: 'ph-form ph-svc-form', 'data-testid': 'svc-apply-form', novalidate: true },
    who,
    fields.el,
    registersBlock(item.from_registers),
    error,
    submit,
  );
  replace(
    body,
    h('h1', { class: 'ph-h1', 'data-testid': 'svc-item-name' }, itemName(cat, item.code)),
    h(
      'p',
      { class: 'ph-chips' },
      chip(modeLabel(item.mode, item.mode_zh), `ph-chip-${item.mode}`),
      chip(item.type_zh),
      item.cross_region ? chip(t('svc.cross_region')) : null,
    ),
    h('p', { class: 'ph-hint wx-muted' }, modeHint(item)),
    h(
      'dl',
      { class: 'ph-dl ph-svc-meta' },
      row(t('svc.department'), departmentLabel(item.department, item.department_name)),
      row(t('svc.time_limit'), t('svc.days', { n: item.time_limit_days })),
      item.certificate ? row(t('svc.certificate'), item.certificate) : null,
      row(t('svc.legal_basis'), item.legal_basis),
      item.materials.length ? row(t('svc.materials'), item.materials.join('；')) : null,
    ),
    form,
  );

  // Who applies: the register's identity, and for an enterprise item one of theirs.
  loadServiceMe()
    .then((me) => {
      if (item.applicant !== 'enterprise') {
        replace(who, applicantLine(me));
        return;
      }
      if (!me.enterprises.length) {
        replace(who, applicantLine(me), h('p', { class: 'ph-svc-note', 'data-testid': 'svc-no-enterprise' }, t('svc.form.no_enterprise')));
        submit.disabled = true;
        return;
      }
      enterprise = enterpriseSelect(me, false);
      replace(who, applicantLine(me), h('label', { class: 'ph-label' }, h('span', {}, t('svc.form.enterprise'), h('span', { class: 'ph-req' }, ' *')), enterprise));
    })
    .catch((e: unknown) => {
      replace(who, h('p', { class: 'wx-error', role: 'alert' }, errorText(e)));
      submit.disabled = true;
    });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (item.applicant === 'enterprise' && !enterprise?.value) {
      error.textContent = t('svc.form.enterprise_missing');
      enterprise?.focus();
      return;
    }
    const read = fields.read();
    if ('error' in read) {
      error.textContent = read.error;
      read.focus.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('svc.form.submitting');
    try {
      const app = await api<ApplicationDto>('/api/v1/services/applications', {
        json: { item: item.code, enterprise: enterprise?.value || undefined, form: read.form },
      });
      fresh.apps.set(app.id, app);
      go(routes.app(app.id));
    } catch (err) {
      error.textContent = errorText(err);
      submit.disabled = false;
      submit.textContent = t('svc.form.submit');
    }
  });
}

/** The one combined form of a life-event bundle. */
export function bundleApplyView(code: string): HTMLElement {
  return catalogueView('svc-apply-bundle', code, (cat) => cat.bundle(code), drawBundle);
}

/** A page of the catalogue: loads it, finds the entry, and draws it (or says what went wrong). */
function catalogueView<T>(
  testid: string,
  code: string,
  find: (cat: Catalogue) => T | undefined,
  draw: (body: HTMLElement, cat: Catalogue, found: T) => void,
): HTMLElement {
  const body = h('div', {}, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const el = h('section', { class: 'ph-case ph-svc-apply', 'data-testid': testid, 'data-code': code }, backLink(), body);
  void (async () => {
    let cat: Catalogue;
    try {
      cat = await loadCatalogue();
    } catch (e) {
      replace(body, h('p', { class: 'wx-error', role: 'alert' }, errorText(e)));
      return;
    }
    const found = find(cat);
    if (!found) {
      replace(body, h('p', { class: 'wx-error', role: 'alert' }, t('svc.not_found')));
      return;
    }
    draw(body, cat, found);
  })();
  return el;
}

function drawBundle(body: HTMLElement, cat: Catalogue, bundle: BundleDto): void {
  const fields = fieldsBlock(bundle.form);
  const who = h('div', { class: 'ph-svc-who' }, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const error = errorLine();
  const submit = h('button', { type: 'submit', class: 'wx-primary ph-submit', 'data-testid': 'svc-bundle-submit' }, t('svc.bundle.submit'));
  let enterprise: HTMLSelectElement | null = null;
  const departments = new Set(bundle.items.map((i) => i.department));
  // The bundle's answer does not say whether it needs an existing enterprise; its members' items do
  // say which are enterprise items. Such a bundle is offered the caller's enterprises, optionally
  // (one whose business licence comes first registers a new one).
  const hasEnterpriseItems = bundle.items.some((m) => cat.item(m.code)?.applicant === 'enterprise');
  const form = h(
    'form',
    { class: 'ph-form ph-svc-form', 'data-testid': 'svc-bundle-form', novalidate: true },
    who,
    fields.el,
    registersBlock(bundle.from_registers),
    error,
    submit,
  );
  replace(
    body,
    h('h1', { class: 'ph-h1', 'data-testid': 'svc-bundle-name' }, bundleName(cat, bundle.code)),
    h('p', { class: 'ph-hint wx-muted' }, t('svc.bundle.hint', { n: bundle.items.length, d: departments.size })),
    h(
      'ol',
      { class: 'ph-svc-members', 'data-testid': 'svc-bundle-items' },
      ...bundle.items.map((m) =>
        h(
          'li',
          {},
          h('span', { class: 'ph-svc-member-name' }, itemName(cat, m.code, m.name_zh)),
          h('span', { class: 'wx-muted ph-small' }, ` · ${modeLabel(m.mode, cat.item(m.code)?.mode_zh)} · ${departmentLabel(m.department, cat.item(m.code)?.department_name)}`),
        ),
      ),
    ),
    form,
  );

  loadServiceMe()
    .then((me) => {
      if (hasEnterpriseItems && me.enterprises.length) {
        enterprise = enterpriseSelect(me, true);
        replace(who, applicantLine(me), h('label', { class: 'ph-label' }, h('span', {}, t('svc.form.enterprise')), enterprise));
      } else {
        replace(who, applicantLine(me));
      }
    })
    .catch((e: unknown) => {
      replace(who, h('p', { class: 'wx-error', role: 'alert' }, errorText(e)));
      submit.disabled = true;
    });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const read = fields.read();
    if ('error' in read) {
      error.textContent = read.error;
      read.focus.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('svc.form.submitting');
    try {
      const b = await api<BundleApplicationDto>(`/api/v1/services/bundles/${encodeURIComponent(bundle.code)}/applications`, {
        json: { form: read.form, enterprise: enterprise?.value || undefined },
      });
      fresh.bundles.set(b.id, b);
      go(routes.bundleApp(b.id));
    } catch (err) {
      error.textContent = errorText(err);
      submit.disabled = false;
      submit.textContent = t('svc.bundle.submit');
    }
  });
}
