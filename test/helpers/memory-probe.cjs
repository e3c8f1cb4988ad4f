// Preloaded into a server under test (`node --expose-gc --require test/helpers/memory-probe.cjs
// SERVER`): on SIGUSR2 it collects garbage, waits for the addon's trailing malloc_trim, and prints
//   memory {"rssKiB":N,"externalKiB":N}
// so the parent reads a resident size that holds live data only (dead message Buffers freed and
// given back), whichever server script it runs.
'use strict';
const fs = require('node:fs');

// The addon trims 1.5 s after frees stop (server_wrap.cc scheduleTrailingTrim).
const TRIM_WAIT_MS = 1700;

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  // External Buffers' finalizers run after the GC that found them dead: collect again after them.
  setImmediate(() => {
    globalThis.gc?.();
    setTimeout(() => {
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]);
      const externalKiB = Math.round(process.memoryUsage().external / 1024);
      process.stdout.write(`memory ${JSON.stringify({ rssKiB, externalKiB, gc: typeof globalThis.gc === 'function' })}\n`);
    }, TRIM_WAIT_MS);
  });
});
