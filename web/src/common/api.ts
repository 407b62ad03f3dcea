// The one way the pages talk to the server: the same public API as any client (/api/v1/…).
// Sessions ride on the HttpOnly `wx_session` cookie set by login; writes carry the CSRF token the
// login answer gave, kept in localStorage so every page and tab can send it.

const CSRF_KEY = 'wx_csrf';

/** An error answer from the API: `{ "error": { "code", "message", "field" } }` and its status. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A JSON body. */
  json?: unknown;
  /** A multipart body. */
  form?: FormData;
  /** A raw body such as a photo (sent with its own content type). */
  blob?: Blob;
  /** Aborts a request that is no longer needed. */
  signal?: AbortSignal;
}

/** Calls the API and returns its JSON answer; throws ApiError for 4xx/5xx. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? (opts.json !== undefined || opts.form || opts.blob ? 'POST' : 'GET');
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  } else if (opts.blob) {
    headers['Content-Type'] = opts.blob.type || 'application/octet-stream';
    body = opts.blob;
  }
  if (method !== 'GET') {
    const csrf = localStorage.getItem(CSRF_KEY);
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  const text = await res.text();
  const data = text ? safeJson(text) : null;
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? res.statusText, e?.field ?? undefined);
  }
  return data as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The caller's organisation. */
export interface Org {
  /** `unit`, `department` or `entity`. */
  kind: string;
  /** Unit code, department code or entity id. */
  id: string;
  name: string | null;
  /** For units: `district`, `street`, `community` or `grid`. */
  level: string | null;
  /** The unit whose subtree governs it. */
  area: string;
}

/** The caller's account, as `/api/v1/me` and login answer it. */
export interface Me {
  id: string;
  username: string;
  display_name: string;
  org: Org;
  /** Wire names: admin, dispatcher, handler, inspector, supervisor, leader, operator, member, resident … */
  roles: string[];
  roles_zh: string[];
  demo_password: boolean;
  /** What the account can see: `subtree` (a unit), `department`, `entity`, `own`, `system`. */
  scope: { kind: string; root: string; description: string };
}

interface LoginAnswer {
  token: string;
  csrf_token: string;
  expires_at: string;
  account: Me;
}

/** Logs in; the server sets the session cookie, and the CSRF token is kept for writes. */
export async function login(username: string, password: string): Promise<Me> {
  const a = await api<LoginAnswer>('/api/v1/auth/login', { json: { username, password } });
  localStorage.setItem(CSRF_KEY, a.csrf_token);
  return a.account;
}

/** Ends the session. */
export async function logout(): Promise<void> {
  try {
    await api('/api/v1/auth/logout', { method: 'POST', json: {} });
  } finally {
    localStorage.removeItem(CSRF_KEY);
  }
}

/** The logged-in account, or null when there is no valid session (or no CSRF token for writes). */
export async function currentUser(): Promise<Me | null> {
  if (!localStorage.getItem(CSRF_KEY)) return null;
  try {
    return await api<Me>('/api/v1/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}
