// What a retained message keeps alive. Small payloads of a turn reach JS in chunks of at most
// 64 KiB, so an application that keeps one message per turn (chat history, last state) holds at
// most a chunk per message, not each turn's whole payload area with every other connection's
// messages. A server in a child process (--expose-gc) keeps the first message of every turn while
// several clients send 16 KB messages; after 10,000 such turns its ArrayBuffer memory must stay
// within a small multiple of what it kept.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import net from 'node:net';
import { buildRequest, encodeFrame, OP } from '../helpers/raw-ws.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

const TURNS = 10_000;
const CLIENTS = 8;
const MESSAGE_BYTES = 16_000;
const CHECK_EVERY = 500;
// A kept 16,000-byte message shares its chunk with at most three others (64 KiB chunks).
const ALLOWED_RATIO = 5;
const SLACK = 32 * 1024 * 1024; // the runtime's own buffers, records, the last turn in flight

const entry = new URL('../../dist/index.mjs', import.meta.url).href;

// Keeps the first message of each turn: the turn's events run in one call, and process.nextTick
// callbacks run after it, before the next turn. Every CHECK_EVERY turns it collects garbage and
// reports; it stops early once over the bound, so a regression fails fast instead of filling RAM.
// V8 frees dead ArrayBuffers on a background thread after a GC (concurrent array buffer sweeping):
// right after gc(), memoryUsage().arrayBuffers may still count tens of MB that are already dead,
// enough to cross the bound at the first check, where the slack is most of it. The child runs
// with that sweeping on the main thread, so gc() returns with the dead buffers freed.
const serverSource = `
import { WebSocketServer } from ${JSON.stringify(entry)};
const [turns, every, ratio, slack] = process.argv.slice(1).map(Number);
const kept = [];
let keptBytes = 0;
let messages = 0;
let takenThisTurn = false;
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
const report = (fields) => process.stdout.write(JSON.stringify(fields) + '\\n');
wss.on('listening', () => report({ port: wss.address().port }));
wss.on('connection', (socket) => {
  socket.on('message', (data) => {
    messages++;
    if (takenThisTurn) return;
    takenThisTurn = true;
    process.nextTick(() => { takenThisTurn = false; });
    kept.push(data);
    keptBytes += data.length;
    if (kept.length % every !== 0) return;
    globalThis.gc();
    const { arrayBuffers } = process.memoryUsage();
    const over = arrayBuffers > ratio * keptBytes + slack;
    report({ turns: kept.length, keptBytes, arrayBuffers, messages, over });
    if (over || kept.length >= turns) {
      report({ done: true });
      wss.terminate().then(() => process.exit(0));
    }
  });
});
`;

describe('api: what a retained message keeps alive', { timeout: 180_000 }, () => {
  const clients = [];
  let child;
  after(() => {
    for (const socket of clients) socket.destroy();
    child?.kill();
  });

  it('keeping one 16 KB message per busy turn for 10,000 turns holds a small multiple of what was kept', { timeout: 170_000 }, async () => {
    const v8Flags = ['--expose-gc', '--no-concurrent-array-buffer-sweeping'];
    child = spawn(process.execPath, [...v8Flags, '--input-type=module', '-e', serverSource, String(TURNS), String(CHECK_EVERY), String(ALLOWED_RATIO), String(SLACK)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const reports = [];
    const lines = createInterface({ input: child.stdout });
    let onReport = () => {};
    let exited; // how the child ended, once its stdout is read to the end
    lines.on('line', (line) => {
      reports.push(JSON.parse(line));
      onReport();
    });
    child.on('close', (code, signal) => {
      exited = `the server exited (${signal ?? code})`;
      onReport();
    });
    // A child that dies fails the test at once, with what it was waiting for.
    const next = (predicate, what) =>
      withTimeout(
        new Promise((resolve, reject) => {
          const look = () => {
            const found = reports.find(predicate);
            if (found) resolve(found);
            else if (exited) reject(new Error(`${exited} before ${what}`));
          };
          onReport = look;
          look();
        }),
        160_000,
        what,
      );

    const { port } = await next((r) => r.port !== undefined, 'the server to listen');
    // Raw sockets writing pre-encoded frames: the clients cost next to no CPU, so the server's
    // turns are busy with several connections' messages.
    const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(MESSAGE_BYTES, 0x61), maskKey: Buffer.alloc(4) });
    const burst = Buffer.concat(Array.from({ length: 16 }, () => frame));
    let sending = true;
    for (let i = 0; i < CLIENTS; i++) {
      const socket = net.connect(port, '127.0.0.1');
      clients.push(socket);
      socket.on('error', () => {});
      socket.on('data', () => {}); // the 101 answer
      const write = () => {
        while (sending && socket.write(burst));
      };
      socket.on('drain', write);
      socket.write(buildRequest({ port }).text, write);
    }
    await next((r) => r.done, `${TURNS} turns`);
    sending = false;
    const checks = reports.filter((r) => r.turns !== undefined);
    const last = checks[checks.length - 1];
    const table = checks.map((r) => `${r.turns} turns: kept ${r.keptBytes} B, arrayBuffers ${r.arrayBuffers} B`).join('; ');
    assert.equal(last.over, false, `retained memory over ${ALLOWED_RATIO}x what was kept + ${SLACK} B: ${table}`);
    assert.ok(last.messages > 2 * last.turns, `the turns were not busy: ${last.messages} messages in ${last.turns} turns`);
    assert.equal(last.turns, TURNS, table);
  });
});
