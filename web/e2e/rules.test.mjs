// 规则 in the staff console: a department admin changes a decision model at 1440×900.
// minzheng.admin opens the 规则 tab, finds 高龄津贴申领 (version 1, shipped with the catalogue),
// reads its table — the row whose age cell is `null, < 80` — and changes the age to `null, < 85`;
// saving makes version 2, in force at once (the API hands back that document). A bad condition
// (`< <`) is refused by the server, whose message is shown, and the version stays 2. Adding a row
// (with a reason holding an apostrophe) and deleting it again round-trips too. minzheng.reviewer
// reads the same page with no edit controls; shijian.reviewer, of another department, has no view
// of it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts } from './harness.mjs';
import { apiAs, consoleTab, pngColours, useServerAndBrowser } from './support.mjs';

const ELDERLY_ALLOWANCE = '0500001001';

const ctx = useServerAndBrowser();

/** A console page logged in as `username` through the form, on the 规则 tab. */
function staffAt(username) {
  return consoleTab(ctx, username, 'rules', 'rules-view');
}

/** Opens an item's model from the list. */
async function openItem(page, code) {
  const row = page.locator(`[data-testid=rules-item-row][data-item="${code}"]`);
  await row.waitFor({ timeout: 15_000 });
  await row.getByTestId('rules-item-link').click();
  await page.locator(`[data-testid=rules-page][data-item="${code}"][data-loaded=true]`).waitFor({ timeout: 15_000 });
}

/** The id of the row whose age cell is `null, < 80` in the shipped model, found on the page. */
let ageRowId = null;
const ageRow = (page) => page.locator(`[data-testid=rules-row][data-row-id="${ageRowId}"]`);

async function shot(page, name) {
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true });
  assert.ok(pngColours(readFileSync(path)) > 20, `${name} is not blank`);
}

/** The model's table in a document from the API. */
const tableOf = (doc) => doc.nodes.find((n) => n.type === 'decisionTableNode').content;

/** The id of the table's input column that reads `field`. */
const column = (doc, field) => tableOf(doc).inputs.find((c) => c.field === field).id;
const AGE = 'applicant.age';
const HUKOU = 'applicant.hukou_in_district';
const RECEIVING = 'applicant.already_receiving';

test('a department admin edits a decision model and saves new versions; the server refuses a bad condition; a reviewer only reads', async () => {
  const started = Date.now();
  const { url } = ctx.server;
  const adminApi = await apiAs(url, 'minzheng.admin');
  const before = await adminApi(`/api/v1/services/items/${ELDERLY_ALLOWANCE}/model`);
  assert.equal(before.status, 200, JSON.stringify(before.body));
  assert.equal(before.body.version, 1);

  // --- minzheng.admin: the list, then 高龄津贴's model. ---
  {
    const { context, page, errors } = await staffAt('minzheng.admin');
    const listed = await page.locator('[data-testid=rules-item-row]').evaluateAll((rows) => rows.map((r) => r.dataset.item));
    assert.ok(listed.includes(ELDERLY_ALLOWANCE), `高龄津贴 is listed: ${listed}`);
    assert.ok(!listed.includes('0500012001'), 'a standard item (残疾人两项补贴) has no model and is not listed');
    assert.ok(!listed.includes('0100007001'), "another department's item (食品经营许可) is not listed");
    const listRow = page.locator(`[data-testid=rules-item-row][data-item="${ELDERLY_ALLOWANCE}"]`);
    assert.match(await listRow.getByTestId('rules-item-version').innerText(), /第 1 版/);
    await shot(page, 'rules-list.png');

    await openItem(page, ELDERLY_ALLOWANCE);
    assert.match(await page.getByTestId('rules-item-name').innerText(), /高龄津贴/);
    assert.equal(await page.getByTestId('rules-version').getAttribute('data-version'), '1');
    assert.match(await page.getByTestId('rules-version').innerText(), /第 1 版/);
    assert.match(await page.getByTestId('rules-author').innerText(), /随事项目录发布/);
    assert.equal(await page.getByTestId('rules-version-row').count(), 1);
    assert.match(await page.getByTestId('rules-explain').innerText(), /每一行是一条不予即时批准的情形；都不命中即自动批准/);
    // Headers are the item's field labels; the age row reads as the model has it, its reason unquoted.
    const headers = await page.getByTestId('rules-col').allInnerTexts();
    assert.ok(headers.some((x) => x.includes('年龄')), `a column for age: ${headers.join(' | ')}`);
    const ageCell = page.locator('[data-testid=rules-cell][data-field="applicant.age"][data-value="null, < 80"]');
    assert.equal(await ageCell.count(), 1, 'one row refuses a missing age or one under 80');
    assert.equal(await ageCell.innerText(), 'null, < 80');
    ageRowId = await ageCell.evaluate((td) => td.closest('tr').dataset.rowId);
    const row = ageRow(page);
    assert.equal(await row.getByTestId('rules-reason').innerText(), '申请人须年满80周岁 / the applicant must be 80 or older');
    assert.equal(await row.getByTestId('rules-code').innerText(), 'age');
    assert.equal(await page.getByTestId('rules-readonly').count(), 0);
    assert.equal(await page.getByTestId('rules-save').count(), 0, 'reading first: the inputs come with 修改规则');
    await shot(page, 'rules-model.png');

    // --- Edit: the age threshold, and the reason with it. ---
    await page.getByTestId('rules-edit').click();
    await page.locator('[data-testid=rules-page][data-editing=true]').waitFor();
    const ageInput = ageRow(page).locator('[data-testid=rules-cell][data-field="applicant.age"] [data-testid=rules-cell-input]');
    assert.equal(await ageInput.inputValue(), 'null, < 80');
    await ageInput.fill('null, < 85');
    const reasonInput = ageRow(page).getByTestId('rules-reason-input');
    assert.equal(await reasonInput.inputValue(), '申请人须年满80周岁 / the applicant must be 80 or older');
    await reasonInput.fill('申请人须年满85周岁 / the applicant must be 85 or older');
    assert.match(await page.getByTestId('rules-dirty').innerText(), /未保存/);
    await shot(page, 'rules-editing.png');
    await page.getByTestId('rules-save').click();
    await page.locator('[data-testid=rules-page][data-version="2"][data-editing=false]').waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('rules-saved').innerText(), /第 2 版/);
    assert.match(await page.getByTestId('rules-version').innerText(), /第 2 版/);
    assert.match(await page.getByTestId('rules-author').innerText(), /（我）/);
    assert.deepEqual(
      await page.getByTestId('rules-version-row').evaluateAll((rows) => rows.map((r) => r.dataset.version)),
      ['2', '1'],
      'the version list, newest first',
    );
    assert.equal(await ageRow(page).locator('[data-testid=rules-cell][data-field="applicant.age"]').innerText(), 'null, < 85');
    assert.equal(await ageRow(page).getByTestId('rules-reason').innerText(), '申请人须年满85周岁 / the applicant must be 85 or older');

    // --- A bad condition: the server's message, verbatim; still version 2. ---
    await page.getByTestId('rules-edit').click();
    await ageRow(page).locator('[data-testid=rules-cell][data-field="applicant.age"] [data-testid=rules-cell-input]').fill('< <');
    await page.getByTestId('rules-save').click();
    const saveError = page.getByTestId('rules-save-error');
    await saveError.filter({ hasText: /\S/ }).waitFor({ timeout: 15_000 });
    const shown = await saveError.innerText();
    const refused = await adminApi(`/api/v1/services/items/${ELDERLY_ALLOWANCE}/model`, {
      method: 'PUT',
      body: JSON.stringify(
        (() => {
          const doc = structuredClone(before.body.model);
          tableOf(doc).rules.find((r) => r._id === ageRowId)[column(doc, AGE)] = '< <';
          return doc;
        })(),
      ),
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, 'invalid_model');
    assert.equal(shown, refused.body.error.message, 'the server message is shown as it is');
    assert.match(shown, /< </);
    assert.equal(await page.getByTestId('rules-version').getAttribute('data-version'), '2');
    assert.equal(await page.locator('[data-testid=rules-page][data-editing=true]').count(), 1, 'the edits stay to be fixed');
    await shot(page, 'rules-refused.png');
    // Cancelling asks before the edits are thrown away.
    const asked = new Promise((ok) =>
      page.once('dialog', (d) => {
        ok(d.message());
        void d.accept();
      }),
    );
    await page.getByTestId('rules-cancel').click();
    assert.match(await asked, /放弃/);
    await page.locator('[data-testid=rules-page][data-editing=false]').waitFor();
    assert.equal(await ageRow(page).locator('[data-testid=rules-cell][data-field="applicant.age"]').innerText(), 'null, < 85', 'back to version 2');

    // Version 2 is in force, with 85.
    const now = await adminApi(`/api/v1/services/items/${ELDERLY_ALLOWANCE}/model`);
    assert.equal(now.body.version, 2);
    const table = tableOf(now.body.model);
    const age = table.rules.find((r) => r._id === ageRowId);
    assert.equal(age[column(now.body.model, AGE)], 'null, < 85');
    assert.equal(age.out_reason, JSON.stringify('申请人须年满85周岁 / the applicant must be 85 or older'));
    assert.equal(age.out_rule, '"age"');
    // Everything else as it was.
    const expected = structuredClone(before.body.model);
    Object.assign(tableOf(expected).rules.find((r) => r._id === ageRowId), {
      [column(expected, AGE)]: 'null, < 85',
      out_reason: age.out_reason,
      _description: '申请人须年满85周岁 / the applicant must be 85 or older',
    });
    assert.deepEqual(now.body.model, expected, 'only the edited row changed');

    // --- Add a row (a reason with an apostrophe), save, then delete it again. ---
    await page.getByTestId('rules-edit').click();
    await page.getByTestId('rules-add-row').click();
    const added = page.locator('[data-testid=rules-row][data-new=true]');
    await added.locator('[data-testid=rules-cell][data-field="applicant.hukou_in_district"] [data-testid=rules-cell-input]').fill('== false');
    await added.locator('[data-testid=rules-cell][data-field="applicant.age"] [data-testid=rules-cell-input]').fill('> 120');
    await page.getByTestId('rules-save').click();
    assert.match(await page.getByTestId('rules-save-error').innerText(), /规则代码/, 'a new row needs its code');
    await added.getByTestId('rules-code-input').fill('age_check');
    await added.getByTestId('rules-reason-input').fill("年龄需人工核实 / the applicant's age needs checking");
    await page.getByTestId('rules-save').click();
    await page.locator('[data-testid=rules-page][data-version="3"][data-editing=false]').waitFor({ timeout: 15_000 });
    const v3 = tableOf((await adminApi(`/api/v1/services/items/${ELDERLY_ALLOWANCE}/model`)).body.model);
    assert.equal(v3.rules.length, 5);
    const newRow = v3.rules[4];
    assert.match(newRow._id, /^rule_\d+$/);
    assert.equal(newRow.out_rule, '"age_check"');
    assert.equal(newRow.out_reason, JSON.stringify("年龄需人工核实 / the applicant's age needs checking"));
    const v3doc = { nodes: [{ type: 'decisionTableNode', content: v3 }] };
    assert.equal(newRow[column(v3doc, AGE)], '> 120');
    assert.equal(newRow[column(v3doc, HUKOU)], '== false');
    assert.equal(newRow[column(v3doc, RECEIVING)], '');
    const newRowOnPage = page.locator(`[data-testid=rules-row][data-row-id="${newRow._id}"]`);
    assert.equal(await newRowOnPage.getByTestId('rules-reason').innerText(), "年龄需人工核实 / the applicant's age needs checking");
    await page.getByTestId('rules-edit').click();
    await page.locator(`[data-testid=rules-row][data-row-id="${newRow._id}"]`).getByTestId('rules-row-delete').click();
    await page.getByTestId('rules-save').click();
    await page.locator('[data-testid=rules-page][data-version="4"][data-editing=false]').waitFor({ timeout: 15_000 });
    const v4 = (await adminApi(`/api/v1/services/items/${ELDERLY_ALLOWANCE}/model`)).body;
    assert.deepEqual(v4.model, now.body.model, 'version 4 is version 2 again');
    assert.equal(await page.getByTestId('rules-version-row').count(), 4);

    assert.deepEqual(errors, [], 'no page errors (minzheng.admin)');
    await context.close();
  }

  // --- minzheng.reviewer reads the same page, without edit controls. ---
  {
    const { context, page, errors } = await staffAt('minzheng.reviewer');
    await openItem(page, ELDERLY_ALLOWANCE);
    assert.equal(await page.getByTestId('rules-version').getAttribute('data-version'), '4');
    assert.equal(await ageRow(page).locator('[data-testid=rules-cell][data-field="applicant.age"]').innerText(), 'null, < 85');
    await page.getByTestId('rules-readonly').waitFor();
    for (const id of ['rules-edit', 'rules-save', 'rules-add-row', 'rules-row-delete', 'rules-cell-input', 'rules-reason-input']) {
      assert.equal(await page.getByTestId(id).count(), 0, `no ${id} for a reviewer`);
    }
    assert.equal(await page.locator('[data-testid=rules-page] input').count(), 0, 'no inputs at all');
    await shot(page, 'rules-reviewer.png');
    assert.deepEqual(errors, [], 'no page errors (minzheng.reviewer)');
    await context.close();
  }

  // --- Another department sees neither the item in its list nor the model. ---
  {
    const { context, page, errors } = await staffAt('shijian.reviewer');
    assert.equal(await page.locator(`[data-testid=rules-item-row][data-item="${ELDERLY_ALLOWANCE}"]`).count(), 0);
    await page.goto(`${url}/console#rules/${ELDERLY_ALLOWANCE}`);
    await page.locator('[data-testid=rules-page][data-loaded=error]').waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('rules-error').innerText(), /只有事项所属部门/);
    assert.deepEqual(errors, [], 'no page errors (shijian.reviewer)');
    await context.close();
  }

  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 60, `the walk-through takes under a minute (${seconds.toFixed(1)} s)`);
});
