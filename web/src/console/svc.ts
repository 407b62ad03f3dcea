// What the console's 一网通办 screens share: the catalogue's items (public, loaded once) for names
// and field labels, an application's state as a badge, and values shown as people read them.

import { api } from '../common/api';
import { h } from '../common/dom';
import { locale, t } from '../common/i18n';
import type { ApplicationDto, ItemDto } from './types';

export interface Items {
  item(code: string): ItemDto | undefined;
  all: ItemDto[];
}

let itemsLoading: Promise<Items> | null = null;

/** The catalogue's items (`GET /api/v1/services/items`), loaded once; never rejects (empty when it fails). */
export function loadItems(): Promise<Items> {
  itemsLoading ??= api<ItemDto[]>('/api/v1/services/items').then(
    (all) => {
      const byCode = new Map(all.map((i) => [i.code, i]));
      return { all, item: (c: string) => byCode.get(c) };
    },
    () => {
      itemsLoading = null;
      return { all: [], item: () => undefined };
    },
  );
  return itemsLoading;
}

const en = () => locale() === 'en';

/** A key's text, or `fallback` when the messages have none. */
export function tOr(key: string, fallback: string): string {
  const s = t(key);
  return s === key ? fallback : s;
}

export function itemName(items: Items | null, code: string, zh?: string): string {
  const i = items?.item(code);
  if (!i) return zh || code;
  return en() ? i.name_en || i.name_zh : i.name_zh;
}

/** An application's state: the server's Chinese name, or the English one. */
export function appStateText(a: { state: string; state_zh: string }): string {
  if (!en() && a.state_zh) return a.state_zh;
  return tOr(`console.svc.state.${a.state}`, a.state_zh || a.state);
}

export function appStateBadge(a: { state: string; state_zh: string }, testid = 'app-state'): HTMLSpanElement {
  return h('span', { class: `cx-stage cx-app-state-${a.state}`, 'data-testid': testid, 'data-state': a.state }, appStateText(a));
}

export function appOverdueBadge(a: ApplicationDto, testid = 'app-overdue'): HTMLSpanElement | null {
  return a.overdue ? h('span', { class: 'cx-overdue', 'data-testid': testid }, t('overdue')) : null;
}

/** The label of a decision input or form field (`form.premises_area`, `enterprise.credit`). */
export function fieldLabel(item: ItemDto | undefined, path: string): string | null {
  const f = [...(item?.form ?? []), ...(item?.from_registers ?? [])].find((x) => x.key === path);
  if (!f) return null;
  return en() ? f.label_en || f.label_zh : f.label_zh;
}

/** A value as people read it: yes/no for booleans, a dash for nothing. */
export function valueText(v: unknown): string {
  if (v === true) return t('console.svc.yes');
  if (v === false) return t('console.svc.no');
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Every leaf of a JSON object as `[dotted path, value]` (arrays are leaves). */
export function leaves(v: unknown, prefix = ''): [string, unknown][] {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const out: [string, unknown][] = [];
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push(...leaves(x, prefix ? `${prefix}.${k}` : k));
    return out;
  }
  return prefix ? [[prefix, v]] : [];
}

/** The date part of an instant, in China Standard Time. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(en() ? 'en-GB' : 'zh-CN', {
    timeZone: 'Asia/Shanghai',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(iso));
}
