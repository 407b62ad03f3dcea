// The case page (`#case/<id>`): what was reported and where, who has it and until when, the
// classifier's suggestions for an unclassified case, sensor alarm evidence, photos, the full
// timeline, and the actions the account may take now.

import { ApiError, api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import type { CaseChange } from '../common/stream';
import { actionPanel, type ActionPanel } from './actions';
import { evidenceSection } from './evidence';
import type { Attachment, CaseDto, HistoryLine } from './types';
import { directory, orgName, type Directory } from './units';
import { categoryText, errorBox, errorText, overdueBadge, stageBadge } from './util';
import type { View } from './view';

/** A key's text, or `fallback` when the messages have none. */
function tOr(key: string, fallback: string): string {
  const s = t(key);
  return s === key ? fallback : s;
}

export function caseView(me: Me, id: string, back: string): View {
  const body = h('div', { class: 'cx-case-body' }, h('p', { class: 'wx-muted' }, t('console.loading')));
  const error = errorBox('case-error');
  const notice = h('div', { class: 'cx-notice', hidden: true, 'data-testid': 'case-updated' });
  const el = h(
    'section',
    { class: 'cx-case', 'data-testid': 'case-page' },
    h('a', { href: `#${back}`, class: 'cx-back', 'data-testid': 'case-back' }, '← ', t('console.case.back')),
    notice,
    error,
    body,
  );
  let panel: ActionPanel | null = null;
  let disposeChart: (() => void) | null = null;
  let ctl: AbortController | null = null;
  let shown: CaseDto | null = null;

  const render = (c: CaseDto, dir: Directory) => {
    disposeChart?.();
    disposeChart = null;
    shown = c;
    notice.hidden = true;
    panel = actionPanel(me, c, dir, (updated) => {
      render(updated, dir);
      flash(t('console.case.done'));
    });
    const atts = c.attachments ?? [];
    const evidence = c.sensor_alarms?.length ? evidenceSection(c.sensor_alarms) : null;
    const head = h(
      'header',
      { class: 'cx-case-head' },
      h('h2', {}, t('console.case.title'), ' ', h('span', { class: 'cx-mono', 'data-testid': 'case-id' }, c.id)),
      h(
        'div',
        { class: 'cx-case-badges' },
        h('span', { 'data-testid': 'case-stage', 'data-stage': c.stage }, stageBadge(c.stage)),
        h('span', { class: `cx-prio cx-prio-${c.priority}` }, t(`priority.${c.priority}`)),
        overdueBadge(c),
      ),
    );
    const facts = h(
      'dl',
      { class: 'cx-facts', 'data-testid': 'case-facts' },
      ...fact(t('console.col.category'), h('span', { 'data-testid': 'case-category' }, categoryText(c))),
      ...fact(t('console.case.description'), h('span', { class: 'cx-desc', 'data-testid': 'case-description' }, c.description)),
      ...fact(
        t('console.col.place'),
        `${c.location.unit_name ?? c.location.unit} (${c.location.lon.toFixed(5)}, ${c.location.lat.toFixed(5)})`,
      ),
      ...fact(t('console.case.assignee'), h('span', { 'data-testid': 'case-assignee' }, orgName(dir, c.assignee))),
      ...fact(t('console.col.due'), formatTime(c.due_at)),
      ...fact(t('console.case.channel'), tOr(`channel.${c.channel}`, c.channel)),
      ...fact(t('console.col.created'), formatTime(c.created_at)),
      ...(c.reporter_contact ? fact(t('console.case.contact'), c.reporter_contact) : []),
      ...fact(t('console.case.explanation'), h('span', { class: 'cx-expl' }, c.explanation)),
      ...(c.returns || c.reworks || c.redos
        ? fact(t('console.case.counts'), t('console.case.counts_value', { returns: c.returns, reworks: c.reworks, redos: c.redos }))
        : []),
      ...(c.extension_requested_until
        ? fact(t('console.case.extension'), t('console.extension.requested', { until: formatTime(c.extension_requested_until) }))
        : []),
      ...(c.linked_reports ? fact(t('console.case.linked'), String(c.linked_reports)) : []),
      ...(c.rating ? fact(t('console.case.rating'), tOr(`rating.${c.rating}`, c.rating)) : []),
    );
    const suggestions =
      !c.category && c.suggestions
        ? h(
            'section',
            { class: 'cx-card', 'data-testid': 'case-suggestions' },
            h('h3', {}, t('console.case.suggestions')),
            c.suggestions.length
              ? h(
                  'ol',
                  { class: 'cx-sugg-list' },
                  ...c.suggestions.map((s) => {
                    const pct = Math.round(s.confidence * 100);
                    return h(
                      'li',
                      { 'data-testid': 'suggestion', 'data-category': s.category },
                      h('span', { class: 'cx-sugg-name' }, `${s.name} (${s.category})`),
                      h('span', { class: 'cx-bar' }, h('span', { style: `width:${pct}%` })),
                      h('span', { class: 'cx-pct' }, `${pct}%`),
                      c.allowed_actions.includes('dispatch') && me.roles.includes('dispatcher')
                        ? h(
                            'button',
                            { type: 'button', class: 'wx-link', 'data-testid': 'suggestion-use', onclick: () => panel?.dispatchWith(s.category) },
                            t('console.case.use_suggestion'),
                          )
                        : null,
                    );
                  }),
                )
              : h('p', { class: 'wx-muted' }, t('console.case.no_suggestions')),
          )
        : null;
    const gallery = h(
      'section',
      { class: 'cx-card', 'data-testid': 'case-attachments' },
      h('h3', {}, t('console.case.attachments'), ` (${atts.length})`),
      atts.length ? h('div', { class: 'cx-gallery' }, ...atts.map(thumb)) : h('p', { class: 'wx-muted' }, t('console.case.no_attachments')),
    );
    const timeline = h(
      'section',
      { class: 'cx-card cx-timeline-card' },
      h('h3', {}, t('console.case.timeline')),
      h('ol', { class: 'cx-timeline', 'data-testid': 'case-timeline' }, ...(c.history ?? []).map((line) => historyItem(line, atts))),
    );
    replace(
      body,
      head,
      h(
        'div',
        { class: 'cx-case-grid' },
        h('div', { class: 'cx-case-main' }, h('section', { class: 'cx-card' }, facts), panel.el, suggestions, evidence?.el, gallery),
        h('div', { class: 'cx-case-side' }, timeline),
      ),
    );
    el.dataset.stage = c.stage;
    el.dataset.version = String(c.version);
    if (evidence) {
      evidence.draw();
      disposeChart = evidence.dispose;
    }
  };

  const flash = (msg: string) => {
    const toast = h('div', { class: 'cx-toast', role: 'status', 'data-testid': 'action-ok' }, msg);
    el.prepend(toast);
    window.setTimeout(() => toast.remove(), 3000);
  };

  /** Loads the case; `live`: a reload for a change heard on the stream (never goes backwards). */
  const load = async (live = false) => {
    ctl?.abort();
    ctl = new AbortController();
    const mine = ctl;
    try {
      const [c, dir] = await Promise.all([
        api<CaseDto>(`/api/v1/events/${encodeURIComponent(id)}`, { signal: mine.signal }),
        directory(),
      ]);
      if (mine.signal.aborted) return;
      if (live && shown && c.version <= shown.version) return;
      if (live && panel?.dirty()) {
        // Do not throw away what the user is doing: offer the reload instead.
        replace(
          notice,
          t('console.case.changed', { stage: t(`stage.${c.stage}`) }),
          ' ',
          h('button', { type: 'button', class: 'wx-link', 'data-testid': 'case-reload', onclick: () => void load() }, t('console.case.reload')),
        );
        notice.hidden = false;
        return;
      }
      error.textContent = '';
      render(c, dir);
    } catch (e) {
      if (mine.signal.aborted) return;
      if (e instanceof ApiError && e.status === 404) replace(body);
      error.textContent = errorText(e);
    }
  };
  void load();

  return {
    el,
    onCase: (change: CaseChange) => {
      if (change.id !== id) return;
      // Our own action has already redrawn the page with the answer.
      if (shown && change.stage === shown.stage && Date.parse(change.at) <= Date.parse(shown.updated_at)) return;
      void load(true);
    },
    reload: () => void load(true),
    dispose: () => {
      ctl?.abort();
      disposeChart?.();
    },
  };
}

function fact(label: string, value: Node | string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function thumb(a: Attachment): HTMLElement {
  const isImage = a.content_type.startsWith('image/') && a.content_type !== 'image/heic';
  return h(
    'a',
    { href: a.url, target: '_blank', rel: 'noopener', class: 'cx-att', 'data-testid': 'attachment', title: a.name },
    isImage ? h('img', { src: a.url, alt: a.name, class: 'cx-thumb', loading: 'lazy', 'data-testid': 'attachment-thumb' }) : h('span', { class: 'cx-file' }, a.name),
  );
}

function historyItem(line: HistoryLine, atts: Attachment[]): HTMLElement {
  const mine = atts.filter((a) => a.history_seq === line.seq);
  return h(
    'li',
    { class: `cx-tl cx-tl-${line.action}`, 'data-testid': 'timeline-item', 'data-action': line.action, 'data-seq': line.seq },
    h('div', { class: 'cx-tl-head' }, h('strong', {}, tOr(`history.${line.action}`, line.action)), ' ', h('time', { datetime: line.at }, formatTime(line.at))),
    h(
      'div',
      { class: 'cx-tl-meta wx-muted' },
      line.actor,
      line.from !== line.to ? ` · ${t(`stage.${line.from}`)} → ${t(`stage.${line.to}`)}` : '',
    ),
    line.note ? h('div', { class: 'cx-tl-note', 'data-testid': 'timeline-note' }, line.note) : null,
    mine.length ? h('div', { class: 'cx-gallery cx-gallery-small' }, ...mine.map(thumb)) : null,
  );
}
