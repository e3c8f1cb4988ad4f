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

/** Polls `predicate` every 10 ms until it holds; fails after `ms` naming `what`. */
export async function until(predicate, what, ms = 5000) {
  for (let waited = 0; !predicate(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
