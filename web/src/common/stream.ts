// The live stream (`GET /api/v1/stream`, Server-Sent Events) with the session cookie. The browser's
// EventSource reconnects by itself; `onStatus` tells the page whether it is live, so a screen that has
// lost the stream can say so instead of silently going stale.

export interface CaseChange { id: string; kind: string; stage: string; at: string }
export interface WarningChange { id: string; kind: string; level: string; area: string; at: string }
export interface AlarmChange {
  id: string; kind: string; device_id: string; rule: string; level: string; status: string;
  case_id: string | null; area: string; at: string;
}

export interface StreamHandlers {
  case?: (c: CaseChange) => void;
  warning?: (w: WarningChange) => void;
  alarm?: (a: AlarmChange) => void;
  /** The server dropped events for this subscriber: reload everything. */
  lagged?: () => void;
  /** `true` when connected, `false` while reconnecting. */
  onStatus?: (live: boolean) => void;
}

/** Opens the stream; returns a function that closes it. */
export function openStream(handlers: StreamHandlers): () => void {
  const es = new EventSource('/api/v1/stream', { withCredentials: true });
  const on = <T>(name: string, f?: (d: T) => void) => {
    if (!f) return;
    es.addEventListener(name, (e) => {
      try {
        f(JSON.parse((e as MessageEvent).data) as T);
      } catch {
        /* A malformed event is skipped; the next reload brings the truth. */
      }
    });
  };
  on<CaseChange>('case', handlers.case);
  on<WarningChange>('warning', handlers.warning);
  on<AlarmChange>('alarm', handlers.alarm);
  es.addEventListener('lagged', () => handlers.lagged?.());
  es.addEventListener('ready', () => handlers.onStatus?.(true));
  es.onerror = () => handlers.onStatus?.(false);
  return () => es.close();
}
