// "Mine": the resident's own reports (`GET /api/v1/events` answers a resident with theirs),
// each with its progress (the case history) and, once the case is closed and unrated, the
// rating form (`POST /api/v1/events/{id}/actions` with `rate`: a satisfaction level and whether
// the problem was solved).

import { ApiError, api } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { categoryName, loadCategories } from './categories';
import { LEVELS, type CaseDto, type HistoryDto } from './types';

const OPEN_NOTES = new Set(['reject', 'return', 'handle', 'verify', 'rate', 'suspend', 'urge']);

function stageBadge(c: CaseDto): HTMLElement {
  return h('span', { class: `ph-stage ph-stage-${c.stage}`, 'data-testid': 'case-stage', 'data-stage': c.stage }, t(`stage.${c.stage}`));
}

/** The list of the resident's reports. `open` shows one. */
export function mineList(open: (id: string) => void): { el: HTMLElement; reload(): Promise<void> } {
  const list = h('ul', { class: 'ph-list', 'data-testid': 'mine-list' });
  const error = h('p', { class: 'wx-error', role: 'alert' });
  const refresh = h('button', { type: 'button', class: 'ph-refresh', 'data-testid': 'mine-refresh' }, t('mine.refresh'));
  const el = h(
    'section',
    { class: 'ph-mine' },
    h('div', { class: 'ph-head-row' }, h('h1', { class: 'ph-h1' }, t('mine.heading')), refresh),
    error,
    list,
  );
  let loading: Promise<void> | null = null;
  async function load(): Promise<void> {
    error.textContent = '';
    if (!list.childElementCount) replace(list, h('li', { class: 'ph-empty wx-muted' }, t('mine.loading')));
    try {
      await loadCategories().catch(() => undefined);
      const cases = await api<CaseDto[]>('/api/v1/events?limit=200');
      if (!cases.length) {
        replace(list, h('li', { class: 'ph-empty wx-muted', 'data-testid': 'mine-empty' }, t('mine.empty')));
        return;
      }
      replace(
        list,
        ...cases.map((c) =>
          h(
            'li',
            {},
            h(
              'button',
              { type: 'button', class: 'ph-item', 'data-testid': 'mine-item', 'data-case-id': c.id, onclick: () => open(c.id) },
              h(
                'span',
                { class: 'ph-item-top' },
                h('span', { class: 'ph-item-cat' }, categoryName(c.category, c.category_name) ?? t('mine.unclassified')),
                stageBadge(c),
              ),
              h('span', { class: 'ph-item-desc' }, c.description),
              h(
                'span',
                { class: 'ph-item-meta wx-muted' },
                formatTime(c.created_at),
                c.location.unit_name ? ` · ${c.location.unit_name}` : '',
                c.allowed_actions.includes('rate') ? h('span', { class: 'ph-to-rate' }, t('mine.to_rate')) : null,
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.message : t('error.network');
    }
  }
  function reload(): Promise<void> {
    // One load at a time; a burst of stream events makes one more afterwards.
    loading ??= load().finally(() => (loading = null));
    return loading;
  }
  refresh.addEventListener('click', () => void reload());
  return { el, reload };
}

function actionLabel(e: HistoryDto): string {
  if (e.action === 'verify') return t(e.to === 'closed' ? 'action.verify_pass' : 'action.verify_fail');
  const key = `action.${e.action}`;
  const text = t(key);
  return text === key ? e.action : text;
}

/** One report: its details, progress and (when it may be rated) the rating form. */
export function caseView(id: string, back: () => void): { el: HTMLElement; reload(): Promise<void> } {
  const body = h('div', { class: 'ph-case-body' }, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const el = h(
    'section',
    { class: 'ph-case', 'data-testid': 'case-view', 'data-case-id': id },
    h('button', { type: 'button', class: 'ph-back', 'data-testid': 'case-back', onclick: back }, '‹ ', t('case.back')),
    body,
  );
  /** The last rating this page sent, to say what became of it. */
  let rated: { level: string; resolved: boolean | null } | null = null;

  async function reload(): Promise<void> {
    let c: CaseDto;
    try {
      await loadCategories().catch(() => undefined);
      c = await api<CaseDto>(`/api/v1/events/${encodeURIComponent(id)}`);
    } catch (e) {
      replace(body, h('p', { class: 'wx-error', role: 'alert' }, e instanceof ApiError && e.status === 404 ? t('case.not_found') : e instanceof ApiError ? e.message : t('error.network')));
      return;
    }
    draw(c);
  }

  function draw(c: CaseDto): void {
    const row = (label: string, ...value: (Node | string | null)[]) =>
      h('div', { class: 'ph-row' }, h('dt', {}, label), h('dd', {}, ...value));
    const photos = c.attachments ?? [];
    replace(
      body,
      h('p', { class: 'ph-done-label' }, t('case.number')),
      h('p', { class: 'ph-case-id', 'data-testid': 'case-id' }, c.id),
      h(
        'dl',
        { class: 'ph-dl' },
        row(t('case.stage'), stageBadge(c)),
        row(t('case.category'), categoryName(c.category, c.category_name) ?? t('mine.unclassified')),
        row(t('case.where'), c.location.unit_name ?? c.location.unit),
        row(t('case.reported_at'), formatTime(c.created_at)),
        c.due_at && c.stage !== 'closed' && c.stage !== 'rejected' ? row(t('case.due'), formatTime(c.due_at), c.overdue ? h('span', { class: 'ph-overdue' }, ` ${t('overdue')}`) : null) : null,
      ),
      h('h2', { class: 'ph-h2' }, t('case.description')),
      h('p', { class: 'ph-desc', 'data-testid': 'case-description' }, c.description),
      c.linked_reports ? h('p', { class: 'wx-muted' }, t('case.linked', { n: c.linked_reports })) : null,
      photos.length
        ? h(
            'div',
            {},
            h('h2', { class: 'ph-h2' }, t('case.photos')),
            h(
              'div',
              { class: 'ph-photos', 'data-testid': 'case-photos' },
              ...photos
                .filter((a) => a.content_type.startsWith('image/'))
                .map((a) => h('a', { href: a.url, target: '_blank', rel: 'noopener', class: 'ph-photo' }, h('img', { src: a.url, alt: a.name, loading: 'lazy' }))),
            ),
          )
        : null,
      ratingBlock(c),
      h('h2', { class: 'ph-h2' }, t('case.progress')),
      h(
        'ol',
        { class: 'ph-timeline', 'data-testid': 'case-timeline' },
        ...[...(c.history ?? [])].reverse().map((e) =>
          h(
            'li',
            { class: `ph-step ph-step-${e.action}`, 'data-action': e.action },
            h('span', { class: 'ph-step-title' }, actionLabel(e)),
            h('span', { class: 'ph-step-time wx-muted' }, formatTime(e.at)),
            e.from !== e.to ? h('span', { class: 'ph-step-stage wx-muted' }, t(`stage.${e.to}`)) : null,
            OPEN_NOTES.has(e.action) && e.note ? h('span', { class: 'ph-step-note' }, e.note) : null,
          ),
        ),
      ),
    );
  }

  /** Whether the caller filed this case (only the reporter may rate it) or follows it. */
  function reportedByMe(c: CaseDto): boolean {
    return c.reported_by_me;
  }

  /** The rating form, or what became of the rating. */
  function ratingBlock(c: CaseDto): HTMLElement | null {
    if (!reportedByMe(c)) return h('p', { class: 'ph-following wx-muted', 'data-testid': 'case-following' }, t('case.following'));
    if (c.rating) {
      return h(
        'div',
        { class: 'ph-rated', 'data-testid': 'rating-result', 'data-level': c.rating },
        t('rate.result', { level: t(`rating.${c.rating}`) }),
        c.resolved === true ? t('rate.result_resolved') : c.resolved === false ? t('rate.result_unresolved') : '',
      );
    }
    if (rated && !c.allowed_actions.includes('rate')) {
      // An unsatisfied rating sends the case back (its rating is cleared on the case).
      return h(
        'div',
        { class: 'ph-rated', 'data-testid': 'rating-result', 'data-level': rated.level },
        h('p', {}, t('rate.result', { level: t(`rating.${rated.level}`) })),
        h('p', {}, t('rate.redo')),
      );
    }
    if (!c.allowed_actions.includes('rate')) return null;
    let level: string | null = null;
    let resolved: boolean | null = null;
    const error = h('p', { class: 'wx-error', role: 'alert', 'data-testid': 'rate-error' });
    const submit = h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'rate-submit' }, t('rate.submit'));
    const choice = (name: string, value: string, label: string, testid: string, pick: () => void) => {
      const input = h('input', { type: 'radio', name, value });
      input.addEventListener('change', pick);
      return h('label', { class: 'ph-choice', 'data-testid': testid }, input, h('span', {}, label));
    };
    const form = h(
      'form',
      { class: 'ph-rate', 'data-testid': 'rate-form' },
      h('h2', { class: 'ph-h2' }, t('rate.heading')),
      h(
        'fieldset',
        { class: 'ph-choices' },
        h('legend', {}, t('rate.level')),
        ...LEVELS.map((l) => choice('level', l, t(`rating.${l}`), `rate-level-${l}`, () => (level = l))),
      ),
      h(
        'fieldset',
        { class: 'ph-choices ph-choices-2' },
        h('legend', {}, t('rate.resolved')),
        choice('resolved', 'yes', t('rate.yes'), 'rate-resolved-yes', () => (resolved = true)),
        choice('resolved', 'no', t('rate.no'), 'rate-resolved-no', () => (resolved = false)),
      ),
      h('p', { class: 'wx-muted ph-small' }, t('rate.redo_note')),
      error,
      submit,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!level) {
        error.textContent = t('rate.pick_level');
        return;
      }
      error.textContent = '';
      submit.disabled = true;
      try {
        const after = await api<CaseDto>(`/api/v1/events/${encodeURIComponent(c.id)}/actions`, {
          json: { action: 'rate', level, resolved: resolved ?? undefined },
        });
        rated = { level, resolved };
        draw(after);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : t('error.network');
        submit.disabled = false;
      }
    });
    return form;
  }

  return { el, reload };
}
