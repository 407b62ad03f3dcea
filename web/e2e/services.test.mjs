// 办事 (一网通办) on the resident's phone page (/m) at 360×740: three demo residents.
// 王秀英 (13800138002) just turned 80: the triggers (run here explicitly as district.admin) offer
// her 高龄津贴; one tap approves it and issues the notice, whose public check says 有效; she rates it
// 不满意 with a comment (好差评), which opens a follow-up case (差评回访) named on the page.
// 刘强 (13800138004) applies for 食品经营许可 for his restaurant with 15 m² of premises: the rules
// refuse it with the reason (20平方米); he corrects the form to 32 m² and submits again: approved.
// 陈静 (13800138003) applies for 新生儿出生一件事 with its one form: four departments approve it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, loginThroughForm } from './harness.mjs';
import { apiAs, pngColours, useServerAndBrowser } from './support.mjs';

const WANG = '13800138002';
const LIU = '13800138004';
const CHEN = '13800138003';
const ELDERLY_ALLOWANCE = '0500001001';
const FOOD_LICENCE = '0100007001';

const ctx = useServerAndBrowser();

/** A phone's browser context, logged in as `username` at /m, on the 办事 tab. */
async function residentOnPhone(username) {
  const context = await ctx.browser.newContext({
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    locale: 'zh-CN',
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  await loginThroughForm(page, ctx.server.url, '/m', username);
  await page.getByTestId('tab-services').click();
  await page.getByTestId('svc-home').waitFor();
  return { context, page, problems };
}

async function noHorizontalScroll(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= 360, `no horizontal scroll at 360 px on ${what} (scrollWidth ${w})`);
}

async function shot(page, name, fullPage = true) {
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage });
  assert.ok(pngColours(readFileSync(path)) > 20, `${name} is not blank`);
}

test('一网通办 on the phone: a one-tap offer, a correction after failing rules, and a life-event bundle', async () => {
  const started = Date.now();
  const { url } = ctx.server;

  // The proactive triggers run once at start and then hourly; run them now, explicitly, so the
  // offer does not depend on timing (an offer is made once per event: a second pass adds none).
  const admin = await apiAs(url, 'district.admin');
  const run = await admin('/api/v1/services/triggers/run', { method: 'POST' });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const wangApi = await apiAs(url, WANG);
  const before = await wangApi('/api/v1/services/applications');
  assert.equal(before.status, 200, JSON.stringify(before.body));
  assert.ok(
    before.body.some((a) => a.item === ELDERLY_ALLOWANCE && a.state === 'offered'),
    `王秀英 has the 高龄津贴 offer: ${JSON.stringify(before.body)}`,
  );

  // --- 王秀英: the offer, taken with one tap. ---
  {
    const { context, page, problems } = await residentOnPhone(WANG);
    const offer = page.locator(`[data-testid=svc-offer][data-item="${ELDERLY_ALLOWANCE}"]`);
    await offer.waitFor();
    assert.match(await offer.getByTestId('svc-offer-name').innerText(), /高龄津贴/);
    assert.match(await offer.innerText(), /无需填表/);
    await noHorizontalScroll(page, 'the offers');
    await shot(page, 'services-offer.png', false);

    await offer.getByTestId('svc-offer-confirm').click();
    const result = offer.locator('[data-testid=svc-result][data-state=approved]');
    await result.waitFor({ timeout: 15_000 });
    assert.match(await result.innerText(), /已办结/);
    const validity = offer.getByTestId('svc-cert-validity');
    await validity.waitFor();
    assert.equal(await validity.getAttribute('data-validity'), 'valid');
    assert.match(await offer.getByTestId('svc-cert-name').innerText(), /高龄津贴/);
    assert.match(await offer.getByTestId('svc-cert-print').getAttribute('href'), /^\/certificates\/[0-9a-f-]{36}\/print$/);
    const verify = offer.getByTestId('svc-cert-verify');
    assert.match(await verify.getAttribute('href'), /^\/verify\/[0-9a-f-]{36}$/);
    await noHorizontalScroll(page, 'the approved offer');
    await shot(page, 'services-offer-approved.png');

    // The approved application is in her list too.
    await page.locator(`[data-testid=svc-app-item][data-state=approved]`).first().waitFor();

    // The public check the QR code opens, followed from the link.
    const [check] = await Promise.all([page.waitForEvent('popup'), verify.click()]);
    await check.waitForLoadState();
    const status = check.locator('.status');
    await status.waitFor();
    assert.match(await status.innerText(), /有效/);
    assert.match(await check.locator('body').innerText(), /高龄津贴核定通知书/);
    await shot(check, 'services-verify.png');

    const after = (await wangApi('/api/v1/services/applications')).body.find((a) => a.item === ELDERLY_ALLOWANCE);
    assert.equal(after.state, 'approved');
    assert.ok(after.certificate, 'a certificate was issued');
    assert.ok(after.allowed.includes('rate'), 'a finished application may be rated');

    // 好差评: she rates it 不满意 with a comment; a follow-up case (差评回访) is opened and named.
    await offer.getByTestId('svc-offer-open').click();
    await page.locator('[data-testid=svc-app-view][data-state=approved]').waitFor();
    assert.equal(await page.getByTestId('svc-overdue').count(), 0, 'not overdue');
    const rateForm = page.getByTestId('svc-rate-form');
    await rateForm.waitFor();
    assert.equal(await rateForm.locator('[data-testid^=svc-rate-level-]').count(), 5, 'five levels');
    assert.match(await rateForm.innerText(), /非常满意[\s\S]*满意[\s\S]*基本满意[\s\S]*不满意[\s\S]*非常不满意/);
    await page.getByTestId('svc-rate-level-unsatisfied').click();
    await page.getByTestId('svc-rate-note').fill('通知书寄送太慢');
    await noHorizontalScroll(page, 'the rating form');
    await shot(page, 'services-rate.png');
    await page.getByTestId('svc-rate-submit').click();
    const rated = page.getByTestId('svc-rated');
    await rated.waitFor({ timeout: 15_000 });
    const ratedNote = await page.getByTestId('svc-rated-note').innerText();
    assert.match(ratedNote, /不满意：通知书寄送太慢/);
    assert.match(ratedNote, /差评回访案件 \/ follow-up case [0-9a-f-]{36}/);
    assert.equal(await page.getByTestId('svc-rate-form').count(), 0, 'rated once');
    await noHorizontalScroll(page, 'the rating');
    await shot(page, 'services-rated.png');
    const followUp = /follow-up case ([0-9a-f-]{36})/.exec(ratedNote)[1];
    const mineCases = (await wangApi('/api/v1/events')).body;
    assert.ok(mineCases.some((c) => c.id === followUp), `the follow-up case is among her reports: ${JSON.stringify(mineCases.map((c) => c.id))}`);
    // The link opens the follow-up case on her phone.
    await page.getByTestId('svc-follow-up-link').click();
    await page.locator(`[data-testid=case-view][data-case-id="${followUp}"]`).waitFor();
    await page.getByTestId('case-description').filter({ hasText: /好差评回访/ }).waitFor();

    // 超期: the server marks an application overdue only days after its deadline, so the marker is
    // checked by setting the flag on the server's answers for this one application.
    const markOverdue = async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      const mark = (a) => (a.id === after.id ? { ...a, overdue: true } : a);
      await route.fulfill({ response: res, json: Array.isArray(body) ? body.map(mark) : mark(body) });
    };
    await page.route(`${url}/api/v1/services/applications/${after.id}`, markOverdue);
    await page.route(`${url}/api/v1/services/applications?*`, markOverdue);
    await page.evaluate((id) => (location.hash = `#/services/app/${id}`), after.id);
    await page.locator(`[data-testid=svc-app-view][data-app-id="${after.id}"] [data-testid=svc-overdue]`).waitFor();
    assert.equal(await page.getByTestId('svc-overdue').innerText(), '超期');
    await page.getByTestId('svc-back').click();
    await page.locator(`[data-testid=svc-app-item][data-app-id="${after.id}"] [data-testid=svc-item-overdue]`).waitFor();
    await page.unrouteAll({ behavior: 'wait' });
    assert.deepEqual(problems, [], 'no page errors (王秀英)');
    await context.close();
  }

  // --- 刘强: the food licence, refused by the rules at 15 m², approved after correcting to 32 m². ---
  {
    const liuApi = await apiAs(url, LIU);
    const me = (await liuApi('/api/v1/services/me')).body;
    const restaurant = me.enterprises.find((e) => e.name.includes('刘记'));
    assert.ok(restaurant, `刘强 represents the demo restaurant: ${JSON.stringify(me)}`);

    const { context, page, problems } = await residentOnPhone(LIU);
    await page.getByTestId('svc-seg-apply').click();
    await page.getByTestId('svc-catalogue').waitFor();
    await page.locator('[data-testid=svc-bundle-open]').first().waitFor();
    await noHorizontalScroll(page, 'the catalogue');
    await shot(page, 'services-catalogue.png', false);
    await page.locator(`[data-testid=svc-item-open][data-code="${FOOD_LICENCE}"]`).click();
    const form = page.getByTestId('svc-apply-form');
    await form.waitFor();
    assert.match(await page.getByTestId('svc-item-name').innerText(), /食品经营许可/);
    // What the registers hold is listed, never asked.
    const registers = await page.getByTestId('svc-from-registers').innerText();
    assert.match(registers, /无需填写/);
    assert.match(registers, /信用状况/);
    assert.equal(await form.locator('[data-testid=svc-field-credit]').count(), 0, 'register data is not asked');

    const enterprise = page.getByTestId('svc-enterprise');
    await enterprise.waitFor();
    await enterprise.selectOption(restaurant.uscc);
    await page.getByTestId('svc-field-premises_area').fill('15');
    await page.getByTestId('svc-field-health_certificates').fill('3');
    await page.getByTestId('svc-field-premises_address').fill('深圳市罗湖区桂园街道红宝路1号');
    await noHorizontalScroll(page, 'the item form');
    await shot(page, 'services-apply-form.png');
    await page.getByTestId('svc-submit').click();

    const view = page.locator('[data-testid=svc-app-view][data-state=pending]');
    await view.waitFor({ timeout: 15_000 });
    const failures = page.getByTestId('svc-failures');
    await failures.waitFor();
    assert.match(await failures.innerText(), /20平方米/);
    await noHorizontalScroll(page, 'the failing rules');
    await shot(page, 'services-failed.png');

    // Correct and resubmit: the form comes back as sent.
    await page.getByTestId('svc-correct-open').click();
    const area = page.locator('[data-testid=svc-correct-form] [data-testid=svc-field-premises_area]');
    await area.waitFor();
    assert.equal(await area.inputValue(), '15');
    assert.equal(await page.locator('[data-testid=svc-correct-form] [data-testid=svc-field-health_certificates]').inputValue(), '3');
    await area.fill('32');
    await page.getByTestId('svc-resubmit').click();
    const approved = page.locator('[data-testid=svc-result][data-state=approved]');
    await approved.waitFor({ timeout: 15_000 });
    assert.match(await approved.innerText(), /已办结/);
    await page.locator('[data-testid=svc-cert-validity][data-validity=valid]').waitFor();
    assert.match(await page.getByTestId('svc-cert-name').innerText(), /食品经营许可证/);
    assert.equal(await page.locator('[data-testid=svc-timeline] [data-action=decide]').count(), 2, 'decided twice');
    await shot(page, 'services-corrected.png');

    const id = await page.getByTestId('svc-app-view').getAttribute('data-app-id');
    const app = (await liuApi(`/api/v1/services/applications/${id}`)).body;
    assert.equal(app.state, 'approved');
    assert.equal(app.enterprise, restaurant.uscc);
    assert.equal(app.form.premises_area, 32);
    assert.deepEqual(problems, [], 'no page errors (刘强)');
    await context.close();
  }

  // --- 陈静: 新生儿出生一件事, one form, four approvals. ---
  {
    const { context, page, problems } = await residentOnPhone(CHEN);
    await page.getByTestId('svc-seg-apply').click();
    await page.locator('[data-testid=svc-bundle-open][data-code=birth]').click();
    const form = page.getByTestId('svc-bundle-form');
    await form.waitFor();
    assert.match(await page.getByTestId('svc-bundle-name').innerText(), /新生儿出生一件事/);
    assert.equal(await page.locator('[data-testid=svc-bundle-items] li').count(), 4);
    assert.equal(await form.locator('[data-testid^=svc-field-]').count(), 1, 'one form of one field: the birth register has the child\'s name');
    await page.getByTestId('svc-applicant').waitFor();
    await page.getByTestId('svc-field-mailing_address').fill('深圳市罗湖区桂园街道松园路8号');
    await noHorizontalScroll(page, 'the bundle form');
    await shot(page, 'services-bundle-form.png');
    await page.getByTestId('svc-bundle-submit').click();

    const state = page.locator('[data-testid=svc-bundle-state][data-state=approved]');
    await state.waitFor({ timeout: 15_000 });
    assert.match(await state.innerText(), /已全部办结/);
    const members = page.getByTestId('svc-bundle-member');
    assert.equal(await members.count(), 4);
    assert.equal(await page.locator('[data-testid=svc-bundle-member][data-state=approved]').count(), 4, 'four approvals');
    await noHorizontalScroll(page, 'the bundle status');
    await shot(page, 'services-bundle.png');

    // One member's detail leads back to the combined status.
    await members.first().click();
    await page.locator('[data-testid=svc-app-view][data-state=approved]').waitFor();
    await page.getByTestId('svc-cert-validity').waitFor();
    await page.getByTestId('svc-bundle-link').click();
    await page.locator('[data-testid=svc-bundle-state][data-state=approved]').waitFor();
    assert.deepEqual(problems, [], 'no page errors (陈静)');
    await context.close();
  }

  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 60, `the walk-through takes under a minute (${seconds.toFixed(1)} s)`);
});
