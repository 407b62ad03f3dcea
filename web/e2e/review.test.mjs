// 办件 in the staff console: department reviewers work 一网通办 applications at 1440×900.
// 张三 (13800138000) applies for 残疾人两项补贴 through the API; 民政局's reviewer finds it under
// 待受理, takes it up and returns it for correction with a note; 张三 submits again with another
// disability level; the reviewer takes it up again and approves it: approved.
// 刘强 (13800138004) applies for his restaurant for 建筑垃圾处置核准, an item that needs 会签:
// 城管局's handler approves it, which passes it to 住建局, whose reviewer finds it under 会签中 and
// approves it: approved.
// 刘强 applies for 食品经营许可 with 15 m² of premises: the rules refuse it; 市场监管局's reviewer
// opens it and reads the decision (the failing rule names 20平方米), its inputs and the matched
// rule, and replays it: 结果一致.
// 李四's application is delegated (委托) by 民政局's reviewer to a colleague, minzheng.admin, who
// takes it up (where the server offers 委托). The district's supervisor reads it all, read-only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts } from './harness.mjs';
import { apiAs, consoleTab, pngColours, useServerAndBrowser } from './support.mjs';

const ZHANG = '13800138000';
const LIU = '13800138004';
const DISABILITY_ALLOWANCE = '0500012001';
const CONSTRUCTION_WASTE = '0100014001';
const FOOD_LICENCE = '0100007001';

const ctx = useServerAndBrowser();

/** A console page logged in as `username` through the form, on the 办件 tab. */
function reviewerAt(username) {
  return consoleTab(ctx, username, 'applications', 'applications-view');
}

/** Chooses a queue chip and waits for its list. */
async function queue(page, filter) {
  await page.getByTestId(`app-filter-${filter}`).click();
  await page.locator(`[data-testid=applications-view][data-filter=${filter}][data-loaded=true]`).waitFor({ timeout: 15_000 });
}

/** Opens an application from the list shown. */
async function openApp(page, id) {
  const row = page.locator(`[data-testid=app-row][data-app-id="${id}"]`);
  await row.waitFor({ timeout: 15_000 });
  await row.getByTestId('app-link').click();
  await page.locator(`[data-testid=app-page][data-app-id="${id}"]`).waitFor();
  await page.getByTestId('app-id').filter({ hasText: id }).waitFor();
}

async function stateIs(page, state) {
  await page.locator(`[data-testid=app-page][data-state=${state}]`).waitFor({ timeout: 15_000 });
  await page.locator(`[data-testid=app-state][data-state=${state}]`).waitFor();
}

/** Presses an action; actions that need one get their note. */
async function act(page, action, note) {
  await page.getByTestId(`app-action-${action}`).click();
  if (action === 'accept') return;
  if (note !== undefined) await page.getByTestId('app-field-note').fill(note);
  await page.getByTestId('app-action-submit').click();
}

async function shot(page, name) {
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true });
  assert.ok(pngColours(readFileSync(path)) > 20, `${name} is not blank`);
}

test('a reviewer takes up, returns and approves; 会签 passes to a second department; a decision is read and replayed', async () => {
  const started = Date.now();
  const { url } = ctx.server;

  // --- 张三 applies for 残疾人两项补贴 (standard: a person reviews it). ---
  const zhang = await apiAs(url, ZHANG);
  const applied = await zhang('/api/v1/services/applications', {
    method: 'POST',
    body: JSON.stringify({ item: DISABILITY_ALLOWANCE, form: { disability_level: '三级' } }),
  });
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  assert.equal(applied.body.state, 'pending');
  const id = applied.body.id;

  {
    const { context, page, errors } = await reviewerAt('minzheng.reviewer');
    assert.equal(await page.getByTestId('app-filter-pending').getAttribute('aria-pressed'), 'true', 'the queue opens on 待受理');
    const row = page.locator(`[data-testid=app-row][data-app-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await row.getAttribute('data-state'), 'pending');
    assert.match(await row.getByTestId('app-row-item').innerText(), /残疾人两项补贴/);
    assert.match(await row.getByTestId('app-row-state').innerText(), /待受理/);
    assert.match(await page.getByTestId('app-filter-count-pending').innerText(), /[1-9]/);
    await shot(page, 'review-queue.png');

    await openApp(page, id);
    await stateIs(page, 'pending');
    assert.match(await page.getByTestId('app-form').innerText(), /残疾等级[\s\S]*三级/);
    assert.equal(await page.getByTestId('app-action-approve').count(), 0, 'only what `allowed` has: no approve before taking it up');
    await act(page, 'accept');
    await stateIs(page, 'review');
    assert.match(await page.getByTestId('app-state').innerText(), /审查中/);

    // 补正 needs a note: an empty one is refused on the page.
    await page.getByTestId('app-action-return').click();
    await page.getByTestId('app-action-submit').click();
    assert.match(await page.getByTestId('app-action-error').innerText(), /理由/);
    await page.getByTestId('app-field-note').fill('请补充残疾人证复印件，并核对残疾等级');
    await page.getByTestId('app-action-submit').click();
    await stateIs(page, 'correction');
    const notes = await page.getByTestId('app-timeline-note').allInnerTexts();
    assert.ok(notes.some((n) => n.includes('请补充残疾人证复印件')), `the note is in the history: ${notes.join(' | ')}`);
    assert.equal(await page.getByTestId('app-no-actions').count(), 1, 'nothing to do while the applicant corrects');

    // The application is under 补正 in the queue.
    await page.getByTestId('app-back').click();
    await queue(page, 'correction');
    await page.locator(`[data-testid=app-row][data-app-id="${id}"][data-state=correction]`).waitFor();

    // 张三 corrects it and submits again.
    const again = await zhang(`/api/v1/services/applications/${id}/actions`, {
      method: 'POST',
      body: JSON.stringify({ action: 'submit', form: { disability_level: '二级' } }),
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.state, 'pending');

    await queue(page, 'pending');
    await openApp(page, id);
    await stateIs(page, 'pending');
    assert.match(await page.getByTestId('app-form').innerText(), /二级/);
    await act(page, 'accept');
    await stateIs(page, 'review');
    await act(page, 'approve');
    await stateIs(page, 'approved');
    assert.match(await page.getByTestId('app-state').innerText(), /已办结/);
    const actions = await page.getByTestId('app-timeline-item').evaluateAll((els) => els.map((e) => e.dataset.action));
    for (const a of ['submit', 'accept', 'return', 'approve']) assert.ok(actions.includes(a), `history has ${a}: ${actions}`);
    await shot(page, 'review-approved.png');
    assert.deepEqual(errors, [], 'no page errors (minzheng.reviewer)');
    await context.close();
  }
  const done = await zhang(`/api/v1/services/applications/${id}`);
  assert.equal(done.body.state, 'approved');
  assert.ok(done.body.allowed.includes('rate'), 'the applicant may rate it now');

  // --- 会签: 刘强's 建筑垃圾处置核准, approved by 城管局 then by 住建局. ---
  const liu = await apiAs(url, LIU);
  const me = (await liu('/api/v1/services/me')).body;
  const uscc = me.enterprises[0]?.uscc;
  assert.ok(uscc, `刘强 represents an enterprise: ${JSON.stringify(me)}`);
  const waste = await liu('/api/v1/services/applications', {
    method: 'POST',
    body: JSON.stringify({ item: CONSTRUCTION_WASTE, enterprise: uscc, form: { site_address: '罗湖区（演示）', volume_m3: 300 } }),
  });
  assert.equal(waste.status, 201, JSON.stringify(waste.body));
  assert.ok(waste.body.countersign, 'the item needs a countersignature');
  const wasteId = waste.body.id;
  {
    const { context, page, errors } = await reviewerAt('chengguan.handler');
    await openApp(page, wasteId);
    await page.getByTestId('app-countersign').waitFor();
    await act(page, 'accept');
    await stateIs(page, 'review');
    await page.getByTestId('app-action-approve').click();
    assert.match(await page.getByTestId('app-action-form-approve').innerText(), /会签/);
    await page.getByTestId('app-action-submit').click();
    await stateIs(page, 'countersign');
    assert.match(await page.getByTestId('app-state').innerText(), /会签中/);
    assert.equal(await page.getByTestId('app-no-actions').count(), 1, 'the first department waits for the countersignature');
    assert.deepEqual(errors, [], 'no page errors (chengguan.handler)');
    await context.close();
  }
  {
    const { context, page, errors } = await reviewerAt('zhujian.reviewer');
    await queue(page, 'countersign');
    const row = page.locator(`[data-testid=app-row][data-app-id="${wasteId}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.getByTestId('app-row-state').innerText(), /会签中/);
    await shot(page, 'review-countersign-queue.png');
    await openApp(page, wasteId);
    await stateIs(page, 'countersign');
    await act(page, 'approve');
    await stateIs(page, 'approved');
    assert.deepEqual(errors, [], 'no page errors (zhujian.reviewer)');
    await context.close();
  }
  assert.equal((await liu(`/api/v1/services/applications/${wasteId}`)).body.state, 'approved');

  // --- The rules refuse 刘强's food licence at 15 m²: the reviewer reads the decision and replays it. ---
  const food = await liu('/api/v1/services/applications', {
    method: 'POST',
    body: JSON.stringify({ item: FOOD_LICENCE, enterprise: uscc, form: { premises_area: 15, health_certificates: 2, premises_address: 'x' } }),
  });
  assert.equal(food.status, 201, JSON.stringify(food.body));
  assert.equal(food.body.state, 'pending');
  assert.ok(food.body.failures.length > 0 && food.body.decision, 'the rules did not pass');
  {
    const { context, page, errors } = await reviewerAt('shijian.reviewer');
    await openApp(page, food.body.id);
    assert.match(await page.getByTestId('app-failures').innerText(), /20平方米/);
    const panel = page.getByTestId('app-decision');
    await panel.getByTestId('decision-result').waitFor();
    assert.equal(await panel.getByTestId('decision-result').getAttribute('data-approved'), 'false');
    assert.match(await panel.getByTestId('decision-failures').innerText(), /20平方米/);
    const area = panel.locator('[data-testid=decision-input][data-field="form.premises_area"]');
    assert.match(await area.innerText(), /经营场所面积[\s\S]*15/);
    assert.match(await panel.locator('[data-testid=decision-input][data-field="enterprise.credit"]').innerText(), /信用状况/);
    const rules = panel.locator('[data-testid=decision-rules] [data-testid=decision-rule]');
    assert.equal(await rules.count(), 1, 'one rule matched');
    assert.match(await rules.first().innerText(), /20平方米[\s\S]*< 20/);
    await panel.getByTestId('decision-replay').click();
    const replayed = panel.locator('[data-testid=decision-replay-result][data-same=true]');
    await replayed.waitFor({ timeout: 15_000 });
    assert.match(await replayed.innerText(), /结果一致/);
    await shot(page, 'review-decision.png');
    assert.deepEqual(errors, [], 'no page errors (shijian.reviewer)');
    await context.close();
  }

  // --- 委托: offered only where the server allows it; a colleague of the department takes it over. ---
  {
    const li = await apiAs(url, '13800138001');
    const other = await li('/api/v1/services/applications', {
      method: 'POST',
      body: JSON.stringify({ item: DISABILITY_ALLOWANCE, form: { disability_level: '四级' } }),
    });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const reviewerApi = await apiAs(url, 'minzheng.reviewer');
    const offered = (await reviewerApi(`/api/v1/services/applications/${other.body.id}`)).body.allowed.includes('delegate');
    const { context, page, errors } = await reviewerAt('minzheng.reviewer');
    await openApp(page, other.body.id);
    await page.getByTestId('app-action-accept').waitFor();
    if (!offered) {
      assert.equal(await page.getByTestId('app-action-delegate').count(), 0, 'no 委托 button when the server does not allow it');
    } else {
      await page.getByTestId('app-action-delegate').click();
      await page.getByTestId('app-field-to').fill('chengguan.handler');
      await page.getByTestId('app-action-submit').click();
      await page.getByTestId('app-action-error').filter({ hasText: /审批人员/ }).waitFor();
      await page.getByTestId('app-field-to').fill('minzheng.admin');
      await page.getByTestId('app-action-submit').click();
      await page.getByTestId('app-no-actions').filter({ hasText: /委托/ }).waitFor({ timeout: 15_000 });
      assert.match(await page.getByTestId('app-assignee').innerText(), /同事/);
      assert.ok((await page.getByTestId('app-timeline-note').allInnerTexts()).some((n) => n.includes('minzheng.admin')));
    }
    assert.deepEqual(errors, [], 'no page errors (delegation)');
    await context.close();
    if (offered) {
      const admin = await reviewerAt('minzheng.admin');
      const row = admin.page.locator(`[data-testid=app-row][data-app-id="${other.body.id}"]`);
      await row.waitFor({ timeout: 15_000 });
      assert.match(await row.getByTestId('app-row-delegated').innerText(), /委托给我/);
      await openApp(admin.page, other.body.id);
      assert.match(await admin.page.getByTestId('app-assignee').innerText(), /委托给我/);
      await act(admin.page, 'accept');
      await stateIs(admin.page, 'review');
      assert.deepEqual(admin.errors, [], 'no page errors (minzheng.admin)');
      await admin.context.close();
    }
  }

  // --- The district reads every application, and acts on none. ---
  {
    const { context, page, errors } = await reviewerAt('district.supervisor');
    assert.equal(await page.getByTestId('app-filter-all').getAttribute('aria-pressed'), 'true');
    // 超期: the server marks an application overdue only days after its deadline, so the badge is
    // checked by setting the flag on the server's answers for this one application.
    const markOverdue = async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      const mark = (a) => (a.id === food.body.id ? { ...a, overdue: true } : a);
      await route.fulfill({ response: res, json: Array.isArray(body) ? body.map(mark) : mark(body) });
    };
    await page.route(`${url}/api/v1/services/applications?*`, markOverdue);
    await page.route(`${url}/api/v1/services/applications/${food.body.id}`, markOverdue);
    await page.getByTestId('list-refresh').click();
    const overdueRow = page.locator(`[data-testid=app-row][data-app-id="${food.body.id}"][data-overdue=true]`);
    await overdueRow.waitFor({ timeout: 15_000 });
    assert.equal(await overdueRow.getByTestId('app-row-overdue').innerText(), '超期');
    await shot(page, 'review-district.png');
    await openApp(page, food.body.id);
    await page.getByTestId('app-overdue').waitFor();
    await page.getByTestId('app-readonly').waitFor();
    assert.equal(await page.locator('[data-testid^=app-action-]').count(), 0, 'no buttons for the district');
    await page.getByTestId('decision-result').waitFor();
    await page.unrouteAll({ behavior: 'wait' });
    assert.deepEqual(errors, [], 'no page errors (district.supervisor)');
    await context.close();
  }

  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 90, `the walk-through takes under a minute and a half (${seconds.toFixed(1)} s)`);
});
