// Chinese first, English beside it: every visible text comes from the message files under
// src/messages/<locale>/<page>.json, never from code. zh-CN is the default; the choice is kept in
// localStorage (`wx_lang`) and can be forced with `?lang=en`.

import zhCommon from '../messages/zh-CN/common.json';
import enCommon from '../messages/en/common.json';

export type Locale = 'zh-CN' | 'en';
type Bundle = Record<string, string>;

const LANG_KEY = 'wx_lang';
const bundles: Record<Locale, Bundle> = { 'zh-CN': { ...zhCommon }, en: { ...enCommon } };

/** The current locale. */
export function locale(): Locale {
  const q = new URLSearchParams(location.search).get('lang');
  if (q === 'en' || q === 'zh-CN') return q;
  return localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh-CN';
}

/** Switches the locale and reloads the page so every text is drawn again. */
export function setLocale(l: Locale): void {
  localStorage.setItem(LANG_KEY, l);
  const url = new URL(location.href);
  url.searchParams.delete('lang');
  location.href = url.toString();
}

/** Adds a page's messages to the common ones. */
export function useMessages(zh: Bundle, en: Bundle): void {
  Object.assign(bundles['zh-CN'], zh);
  Object.assign(bundles.en, en);
  document.documentElement.lang = locale();
}

/**
 * The text for a key in the current locale, with `{name}` placeholders filled. A missing key falls
 * back to Chinese, then to the key itself (so a gap shows, rather than an empty label).
 */
export function t(key: string, params: Record<string, string | number> = {}): string {
  const text = bundles[locale()][key] ?? bundles['zh-CN'][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

/** Formats an RFC 3339 instant for display in China Standard Time. */
export function formatTime(iso: string | null | undefined, withDate = true): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const opts: Intl.DateTimeFormatOptions = {
    timeZone: 'Asia/Shanghai',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
    ...(withDate ? { month: '2-digit', day: '2-digit' } : { second: '2-digit' }),
  };
  return new Intl.DateTimeFormat(locale() === 'en' ? 'en-GB' : 'zh-CN', opts).format(d);
}

/** Formats a ratio 0-1 as a percentage, or a dash when it has no value. */
export function percent(v: number | null | undefined): string {
  return v == null ? '—' : `${(v * 100).toFixed(1)}%`;
}

/** A button that switches between 中文 and English. */
export function languageSwitch(): HTMLButtonElement {
  const b = document.createElement('button');
  b.className = 'wx-lang';
  b.type = 'button';
  b.textContent = locale() === 'en' ? '中文' : 'English';
  b.dataset.testid = 'lang-switch';
  b.addEventListener('click', () => setLocale(locale() === 'en' ? 'zh-CN' : 'en'));
  return b;
}
