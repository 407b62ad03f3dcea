// The whole loop across the three pages, as people would do it: a resident files a report with a
// photo on the phone page (360 px, the phone's location); the leaders' one screen, open all along,
// shows the new case on the map without a reload; a dispatcher (only if the classifier was not
// sure), the community's handler (accepting, reporting progress with a photo, handling) and its
// inspector take it to closed in the console; the one
// screen then counts it as closed and takes its point off the map of open cases.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { artifacts, loginThroughForm } from './harness.mjs';
import { apiAs, makePng, pointIn, useServerAndBrowser } from './support.mjs';

/** 大塘龙社区 of 桂园街道, whose demo staff are datanglong.handler and datanglong.inspector. */
const COMMUNITY = '440303001001';
const DESCRIPTION = '小区门口下水道堵塞，污水漫到路面，请尽快疏通';

const ctx = useServerAndBrowser();

/** The ids of the open cases drawn on the one screen's map. */
function mapCaseIds(page) {
  return page.evaluate(() => {
    const el = document.querySelector('[data-testid=map]');
    const series = el?.wxChart?.getOption().series.find((s) => s.id === 'cases');
    return (series?.data ?? []).map((d) => d.id);
  });
}

/** Opens the console as `username` in a context of its own and the case from the given tab. */
async function consoleCase(username, tab, id) {
  const context = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await loginThroughForm(page, ctx.server.url, '/console', username);
  await page.getByTestId(`nav-${tab}`).click();
  const row = page.locator(`[data-testid=case-row][data-case-id="${id}"]`);
  await row.waitFor({ timeout: 15_000 });
  await row.getByTestId('case-link').click();
  await page.getByTestId('case-page').waitFor();
  return { context, page };
}

async function stageIs(page, stage) {
  await page.locator(`[data-testid=case-stage][data-stage="${stage}"]`).waitFor({ timeout: 15_000 });
}

test('a report from the phone is closed in the console and followed on the one screen', async () => {
  const errors = [];
  const watch = (page, who) => page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));

  // The leaders' one screen is open before anything happens.
  const screenContext = await ctx.browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'zh-CN' });
  const screen = await screenContext.newPage();
  watch(screen, 'screen');
  await loginThroughForm(screen, ctx.server.url, '/', 'district.leader');
  await screen.locator('[data-testid=map][data-ready="1"]').waitFor({ timeout: 20_000 });
  await screen.locator('[data-testid=live-state][data-live="1"]').waitFor({ timeout: 10_000 });
  const closedBefore = Number(await screen.getByTestId('kpi-closed-value').innerText());
  await screen.evaluate(() => (window.__notReloaded = true));

  // A resident reports from the phone, where they stand (the phone's WGS-84 position).
  const here = await pointIn(ctx.server.url, COMMUNITY);
  const phoneContext = await ctx.browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    geolocation: { longitude: here.lon, latitude: here.lat },
    permissions: ['geolocation'],
  });
  const phone = await phoneContext.newPage();
  watch(phone, 'phone');
  await loginThroughForm(phone, ctx.server.url, '/m', '13800138000');
  await phone.getByTestId('report-form').waitFor();
  await phone.locator('[data-testid=report-map] canvas').first().waitFor();
  await phone.getByTestId('use-location').click();
  await phone.waitForFunction(
    () => document.querySelector('[data-testid=report-location]')?.textContent?.includes('大塘龙'),
    null,
    { timeout: 10_000 },
  );
  await phone.getByTestId('report-description').fill(DESCRIPTION);
  await phone.getByTestId('photo-input').setInputFiles({ name: 'scene.png', mimeType: 'image/png', buffer: makePng() });
  await phone.locator('[data-testid=photo-previews] img').first().waitFor();
  await phone.getByTestId('report-submit').click();
  const id = (await phone.getByTestId('case-number').innerText()).trim();
  assert.match(id, /^[0-9a-f-]{36}$/, `case number shown: ${id}`);
  assert.equal(await phone.getByTestId('report-duplicate').count(), 0, 'a new case, not a duplicate');
  await phone.screenshot({ path: join(artifacts, 'flow-phone.png') });

  // The one screen shows the new case on its map without a reload.
  await screen.waitForFunction(
    (id) => {
      const series = document.querySelector('[data-testid=map]')?.wxChart?.getOption().series.find((s) => s.id === 'cases');
      return (series?.data ?? []).some((d) => d.id === id);
    },
    id,
    { timeout: 15_000 },
  );

  // The case is where the resident stood, with the photo, and goes to the community unless the
  // classifier was unsure — then a dispatcher sends it there from the manual queue.
  const staff = await apiAs(ctx.server.url, 'district.dispatcher');
  let { body: filed } = await staff(`/api/v1/events/${id}`);
  assert.ok(filed.location.unit.startsWith(COMMUNITY), `located in 大塘龙社区: ${filed.location.unit}`);
  assert.equal(filed.attachments.length, 1, 'the photo came with the report');
  if (filed.stage === 'registered') {
    const { context, page } = await consoleCase('district.dispatcher', 'queue', id);
    await page.getByTestId('action-dispatch').click();
    await page.getByTestId('field-category').selectOption('E0404');
    await page.getByTestId('field-to').selectOption(COMMUNITY);
    await page.getByTestId('action-submit').click();
    await stageIs(page, 'dispatched');
    await context.close();
    ({ body: filed } = await staff(`/api/v1/events/${id}`));
  }
  assert.equal(filed.stage, 'dispatched');
  assert.equal(filed.assignee, COMMUNITY, `dispatched to the community: ${filed.explanation}`);

  // The community's handler accepts it, starts, and reports it handled with a note and a photo.
  {
    const { context, page } = await consoleCase('datanglong.handler', 'tasks', id);
    watch(page, 'handler');
    await page.getByTestId('action-accept').click();
    await stageIs(page, 'accepted');
    await page.getByTestId('action-start').click();
    await stageIs(page, 'in_progress');
    // Progress on the way, with a photo: the stage stays, the timeline grows.
    await page.getByTestId('action-progress').click();
    await page.getByTestId('field-note').fill('已清理井口杂物，正在疏通');
    await page.getByTestId('field-photos').setInputFiles({ name: 'midway.png', mimeType: 'image/png', buffer: makePng(24, 24, [60, 60, 200]) });
    await page.getByTestId('action-submit').click();
    await page.locator('[data-testid=timeline-item][data-action="progress"]').waitFor({ timeout: 15_000 });
    await stageIs(page, 'in_progress');
    await page.getByTestId('action-handle').click();
    await page.getByTestId('field-note').fill('已疏通下水道，路面已冲洗');
    await page.getByTestId('field-photos').setInputFiles({ name: 'done.png', mimeType: 'image/png', buffer: makePng(32, 32, [200, 60, 60]) });
    await page.getByTestId('action-submit').click();
    await stageIs(page, 'handled');
    await context.close();
  }

  // The inspector checks on site and passes it: the case is closed.
  {
    const { context, page } = await consoleCase('datanglong.inspector', 'verify', id);
    watch(page, 'inspector');
    await page.getByTestId('action-verify').click();
    await page.getByTestId('verify-pass').click();
    await stageIs(page, 'closed');
    await page.screenshot({ path: join(artifacts, 'flow-console-closed.png') });
    await context.close();
  }
  const { body: closed } = await staff(`/api/v1/events/${id}`);
  assert.equal(closed.stage, 'closed');
  assert.deepEqual(
    closed.history.map((h) => h.action).filter((c) => ['accept', 'start', 'progress', 'handle', 'verify'].includes(c)),
    ['accept', 'start', 'progress', 'handle', 'verify'],
  );
  assert.equal(closed.attachments.length, 3, "the handler's photos joined the resident's");

  // The one screen, never reloaded, counts it as closed and no longer draws it as open.
  await screen.waitForFunction(
    (n) => Number(document.querySelector('[data-testid=kpi-closed-value]')?.textContent) === n,
    closedBefore + 1,
    { timeout: 15_000 },
  );
  await screen.waitForFunction(
    (id) => {
      const series = document.querySelector('[data-testid=map]')?.wxChart?.getOption().series.find((s) => s.id === 'cases');
      return !(series?.data ?? []).some((d) => d.id === id);
    },
    id,
    { timeout: 15_000 },
  );
  assert.ok(!(await mapCaseIds(screen)).includes(id));
  assert.equal(await screen.evaluate(() => window.__notReloaded), true, 'the screen was not reloaded');
  await screen.screenshot({ path: join(artifacts, 'flow-screen.png') });

  // The resident follows it to the end on the phone.
  await phone.getByTestId('report-view').click();
  await phone.locator('[data-testid=case-stage][data-stage="closed"]').waitFor({ timeout: 15_000 });

  writeFileSync(join(artifacts, 'flow-errors.txt'), errors.join('\n'));
  assert.deepEqual(errors, [], 'no page errors');
  await phoneContext.close();
  await screenContext.close();
});
