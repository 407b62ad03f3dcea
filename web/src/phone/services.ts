// 办事 (一网通办) on the phone: first what the government offers the resident without being asked
// (无感申办: an application prepared from the registers, in state `offered`, taken with one tap),
// then their own applications (marked 超期 when past their time limit, 待评价 when they may be
// rated); and the catalogue to apply from, life events (一件事一次办) first.

import { api } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, t } from '../common/i18n';
import { act, resultBlock } from './application';
import {
  bundleName,
  departmentLabel,
  errorLine,
  errorText,
  go,
  itemName,
  loadCatalogue,
  modeLabel,
  routes,
  stateBadge,
  type Catalogue,
} from './svcdata';
import type { ApplicationDto, ItemDto } from './types';

/** The two halves of the tab: my applications, and applying. */
function segments(on: 'mine' | 'apply'): HTMLElement {
  const seg = (which: 'mine' | 'apply', href: string, text: string) =>
    h('a', { href, class: `ph-seg-item${on === which ? ' ph-seg-on' : ''}`, 'data-testid': `svc-seg-${which}`, 'aria-current': on === which ? 'page' : null }, text);
  return h('nav', { class: 'ph-seg' }, seg('mine', routes.home, t('svc.seg.mine')), seg('apply', routes.apply, t('svc.seg.apply')));
}

/** An offer: prepared from the registers, taken with one tap (or declined). */
function offerCard(cat: Catalogue | null, a: ApplicationDto, acted: (card: HTMLElement) => void): HTMLElement {
  const error = errorLine('svc-offer-error');
  const confirm = h('button', { type: 'button', class: 'wx-primary', 'data-testid': 'svc-offer-confirm' }, t('svc.offer.confirm'));
  const decline = h('button', { type: 'button', 'data-testid': 'svc-offer-decline' }, t('svc.offer.decline'));
  const actions = h('div', { class: 'ph-svc-actions' }, confirm, decline);
  const card = h(
    'li',
    { class: 'ph-svc-offer', 'data-testid': 'svc-offer', 'data-app-id': a.id, 'data-item': a.item, 'data-state': a.state },
    h('p', { class: 'ph-svc-offer-title', 'data-testid': 'svc-offer-name' }, itemName(cat, a.item, a.item_name)),
    h('p', { class: 'ph-svc-offer-text' }, t('svc.offer.sentence')),
    h('p', { class: 'ph-item-meta wx-muted' }, `${departmentLabel(a.department, a.department_name)} · ${modeLabel(a.mode, cat?.item(a.item)?.mode_zh)}`),
    error,
    actions,
  );
  const run = async (action: 'confirm' | 'decline') => {
    error.textContent = '';
    confirm.disabled = decline.disabled = true;
    confirm.textContent = action === 'confirm' ? t('svc.offer.confirming') : t('svc.offer.confirm');
    try {
      const after = await act(a.id, action);
      card.dataset.state = after.state;
      // The result in place: approved with its certificate, or what the rules found.
      replace(
        actions,
        resultBlock(after),
        h('a', { href: routes.app(after.id), class: 'ph-svc-more', 'data-testid': 'svc-offer-open' }, t('svc.offer.open')),
      );
      acted(card);
    } catch (e) {
      error.textContent = errorText(e);
      confirm.disabled = decline.disabled = false;
      confirm.textContent = t('svc.offer.confirm');
    }
  };
  confirm.addEventListener('click', () => void run('confirm'));
  decline.addEventListener('click', () => void run('decline'));
  return card;
}

/** One line of "my applications". */
function appItem(cat: Catalogue | null, a: ApplicationDto): HTMLElement {
  const toFix = (a.state === 'pending' && a.failures.length > 0 && a.allowed.includes('submit')) || a.state === 'correction';
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', class: 'ph-item', 'data-testid': 'svc-app-item', 'data-app-id': a.id, 'data-state': a.state, onclick: () => go(routes.app(a.id)) },
      h('span', { class: 'ph-item-top' }, h('span', { class: 'ph-item-cat' }, itemName(cat, a.item, a.item_name)), stateBadge(a)),
      h(
        'span',
        { class: 'ph-item-meta wx-muted' },
        formatTime(a.created_at),
        ` · ${departmentLabel(a.department, a.department_name)}`,
        a.bundle ? h('span', { class: 'ph-chip ph-chip-small' }, bundleName(cat, a.bundle)) : null,
        toFix ? h('span', { class: 'ph-to-rate' }, t('svc.to_fix')) : null,
        a.allowed.includes('rate') ? h('span', { class: 'ph-to-rate', 'data-testid': 'svc-to-rate' }, t('svc.to_rate')) : null,
        a.overdue ? h('span', { class: 'ph-overdue ph-svc-overdue-line', 'data-testid': 'svc-item-overdue' }, ` ${t('overdue')}`) : null,
        a.certificate ? h('span', { class: 'ph-svc-has-cert' }, t('svc.has_certificate')) : null,
      ),
    ),
  );
}

/** Offers first, then my applications. `shown()` starts afresh (results of taken offers cleared). */
export function servicesHome(): { el: HTMLElement; shown(): void; reload(): Promise<void> } {
  const offers = h('ul', { class: 'ph-list ph-svc-offers', 'data-testid': 'svc-offers' });
  const offersBlock = h('section', { class: 'ph-svc-offers-block', hidden: true }, h('h2', { class: 'ph-h2' }, t('svc.offers.heading')), offers);
  const list = h('ul', { class: 'ph-list', 'data-testid': 'svc-apps' });
  const error = errorLine();
  const refresh = h('button', { type: 'button', class: 'ph-refresh', 'data-testid': 'svc-refresh' }, t('mine.refresh'));
  const el = h(
    'section',
    { class: 'ph-svc', 'data-testid': 'svc-home' },
    segments('mine'),
    offersBlock,
    h('div', { class: 'ph-head-row' }, h('h1', { class: 'ph-h1' }, t('svc.mine.heading')), refresh),
    error,
    list,
  );
  /** Offers taken or declined on this visit: their cards stay, with the result. */
  let taken = new Map<string, HTMLElement>();
  let loading: Promise<void> | null = null;

  async function load(): Promise<void> {
    error.textContent = '';
    if (!list.childElementCount) replace(list, h('li', { class: 'ph-empty wx-muted' }, t('mine.loading')));
    try {
      const [cat, apps] = await Promise.all([loadCatalogue().catch(() => null), api<ApplicationDto[]>('/api/v1/services/applications?limit=200')]);
      // Open offers, and those taken on this visit (their cards show the result, in place).
      const cards = apps
        .filter((a) => a.state === 'offered' || taken.has(a.id))
        .map(
          (a) =>
            taken.get(a.id) ??
            offerCard(cat, a, (card) => {
              taken.set(a.id, card);
              void reload();
            }),
        );
      replace(offers, ...cards);
      offersBlock.hidden = cards.length === 0;
      const mine = apps.filter((a) => a.state !== 'offered');
      if (!mine.length) {
        replace(list, h('li', { class: 'ph-empty wx-muted', 'data-testid': 'svc-apps-empty' }, t('svc.mine.empty')));
        return;
      }
      replace(list, ...mine.map((a) => appItem(cat, a)));
    } catch (e) {
      error.textContent = errorText(e);
    }
  }
  function reload(): Promise<void> {
    loading ??= load().finally(() => (loading = null));
    return loading;
  }
  refresh.addEventListener('click', () => void reload());
  return {
    el,
    reload,
    shown() {
      taken = new Map();
      replace(offers);
      offersBlock.hidden = true;
      void reload();
    },
  };
}

/** The catalogue: life events first, then items for residents and for enterprises. */
export function catalogueView(): HTMLElement {
  const body = h('div', {}, h('p', { class: 'wx-muted' }, t('mine.loading')));
  const el = h('section', { class: 'ph-svc', 'data-testid': 'svc-catalogue' }, segments('apply'), body);
  const itemButton = (cat: Catalogue, i: ItemDto) =>
    h(
      'li',
      {},
      h(
        'button',
        { type: 'button', class: 'ph-item', 'data-testid': 'svc-item-open', 'data-code': i.code, onclick: () => go(routes.item(i.code)) },
        h('span', { class: 'ph-item-top' }, h('span', { class: 'ph-item-cat' }, itemName(cat, i.code)), h('span', { class: `ph-chip ph-chip-${i.mode}` }, modeLabel(i.mode, i.mode_zh))),
        h('span', { class: 'ph-item-meta wx-muted' }, `${departmentLabel(i.department)} · ${t('svc.days', { n: i.time_limit_days })}`, i.cross_region ? ` · ${t('svc.cross_region')}` : ''),
      ),
    );
  void loadCatalogue()
    .then((cat) => {
      const residents = cat.items.filter((i) => i.applicant === 'resident');
      const enterprises = cat.items.filter((i) => i.applicant === 'enterprise');
      replace(
        body,
        h('h1', { class: 'ph-h1' }, t('svc.catalogue.heading')),
        cat.bundles.length ? h('h2', { class: 'ph-h2' }, t('svc.catalogue.bundles')) : null,
        cat.bundles.length ? h('p', { class: 'ph-hint wx-muted' }, t('svc.catalogue.bundles_hint')) : null,
        h(
          'ul',
          { class: 'ph-list', 'data-testid': 'svc-bundles' },
          ...cat.bundles.map((b) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: 'ph-item ph-svc-bundle-item', 'data-testid': 'svc-bundle-open', 'data-code': b.code, onclick: () => go(routes.bundle(b.code)) },
                h('span', { class: 'ph-item-top' }, h('span', { class: 'ph-item-cat' }, bundleName(cat, b.code)), h('span', { class: 'ph-chip ph-chip-bundle' }, t('svc.catalogue.bundle_chip'))),
                h('span', { class: 'ph-item-desc' }, b.items.map((m) => itemName(cat, m.code, m.name_zh)).join('、')),
                h('span', { class: 'ph-item-meta wx-muted' }, t('svc.bundle.hint', { n: b.items.length, d: new Set(b.items.map((m) => m.department)).size })),
              ),
            ),
          ),
        ),
        h('h2', { class: 'ph-h2' }, t('svc.catalogue.residents')),
        h('ul', { class: 'ph-list', 'data-testid': 'svc-items-resident' }, ...residents.map((i) => itemButton(cat, i))),
        h('h2', { class: 'ph-h2' }, t('svc.catalogue.enterprises')),
        h('p', { class: 'ph-hint wx-muted' }, t('svc.catalogue.enterprises_hint')),
        h('ul', { class: 'ph-list', 'data-testid': 'svc-items-enterprise' }, ...enterprises.map((i) => itemButton(cat, i))),
      );
    })
    .catch((e: unknown) => replace(body, h('p', { class: 'wx-error', role: 'alert' }, errorText(e))));
  return el;
}
