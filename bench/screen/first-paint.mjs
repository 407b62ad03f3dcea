// First paint of the one screen (一屏可视), measured in Debian's Chromium: for each server given,
// log in as district.leader, then open `/` in a fresh browser context (cold cache) several times and
// time, from navigation start: the first contentful paint, the district map drawn, the case points
// on it, and every API call the page made (until the network is idle). Prints a Markdown table.
//
//   node bench/screen/first-paint.mjs http://127.0.0.1:18080=empty http://127.0.0.1:18090=100k [runs]
//
// Run it against servers started on prepared stores (see BENCHMARKS.md); it only reads.

import { chromium } from '../../web/node_modules/playwright-core/index.mjs';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 5);
const targets = args.filter((a) => a.includes('=')).map((a) => {
  const [url, label] = a.split('=');
  return { url, label };
});
if (!targets.length) {
  console.error('usage: first-paint.mjs URL=LABEL [URL=LABEL …] [runs]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});

async function session(url) {
  const r = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'district.leader', password: 'wanxiang-demo' }),
  });
  if (!r.ok) throw new Error(`login at ${url}: ${r.status}`);
  const body = await r.json();
  return { token: body.token, csrf: body.csrf_token };
}

async function once(url, s) {
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const host = new URL(url).hostname;
  await ctx.addCookies([{ name: 'wx_session', value: s.token, domain: host, path: '/' }]);
  await ctx.addInitScript((csrf) => localStorage.setItem('wx_csrf', csrf), s.csrf);
  const page = await ctx.newPage();
  await page.goto(`${url}/`, { waitUntil: 'commit' });
  await page.waitForSelector('[data-testid="map"][data-ready="1"]', { timeout: 30_000 });
  const mapAt = await page.evaluate(() => performance.now());
  await page
    .waitForFunction(() => Number(document.querySelector('[data-testid="map"]')?.getAttribute('data-points') ?? 0) > 0, null, { timeout: 15_000 })
    .catch(() => {});
  const pointsAt = await page.evaluate(() => performance.now());
  await page.waitForLoadState('networkidle');
  const m = await page.evaluate(() => ({
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
    points: Number(document.querySelector('[data-testid="map"]')?.getAttribute('data-points') ?? 0),
    api: performance
      .getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/v1/'))
      .map((e) => ({ path: new URL(e.name).pathname, end: e.responseEnd, dur: e.duration })),
  }));
  await ctx.close();
  return { ...m, map: mapAt, pointsAt };
}

const median = (xs) => {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};
const ms = (x) => (x == null ? '—' : `${Math.round(x)} ms`);

const rows = [];
for (const t of targets) {
  const s = await session(t.url);
  await once(t.url, s); // warm the server's caches once, as a screen that is already up would be
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await once(t.url, s));
  const lastApi = results.map((r) => Math.max(...r.api.map((a) => a.end)));
  const slowest = {};
  for (const r of results) for (const a of r.api) (slowest[a.path] ??= []).push(a.dur);
  const worst = Object.entries(slowest)
    .map(([p, d]) => [p, median(d)])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([p, d]) => `${p} ${ms(d)}`)
    .join(', ');
  rows.push(
    `| ${t.label} | ${ms(median(results.map((r) => r.fcp)))} | ${ms(median(results.map((r) => r.map)))} | ${ms(median(results.map((r) => r.pointsAt)))} (${median(results.map((r) => r.points))} points) | ${ms(median(lastApi))} | ${worst} |`,
  );
}
await browser.close();
console.log(`median of ${runs} cold loads (fresh browser context each), 1920×1080, Debian Chromium headless`);
console.log('| store | first contentful paint | map drawn | case points drawn | last API answer | slowest API calls (median) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
