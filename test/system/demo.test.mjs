// `npm run demo` (examples/demo/server.js) in headless Chromium: two pages join the same room (a
// topic), a text and an image sent from one show up on the other, and a third page and a ws client
// in another room see none of it. Screenshots the second page: to docs/demo.png when that file is missing or when
// EPOLLWS_UPDATE_SCREENSHOT=1 (the timestamps on the page change on every run), else to a temporary file.
// Skipped when playwright-core or Chromium is missing, unless CI=true (then it fails).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { withTimeout } from '../helpers/timeout.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.EPOLLWS_TEST_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'docs', 'demo.png');
const ROOM = 'test-room';


// A small PNG (RGBA, no filter), made here so the test needs no fixture file.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
function makePng(width, height, pixel) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter, no interlace
  const rows = Buffer.alloc(height * (1 + width * 4));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set(pixel(x, y), y * (1 + width * 4) + 1 + x * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
// 16x16 tiles: a blue-to-pink gradient with a checkerboard of lighter squares.
const PNG = makePng(16, 16, (x, y) => {
  const light = (x >> 2) % 2 === (y >> 2) % 2 ? 40 : 0;
  return [Math.min(255, 40 + x * 13 + light), Math.min(255, 90 + light), Math.min(255, 240 - y * 6 + light), 255];
});

async function loadPlaywright() {
  try {
    return (await import('playwright-core')).chromium;
  } catch {
    return null;
  }
}

describe('demo: two Chromium pages chatting in one room', { timeout: 120_000 }, () => {
  let chromium;
  let missing = null;
  let server;
  let output = '';
  let base;
  let browser;
  let outsider;

  before(async () => {
    chromium = await loadPlaywright();
    if (!chromium) missing = 'playwright-core is not installed';
    else if (!fs.existsSync(CHROMIUM)) missing = `Chromium is not installed (${CHROMIUM})`;
    if (missing) return;
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    server = spawn(process.execPath, [path.join(ROOT, 'examples', 'demo', 'server.js'), '--port', '0'], {
      cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stderr.setEncoding('utf8').on('data', (d) => { output += d; });
    base = await withTimeout(new Promise((resolve, reject) => {
      server.stdout.setEncoding('utf8').on('data', (d) => {
        output += d;
        const m = /demo on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (m) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`the demo exited early (${code}): ${output}`)));
    }), 10_000, 'the demo to listen');
  });

  after(async () => {
    outsider?.terminate();
    if (browser) await browser.close().catch(() => {});
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit');
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });

  it('delivers text and an image between the pages, and nothing to another room', { timeout: 110_000 }, async (t) => {
    if (missing) {
      if (process.env.CI === 'true') assert.fail(`${missing} but CI=true`);
      t.skip(missing);
      return;
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });

    // Someone in another room: must hear nothing from ours.
    const outsiderMessages = [];
    outsider = new WebSocket(`${base.replace('http:', 'ws:')}/ws?room=elsewhere&name=Eve`);
    outsider.on('message', (data, isBinary) => outsiderMessages.push(isBinary ? '<binary>' : JSON.parse(data.toString())));
    await withTimeout(once(outsider, 'open'), 5000, 'the outsider to connect');

    async function join(name, room = ROOM) {
      const context = await browser.newContext({ viewport: { width: 760, height: 600 }, deviceScaleFactor: 1 });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${base}/`);
      await page.fill('#name', name);
      await page.fill('#room', room);
      await page.click('#join-button');
      await page.waitForSelector('#chat', { state: 'visible' });
      return page;
    }
    // A third page, in another room: sees its own room only.
    const carol = await join('Carol', 'another-room');
    await carol.waitForSelector('#messages li.system >> text=Carol joined · 1 in the room');
    const alice = await join('Alice');
    const bob = await join('Bob');
    await alice.waitForSelector('#messages li.system >> text=Bob joined · 2 in the room');

    // Text from Alice reaches Bob.
    await alice.fill('#text', 'Hi Bob! Sending you a picture.');
    await alice.click('#send-button');
    const text = await bob.waitForSelector('#messages li[data-kind=text] >> text=Hi Bob!');
    assert.match(await text.textContent(), /Alice.*Hi Bob! Sending you a picture\./);

    // An image from Alice arrives on Bob's page as an <img>, byte for byte.
    await alice.setInputFiles('#file', { name: 'tiles.png', mimeType: 'image/png', buffer: PNG });
    const img = await bob.waitForSelector('#messages li[data-kind=image] img');
    await bob.waitForFunction((el) => el.complete && el.naturalWidth > 0, img);
    assert.equal(await img.evaluate((el) => el.naturalWidth), 16);
    const bytes = await img.evaluate(async (el) => Array.from(new Uint8Array(await (await fetch(el.src)).arrayBuffer())));
    assert.deepEqual(Buffer.from(bytes), PNG);
    assert.equal(await img.getAttribute('alt'), 'tiles.png');
    // The sender sees its own image too (the room includes the sender).
    await alice.waitForSelector('#messages li.mine[data-kind=image] img');

    // And Bob answers.
    await bob.fill('#text', 'Got it, looks great!');
    await bob.click('#send-button');
    await alice.waitForSelector('#messages li[data-kind=text] >> text=Got it, looks great!');

    const update = process.env.EPOLLWS_UPDATE_SCREENSHOT === '1' || !fs.existsSync(SCREENSHOT);
    const shot = update ? SCREENSHOT : path.join(os.tmpdir(), `epollws-demo-${process.pid}.png`);
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await bob.screenshot({ path: shot });
    assert.ok(fs.statSync(shot).size > 1000);
    if (!update) fs.rmSync(shot);

    // Alice leaves: Bob is told.
    await alice.context().close();
    await bob.waitForSelector('#messages li.system >> text=Alice left · 1 in the room');

    // Carol's page shows her own join and nothing of the other room (Alice's leave came last).
    const carolLines = await carol.$$eval('#messages li', (items) => items.map((li) => li.textContent.trim()));
    assert.equal(carolLines.length, 1, `Carol's page: ${JSON.stringify(carolLines)}`);
    assert.match(carolLines[0], /Carol joined · 1 in the room/);
    await carol.context().close();

    assert.deepEqual(outsiderMessages.map((m) => (typeof m === 'string' ? m : `${m.type}:${m.name ?? m.from}`)), ['join:Eve'],
      'nothing from another room reaches the outsider');
  });
});
