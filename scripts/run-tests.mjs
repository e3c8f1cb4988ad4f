// Runs every test/**/*.test.mjs with Node's test runner, one file at a time (the suites start
// servers and measure fds, so they must not overlap). Node 20's --test takes no globs.
//   node scripts/run-tests.mjs [--allow-empty] [DIR|FILE ...]     (default: test/)
// --allow-empty: a folder that is absent or holds no tests is a pass, not an error (test:unit
// before its suites exist).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const allowEmpty = args.includes('--allow-empty');
const given = args.filter((a) => a !== '--allow-empty');
const roots = given.length ? given : ['test'];

function collect(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'build') collect(full, out);
    } else if (entry.name.endsWith('.test.mjs')) {
      out.push(full);
    }
  }
  return out;
}

const files = roots.flatMap((r) => {
  const full = path.resolve(root, r);
  if (allowEmpty && !fs.existsSync(full)) return [];
  return fs.statSync(full).isDirectory() ? collect(full, []) : [full];
}).sort();
if (files.length === 0) {
  console.error(`no test files found under ${roots.join(' ')}`);
  process.exit(allowEmpty ? 0 : 1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
