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
