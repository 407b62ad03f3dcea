// The login panel every page shows when there is no session. In demo mode it lists the demo
// accounts from `GET /api/v1/demo/accounts` (the public API) so a new user can click one.

import { ApiError, api, currentUser, login, type Me } from './api';
import { h, replace } from './dom';
import { languageSwitch, t } from './i18n';

interface DemoListing {
  accounts: { username: string; display_name: string; org: string; roles: string[]; password: string }[];
}

export interface LoginOptions {
  /** The page's title above the form. */
  title: string;
  /** Only offer the demo accounts this accepts (e.g. residents on the phone page). */
  demoFilter?: (a: DemoListing['accounts'][number]) => boolean;
}

/**
 * Resolves to the logged-in account: at once when a session exists, otherwise after the user logs
 * in through a form drawn into `root` (which is emptied again afterwards).
 */
export async function requireLogin(root: HTMLElement, opts: LoginOptions): Promise<Me> {
  const me = await currentUser();
  if (me) return me;
  return new Promise<Me>((resolve) => {
    const user = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
    const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
    const error = h('p', { class: 'wx-error', role: 'alert' });
    const form = h(
      'form',
      { class: 'wx-login', 'data-testid': 'login-form' },
      h('h1', {}, opts.title),
      h('label', {}, t('login.username'), user),
      h('label', {}, t('login.password'), pass),
      error,
      h('button', { type: 'submit', class: 'wx-primary', 'data-testid': 'login-submit' }, t('login.submit')),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        const account = await login(user.value.trim(), pass.value);
        root.replaceChildren();
        resolve(account);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : t('error.network');
      }
    });
    const demo = h('div', { class: 'wx-demo-accounts' });
    replace(root, h('div', { class: 'wx-login-page' }, h('div', { class: 'wx-login-top' }, languageSwitch()), form, demo));
    api<DemoListing>('/api/v1/demo/accounts')
      .then((listing) => {
        const accounts = listing.accounts.filter(opts.demoFilter ?? (() => true));
        if (!accounts.length) return;
        replace(
          demo,
          h('h2', {}, t('login.demo_accounts')),
          h('p', { class: 'wx-muted' }, t('login.demo_note')),
          h(
            'ul',
            {},
            ...accounts.map((a) =>
              h(
                'li',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'wx-link',
                    onclick: () => {
                      user.value = a.username;
                      pass.value = a.password;
                    },
                  },
                  a.username,
                ),
                ` ${a.display_name} · ${a.org}`,
              ),
            ),
          ),
        );
      })
      .catch(() => {
        /* Not in demo mode: no list. */
      });
  });
}
