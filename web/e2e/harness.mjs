// The browser tests' harness: starts the real wanxiang server (demo district, embedded defaults, its
// own temporary data directory, a free port) serving this web/dist, and Debian's Chromium driven by
// playwright-core. Never downloads a browser: CHROMIUM or /usr/bin/chromium is used.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
/** web/ */
export const webDir = resolve(here, '..');
/** Screenshots and other files the tests leave for people to look at. */
export const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });

/** The demo accounts' password (printed by `serve --demo`). */
export const DEMO_PASSWORD = 'wanxiang-demo';

function serverBinary() {
  const candidates = [
    process.env.WANXIANG_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'wanxiang'),
    join(webDir, '..', 'target', 'debug', 'wanxiang'),
    // Where .ci/run keeps cargo's target directory.
    process.env.HOME && join(process.env.HOME, '.cache', 'wanxiang-target', 'debug', 'wanxiang'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no wanxiang binary; build it (cargo build -p wanxiang) or set WANXIANG_BIN (tried ${candidates.join(', ')})`);
  return found;
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts `wanxiang serve --demo` on a free port with its own data directory and waits for
 * `/readyz`. `env` adds configuration (`WANXIANG__…` variables). Resolves to `{ url, stop, log }`.
 */
export async function startServer({ env = {}, args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'wx-e2e-'));
  const port = await freePort();
  const mqttPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(
    serverBinary(),
    ['serve', '--demo', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...args],
    {
      env: {
        ...process.env,
        WANXIANG__SERVER__WEB_DIR: join(webDir, 'dist'),
        WANXIANG__SENSING__MQTT_LISTEN: `127.0.0.1:${mqttPort}`,
        // No generated case history unless a test asks for it: tests count the cases they make.
        WANXIANG__EVENTS__DEMO_CASES: '0',
        RUST_LOG: process.env.RUST_LOG ?? 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  const exited = new Promise((ok) => child.once('exit', (code) => ok(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log.join('')}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become ready:\n${log.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dataDir,
    log,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches Debian's Chromium headless. */
export async function launch() {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install chromium`);
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--lang=zh-CN',
      // The machine's network is closed: no background fetches, updates or sync to be refused.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * Logs `page` in as `username` through the page's own login form (the way a user does), on the
 * given path of the server.
 */
export async function loginThroughForm(page, url, path, username, password = DEMO_PASSWORD) {
  await page.goto(`${url}${path}`);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-form').waitFor({ state: 'detached' });
}

/** Logs in through the API from inside the page (fast, for tests about something else). */
export async function loginThroughApi(page, url, username, password = DEMO_PASSWORD) {
  await page.goto(`${url}/api/v1/demo/accounts`);
  await page.evaluate(
    async ([username, password]) => {
      const r = await fetch('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      if (!r.ok) throw new Error(`login failed: ${r.status} ${await r.text()}`);
      localStorage.setItem('wx_csrf', (await r.json()).csrf_token);
    },
    [username, password],
  );
}
