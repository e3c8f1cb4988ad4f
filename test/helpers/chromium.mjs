// Headless Chromium (Debian's package) driven by playwright-core, for the end-to-end tests.
// Flags as the machine notes ask: without the background-networking ones Chromium keeps trying
// hosts this closed network refuses. Missing Chromium or playwright-core skips the test locally
// and fails it under CI=true (CI installs both).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.EPOLLWS_TEST_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * A fresh persistent context (its own empty profile), or null after skipping `t` (failing it
 * under CI) when Chromium or playwright-core is missing. `close()` ends it and removes the profile.
 */
export async function launchChromium(t, extraArgs = []) {
  let chromium = null;
  try { chromium = (await import('playwright-core')).chromium; } catch { /* reported below */ }
  const missing = !chromium ? 'playwright-core not installed' : !fs.existsSync(CHROMIUM) ? `chromium not installed (${CHROMIUM})` : null;
  if (missing) {
    if (process.env.CI === 'true') assert.fail(`${missing} but CI=true`);
    t.skip(missing);
    return null;
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'epollws-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return {
    context,
    page: async () => context.pages()[0] || context.newPage(),
    close: async () => {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
