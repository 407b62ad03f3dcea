// The rules' decision on an application (`GET /api/v1/services/decisions/{id}`), as a reviewer
// audits it: what failed in plain language, every input the rules read (register facts and the
// form), the rule rows that matched and why (each cell's condition and the value it saw), and a
// replay (`POST …/replay`) that evaluates the recorded model version on the recorded inputs again
// and says whether it gives the same result.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { fieldLabel, leaves, valueText } from './svc';
import type { DecisionDto, ItemDto, NodeTraceDto, ReplayDto, RowTraceDto } from './types';
import { busy, errorBox, errorText } from './util';

export function decisionPanel(id: string, item: ItemDto | undefined): HTMLElement {
  const body = h('div', {}, h('p', { class: 'wx-muted' }, t('console.loading')));
  const error = errorBox('decision-error');
  const el = h(
    'section',
    { class: 'cx-card cx-decision', 'data-testid': 'app-decision', 'data-decision-id': id },
    h('h3', {}, t('console.decision.title')),
    error,
    body,
  );
  api<DecisionDto>(`/api/v1/services/decisions/${encodeURIComponent(id)}`)
    .then((d) => draw(d))
    .catch((e: unknown) => {
      replace(body);
      error.textContent = errorText(e);
    });

  const draw = (d: DecisionDto) => {
    el.dataset.approved = String(d.approved);
    const inputs = leaves(d.inputs ?? {});
    const tables = (d.trace ?? []).filter((n) => n.rows?.length);
    const matched = tables.flatMap((n) => (n.rows ?? []).filter((r) => r.matched).map((r) => ({ node: n, row: r })));
    const others = tables.flatMap((n) => (n.rows ?? []).filter((r) => !r.matched).map((r) => ({ node: n, row: r })));

    const replayBtn = h('button', { type: 'button', 'data-testid': 'decision-replay' }, t('console.decision.replay'));
    const replayOut = h('div', { class: 'cx-replay', 'data-testid': 'decision-replay-result', role: 'status' });
    const replayError = errorBox('decision-replay-error');
    replayBtn.addEventListener('click', async () => {
      replayError.textContent = '';
      replace(replayOut);
      delete replayOut.dataset.same;
      try {
        const r = await busy([replayBtn], () => api<ReplayDto>(`/api/v1/services/decisions/${encodeURIComponent(d.id)}/replay`, { method: 'POST' }));
        replayOut.dataset.same = String(r.same);
        replace(
          replayOut,
          h('strong', { class: r.same ? 'cx-replay-same' : 'cx-replay-diff' }, t(r.same ? 'console.decision.same' : 'console.decision.different')),
          ' ',
          t('console.decision.replay_text', { version: r.model_version }),
          !r.same
            ? h('ul', { class: 'cx-failures' }, ...(r.failures.length ? r.failures.map((f) => h('li', {}, f)) : [h('li', {}, t('console.decision.all_passed'))]))
            : null,
        );
      } catch (e) {
        replayError.textContent = errorText(e);
      }
    });

    replace(
      body,
      h(
        'p',
        { class: 'wx-muted cx-small', 'data-testid': 'decision-meta' },
        t('console.decision.meta', { version: d.model_version, at: formatTime(d.at) }),
        ' ',
        h('span', { class: 'cx-mono' }, d.id),
      ),
      h(
        'div',
        { class: `cx-decision-result ${d.approved ? 'cx-decision-ok' : 'cx-decision-bad'}`, 'data-testid': 'decision-result', 'data-approved': String(d.approved) },
        h('strong', {}, t(d.approved ? 'console.decision.approved' : 'console.decision.refused')),
        d.failures.length
          ? h('ul', { class: 'cx-failures', 'data-testid': 'decision-failures' }, ...d.failures.map((f) => h('li', {}, f)))
          : null,
      ),
      h('h4', {}, t('console.decision.inputs')),
      inputs.length
        ? h(
            'table',
            { class: 'cx-kv', 'data-testid': 'decision-inputs' },
            h('thead', {}, h('tr', {}, h('th', {}, t('console.decision.field')), h('th', {}, t('console.decision.value')))),
            h(
              'tbody',
              {},
              ...inputs.map(([path, v]) => {
                const label = fieldLabel(item, path);
                return h(
                  'tr',
                  { 'data-testid': 'decision-input', 'data-field': path },
                  h('td', {}, label ?? path, label ? h('div', { class: 'cx-mono cx-small wx-muted' }, path) : null),
                  h('td', { class: 'cx-kv-value' }, valueText(v)),
                );
              }),
            ),
          )
        : h('p', { class: 'wx-muted' }, t('console.decision.no_inputs')),
      h('h4', {}, t('console.decision.matched')),
      h('p', { class: 'wx-muted cx-small' }, t('console.decision.matched_hint')),
      matched.length
        ? h('ol', { class: 'cx-rules', 'data-testid': 'decision-rules' }, ...matched.map(({ node, row }) => ruleRow(node, row, item)))
        : h('p', { class: 'wx-muted', 'data-testid': 'decision-no-match' }, t('console.decision.no_match')),
      others.length
        ? h(
            'details',
            { class: 'cx-rules-other' },
            h('summary', {}, t('console.decision.others', { n: others.length })),
            h('ol', { class: 'cx-rules', 'data-testid': 'decision-rules-other' }, ...others.map(({ node, row }) => ruleRow(node, row, item))),
          )
        : null,
      h('div', { class: 'cx-form-buttons' }, replayBtn),
      replayOut,
      replayError,
    );
  };

  return el;
}

/** One rule row: what it says, and each condition with the value it saw. */
function ruleRow(node: NodeTraceDto, row: RowTraceDto, item: ItemDto | undefined): HTMLElement {
  const conditions = row.cells.filter((c) => c.expression.trim() !== '');
  return h(
    'li',
    { class: `cx-rule ${row.matched ? 'cx-rule-matched' : ''}`, 'data-testid': 'decision-rule', 'data-row-id': row.id, 'data-matched': String(row.matched) },
    h('div', { class: 'cx-rule-desc' }, row.description || row.id),
    h('div', { class: 'wx-muted cx-small' }, node.name),
    conditions.length
      ? h(
          'ul',
          { class: 'cx-rule-cells' },
          ...conditions.map((c) =>
            h(
              'li',
              { 'data-field': c.field, 'data-result': String(c.result) },
              h('span', { class: c.result ? 'cx-cell-yes' : 'cx-cell-no' }, c.result ? '✓' : '✗'),
              ' ',
              fieldLabel(item, c.field) ?? c.column,
              ' = ',
              h('strong', {}, valueText(c.value)),
              ' · ',
              t('console.decision.condition'),
              ' ',
              h('code', {}, c.expression),
              c.error ? h('span', { class: 'cx-warn' }, ` (${c.error})`) : null,
            ),
          ),
        )
      : null,
  );
}
