// Which screens and which case actions fit the logged-in account. The server decides (it checks
// every action and scopes every list); this only keeps the console from offering what the
// account's roles cannot do. Mirrors `may` in crates/api/src/events/mod.rs.

import type { Me } from '../common/api';
import type { CaseDto } from './types';

export type TabId = 'queue' | 'tasks' | 'verify' | 'overdue' | 'applications' | 'rules' | 'cases' | 'devices';

/** The roles that see each tab; a role the account lacks gets no tab (`applications`, `rules`: see below). */
const TAB_ROLES: Record<Exclude<TabId, 'applications' | 'rules'>, string[]> = {
  queue: ['dispatcher'],
  tasks: ['handler', 'entity_member', 'member'],
  verify: ['inspector'],
  overdue: ['supervisor'],
  cases: ['dispatcher', 'handler', 'inspector', 'supervisor', 'admin', 'leader', 'operator'],
  devices: ['operator', 'admin', 'leader', 'supervisor', 'dispatcher'],
};

export const TAB_ORDER: TabId[] = ['queue', 'tasks', 'verify', 'overdue', 'applications', 'rules', 'cases', 'devices'];

export function has(me: Me, ...roles: string[]): boolean {
  return me.roles.some((r) => roles.includes(r));
}

export function tabsFor(me: Me): TabId[] {
  return TAB_ORDER.filter((tab) => (tab === 'applications' || tab === 'rules' ? seesApplications(me) : has(me, ...TAB_ROLES[tab])));
}

// 一网通办 applications (办件). Mirrors `caller` in crates/api/src/services/mod.rs: a department's
// handlers and admins review its applications (and those it countersigns); the district's admins,
// supervisors and leaders see every application, read-only.

/** A reviewer of a department (handler or admin). */
export function reviewsApplications(me: Me): boolean {
  return me.org.kind === 'department' && has(me, 'handler', 'admin');
}

/** District-level staff who read every application. */
export function readsApplications(me: Me): boolean {
  return me.org.kind === 'unit' && me.org.level === 'district' && has(me, 'admin', 'supervisor', 'leader');
}

export function seesApplications(me: Me): boolean {
  return reviewsApplications(me) || readsApplications(me);
}

// Decision models (规则) of the items decided by rules (秒批, 无感申办). Mirrors `staff_of_item`
// and `edits_model` there: the same people read them — a department's staff its own items', the
// district's staff every item's — and admins (of the item's department, or of the district) save
// new versions. The tab is shown to those who see 办件; the server still answers each model.

/** Whether the account's roles may save a new version of a model it can read (the server decides). */
export function editsModels(me: Me): boolean {
  return has(me, 'admin') && (me.org.kind === 'department' || (me.org.kind === 'unit' && me.org.level === 'district'));
}

/** A reviewer's actions on an application, in the order they are shown (each only when `allowed` has it). */
export const APP_ACTION_ORDER = ['accept', 'approve', 'return', 'refuse', 'delegate'];

/** The organisation key cases are assigned by (`Org::key` on the server). */
export function orgKey(me: Me): string {
  return me.org.kind === 'entity' ? `entity:${me.org.id}` : me.org.id;
}

/** Whether the account's roles permit an action on this case (the stage is the case's `allowed_actions`). */
export function mayAct(me: Me, c: CaseDto, action: string): boolean {
  const assignedHere = c.assignee != null && c.assignee === orgKey(me);
  switch (action) {
    case 'register':
    case 'reject':
    case 'dispatch':
    case 'reassign':
      return has(me, 'dispatcher');
    case 'accept':
    case 'return':
    case 'start':
    case 'handle':
    case 'progress':
    case 'request_extension':
      return assignedHere && has(me, 'handler', 'entity_member', 'member');
    case 'verify':
      return has(me, 'inspector', 'supervisor');
    case 'suspend':
    case 'resume':
      return has(me, 'dispatcher', 'supervisor');
    case 'decide_extension':
    case 'urge':
      return has(me, 'supervisor');
    default:
      // `rate` is the reporter's, on the phone page.
      return false;
  }
}

/** The actions the console offers on this case, in the order they are shown. */
export const ACTION_ORDER = [
  'accept',
  'start',
  'progress',
  'handle',
  'verify',
  'register',
  'dispatch',
  'return',
  'reject',
  'reassign',
  'urge',
  'request_extension',
  'decide_extension',
  'suspend',
  'resume',
];

export function actionsFor(me: Me, c: CaseDto): string[] {
  return ACTION_ORDER.filter((a) => c.allowed_actions.includes(a) && mayAct(me, c, a));
}
