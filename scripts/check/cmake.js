#!/usr/bin/env node
// Smoke test of the cmake-js build: loads the addon that CMake built and echoes a message through
// the public API.
//
//   npx cmake-js compile --out build-cmake && node scripts/check/cmake.js [build-cmake/Release/epollws.node]
//
// lib/ loads its addon through node-gyp-build from the package root, so the test assembles a scratch
// copy of the package (package.json, dist/, node_modules linked) whose only binary is the CMake one at
// build/Release/epollws.node, then requires that copy.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const addon = path.resolve(process.argv[2] || path.join(root, 'build-cmake', 'Release', 'epollws.node'));

function fail(message) {
  console.error(`cmake-smoke: FAIL: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(addon)) fail(`${addon} not found; build it with: npx cmake-js compile --out build-cmake`);
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) fail('dist/ missing; run npm run build');

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'epollws-cmake-'));
try {
  fs.copyFileSync(path.join(root, 'package.json'), path.join(scratch, 'package.json'));
  fs.cpSync(path.join(root, 'dist'), path.join(scratch, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'), 'dir');
  fs.mkdirSync(path.join(scratch, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(addon, path.join(scratch, 'build', 'Release', 'epollws.node'));

  // A child process, so the addon is loaded from the scratch copy and nothing else is cached.
  const result = spawnSync(
    process.execPath,
    [
      path.join(root, 'scripts', 'packaging', 'echo-check.js'),
      scratch,
      '--expect-binary',
      path.join(scratch, 'build', 'Release', 'epollws.node'),
      '--ws',
      path.join(root, 'node_modules', 'ws'),
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) fail(`echo check exited with ${result.status ?? result.signal}`);
  console.log(`cmake-smoke: ok: ${path.relative(process.cwd(), addon)} loads and echoes`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
