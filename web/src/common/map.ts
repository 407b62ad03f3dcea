// The district map, drawn from our own unit boundaries (`GET /api/v1/boundaries`): no tiles from the
// internet, so it works on a closed government network. Each level is registered with ECharts as a
// map whose regions are named by unit code (`nameProperty: 'code'`).

import { registerMap } from 'echarts/core';
import { api } from './api';

export type Level = 'district' | 'street' | 'community' | 'grid';

export interface UnitFeature {
  type: 'Feature';
  properties: { code: string; name: string; level: Level; parent: string | null; synthetic: boolean };
  geometry: { type: string; coordinates: unknown };
}
export interface Boundaries {
  type: 'FeatureCollection';
  features: UnitFeature[];
}

const loaded = new Map<string, Promise<{ name: string; boundaries: Boundaries }>>();

/**
 * Loads one level of boundaries (optionally only the units within `within`) and registers it with
 * ECharts; resolves to the registered map name and the GeoJSON.
 */
export function loadBoundaries(level: Level, within?: string): Promise<{ name: string; boundaries: Boundaries }> {
  const name = within ? `wx-${level}-${within}` : `wx-${level}`;
  let p = loaded.get(name);
  if (!p) {
    const q = new URLSearchParams({ level });
    if (within) q.set('within', within);
    p = api<Boundaries>(`/api/v1/boundaries?${q}`).then((boundaries) => {
      // ECharts reads the region name from `properties.name` unless told otherwise; our geo
      // components set `nameProperty: 'code'`, so regions are keyed by the unit code.
      registerMap(name, boundaries as unknown as Parameters<typeof registerMap>[1]);
      return { name, boundaries };
    });
    loaded.set(name, p);
    p.catch(() => loaded.delete(name));
  }
  return p;
}

/** Unit code → name, from a loaded boundary layer. */
export function namesOf(b: Boundaries): Map<string, string> {
  return new Map(b.features.map((f) => [f.properties.code, f.properties.name]));
}

/** Whether any boundary in the layer is synthetic (generated, not surveyed): the map says so. */
export function anySynthetic(b: Boundaries): boolean {
  return b.features.some((f) => f.properties.synthetic);
}
