// Time helpers for tests and the scripts that share them.

/** Resolves after `ms` (Node's promise timer; the one sleep of the test helpers). */
export { setTimeout as sleep } from 'node:timers/promises';

// Bounds a promise in time, so that a test that would hang fails with what it was waiting for.
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
