// Devices and alarms in the staff console: a water-level sensor in 大塘龙社区 reports a flood
// level, its alarm shows in the operator's alarm list and on the one screen's alarm figures; the
// operator acknowledges it, then clears it, from the console. Another street's staff never see it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, loginThroughForm } from './harness.mjs';
import { apiAs, pointIn, useServerAndBrowser } from './support.mjs';

const ctx = useServerAndBrowser();

test('an operator acknowledges and clears a sensor alarm in the console', async () => {
  const operator = await apiAs(ctx.server.url, 'district.operator');
  const here = await pointIn(ctx.server.url, '440303001001');
  const { status, body: registered } = await operator('/api/v1/devices', {
    method: 'POST',
    body: JSON.stringify({ type: 'water_level', name: '红岭路口积水监测（测试）', location: { lon: here.lon, lat: here.lat } }),
  });
  assert.equal(status, 201, JSON.stringify(registered));
  const device = registered.device.id;
  for (const level of [8, 32]) {
    const r = await fetch(`${ctx.server.url}/api/v1/telemetry/${registered.token}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ level_cm: level }),
    });
    assert.equal(r.status, 200, await r.text());
  }
  const { body: alarms } = await operator(`/api/v1/alarms?device=${device}`);
  assert.equal(alarms.length, 1, JSON.stringify(alarms));
  const alarm = alarms[0];
  assert.equal(alarm.status, 'active');

  const context = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loginThroughForm(page, ctx.server.url, '/console', 'district.operator');
  await page.getByTestId('nav-devices').click();
  const row = page.locator(`[data-testid=alarm-row][data-alarm-id="${alarm.id}"]`);
  await row.waitFor({ timeout: 15_000 });
  assert.equal(await row.getAttribute('data-status'), 'active');
  assert.match(await row.innerText(), /红岭路口积水监测/);

  await row.getByTestId('alarm-acknowledge').click();
  await page.waitForFunction(
    (id) => document.querySelector(`[data-testid=alarm-row][data-alarm-id="${id}"]`)?.getAttribute('data-status') === 'acknowledged',
    alarm.id,
    { timeout: 10_000 },
  );
  await page.screenshot({ path: join(artifacts, 'console-alarms.png') });
  await page.locator(`[data-testid=alarm-row][data-alarm-id="${alarm.id}"]`).getByTestId('alarm-clear').click();
  // A cleared alarm leaves the list of standing ones.
  await page.waitForFunction(
    (id) => {
      const row = document.querySelector(`[data-testid=alarm-row][data-alarm-id="${id}"]`);
      return !row || row.getAttribute('data-status') === 'cleared';
    },
    alarm.id,
    { timeout: 10_000 },
  );
  const { body: after } = await operator(`/api/v1/alarms/${alarm.id}`);
  assert.equal(after.status, 'cleared');
  const actions = after.history.map((h) => h.action);
  assert.ok(actions.some((a) => /^ack/.test(a)), `acknowledged in the history: ${actions}`);
  assert.match(actions.at(-1), /^clear/, `cleared last: ${actions}`);

  // The device is in the operator's device list with its health.
  await page.getByTestId('device-search').fill('红岭路口');
  await page.locator('[data-testid=device-row]').first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-testid=device-row]').first().getAttribute('data-state'), 'active');

  // Another street's admin sees neither the alarm nor the device.
  const other = await apiAs(ctx.server.url, 'huangbei.admin');
  const { status: s404 } = await other(`/api/v1/alarms/${alarm.id}`);
  assert.equal(s404, 404);
  const otherContext = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 } });
  const otherPage = await otherContext.newPage();
  await loginThroughForm(otherPage, ctx.server.url, '/console', 'huangbei.admin');
  await otherPage.getByTestId('nav-devices').click();
  await otherPage.locator('[data-alarms-loaded="true"]').waitFor({ timeout: 10_000 });
  await otherPage.getByTestId('alarm-status-filter').selectOption('all').catch(() => {});
  await otherPage.waitForTimeout(500);
  assert.equal(await otherPage.locator(`[data-testid=alarm-row][data-alarm-id="${alarm.id}"]`).count(), 0);

  assert.deepEqual(errors, [], 'no page errors');
  await otherContext.close();
  await context.close();
});
