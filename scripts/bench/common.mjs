// What the benchmark scripts (run.mjs and its sections deflate.mjs, tls.mjs, socketio.mjs) share:
// their command line, the uWebSockets.js setup, a pinned server's lifetime, and the statistics of
// their reports.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, freePort, startServer, stopServer } from '../../test/helpers/loadgen.mjs';

/** `[--quick] [--servers a,b] [--reps N] [--no-pin]`, as every section takes them. */
export function benchArgs(argv = process.argv.slice(2)) {
  const value = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const quick = argv.includes('--quick');
  return {
    quick,
    reps: Number(value('--reps') ?? (quick ? 1 : 3)),
    pin: !argv.includes('--no-pin'),
    only: value('--servers')?.split(','),
  };
}

/** Installs uWebSockets.js outside the repo (setup-uws.sh): the env its server scripts need, its version. */
export function setupUws() {
  const r = spawnSync('sh', [path.join(ROOT, 'scripts/bench/setup-uws.sh')], { encoding: 'utf8' });
  const dir = /UWS_DIR=(.*)/.exec(r.stdout ?? '')?.[1]?.trim();
  if (r.status !== 0 || !dir) return { error: `setup-uws.sh failed: ${`${r.stderr}`.trim().split('\n').pop()}` };
  const version = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  return { env: { UWS_DIR: dir, LD_PRELOAD: /UWS_PRELOAD=(.*)/.exec(r.stdout)?.[1]?.trim() ?? '' }, version };
}

/** Starts `server` on a free port (pinned to CPU 0 when `pin`), runs `fn(started)`, stops it. */
export async function withServer(server, fn, { pin, env = {} }) {
  const port = await freePort();
  const s = await startServer(server.argv(port), { port, env: { ...env, ...server.env }, cpu: pin ? 0 : null });
  if (s.error) return { ok: false, error: `did not start: ${s.error}` };
  try {
    return await fn(s);
  } finally {
    await stopServer(s);
  }
}

export const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

export const ratio = (a, b) => (a == null || b == null || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);
