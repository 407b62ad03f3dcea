// The wire shapes the phone page reads (see crates/api/src/events/mod.rs, attachments.rs and
// locate.rs): only the fields the page uses.

export interface UnitRef { code: string; name: string; level: string; synthetic: boolean }

/** `GET /api/v1/locate`. */
export interface Location {
  wgs84: { lon: number; lat: number };
  district: UnitRef;
  street: UnitRef | null;
  community: UnitRef | null;
  grid: UnitRef | null;
}

export interface CategoryDto { code: string; class: string; name_zh: string; name_en: string; priority: string }
export interface ClassDto { code: string; name_zh: string; name_en: string; categories: CategoryDto[] }

export interface AttachmentDto {
  id: string; name: string; content_type: string; size: number; url: string; history_seq: number | null;
}

export interface HistoryDto { seq: number; at: string; actor: string; from: string; to: string; action: string; note: string }

export interface CaseDto {
  id: string;
  channel: string;
  category: string | null;
  category_name: string | null;
  /** Whether the caller filed it (a linked report's author follows it instead). */
  reported_by_me: boolean;
  description: string;
  location: { lon: number; lat: number; unit: string; unit_name: string | null };
  stage: string;
  priority: string;
  due_at: string | null;
  overdue: boolean;
  rating: string | null;
  resolved: boolean | null;
  redos: number;
  allowed_actions: string[];
  version: number;
  created_at: string;
  updated_at: string;
  history?: HistoryDto[];
  /** How many lines the history has (the answer to a linked report holds only the last 10). */
  history_total?: number;
  attachments?: AttachmentDto[];
  linked_reports?: number;
  linked_report_id?: string;
  duplicate_distance_m?: number;
}

/** The satisfaction levels of a rating, best first (core::case::Satisfaction). */
export const LEVELS = ['very_satisfied', 'satisfied', 'fairly_satisfied', 'unsatisfied', 'very_unsatisfied'] as const;

// 一网通办 (crates/api/src/services/mod.rs, bundles.rs): the catalogue, the caller's
// applications and offers, and certificates.

/** A field of an item or a bundle: asked on the form (`source = "form"`) or taken from a register. */
export interface FieldDto {
  /** `form.premises_area` (sent without `form.`), or the key a register fills. */
  key: string;
  label_zh: string;
  label_en: string;
  kind: 'text' | 'number' | 'date' | 'bool' | 'choice';
  choices?: string[];
  /** `form`, or the register fact (`person.age`, `enterprise.credit` …). */
  source: string;
  required: boolean;
}

export type ServiceMode = 'instant' | 'proactive' | 'standard';

/** `GET /api/v1/services/items`. */
export interface ItemDto {
  code: string;
  name_zh: string;
  name_en: string;
  type_zh: string;
  /** The deciding department's code. */
  department: string;
  /** Its name. */
  department_name?: string;
  legal_basis: string;
  applicant: 'resident' | 'enterprise';
  mode: ServiceMode;
  mode_zh: string;
  time_limit_days: number;
  cross_region: boolean;
  certificate: string | null;
  materials: string[];
  form: FieldDto[];
  from_registers: FieldDto[];
  demo: boolean;
}

/** `GET /api/v1/services/bundles`: a life event (一件事一次办) with its one combined form. */
export interface BundleDto {
  code: string;
  name_zh: string;
  name_en: string;
  items: { code: string; name_zh: string; department: string; mode: ServiceMode }[];
  form: FieldDto[];
  from_registers: FieldDto[];
}

/** `GET /api/v1/services/me`: the caller as the population register knows them. */
export interface ServiceMe {
  name: string;
  /** Identity number, masked. */
  identity: string;
  /** Enterprises they legally represent. */
  enterprises: { uscc: string; name: string }[];
}

export interface StepDto { at: string; actor: string; role: string; action: string; from: string; to: string; note: string | null }

/** An application (办件) or an offer made to the caller. */
export interface ApplicationDto {
  id: string;
  item: string;
  item_name: string;
  department: string;
  /** The deciding department's name. */
  department_name?: string;
  mode: ServiceMode;
  state: string;
  state_zh: string;
  applicant: string;
  enterprise: string | null;
  form: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  due_at: string | null;
  /** Whether it waited past its promised time limit (超期). */
  overdue: boolean;
  decision: string | null;
  /** The failing rules of the latest decision, in plain language. */
  failures: string[];
  certificate: string | null;
  /** The bundle application it belongs to (`<bundle>.<uuid>`). */
  bundle: string | null;
  /** What the caller may do now. */
  allowed: string[];
  history?: StepDto[];
}

/** `POST /api/v1/services/bundles/{code}/applications`, `GET /api/v1/services/bundle-applications/{id}`. */
export interface BundleApplicationDto {
  id: string;
  bundle: string;
  name_zh: string;
  state: 'approved' | 'in_progress' | 'finished';
  state_zh: string;
  members: ApplicationDto[];
}

/** `GET /api/v1/services/certificates/{id}` (only the fields the page shows). */
export interface CertificateDto {
  id: string;
  name: string;
  item: string;
  holder: string;
  holder_name: string;
  department: string;
  issued_at: string;
  expires_on: string | null;
  revoked_at: string | null;
  revoked_reason: string | null;
  validity: 'valid' | 'revoked' | 'expired' | 'bad_signature';
  verify_url: string;
  print_url: string;
}
