// The staff console end to end: a resident reports through the API; the responsible handler logs
// in through the console's form, finds the case in the task list, accepts it, starts work and
// marks it handled with a note and a photo; the inspector passes verification and the case is
// closed (on the case page and through the API). A handler of another street sees none of it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, loginThroughForm } from './harness.mjs';
import { apiAs, makePng, pointIn, useServerAndBrowser } from './support.mjs';

/** 大塘龙社区 (桂园街道). */
const COMMUNITY = '440303001001';
/** Who handles a case assigned to each organisation, and who verifies it. */
const HANDLER_OF = { '440303001001': 'datanglong.handler', '440303001000': 'guiyuan.handler' };

const ctx = useServerAndBrowser();

/** A console page logged in as `username` through the form at /console. */
async function consoleAs(username) {
  const context = await ctx.browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loginThroughForm(page, ctx.server.url, '/console', username);
  await page.getByTestId('nav').waitFor();
  return { page, context, errors };
}

/** Waits until the case page shows the stage. */
async function stageIs(page, stage) {
  await page.locator(`[data-testid="case-stage"][data-stage="${stage}"]`).waitFor({ timeout: 15_000 });
}

/** Opens a case from a list tab by clicking its number. */
async function openFromList(page, tab, id) {
  await page.getByTestId(`nav-${tab}`).click();
  const row = page.getByTestId(`list-${tab}`).locator(`[data-testid="case-row"][data-case-id="${id}"]`);
  await row.waitFor({ timeout: 15_000 });
  await row.getByTestId('case-link').click();
  await page.getByTestId('case-page').waitFor();
  assert.equal(await page.getByTestId('case-id').textContent(), id);
}

test('a case goes from report to closed through the console', async () => {
  const point = await pointIn(ctx.server.url, COMMUNITY);
  const resident = await apiAs(ctx.server.url, '13800138000');
  const filed = await resident('/api/v1/events', {
    method: 'POST',
    body: JSON.stringify({
      channel: 'resident_app',
      category: 'E0102',
      description: '小区门口路边有一堆暴露垃圾，已经两天没人清理（控制台端到端测试）',
      location: { lon: point.lon, lat: point.lat, crs: 'wgs84' },
    }),
  });
  assert.equal(filed.status, 201, JSON.stringify(filed.body));
  const id = filed.body.id;

  // Should the report wait in the manual queue, the dispatcher sends it to the community first.
  if (filed.body.stage === 'registered') {
    const d = await consoleAs('district.dispatcher');
    await openFromList(d.page, 'queue', id);
    await d.page.getByTestId('action-dispatch').click();
    await d.page.getByTestId('field-category').selectOption('E0102');
    await d.page.getByTestId('field-to').selectOption(COMMUNITY);
    await d.page.getByTestId('action-submit').click();
    await stageIs(d.page, 'dispatched');
    await d.context.close();
  }
  const current = await resident(`/api/v1/events/${id}`);
  const assignee = current.body.assignee;
  const handlerName = HANDLER_OF[assignee];
  assert.ok(handlerName, `dispatched to ${assignee}, which has no demo handler here`);

  // The handler: task list → case page → accept → start → handled with a note and a photo.
  const handler = await consoleAs(handlerName);
  const hp = handler.page;
  assert.match(await hp.getByTestId('me-name').textContent(), /处置人员/);
  assert.match(await hp.getByTestId('me-scope').textContent(), /440303001001|大塘龙/);
  assert.equal(await hp.getByTestId('nav-queue').count(), 0, 'a handler has no dispatcher queue');
  await openFromList(hp, 'tasks', id);
  await stageIs(hp, 'dispatched');
  await hp.getByTestId('action-accept').click();
  await stageIs(hp, 'accepted');
  await hp.getByTestId('action-start').click();
  await stageIs(hp, 'in_progress');
  await hp.getByTestId('action-handle').click();
  await hp.getByTestId('field-note').fill('已清运垃圾并冲洗地面');
  await hp.getByTestId('field-photos').setInputFiles({ name: 'result.png', mimeType: 'image/png', buffer: makePng(16, 16) });
  await hp.getByTestId('action-submit').click();
  await stageIs(hp, 'handled');
  const thumb = hp.getByTestId('attachment-thumb').first();
  await thumb.waitFor();
  await hp.waitForFunction(
    () => {
      const img = document.querySelector('[data-testid="attachment-thumb"]');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 16;
    },
    null,
    { timeout: 10_000 },
  );
  const notes = await hp.getByTestId('timeline-note').allTextContents();
  assert.ok(notes.some((n) => n.includes('已清运垃圾并冲洗地面')), `timeline notes: ${notes.join(' | ')}`);
  // The case left the task list (live, or on the next load).
  await hp.getByTestId('case-back').click();
  await hp.getByTestId('list-tasks').waitFor();
  await hp.locator(`[data-testid="case-row"][data-case-id="${id}"]`).waitFor({ state: 'detached', timeout: 15_000 });
  assert.deepEqual(handler.errors, []);
  await handler.context.close();

  // The inspector of the community: verification list → case page → pass.
  const inspector = await consoleAs('datanglong.inspector');
  const ip = inspector.page;
  await openFromList(ip, 'verify', id);
  await stageIs(ip, 'handled');
  await ip.getByTestId('action-verify').click();
  await ip.getByTestId('field-note').fill('现场核查已清理干净');
  await ip.getByTestId('verify-pass').click();
  await stageIs(ip, 'closed');
  assert.equal((await ip.getByTestId('case-stage').textContent()).trim(), '已结案');
  const actions = await ip.getByTestId('timeline-item').evaluateAll((els) => els.map((e) => e.dataset.action));
  for (const a of ['report', 'dispatch', 'accept', 'start', 'handle', 'verify']) assert.ok(actions.includes(a), `timeline has ${a}: ${actions}`);
  await ip.getByTestId('attachment-thumb').first().waitFor();
  await ip.screenshot({ path: join(artifacts, 'console-case.png'), fullPage: true });
  assert.deepEqual(inspector.errors, []);
  await inspector.context.close();

  const closed = await resident(`/api/v1/events/${id}`);
  assert.equal(closed.body.stage, 'closed');
  assert.ok(closed.body.attachments.some((a) => a.content_type === 'image/png'));

  // Another street's handler sees none of it: not in its lists, and not by its link.
  const other = await consoleAs('huangbei.handler');
  const op = other.page;
  assert.match(await op.getByTestId('me-scope').textContent(), /440303002|黄贝/);
  for (const tab of ['tasks', 'cases']) {
    await op.getByTestId(`nav-${tab}`).click();
    const list = op.getByTestId(`list-${tab}`);
    await list.waitFor();
    await op.locator('section.cx-list[data-loaded="true"]').waitFor();
    assert.equal(await list.locator(`[data-case-id="${id}"]`).count(), 0, `huangbei.handler sees the case in ${tab}`);
  }
  await op.goto(`${ctx.server.url}/console#case/${id}`);
  await op.getByTestId('case-error').filter({ hasText: /./ }).waitFor();
  assert.equal(await op.getByTestId('case-id').count(), 0);
  const api = await apiAs(ctx.server.url, 'huangbei.handler');
  assert.equal((await api(`/api/v1/events/${id}`)).status, 404);
  await other.context.close();
});

test('the dispatcher sees an unclassified report with suggestions and dispatches it', async () => {
  const point = await pointIn(ctx.server.url, COMMUNITY);
  const resident = await apiAs(ctx.server.url, '13800138001');
  const filed = await resident('/api/v1/events', {
    method: 'POST',
    body: JSON.stringify({
      channel: 'resident_app',
      description: '这里有点情况麻烦来看一下',
      location: { lon: point.lon, lat: point.lat, crs: 'wgs84' },
    }),
  });
  assert.equal(filed.status, 201, JSON.stringify(filed.body));
  if (filed.body.stage !== 'registered') return; // the classifier was confident: nothing to queue
  const id = filed.body.id;
  const d = await consoleAs('district.dispatcher');
  const dp = d.page;
  await openFromList(dp, 'queue', id);
  await dp.getByTestId('case-suggestions').waitFor();
  await dp.getByTestId('action-dispatch').click();
  await dp.getByTestId('field-category').selectOption('E0102');
  // Choosing a community-level category proposes the community as the assignee.
  await dp.waitForFunction(
    (code) => document.querySelector('[data-testid="field-to"]')?.value === code,
    COMMUNITY,
    { timeout: 10_000 },
  );
  await dp.getByTestId('action-submit').click();
  await stageIs(dp, 'dispatched');
  const c = await resident(`/api/v1/events/${id}`);
  assert.equal(c.body.assignee, COMMUNITY);
  assert.equal(c.body.category, 'E0102');
  assert.deepEqual(d.errors, []);
  await d.context.close();
});
