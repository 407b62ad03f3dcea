// The console's frame: the header (who is logged in, their scope, the live state, language and
// logout) and the left navigation with one tab per screen the account's roles fit.

import { logout, type Me } from '../common/api';
import { h } from '../common/dom';
import { languageSwitch, locale, t } from '../common/i18n';
import type { TabId } from './roles';

export interface Frame {
  el: HTMLElement;
  main: HTMLElement;
  /** Marks the tab shown (null: none, e.g. on a case page). */
  select: (tab: TabId | null) => void;
  /** Shows whether the live stream is connected. */
  live: (on: boolean) => void;
}

export function frame(me: Me, tabs: TabId[]): Frame {
  const liveDot = h('span', { class: 'cx-live', 'data-testid': 'live-status', 'data-live': 'false' }, t('live.off'));
  const roles = locale() === 'en' ? me.roles.join(', ') : me.roles_zh.join('、');
  const logoutBtn = h('button', { type: 'button', 'data-testid': 'logout' }, t('logout'));
  logoutBtn.addEventListener('click', async () => {
    logoutBtn.disabled = true;
    try {
      await logout();
    } finally {
      location.reload();
    }
  });
  const header = h(
    'header',
    { class: 'cx-header' },
    h('h1', {}, t('console.title')),
    h(
      'div',
      { class: 'cx-who' },
      h('span', { class: 'cx-name', 'data-testid': 'me-name' }, me.display_name),
      h('span', { class: 'wx-muted', 'data-testid': 'me-roles' }, ` ${me.username} · ${roles}`),
      h('span', { class: 'cx-scope', 'data-testid': 'me-scope', title: t('console.scope_hint') }, t('console.scope', { scope: me.org.name ? `${me.org.name} · ${me.scope.description}` : me.scope.description })),
    ),
    h('div', { class: 'cx-header-tools' }, liveDot, languageSwitch(), logoutBtn),
  );
  const links = new Map<TabId, HTMLAnchorElement>();
  const nav = h(
    'nav',
    { class: 'cx-nav', 'data-testid': 'nav' },
    ...tabs.map((tab) => {
      const a = h('a', { href: `#${tab}`, 'data-testid': `nav-${tab}` }, t(`console.tab.${tab}`));
      links.set(tab, a);
      return a;
    }),
    me.demo_password ? h('p', { class: 'cx-demo-note' }, t('demo.badge')) : null,
  );
  const main = h('main', { class: 'cx-main', 'data-testid': 'console-main' });
  const el = h('div', { class: 'cx-app' }, header, h('div', { class: 'cx-body' }, nav, main));
  return {
    el,
    main,
    select: (tab) => {
      for (const [id, a] of links) {
        a.classList.toggle('cx-current', id === tab);
        if (id === tab) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      }
    },
    live: (on) => {
      liveDot.dataset.live = String(on);
      liveDot.textContent = t(on ? 'live.on' : 'live.off');
    },
  };
}
