// The resident's phone page (/m, 随手拍) at 360×740 on a touch phone: a resident logs in through
// the form, reports a blocked drain at their own position (WGS-84 from the browser's geolocation,
// a fixed point inside 大塘龙社区) without a category and with a photo, and gets a case number; the case exists with the photo, located in
// 大塘龙社区 / 桂园街道. Staff then take the case through accept → start → handle → verify by
// the API, and the resident rates it on the page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { startServer, launch, loginThroughForm, artifacts, DEMO_PASSWORD } from './harness.mjs';

const RESIDENT = '13800138000';
const DATANGLONG = '440303001001';
/** The phone's position (WGS-84): inside 大塘龙社区, found in `before` (see `pointIn`). */
let POSITION;
const DESCRIPTION = '小区门口下水道堵塞，污水漫到路面';

/** A small real PNG (a 48×32 gradient), made here so the test needs no files. */
function png(width = 48, height = 32) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 5) & 0xff;
      raw[row + 2 + x * 3] = (y * 7) & 0xff;
      raw[row + 3 + x * 3] = 160;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A staff account's API client (Bearer session: no cookie, no CSRF). */
async function staff(url, username) {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: DEMO_PASSWORD }),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `login ${username}: ${text}`);
  const { token } = JSON.parse(text);
  return async (path, body) => {
    const res = await fetch(`${url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    assert.ok(res.ok, `${username} ${path} ${JSON.stringify(body ?? {})}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
}

/** Whether a screenshot has content: many distinct colours (read back in a blank page's canvas). */
async function distinctColours(browser, file) {
  const page = await browser.newPage();
  try {
    const data = `data:image/png;base64,${readFileSync(file).toString('base64')}`;
    return await page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < px.length; i += 4 * 7) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
      return seen.size;
    }, data);
  } finally {
    await page.close();
  }
}

/**
 * A point well inside a community, from the server's own boundaries: the demo's community
 * boundaries are generated (Voronoi cells), so a hard-coded coordinate could fall in a
 * neighbour. (114.118, 22.548), for one, lies in 花场社区 of 东门街道. Points on a grid over the
 * community's bounding box are located in one batch; the one nearest their middle is taken.
 */
async function pointIn(url, code) {
  const r = await fetch(`${url}/api/v1/boundaries?level=community&within=${code.slice(0, 9)}`);
  const feature = (await r.json()).features.find((f) => f.properties.code.startsWith(code));
  assert.ok(feature, `community ${code} in the boundaries`);
  const coords = JSON.stringify(feature.geometry.coordinates).match(/-?\d+\.?\d*,-?\d+\.?\d*/g).map((p) => p.split(',').map(Number));
  const [xs, ys] = [coords.map((c) => c[0]), coords.map((c) => c[1])];
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const points = [];
  for (let i = 1; i < 12; i++) for (let j = 1; j < 12; j++) points.push([+(x0 + ((x1 - x0) * i) / 12).toFixed(6), +(y0 + ((y1 - y0) * j) / 12).toFixed(6)]);
  const located = await (await fetch(`${url}/api/v1/locate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ points }) })).json();
  const inside = points.filter((_, k) => located.results[k]?.community?.code.startsWith(code));
  assert.ok(inside.length, `a point inside ${code}`);
  const [mx, my] = [inside.reduce((a, p) => a + p[0], 0) / inside.length, inside.reduce((a, p) => a + p[1], 0) / inside.length];
  const best = inside.reduce((a, p) => (Math.hypot(p[0] - mx, p[1] - my) < Math.hypot(a[0] - mx, a[1] - my) ? p : a));
  return { longitude: best[0], latitude: best[1] };
}

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
  POSITION = await pointIn(server.url, DATANGLONG);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a resident reports from the phone at 360 px, gets a case number, and rates the result', async () => {
  const { url } = server;
  // Is the built page served at /m (the server's web UI)?
  const m = await fetch(`${url}/m`);
  const html = await m.text();
  assert.ok(m.ok && /\/assets\//.test(html), `GET /m does not serve the built page (${m.status}): run npm run build`);

  const context = await browser.newContext({
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
  await page.getByTestId('photo-input').setInputFiles({ name: 'scene.png', mimeType: 'image/png', buffer: png() });
  await page.locator('[data-testid=photo-previews] img').first().waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(300); // the map finishes drawing the pin
  const formShot = join(artifacts, 'phone-form.png');
  await page.screenshot({ path: formShot });
  assert.ok((await distinctColours(browser, formShot)) > 50, 'the form screenshot is not blank');

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
  assert.ok((await distinctColours(browser, shot)) > 20, 'the screenshot is not blank');

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
