// Devices and alarms in the jurisdiction: the open alarms (operators and admins may acknowledge or
// clear them) and every device with its health (active, inactive — silent past its type's
// timeout — or disabled) and refused values. Live alarm changes refresh the lists in place.

import { api, type Me } from '../common/api';
import { h, replace } from '../common/dom';
import { formatTime, locale, t } from '../common/i18n';
import { has } from './roles';
import type { AlarmDto, DeviceDto, DeviceType } from './types';
import { directory, orgName, type Directory } from './units';
import { busy, errorBox, errorText } from './util';
import type { View } from './view';

const PAGE = 200;

export function devicesView(me: Me): View {
  const canOperate = has(me, 'operator', 'admin');
  const error = errorBox('devices-error');
  const alarmBody = h('tbody', {});
  const deviceBody = h('tbody', {});
  const alarmStatus = h(
    'select',
    { 'data-testid': 'alarm-status-filter' },
    ...['open', 'active', 'acknowledged', 'cleared', 'all'].map((s) => h('option', { value: s }, t(`console.alarm_filter.${s}`))),
  );
  const stateSel = h(
    'select',
    { 'data-testid': 'device-state-filter' },
    h('option', { value: '' }, t('console.device_filter.all')),
    ...['active', 'inactive', 'disabled'].map((s) => h('option', { value: s }, t(`console.device_state.${s}`))),
  );
  const summary = h('p', { class: 'cx-summary', 'data-testid': 'device-summary' });
  const search = h('input', { type: 'search', placeholder: t('console.devices.search'), 'data-testid': 'device-search' });
  const more = h('button', { type: 'button', hidden: true, 'data-testid': 'devices-more' }, t('console.devices.more'));
  const el = h(
    'section',
    { class: 'cx-list' },
    h('div', { class: 'cx-list-head' }, h('h2', {}, t('console.tab.devices')), h('p', { class: 'wx-muted cx-hint' }, t('console.hint.devices'))),
    error,
    h('h3', {}, t('console.alarms.title')),
    h('div', { class: 'cx-toolbar' }, alarmStatus),
    h(
      'div',
      { class: 'cx-table-wrap' },
      h(
        'table',
        { class: 'cx-table', 'data-testid': 'list-alarms' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, t('console.alarms.level')),
            h('th', {}, t('console.alarms.alarm')),
            h('th', {}, t('console.alarms.device')),
            h('th', {}, t('console.alarms.value')),
            h('th', {}, t('console.alarms.status')),
            h('th', {}, t('console.alarms.raised')),
            h('th', {}, t('console.alarms.case')),
            canOperate ? h('th', {}, t('console.alarms.operate')) : null,
          ),
        ),
        alarmBody,
      ),
    ),
    h('h3', {}, t('console.devices.title')),
    h('div', { class: 'cx-toolbar' }, search, stateSel, summary),
    h(
      'div',
      { class: 'cx-table-wrap' },
      h(
        'table',
        { class: 'cx-table', 'data-testid': 'list-devices' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}, t('console.devices.name')),
            h('th', {}, t('console.devices.type')),
            h('th', {}, t('console.devices.area')),
            h('th', {}, t('console.devices.owner')),
            h('th', {}, t('console.devices.state')),
            h('th', {}, t('console.devices.last_seen')),
            h('th', {}, t('console.devices.bad_values')),
          ),
        ),
        deviceBody,
      ),
    ),
    more,
  );

  let types = new Map<string, DeviceType>();
  let devices: DeviceDto[] = [];
  let dir: Directory | null = null;
  let timer: number | undefined;
  let complete = false;
  /** How many rows are drawn: a district has tens of thousands of devices. */
  let limit = PAGE;
  let gen = 0;

  const typeName = (code: string) => {
    const ty = types.get(code);
    return ty ? (locale() === 'en' ? ty.name_en : ty.name_zh) : code;
  };

  const drawDevices = () => {
    const q = search.value.trim().toLowerCase();
    const all = devices.filter(
      (d) => (!stateSel.value || d.state === stateSel.value) && (!q || d.name.toLowerCase().includes(q) || d.id.toLowerCase().includes(q)),
    );
    // Problems first: silent devices, then those refusing values.
    const rank = (d: DeviceDto) => (d.state === 'inactive' ? 0 : d.bad_values > 0 ? 1 : d.state === 'disabled' ? 3 : 2);
    const list = all.sort((a, b) => rank(a) - rank(b)).slice(0, limit);
    const counts = { active: 0, inactive: 0, disabled: 0 } as Record<string, number>;
    for (const d of devices) counts[d.state] = (counts[d.state] ?? 0) + 1;
    summary.textContent =
      t('console.devices.summary', { total: devices.length, active: counts.active, inactive: counts.inactive, disabled: counts.disabled }) +
      (complete ? '' : ` ${t('console.loading')}`);
    more.hidden = all.length <= list.length;
    more.textContent = t('console.devices.more', { shown: list.length, total: all.length });
    replace(
      deviceBody,
      ...(list.length
        ? list.map((d) =>
            h(
              'tr',
              { 'data-testid': 'device-row', 'data-device-id': d.id, 'data-state': d.state },
              h('td', {}, d.name, h('div', { class: 'wx-muted cx-small cx-mono' }, d.id)),
              h('td', {}, typeName(d.type)),
              h('td', {}, dir ? orgName(dir, d.area) : d.area),
              h('td', {}, dir ? orgName(dir, d.owner_unit) : d.owner_unit),
              h('td', {}, h('span', { class: `cx-health cx-health-${d.state}` }, t(`console.device_state.${d.state}`))),
              h('td', {}, formatTime(d.last_seen)),
              h('td', { class: d.bad_values ? 'cx-warn' : '' }, String(d.bad_values)),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 7, class: 'wx-muted' }, t('console.list.empty')))]),
    );
  };

  const alarmRow = (a: AlarmDto) => {
    const rowError = h('span', { class: 'wx-error cx-small', 'data-testid': 'alarm-error' });
    const act = (what: 'acknowledge' | 'clear') => {
      const b = h('button', { type: 'button', 'data-testid': `alarm-${what}` }, t(`console.alarms.${what}`));
      b.addEventListener('click', async () => {
        rowError.textContent = '';
        try {
          await busy([b], () => api<AlarmDto>(`/api/v1/alarms/${encodeURIComponent(a.id)}/${what}`, { method: 'POST', json: {} }));
          void loadAlarms();
        } catch (e) {
          rowError.textContent = errorText(e);
        }
      });
      return b;
    };
    return h(
      'tr',
      { 'data-testid': 'alarm-row', 'data-alarm-id': a.id, 'data-status': a.status },
      h('td', {}, h('span', { class: `cx-level cx-level-${a.level}` }, t(`level.${a.level}`))),
      h('td', {}, a.title),
      h('td', {}, a.device_name, h('div', { class: 'wx-muted cx-small' }, typeName(a.device_type))),
      h('td', {}, String(+a.value.toFixed(3))),
      h('td', {}, t(`console.alarm_status.${a.status}`)),
      h('td', {}, formatTime(a.raised_at)),
      h('td', {}, a.case_id ? h('a', { href: `#case/${encodeURIComponent(a.case_id)}`, 'data-testid': 'alarm-case' }, t('console.alarms.open_case')) : '—'),
      canOperate
        ? h(
            'td',
            { class: 'cx-ops' },
            a.status === 'active' ? act('acknowledge') : null,
            a.status !== 'cleared' ? act('clear') : null,
            rowError,
          )
        : null,
    );
  };

  const loadAlarms = async () => {
    try {
      const q = new URLSearchParams({ status: alarmStatus.value, limit: '200' });
      const list = await api<AlarmDto[]>(`/api/v1/alarms?${q}`);
      const scrollY = window.scrollY;
      replace(
        alarmBody,
        ...(list.length
          ? list.map(alarmRow)
          : [h('tr', {}, h('td', { colspan: canOperate ? 8 : 7, class: 'wx-muted', 'data-testid': 'alarms-empty' }, t('console.alarms.none')))]),
      );
      window.scrollTo({ top: scrollY });
      el.dataset.alarmsLoaded = 'true';
    } catch (e) {
      error.textContent = errorText(e);
    }
  };

  const loadDevices = async () => {
    // Every device in the jurisdiction, a page of 1000 at a time, drawn as they come.
    const mine = ++gen;
    const all: DeviceDto[] = [];
    complete = false;
    try {
      let after = '';
      for (;;) {
        const q = new URLSearchParams({ limit: '1000' });
        if (after) q.set('after', after);
        const page = await api<DeviceDto[]>(`/api/v1/devices?${q}`);
        if (mine !== gen) return;
        all.push(...page);
        complete = page.length < 1000;
        devices = all;
        drawDevices();
        if (complete) break;
        after = page[page.length - 1].id;
      }
    } catch (e) {
      error.textContent = errorText(e);
    }
  };

  const loadAll = async () => {
    const [tys, d] = await Promise.all([api<DeviceType[]>('/api/v1/device-types').catch(() => [] as DeviceType[]), directory()]);
    types = new Map(tys.map((x) => [x.code, x]));
    dir = d;
    await Promise.all([loadAlarms(), loadDevices()]);
  };

  alarmStatus.addEventListener('change', () => void loadAlarms());
  const redraw = () => {
    limit = PAGE;
    drawDevices();
  };
  stateSel.addEventListener('change', redraw);
  search.addEventListener('input', redraw);
  more.addEventListener('click', () => {
    limit += PAGE;
    drawDevices();
  });
  // Health changes without any event (a device falls silent): look again every minute.
  const healthTimer = window.setInterval(() => {
    if (complete) void loadDevices();
  }, 60_000);
  void loadAll();

  return {
    el,
    onAlarm: () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void loadAlarms(), 500);
    },
    reload: () => void loadAll(),
    dispose: () => {
      window.clearTimeout(timer);
      window.clearInterval(healthTimer);
      gen++;
    },
  };
}
