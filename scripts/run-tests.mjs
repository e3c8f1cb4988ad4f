// Runs every test/**/*.test.mjs with Node's test runner, one file at a time (the suites start
// servers and measure fds, so they must not overlap). Node 20's --test takes no globs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];

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
  return fs.statSync(full).isDirectory() ? collect(full, []) : [full];
}).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
