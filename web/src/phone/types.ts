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
  attachments?: AttachmentDto[];
  linked_reports?: number;
  linked_report_id?: string;
  duplicate_distance_m?: number;
}

/** The satisfaction levels of a rating, best first (core::case::Satisfaction). */
export const LEVELS = ['very_satisfied', 'satisfied', 'fairly_satisfied', 'unsatisfied', 'very_unsatisfied'] as const;
