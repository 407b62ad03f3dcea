// Small helpers shared by the console's screens.

import { ApiError, api } from '../common/api';
import { h } from '../common/dom';
import { locale, t } from '../common/i18n';
import type { Attachment, CaseDto } from './types';

/** The message to show for a failed call: the API's own words, or a network error. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return t('error.network');
}

/** An element that shows an error in place (empty until set). */
export function errorBox(testid = 'error'): HTMLParagraphElement {
  return h('p', { class: 'wx-error', role: 'alert', 'data-testid': testid });
}

/** The case's stage as a badge. */
export function stageBadge(stage: string): HTMLSpanElement {
  return h('span', { class: `cx-stage cx-stage-${stage}`, 'data-stage': stage }, t(`stage.${stage}`));
}

export function overdueBadge(c: CaseDto): HTMLSpanElement | null {
  return c.overdue ? h('span', { class: 'cx-overdue', 'data-testid': 'overdue-marker' }, t('overdue')) : null;
}

export function categoryText(c: CaseDto): string {
  if (!c.category) return t('console.unclassified');
  const name = locale() === 'en' ? (c.category_name_en ?? c.category_name) : c.category_name;
  return name ? `${name} (${c.category})` : c.category;
}

/** Uploads files (photos) one by one (`POST /api/v1/attachments`, the raw bytes); resolves to their attachment ids. */
export async function uploadFiles(files: Iterable<File>): Promise<string[]> {
  const ids: string[] = [];
  for (const f of files) {
    const q = new URLSearchParams({ name: f.name });
    ids.push((await api<Attachment>(`/api/v1/attachments?${q}`, { blob: f })).id);
  }
  return ids;
}

/** Runs `f` with the button disabled, so a double click does not act twice. */
export async function busy<T>(buttons: HTMLButtonElement[], f: () => Promise<T>): Promise<T> {
  for (const b of buttons) b.disabled = true;
  try {
    return await f();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

/** Fetches a list of cases; `query` is appended to /api/v1/events. */
export function fetchCases(query: Record<string, string>, signal?: AbortSignal): Promise<CaseDto[]> {
  const q = new URLSearchParams(query);
  return api<CaseDto[]>(`/api/v1/events?${q}`, { signal });
}
