// What the 一网通办 screens share: the catalogue (items and life-event bundles, public, loaded
// once), the caller's register identity, the names of things in the current language, and the
// routes. Routes live in the hash like the rest of the page: #/services (offers and my
// applications), #/services/apply (the catalogue), #/services/item/<code>,
// #/services/bundle/<code>, #/services/app/<id>, #/services/bundle-app/<id>.

import { ApiError, api } from '../common/api';
import { h } from '../common/dom';
import { locale, t } from '../common/i18n';
import type { ApplicationDto, BundleApplicationDto, BundleDto, FieldDto, ItemDto, ServiceMe } from './types';

export const routes = {
  home: '#/services',
  apply: '#/services/apply',
  item: (code: string) => `#/services/item/${encodeURIComponent(code)}`,
  bundle: (code: string) => `#/services/bundle/${encodeURIComponent(code)}`,
  app: (id: string) => `#/services/app/${encodeURIComponent(id)}`,
  bundleApp: (id: string) => `#/services/bundle-app/${encodeURIComponent(id)}`,
};

export function go(hash: string): void {
  location.hash = hash;
}

export interface Catalogue {
  items: ItemDto[];
  bundles: BundleDto[];
  item(code: string): ItemDto | undefined;
  bundle(code: string): BundleDto | undefined;
}

let catalogue: Promise<Catalogue> | null = null;

/** The catalogue, loaded once (a failed load is tried again next time). */
export function loadCatalogue(): Promise<Catalogue> {
  catalogue ??= Promise.all([api<ItemDto[]>('/api/v1/services/items'), api<BundleDto[]>('/api/v1/services/bundles')]).then(
    ([items, bundles]) => {
      const byCode = new Map(items.map((i) => [i.code, i]));
      const bundleByCode = new Map(bundles.map((b) => [b.code, b]));
      return { items, bundles, item: (c) => byCode.get(c), bundle: (c) => bundleByCode.get(c) };
    },
    (e: unknown) => {
      catalogue = null;
      throw e;
    },
  );
  return catalogue;
}

let me: Promise<ServiceMe> | null = null;

/** The caller as the population register knows them, with the enterprises they represent. */
export function loadServiceMe(): Promise<ServiceMe> {
  me ??= api<ServiceMe>('/api/v1/services/me').catch((e: unknown) => {
    me = null;
    throw e;
  });
  return me;
}

/** Answers the page just had from a write, shown at once by the view it goes to. */
export const fresh = {
  apps: new Map<string, ApplicationDto>(),
  bundles: new Map<string, BundleApplicationDto>(),
};

const en = () => locale() === 'en';

export function itemName(cat: Catalogue | null, code: string, zh?: string): string {
  const item = cat?.item(code);
  if (!item) return zh || code;
  return en() ? item.name_en || item.name_zh : item.name_zh;
}

export function bundleName(cat: Catalogue | null, bundleOrId: string, zh?: string): string {
  const code = bundleOrId.split('.')[0];
  const b = cat?.bundle(code);
  if (!b) return zh || code;
  return en() ? b.name_en || b.name_zh : b.name_zh;
}

export function fieldLabel(f: FieldDto): string {
  return en() ? f.label_en || f.label_zh : f.label_zh;
}

/** A form field's key as the API takes it (without `form.`). */
export function formKey(f: FieldDto): string {
  return f.key.replace(/^form\./, '');
}

/** An application's state: the server's Chinese name, or the English one. */
export function stateLabel(a: { state: string; state_zh: string }): string {
  if (!en() && a.state_zh) return a.state_zh;
  const key = `svc.state.${a.state}`;
  const text = t(key);
  return text === key ? a.state_zh || a.state : text;
}

export function modeLabel(mode: string, zh?: string): string {
  if (!en() && zh) return zh;
  const key = `svc.mode.${mode}`;
  const text = t(key);
  return text === key ? zh || mode : text;
}

/** The department deciding an item: its name when the API gives one, else its code. */
export function departmentLabel(code: string, name?: string | null): string {
  return name && name.length > 0 ? name : code;
}

/** An error answer's message (the API's own words), or the network error. */
export function errorText(e: unknown): string {
  return e instanceof ApiError ? e.message : t('error.network');
}

export function errorLine(testid = 'svc-error'): HTMLParagraphElement {
  return h('p', { class: 'wx-error', role: 'alert', 'data-testid': testid });
}

/** A link's path on this origin (the API builds absolute URLs from the Host header it was sent). */
export function sameOrigin(url: string): string {
  try {
    const u = new URL(url, location.href);
    return `${u.pathname}${u.search}${u.hash}`;
  } catch {
    return url;
  }
}

export function stateBadge(a: { state: string; state_zh: string }, testid = 'svc-state'): HTMLElement {
  return h('span', { class: `ph-stage ph-svc-state ph-svc-state-${a.state}`, 'data-testid': testid, 'data-state': a.state }, stateLabel(a));
}
