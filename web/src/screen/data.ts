// What the one screen reads from the public API, and how: every request goes out at once and each
// panel fills when its own answer arrives. Endpoints that this server does not have yet (404) or
// answers without a field come back as `null`, and the panel shows a dash instead of failing.

import { ApiError, api } from '../common/api';
import { loadBoundaries, type Level } from '../common/map';

export interface Indicator { key: string; name_zh: string; value: number | null }
export interface Stats {
  from: string;
  to: string;
  covers: string;
  intake: number;
  counts: Record<string, number>;
  indicators: Indicator[];
  by_category: [string, number][];
  per_day: [string, number][];
  hotspots: [string, number][];
  /** Being added: reports per channel. */
  by_channel?: [string, number][];
}

export interface UnitFigures {
  code: string;
  name: string;
  intake: number;
  closed: number;
  overdue_open: number;
  closure_rate: number | null;
  handled_on_time_rate: number | null;
  satisfaction_rate: number | null;
}
export interface UnitStats { from: string; to: string; units: UnitFigures[] }

export interface DeviceSummary {
  total: number;
  active: number;
  inactive: number;
  disabled: number;
  online_rate: number | null;
  by_type: { type_code: string; name: string; name_en?: string; total: number; active: number }[];
}

export interface CaseLite {
  id: string;
  channel: string;
  category: string | null;
  category_name: string | null;
  category_name_en: string | null;
  description: string;
  location: { lon: number; lat: number; unit: string; unit_name: string | null };
  assignee: string | null;
  stage: string;
  stage_zh: string;
  priority: string;
  due_at: string | null;
  overdue: boolean;
  created_at: string;
}

export interface Alarm {
  id: string;
  device_name: string;
  title: string;
  level: string;
  level_zh: string;
  status: string;
  lon: number;
  lat: number;
  area: string;
  raised_at: string;
}

export interface Warning {
  id: string;
  kind: string;
  kind_zh: string;
  level: string;
  level_zh: string;
  area: string;
  message: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface Ready { demo: boolean }

/** The number of open cases the map loads at most (the API's own cap). */
export const OPEN_LIMIT = 1000;

/** Stages a case is no longer open in. */
const DONE = new Set(['closed', 'rejected']);
export const isOpen = (stage: string) => !DONE.has(stage);

/** Resolves to null when the endpoint is missing (404 for a route this server lacks). */
async function optional<T>(path: string): Promise<T | null> {
  try {
    return await api<T>(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) return null;
    throw e;
  }
}

/** `YYYY-MM-DD` of an instant in China Standard Time. */
export function cstDay(at: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** The day `n` days after a `YYYY-MM-DD` day. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** The periods the screen shows: today, and the last 30 days (today included). */
export function periods(now = new Date()) {
  const today = cstDay(now);
  const tomorrow = addDays(today, 1);
  return { today: { from: today, to: tomorrow }, month: { from: addDays(today, -29), to: tomorrow } };
}

const q = (p: Record<string, string | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) if (v) s.set(k, v);
  return s.toString();
};

export const fetchStats = (from: string, to: string, unit?: string) =>
  api<Stats>(`/api/v1/stats?${q({ from, to, unit })}`);

export const fetchUnitStats = (from: string, to: string, unit?: string) =>
  optional<UnitStats>(`/api/v1/stats/units?${q({ from, to, unit })}`);

export const fetchDevices = () => optional<DeviceSummary>('/api/v1/devices/summary');

/**
 * The open cases for the map, newest first, at most OPEN_LIMIT; `capped` when there may be more.
 */
export async function fetchOpenCases(): Promise<{ list: CaseLite[]; capped: boolean }> {
  const list = await api<CaseLite[]>(`/api/v1/events?status=open&limit=${OPEN_LIMIT}`);
  // A server without the `status` filter answers every stage: keep the open ones.
  return { list: list.filter((c) => isOpen(c.stage)), capped: list.length >= OPEN_LIMIT };
}

export const fetchCase = (id: string) => api<CaseLite>(`/api/v1/events/${encodeURIComponent(id)}`);
export const fetchAlarms = () => api<Alarm[]>('/api/v1/alarms?status=active&limit=1000');
export const fetchWarnings = () => api<Warning[]>('/api/v1/warnings?limit=50');
export const fetchReady = () => api<Ready>('/readyz');

/** One level of unit boundaries, registered with ECharts (see common/map.ts). */
export const boundaries = loadBoundaries;

/** The level below a unit level, for drilling down the map. */
export function childLevel(level: Level): Level | null {
  return level === 'district' ? 'street' : level === 'street' ? 'community' : level === 'community' ? 'grid' : null;
}

/** The level of a unit code: 6 digits district part, 12 digits with street/community parts, 15 grid. */
export function levelOf(code: string): Level {
  if (code.length > 12) return 'grid';
  if (code.slice(9, 12) !== '000') return 'community';
  if (code.slice(6, 9) !== '000') return 'street';
  return 'district';
}

/** Whether unit `outer` encloses unit `inner` (codes share the outer unit's significant prefix). */
export function encloses(outer: string, inner: string): boolean {
  const lv = levelOf(outer);
  const prefix = lv === 'district' ? outer.slice(0, 6) : lv === 'street' ? outer.slice(0, 9) : outer;
  return inner.startsWith(prefix);
}
