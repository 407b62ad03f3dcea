// The resident's phone page (/m, 随手拍) at 360×740 on a touch phone: a resident logs in through
// the form, reports a blocked drain at their own position (WGS-84 from the browser's geolocation,
// a fixed point inside 大塘龙社区) without a category and with a photo, and gets a case number; the case exists with the photo, located in
// 大塘龙社区 / 桂园街道. Staff then take the case through accept → start → handle → verify by
// the API, and the resident rates it on the page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loginThroughForm, artifacts } from './harness.mjs';
import { apiAs, makePng, pngColours, pointIn, useServerAndBrowser } from './support.mjs';

const RESIDENT = '13800138000';
const DATANGLONG = '440303001001';
/** The phone's position (WGS-84, as geolocation gives it): inside 大塘龙社区, found by `pointIn` when the test starts. */
let POSITION;
const DESCRIPTION = '小区门口下水道堵塞，污水漫到路面';

/**
 * A staff account's API client (Bearer session: no cookie, no CSRF): `(path, body)` POSTs `body`
 * as JSON (GETs without one), asserts a 2xx answer and resolves to its body.
 */
async function staff(url, username) {
  const call = await apiAs(url, username);
  return async (path, body) => {
    const res = await call(path, body ? { method: 'POST', body: JSON.stringify(body) } : {});
    assert.ok(res.status >= 200 && res.status < 300, `${username} ${path} ${JSON.stringify(body ?? {})}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
}

const ctx = useServerAndBrowser();

test('a resident reports from the phone at 360 px, gets a case number, and rates the result', async () => {
  const { url } = ctx.server;
  const { lon, lat } = await pointIn(url, DATANGLONG);
  POSITION = { longitude: lon, latitude: lat };
  // Is the built page served at /m (the server's web UI)?
  const m = await fetch(`${url}/m`);
  const html = await m.text();
  assert.ok(m.ok && /\/assets\//.test(html), `GET /m does not serve the built page (${m.status}): run npm run build`);

  const context = await ctx.browser.newContext({
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    locale: 'zh-CN',
    geolocation: POSITION,
    permissions: ['geolocation'],
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));

  // Log in through the page's own form; only residents are offered as demo accounts.
  await page.goto(`${url}/m`);
  await page.getByTestId('login-form').waitFor();
  await page.getByText(RESIDENT, { exact: true }).waitFor();
  assert.equal(await page.getByText('district.admin', { exact: true }).count(), 0, 'staff accounts are not offered on the phone');
  await loginThroughForm(page, url, '/m', RESIDENT);

  // The report form with its map (our own boundaries drawn on a canvas).
  await page.getByTestId('report-form').waitFor();
  await page.locator('[data-testid=report-map] canvas').first().waitFor();

  // My location: the browser's WGS-84 position, located by the server.
  await page.getByTestId('use-location').click();
  const where = page.getByTestId('report-location');
  await where.filter({ hasText: '大塘龙' }).waitFor({ timeout: 15_000 });
  assert.match(await where.innerText(), /桂园街道/);

  // No category ("not sure"): the server reads the words.
  assert.equal(await page.getByTestId('report-category').inputValue(), '');
  await page.getByTestId('report-description').fill(DESCRIPTION);
  await page.getByTestId('photo-input').setInputFiles({ name: 'scene.png', mimeType: 'image/png', buffer: makePng() });
  await page.locator('[data-testid=photo-previews] img').first().waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(300); // the map finishes drawing the pin
  const formShot = join(artifacts, 'phone-form.png');
  await page.screenshot({ path: formShot });
  assert.ok(pngColours(readFileSync(formShot)) > 50, 'the form screenshot is not blank');

  await page.getByTestId('report-submit').click();
  const caseNumber = page.getByTestId('case-number');
  await caseNumber.waitFor({ timeout: 15_000 });
  const id = (await caseNumber.innerText()).trim();
  assert.match(id, /^[0-9a-f-]{36}$/, `a case number: ${id}`);
  assert.equal(await page.getByTestId('report-duplicate').count(), 0, 'a fresh report opens its own case');

  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 360, `no horizontal scroll at 360 px (scrollWidth ${scrollWidth})`);
  const shot = join(artifacts, 'phone.png');
  await page.screenshot({ path: shot });
  assert.ok(pngColours(readFileSync(shot)) > 20, 'the screenshot is not blank');

  // The case, as the resident sees it through the API: the photo attached, located where they stood.
  const asResident = (path) =>
    page.evaluate(async (p) => {
      const r = await fetch(p, { headers: { Accept: 'application/json' } });
      return { status: r.status, body: await r.json() };
    }, path);
  const read = await asResident(`/api/v1/events/${id}`);
  assert.equal(read.status, 200, JSON.stringify(read.body));
  const filed = read.body;
  assert.equal(filed.description, DESCRIPTION);
  assert.equal(filed.channel, 'resident_app');
  assert.equal(filed.attachments.length, 1, 'one photo');
  assert.equal(filed.attachments[0].content_type, 'image/png');
  assert.equal(filed.attachments[0].history_seq, 1, 'the photo came with the report');
  assert.ok(Math.abs(filed.location.lon - POSITION.longitude) < 1e-6 && Math.abs(filed.location.lat - POSITION.latitude) < 1e-6, 'WGS-84 kept as is');
  assert.ok(filed.location.unit.startsWith(DATANGLONG), `in 大塘龙社区: ${filed.location.unit}`);
  const place = await asResident(`/api/v1/locate?lon=${filed.location.lon}&lat=${filed.location.lat}`);
  assert.match(place.body.community.name, /大塘龙社区/);
  assert.equal(place.body.street.name, '桂园街道');
  const mine = await asResident('/api/v1/events');
  assert.ok(mine.body.some((c) => c.id === id), 'in the resident’s own list');

  // The resident opens the case's progress page and keeps it open.
  await page.getByTestId('report-view').click();
  await page.getByTestId('case-timeline').waitFor();
  assert.equal(await page.getByTestId('case-id').innerText(), id);
  assert.equal(await page.getByTestId('rate-form').count(), 0, 'nothing to rate yet');
  await page.locator('[data-testid=live-status][data-live=true]').waitFor();

  // Staff take it to where it can be rated: dispatched (if the classifier could not), accepted,
  // started, handled, verified.
  const dispatcher = await staff(url, 'district.dispatcher');
  let c = await dispatcher(`/api/v1/events/${id}`);
  const handlers = {
    '440303001': 'guiyuan.handler',
    '440303001001': 'datanglong.handler',
    '440303002': 'huangbei.handler',
    '440303D01': 'chengguan.handler',
    'entity:demo-wuye': 'wuye.member',
    'entity:demo-qingjie': 'qingjie.member',
  };
  if (c.stage === 'registered') {
    c = await dispatcher(`/api/v1/events/${id}/actions`, { action: 'dispatch', to: '440303001001' });
  } else if (c.stage === 'dispatched' && !handlers[c.assignee]) {
    c = await dispatcher(`/api/v1/events/${id}/actions`, { action: 'reassign', to: '440303001001' });
  }
  assert.equal(c.stage, 'dispatched');
  const handler = await staff(url, handlers[c.assignee]);
  await handler(`/api/v1/events/${id}/actions`, { action: 'accept' });
  await handler(`/api/v1/events/${id}/actions`, { action: 'start' });
  await handler(`/api/v1/events/${id}/actions`, { action: 'handle', note: '已疏通下水道，路面已冲洗' });
  const supervisor = await staff(url, 'district.supervisor');
  c = await supervisor(`/api/v1/events/${id}/actions`, { action: 'verify', pass: true, note: '现场核查已疏通' });
  assert.equal(c.stage, 'closed');
  assert.deepEqual(c.allowed_actions, ['rate']);

  // The open page follows the stream: the case is closed and may be rated, without a reload.
  await page.getByTestId('rate-form').waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('case-stage').getAttribute('data-stage'), 'closed');

  // The resident finds it under "mine" (marked to be rated) and rates it.
  await page.getByTestId('tab-mine').click();
  const item = page.locator(`[data-testid=mine-item][data-case-id="${id}"]`);
  await item.waitFor();
  assert.match(await item.innerText(), /待评价/);
  await item.click();
  await page.getByTestId('rate-form').waitFor();
  assert.ok(
    (await page.getByTestId('case-timeline').innerText()).includes('已疏通下水道'),
    'the handler’s note shows in the progress',
  );
  await page.getByTestId('rate-level-satisfied').click();
  await page.getByTestId('rate-resolved-yes').click();
  await page.getByTestId('rate-submit').click();
  const result = page.getByTestId('rating-result');
  await result.waitFor();
  assert.match(await result.innerText(), /满意/);
  assert.equal(await result.getAttribute('data-level'), 'satisfied');
  const rated = (await asResident(`/api/v1/events/${id}`)).body;
  assert.equal(rated.rating, 'satisfied');
  assert.equal(rated.resolved, true);
  assert.equal(rated.stage, 'closed');
  assert.deepEqual(rated.allowed_actions, []);
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, 'no horizontal scroll on the case page');
  await page.screenshot({ path: join(artifacts, 'phone-rated.png'), fullPage: true });

  assert.deepEqual(problems, [], 'no page errors');
  await context.close();
});
