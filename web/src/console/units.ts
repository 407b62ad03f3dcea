// Names for organisation keys and the chain of units above a place, from the public unit tree
// (`GET /api/v1/units`), the departments (`GET /api/v1/departments`) and entities
// (`GET /api/v1/entities`) the caller may see. Loaded once, on first use.

import { api } from '../common/api';
import type { Department, UnitNode } from './types';

export interface UnitInfo {
  code: string;
  name: string;
  level: string;
  parent: string | null;
}

export interface EntityInfo {
  id: string;
  name: string;
  kind: string;
  unit: string;
  service_area: string[];
}

export interface Directory {
  units: Map<string, UnitInfo>;
  departments: Department[];
  entities: EntityInfo[];
}

let loading: Promise<Directory> | null = null;

/** The directory (never rejects: what could not be read is simply empty). */
export function directory(): Promise<Directory> {
  if (!loading) {
    loading = Promise.all([
      api<UnitNode[]>('/api/v1/units').catch(() => [] as UnitNode[]),
      api<Department[]>('/api/v1/departments').catch(() => [] as Department[]),
      api<EntityInfo[]>('/api/v1/entities').catch(() => [] as EntityInfo[]),
    ]).then(([roots, departments, entities]) => {
      const units = new Map<string, UnitInfo>();
      const walk = (n: UnitNode, parent: string | null) => {
        units.set(n.code, { code: n.code, name: n.name, level: n.level, parent });
        for (const c of n.children) walk(c, n.code);
      };
      for (const r of roots) walk(r, null);
      return { units, departments, entities };
    });
  }
  return loading;
}

/** The units holding `code`, finest first (the code itself included when known). */
export function ancestors(dir: Directory, code: string): UnitInfo[] {
  const out: UnitInfo[] = [];
  let at: string | null = code;
  while (at) {
    const u = dir.units.get(at);
    if (!u) break;
    out.push(u);
    at = u.parent;
  }
  return out;
}

/** A readable name for an organisation key (unit code, department code or `entity:<id>`). */
export function orgName(dir: Directory, key: string | null | undefined): string {
  if (!key) return '—';
  if (key.startsWith('entity:')) {
    const e = dir.entities.find((x) => x.id === key.slice(7));
    return e ? e.name : key;
  }
  const u = dir.units.get(key);
  if (u) return u.name;
  const d = dir.departments.find((x) => x.code === key);
  return d ? d.name : key;
}
