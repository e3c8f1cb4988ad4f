// End to end with an independent client: headless Chromium (Debian package) driven by playwright-core.
// The page comes from a tiny node:http server on loopback and opens ws://127.0.0.1:PORT itself.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { certFor, TEST_TLS } from '../helpers/tls-certs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.EPOLLWS_TEST_CHROMIUM || '/usr/bin/chromium';

async function loadPlaywright() {
  try { return (await import('playwright-core')).chromium; } catch { return null; }
}

describe('e2e: headless chromium', { timeout: 90_000 }, () => {
  let srv;
  let page;
  let browser;
  let web;
  let userDataDir;
  let chromium;
  let missing = null;

  before(async () => {
    chromium = await loadPlaywright();
    if (!chromium) missing = 'playwright-core not installed';
    else if (!fs.existsSync(CHROMIUM)) missing = `chromium not installed (${CHROMIUM})`;
    if (missing) return;
    srv = await spawnServer();
    const html = fs.readFileSync(path.join(HERE, 'fixtures', 'echo-page.html'));
    web = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(html);
    });
    await new Promise((r) => web.listen(0, '127.0.0.1', r));
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (web) await new Promise((r) => web.close(r));
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    if (srv) await srv.stop();
  });

  it('echoes text, an ArrayBuffer and 1 MiB, and closes with a code', { timeout: 80_000 }, async (t) => {
    if (missing) {
      if (process.env.CI === 'true') assert.fail(`${missing} but CI=true`);
      t.skip(missing);
      return;
    }
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'epollws-chromium-'));
    // launchPersistentContext is the only way to give playwright our own --user-data-dir.
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // EPOLLWS_TEST_TLS: wss:// to the server, whose certificate's key is pinned here.
        ...(TEST_TLS ? [`--ignore-certificate-errors-spki-list=${certFor('localhost').spki}`] : [])],
    });
    browser = context;
    page = context.pages()[0] || await context.newPage();
    const pageUrl = `http://127.0.0.1:${web.address().port}/?ws=${encodeURIComponent(srv.url)}`;
    await page.goto(pageUrl, { timeout: 15_000 });
    await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 40_000 });
    const res = await page.evaluate(() => window.__results);
    assert.deepEqual(res, { text: true, binary: true, binary_1mib: true, close_code: 4002, close_clean: true },
      `chromium results: ${JSON.stringify(res)}`);
    assert.ok(srv.alive(), 'server died');
  });
});
