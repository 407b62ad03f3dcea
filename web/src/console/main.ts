// The staff console (工作台): the dispatcher's manual queue, the handler's tasks, the inspector's
// verification list, the supervisor's overdue list, a department's 一网通办 applications (办件),
// the decision models of the items decided by rules (规则), all cases, devices and alarms — each
// only what the API returns for the logged-in account — and the case, application and model pages.
// Routes live in `location.hash` (`#tasks`, `#case/<id>`, `#application/<id>`, `#rules/<item>`),
// so a link can be shared and Back works.

import '../common/base.css';
import './console.css';
import { h, replace } from '../common/dom';
import { t, useMessages } from '../common/i18n';
import { requireLogin } from '../common/login';
import { openStream } from '../common/stream';
import zh from '../messages/zh-CN/console.json';
import en from '../messages/en/console.json';
import { applicationView } from './application';
import { applicationsView } from './applications';
import { caseView } from './case';
import { devicesView } from './devices';
import { frame } from './layout';
import { listView } from './lists';
import { tabsFor, type TabId } from './roles';
import { ruleModelView, rulesView } from './rules';
import type { View } from './view';

useMessages(zh, en);
document.title = t('console.page_title');
const root = document.getElementById('app')!;
const me = await requireLogin(root, { title: t('console.login_title') });
const tabs = tabsFor(me);
const shell = frame(me, tabs);
replace(root, shell.el);

let current: View | null = null;
let lastTab: TabId | null = tabs[0] ?? null;

function route(): void {
  const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  current?.dispose?.();
  current = null;
  let view: View;
  if (hash.startsWith('case/') && hash.length > 5) {
    shell.select(null);
    view = caseView(me, hash.slice(5), lastTab ?? '');
  } else if (hash.startsWith('application/') && hash.length > 12 && tabs.includes('applications')) {
    shell.select('applications');
    view = applicationView(me, hash.slice(12));
  } else if (hash.startsWith('rules/') && hash.length > 6 && tabs.includes('rules')) {
    shell.select('rules');
    view = ruleModelView(me, hash.slice(6));
  } else if (!tabs.length) {
    shell.select(null);
    view = { el: h('section', { class: 'cx-list', 'data-testid': 'no-tabs' }, h('p', {}, t('console.no_tabs'))) };
  } else {
    const tab = (tabs as string[]).includes(hash) ? (hash as TabId) : tabs[0];
    if (hash !== tab) {
      history.replaceState(null, '', `#${tab}`);
    }
    lastTab = tab;
    shell.select(tab);
    view =
      tab === 'devices' ? devicesView(me) : tab === 'applications' ? applicationsView(me) : tab === 'rules' ? rulesView(me) : listView(tab, me);
  }
  current = view;
  replace(shell.main, view.el);
  window.scrollTo({ top: 0 });
}

window.addEventListener('hashchange', route);
route();

let wasOff = false;
openStream({
  case: (c) => current?.onCase?.(c),
  alarm: (a) => current?.onAlarm?.(a),
  lagged: () => current?.reload?.(),
  onStatus: (on) => {
    shell.live(on);
    // Back after a break: what happened meanwhile was not heard.
    if (on && wasOff) current?.reload?.();
    wasOff = !on;
  },
});
