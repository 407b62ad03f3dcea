// The resident's phone page (随手拍), at /m: report a problem (where, what, photos) and get a
// case number; follow one's own reports and rate the result; and 办事 (一网通办): offers made
// without asking, one's applications, and applying. Mobile first: it works at 360 px wide. Routes
// live in the hash: #/report, #/mine, #/case/<id>, #/services… (see svcdata.ts).

import '../common/base.css';
import './phone.css';
import { ApiError, api, currentUser, login, logout, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { languageSwitch, t, useMessages } from '../common/i18n';
import { requireLogin } from '../common/login';
import { openStream } from '../common/stream';
import zh from '../messages/zh-CN/phone.json';
import en from '../messages/en/phone.json';
import { icon } from './icons';
import { applicationView, bundleStatusView } from './application';
import { bundleApplyView, itemApplyView } from './apply';
import { caseView, mineList } from './mine';
import { filedView, reportView } from './report';
import { catalogueView, servicesHome } from './services';
import type { CaseDto } from './types';

useMessages(zh, en);
document.title = t('phone.title');
const root = document.getElementById('app')!;

/** Login, with self-registration offered beside it (residents only). */
async function signIn(): Promise<Me> {
  const existing = await currentUser().catch(() => null);
  if (existing) return existing;
  const loginHost = h('div', {});
  const register = registerBlock();
  replace(root, h('div', { class: 'ph-login' }, loginHost, register));
  const me = await requireLogin(loginHost, {
    title: t('phone.login_title'),
    demoFilter: (a) => a.roles.includes('resident'),
  });
  return me;
}

function registerBlock(): HTMLElement {
  const wrap = h('div', { class: 'ph-register' });
  const open = h('button', { type: 'button', class: 'wx-link', 'data-testid': 'register-open' }, t('register.open'));
  const user = h('input', { name: 'reg-username', inputmode: 'tel', autocomplete: 'username', required: true, 'data-testid': 'register-username' });
  const pass = h('input', { name: 'reg-password', type: 'password', autocomplete: 'new-password', minlength: 8, required: true, 'data-testid': 'register-password' });
  const name = h('input', { name: 'reg-name', maxlength: 64, autocomplete: 'nickname', 'data-testid': 'register-name' });
  const error = h('p', { class: 'wx-error', role: 'alert', 'data-testid': 'register-error' });
  const form = h(
    'form',
    { class: 'wx-login ph-register-form', 'data-testid': 'register-form', novalidate: true },
    h('h1', {}, t('register.title')),
    h('label', {}, t('register.username'), user),
    h('label', {}, t('register.password'), pass),
    h('label', {}, t('register.display_name'), name),
    error,
    h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'register-submit' }, t('register.submit')),
    h('button', { type: 'button', class: 'wx-link ph-register-cancel', onclick: () => replace(wrap, open) }, t('register.cancel')),
  );
  open.addEventListener('click', () => {
    replace(wrap, form);
    user.focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (pass.value.length < 8) {
      error.textContent = t('register.short_password');
      return;
    }
    try {
      await api('/api/v1/auth/register', {
        json: { username: user.value.trim(), password: pass.value, display_name: name.value.trim() || undefined },
      });
      await login(user.value.trim(), pass.value);
      // The session exists now: start the page again, logged in.
      location.reload();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : t('error.network');
    }
  });
  replace(wrap, open);
  return wrap;
}

const me = await signIn();

// The shell: a header, the view, and the tab bar at the bottom.
const live = h('span', { class: 'ph-live', 'data-testid': 'live-status', title: t('live.off') });
const view = h('main', { class: 'ph-view', 'data-testid': 'phone-view' });
const tabReport = h('a', { href: '#/report', class: 'ph-tab', 'data-testid': 'tab-report' }, icon('camera', 'ph-tab-icon'), t('phone.tab.report'));
const tabServices = h('a', { href: '#/services', class: 'ph-tab', 'data-testid': 'tab-services' }, icon('services', 'ph-tab-icon'), t('phone.tab.services'));
const tabMine = h('a', { href: '#/mine', class: 'ph-tab', 'data-testid': 'tab-mine' }, icon('list', 'ph-tab-icon'), t('phone.tab.mine'));
const logoutButton = h('button', { type: 'button', class: 'ph-logout', 'data-testid': 'logout' }, t('logout'));
logoutButton.addEventListener('click', async () => {
  await logout().catch(() => undefined);
  location.hash = '';
  location.reload();
});
replace(
  root,
  h(
    'div',
    { class: 'ph-app' },
    h(
      'header',
      { class: 'ph-header' },
      h('div', { class: 'ph-brand' }, h('strong', {}, t('phone.title')), h('span', { class: 'ph-user wx-muted', 'data-testid': 'phone-user' }, live, me.display_name)),
      h('div', { class: 'ph-header-actions' }, languageSwitch(), logoutButton),
    ),
    view,
    h('nav', { class: 'ph-tabs', 'data-testid': 'tab-bar' }, tabReport, tabServices, tabMine),
  ),
);

// Views are kept, so a half-written report survives a look at "mine".
const report = reportView((c) => {
  filed = c;
  location.hash = '#/filed';
});
let filed: CaseDto | null = null;
const mine = mineList((id) => (location.hash = `#/case/${encodeURIComponent(id)}`));
const services = servicesHome();
let current: { id: string; reload(): Promise<void>; el: HTMLElement } | null = null;

/** The 办事 tab's views: #/services, #/services/apply, #/services/<view>/<id>. */
function serviceRoute(hash: string): void {
  const m = /^#\/services\/(item|bundle|app|bundle-app)\/(.+)$/.exec(hash);
  if (hash === '#/services/apply') {
    replace(view, catalogueView());
    return;
  }
  if (!m) {
    replace(view, services.el);
    services.shown();
    return;
  }
  const id = decodeURIComponent(m[2]);
  if (m[1] === 'item') replace(view, itemApplyView(id));
  else if (m[1] === 'bundle') replace(view, bundleApplyView(id));
  else {
    const v = m[1] === 'app' ? applicationView(id) : bundleStatusView(id);
    replace(view, v.el);
    void v.reload();
  }
}

function route(): void {
  const hash = location.hash || '#/report';
  const caseMatch = /^#\/case\/(.+)$/.exec(hash);
  const onMine = hash === '#/mine' || !!caseMatch;
  const onServices = hash === '#/services' || hash.startsWith('#/services/');
  const tabs: [HTMLElement, boolean][] = [
    [tabReport, !onMine && !onServices],
    [tabServices, onServices],
    [tabMine, onMine],
  ];
  for (const [tab, on] of tabs) {
    tab.classList.toggle('ph-tab-on', on);
    tab.toggleAttribute('aria-current', on);
  }
  current = null;
  if (onServices) {
    serviceRoute(hash);
  } else if (caseMatch) {
    const id = decodeURIComponent(caseMatch[1]);
    const v = caseView(id, () => (location.hash = '#/mine'));
    current = { id, ...v };
    replace(view, v.el);
    void v.reload();
  } else if (hash === '#/mine') {
    replace(view, mine.el);
    void mine.reload();
  } else if (hash === '#/filed' && filed) {
    const c = filed;
    replace(
      view,
      filedView(
        c,
        () => (location.hash = `#/case/${encodeURIComponent(c.id)}`),
        () => (location.hash = '#/report'),
      ),
    );
  } else {
    replace(view, report.el);
    report.shown();
  }
  window.scrollTo(0, 0);
}
window.addEventListener('hashchange', route);
route();

// Live: a change to one of the resident's cases refreshes what is on screen (the stream only
// carries the caller's own cases to a resident).
let pending: number | undefined;
function refreshSoon(id?: string): void {
  window.clearTimeout(pending);
  pending = window.setTimeout(() => {
    if (current && (!id || current.id === id)) void current.reload();
    if (location.hash === '#/mine') void mine.reload();
  }, 300);
}
openStream({
  case: (c) => refreshSoon(c.id),
  lagged: () => refreshSoon(),
  onStatus: (on) => {
    live.classList.toggle('ph-live-on', on);
    live.title = on ? t('live.on') : t('live.off');
    live.dataset.live = String(on);
  },
});
