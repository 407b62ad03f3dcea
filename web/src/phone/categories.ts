// The category tree (`GET /api/v1/categories`), read once: the report form's choices and the
// category names in the current language (a case carries only its Chinese name).

import { api } from '../common/api';
import { locale } from '../common/i18n';
import type { ClassDto } from './types';

let tree: Promise<ClassDto[]> | null = null;
const names = new Map<string, { zh: string; en: string }>();

export function loadCategories(): Promise<ClassDto[]> {
  if (!tree) {
    tree = api<ClassDto[]>('/api/v1/categories').then((classes) => {
      for (const c of classes) for (const x of c.categories) names.set(x.code, { zh: x.name_zh, en: x.name_en });
      return classes;
    });
    tree.catch(() => (tree = null));
  }
  return tree;
}

/** A category's name in the current language, else the case's own (Chinese) name. */
export function categoryName(code: string | null, fallback: string | null): string | null {
  const n = code ? names.get(code) : undefined;
  if (n) return locale() === 'en' ? n.en : n.zh;
  return fallback;
}
