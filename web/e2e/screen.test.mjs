// The leaders' one screen (一屏可视) end to end: district.leader logs in through the form at `/`,
// the district map is drawn from our unit boundaries (pixels in the middle of its canvas), every
// street of `/api/v1/boundaries?level=street` is named on the page, the Chinese title is there and
// the 1920×1080 screenshot is not blank (many distinct colours, counted with a small PNG decoder on
// node:zlib). Then a resident files a report through the API on another page, and the screen shows
// the new open case without a reload (over the event stream).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { artifacts, loginThroughApi, loginThroughForm } from './harness.mjs';
import { decodePng, pngColours, useServerAndBrowser } from './support.mjs';

const ctx = useServerAndBrowser();

/** What the screen shows of the open cases: the count tile, the map's points and their ids. */
function openCases(page) {
  return page.evaluate(() => {
    const el = document.querySelector('[data-testid=map]');
    const series = el.wxChart?.getOption().series.find((s) => s.id === 'cases');
    return {
      tile: document.querySelector('[data-testid=kpi-open-value]')?.textContent ?? '',
      points: Number(document.querySelector('[data-testid=map-points]')?.dataset.count ?? -1),
      ids: (series?.data ?? []).map((d) => d.id),
    };
  });
}

test('the one screen draws the district and follows a new report live', async () => {
  const context = await ctx.browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await loginThroughForm(page, ctx.server.url, '/', 'district.leader');
  await page.locator('[data-testid=map][data-ready="1"]').waitFor({ timeout: 20_000 });
  // The panels fill as their answers arrive; the open cases come with the map's points.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=map-points]')?.dataset.count ?? -1) >= 0);
  await page.waitForTimeout(1500);

  const shot = await page.screenshot({ path: join(artifacts, 'screen.png') });

  // The map is drawn: the bottom layer of the ECharts canvas has painted pixels in its middle.
  const painted = await page.evaluate(() => {
    const canvas = document.querySelector('[data-testid=map] canvas');
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    const { data } = ctx.getImageData(Math.round(w * 0.3), Math.round(h * 0.3), Math.round(w * 0.4), Math.round(h * 0.4));
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return { n, total: data.length / 4 };
  });
  assert.ok(painted.n > painted.total * 0.1, `map canvas painted in the middle: ${painted.n} of ${painted.total} pixels`);

  // Every street of the boundary layer is named on the page (the ranking lists the map's units).
  const streets = await (await fetch(`${ctx.server.url}/api/v1/boundaries?level=street`)).json();
  const names = streets.features.map((f) => f.properties.name);
  assert.ok(names.length >= 2, `streets in the boundary layer: ${names.length}`);
  const shown = await page.getByTestId('ranking-name').allInnerTexts();
  for (const name of names) assert.ok(shown.includes(name), `street ${name} on the screen (shown: ${shown.join(', ')})`);

  // A Chinese title, with the fonts loaded, and a screenshot that is not blank.
  const title = await page.getByTestId('screen-title').innerText();
  assert.match(title, /[\u4e00-\u9fff]/, `Chinese title: ${title}`);
  const fonts = await page.evaluate(async () => {
    await document.fonts.ready;
    const el = document.querySelector('[data-testid=screen-title]');
    const r = el.getBoundingClientRect();
    return { status: document.fonts.status, width: r.width, height: r.height };
  });
  assert.equal(fonts.status, 'loaded');
  assert.ok(fonts.width > 100 && fonts.height > 10, `title has a size: ${JSON.stringify(fonts)}`);
  const png = decodePng(shot);
  assert.equal(png.width, 1920);
  assert.equal(png.height, 1080);
  const colours = pngColours(png);
  assert.ok(colours > 500, `screenshot has ${colours} distinct colours`);

  // The header tells whether the data is live and when it was last updated.
  await page.locator('[data-testid=live-state][data-live="1"]').waitFor({ timeout: 10_000 });
  assert.match(await page.getByTestId('clock').innerText(), /\d{2}:\d{2}:\d{2}/);
  assert.match(await page.getByTestId('last-updated').innerText(), /\d{2}:\d{2}:\d{2}/);
  assert.equal(await page.getByTestId('demo-badge').isVisible(), true, 'demo badge in demo mode');

  // A resident reports a broken street light in Luohu on another page …
  const before = await openCases(page);
  await page.evaluate(() => (window.__notReloaded = true));
  // (Its own browser context: the same context would share, and replace, the leader's cookie.)
  const residentContext = await ctx.browser.newContext();
  const resident = await residentContext.newPage();
  await loginThroughApi(resident, ctx.server.url, '13800138000');
  const created = await resident.evaluate(async () => {
    const r = await fetch('/api/v1/events', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': localStorage.getItem('wx_csrf') },
      body: JSON.stringify({
        channel: 'resident_app',
        location: { lon: 114.118, lat: 22.548, crs: 'wgs84' },
        description: '路灯不亮，晚上很黑',
      }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.ok(created.status === 201 || created.status === 200, `report filed: ${JSON.stringify(created)}`);
  const id = created.body.id;

  // … and the screen shows it without a reload: the point appears and the open count moves.
  await page.waitForFunction(
    (id) => {
      const el = document.querySelector('[data-testid=map]');
      const series = el.wxChart?.getOption().series.find((s) => s.id === 'cases');
      return (series?.data ?? []).some((d) => d.id === id);
    },
    id,
    { timeout: 15_000 },
  );
  const after = await openCases(page);
  assert.ok(after.ids.includes(id), 'the new case is a point on the map');
  const counts = JSON.stringify({ before: [before.tile, before.points], after: [after.tile, after.points] });
  if (created.body.linked_report_id) {
    // The report joined an open case nearby as a duplicate: no new case, the point was there.
    assert.ok(before.ids.includes(id), `duplicate of a case already on the map (${counts})`);
  } else {
    assert.ok(!before.ids.includes(id), 'a new case');
    assert.ok(after.points !== before.points || after.tile !== before.tile, `open count or point count changed: ${counts}`);
  }
  assert.equal(await page.evaluate(() => window.__notReloaded), true, 'no reload');

  // Clicking the new point shows its summary in the side card.
  const at = await page.evaluate((id) => {
    const el = document.querySelector('[data-testid=map]');
    const chart = el.wxChart;
    const c = chart.getOption().series.find((s) => s.id === 'cases').data.find((d) => d.id === id);
    const [x, y] = chart.convertToPixel({ geoIndex: 0 }, c.value);
    const r = el.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y };
  }, id);
  await page.mouse.click(at.x, at.y);
  await page.getByTestId('case-card').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=case-description]')?.textContent?.includes('路灯不亮'), null, { timeout: 5000 }).catch(() => {});
  const cardText = await page.getByTestId('case-card').innerText();
  // Several points may share the pixel (the demo reports cluster); the card shows one of them.
  assert.match(cardText, /案件/);

  // Zooming in on the map outlines the grids (网格) under the streets.
  await page.getByTestId('card-close').click().catch(() => {});
  const box = await page.getByTestId('map').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 12; i++) {
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(60);
  }
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=map]')?.dataset.grids ?? 0) > 0, null, { timeout: 10_000 });
  const gridLines = await page.evaluate(() => {
    const series = document.querySelector('[data-testid=map]').wxChart.getOption().series.find((s) => s.id === 'grids');
    return series?.data?.length ?? 0;
  });
  assert.ok(gridLines > 10, `grid outlines drawn when zoomed in: ${gridLines}`);
  await page.screenshot({ path: join(artifacts, 'screen-zoomed.png') });

  await page.screenshot({ path: join(artifacts, 'screen-live.png') });
  writeFileSync(join(artifacts, 'screen-errors.txt'), errors.join('\n'));
  assert.deepEqual(errors, [], 'no page errors');
  await residentContext.close();
  await context.close();
});
