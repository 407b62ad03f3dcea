// The API's shapes the console reads (see crates/api/src/events/mod.rs and sensing/mod.rs).

export interface Suggestion {
  category: string;
  name: string;
  confidence: number;
}

export interface HistoryLine {
  seq: number;
  at: string;
  actor: string;
  from: string;
  to: string;
  action: string;
  note: string;
}

export interface Attachment {
  id: string;
  name: string;
  content_type: string;
  size: number;
  sha256: string;
  url: string;
  history_seq: number | null;
  created_at: string;
}

export interface AlarmDto {
  id: string;
  device_id: string;
  device_name: string;
  device_type: string;
  rule: string;
  title: string;
  level: string;
  level_zh: string;
  peak: string;
  status: string;
  value: number;
  lon: number;
  lat: number;
  area: string;
  case_id: string | null;
  raised_at: string;
  updated_at: string;
  cleared_at: string | null;
}

export interface AlarmEvidence {
  alarm: AlarmDto;
  key: string | null;
  unit: string | null;
  readings: { at: string; value: number }[];
}

export interface CaseDto {
  id: string;
  channel: string;
  external_id: string | null;
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
  explanation: string;
  reporter_contact?: string;
  rating: string | null;
  reworks: number;
  redos: number;
  returns: number;
  extension_requested_until: string | null;
  allowed_actions: string[];
  suggestions?: Suggestion[];
  version: number;
  created_at: string;
  updated_at: string;
  history?: HistoryLine[];
  /** How many lines the history has (the answer to a linked report holds only the last 10). */
  history_total?: number;
  resolved: boolean | null;
  attachments?: Attachment[];
  linked_reports?: number;
  sensor_alarms?: AlarmEvidence[];
}

export interface DeviceDto {
  id: string;
  type: string;
  name: string;
  lon: number;
  lat: number;
  area: string;
  owner_unit: string;
  installed_on: string | null;
  /** `active`, `inactive` or `disabled`. */
  state: string;
  last_seen: string | null;
  bad_values: number;
  bad_by_reason: Record<string, number>;
  custom_rules: boolean;
  created_at: string;
}

export interface DeviceType {
  code: string;
  name_zh: string;
  name_en: string;
  timeout_secs: number;
  category: string;
}

export interface CategoryDto {
  code: string;
  class: string;
  name_zh: string;
  name_en: string;
  priority: string;
  responsible: string;
  /** `community`, `street`, `district`, `department:<code>` or `entity:<kind>`. */
  responsible_key: string;
}

export interface ClassDto {
  code: string;
  name_zh: string;
  name_en: string;
  categories: CategoryDto[];
}

export interface UnitNode {
  code: string;
  name: string;
  level: string;
  level_name: string;
  synthetic: boolean;
  children: UnitNode[];
}

export interface Department {
  code: string;
  name: string;
}

// 一网通办 (crates/api/src/services/mod.rs): applications (办件) as a department's reviewers and
// the district's staff see them, their decision records, and the catalogue's items for names.

/** One step of an application's history. `actor` is an account id, or `system`. */
export interface AppStepDto {
  at: string;
  actor: string;
  /** The account's display name (the server's). */
  actor_name?: string;
  /** `applicant`, `reviewer` or `system`. */
  role: string;
  action: string;
  from: string;
  to: string;
  note: string | null;
}

/** `GET /api/v1/services/applications[/{id}]`. */
export interface ApplicationDto {
  id: string;
  item: string;
  item_name: string;
  /** The deciding department's code. */
  department: string;
  department_name?: string;
  /** The department that countersigns it (会签), if its item needs one. */
  countersign: string | null;
  /** The reviewer it is delegated to (委托; an account id), where the server tells. */
  assignee?: string | null;
  /** The delegate's display name. */
  assignee_name?: string | null;
  mode: string;
  /** draft, offered, declined, pending, review, countersign, correction, approved, refused, withdrawn. */
  state: string;
  state_zh: string;
  /** The applicant's identity number, masked. */
  applicant: string;
  /** The applying enterprise's credit code. */
  enterprise: string | null;
  form: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  due_at: string | null;
  overdue: boolean;
  /** The latest decision record (rules). */
  decision: string | null;
  /** The failing rules of the latest decision, in plain language. */
  failures: string[];
  certificate: string | null;
  bundle: string | null;
  /** What the caller may do now. */
  allowed: string[];
  history?: AppStepDto[];
}

export interface CellTraceDto {
  column: string;
  field: string;
  expression: string;
  value: unknown;
  result: boolean;
  error?: string;
}

export interface RowTraceDto {
  id: string;
  description?: string | null;
  matched: boolean;
  used?: boolean;
  cells: CellTraceDto[];
}

export interface NodeTraceDto {
  id: string;
  name: string;
  kind: string;
  rows?: RowTraceDto[];
}

/** `GET /api/v1/services/decisions/{id}`. */
export interface DecisionDto {
  id: string;
  model_version: number;
  approved: boolean;
  failures: string[];
  inputs: Record<string, unknown> | null;
  output: unknown;
  trace: NodeTraceDto[] | null;
  at: string;
}

/** `POST /api/v1/services/decisions/{id}/replay`. */
export interface ReplayDto {
  same: boolean;
  approved: boolean;
  failures: string[];
  model_version: number;
}

/** A field of an item (`GET /api/v1/services/items`): only what the console reads. */
export interface ItemFieldDto {
  key: string;
  label_zh: string;
  label_en: string;
}

/** An item of the catalogue: only what the console reads. */
export interface ItemDto {
  code: string;
  name_zh: string;
  name_en: string;
  department: string;
  department_name?: string;
  mode: string;
  mode_zh: string;
  time_limit_days: number;
  form: ItemFieldDto[];
  from_registers: ItemFieldDto[];
}

/** A stored version of an item's decision model (`GET /api/v1/services/items/{code}/model[/versions]`). */
export interface ModelVersionDto {
  item: string;
  version: number;
  /** The account id of who saved it, or `catalogue` for the version shipped with the catalogue. */
  author: string;
  /** The author's display name, should the API give it (it gives only `author` now). */
  author_name?: string;
  created_at: string;
  /** The GoRules JDM document (absent in the version list). */
  model?: unknown;
}
