#!/usr/bin/env node
// Server of bench (l), socket.io broadcast: a socket.io Server (websocket transport only) on a
// node:http server, with the engine given by --engine: `ws` (socket.io's default), `eiows` (found
// under EIOWS_DIR, installed outside the repo) or `epollws` (this package's WebSocketServer).
//
// One emitter: after the load process's control client sends 'start', the server broadcasts
// io.emit('tick', seq, payload) with consecutive sequence numbers, keeping at most --window
// broadcasts in flight: the control client acks the highest sequence number that every client has
// received ('acked'), which lets the next ones go. 'stop' ends the emitting and answers with the
// last sequence number sent, so the load process can check that every client got all of them.
//
//   node scripts/bench/servers/socketio-broadcast.mjs --engine ws|eiows|epollws [--port P] [--host H] [--window N]
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Server } from 'socket.io';

const argv = process.argv.slice(2);
const value = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const engine = value('--engine', 'ws');
const host = value('--host', '127.0.0.1');
const port = Number(value('--port', '0'));
const WINDOW = Number(value('--window', '32'));

async function wsEngine() {
  if (engine === 'ws') return undefined; // socket.io's default: require('ws').Server
  if (engine === 'epollws') return (await import('../../../dist/index.mjs')).WebSocketServer;
  if (engine === 'eiows') {
    const dir = process.env.EIOWS_DIR;
    if (!dir) throw new Error('EIOWS_DIR is not set');
    return createRequire(path.join(dir, 'node_modules', 'index.js'))('eiows').Server;
  }
  throw new Error(`unknown --engine ${engine}`);
}

const httpServer = http.createServer();
const Engine = await wsEngine();
const io = new Server(httpServer, {
  transports: ['websocket'],
  ...(Engine ? { wsEngine: Engine } : {}),
  perMessageDeflate: false,
  pingInterval: 60_000, // no pings inside a measured window
  pingTimeout: 60_000,
});

let payload = '';
let seq = 0; // last sequence number broadcast
let acked = 0; // highest sequence number every client has received
let running = false;

function pump() {
  while (running && seq - acked < WINDOW) io.emit('tick', ++seq, payload);
}

io.on('connection', (socket) => {
  if (socket.handshake.auth?.control !== true) return;
  // The control client is a socket.io client too, so it receives the broadcasts as well.
  socket.on('start', (size, cb) => {
    payload = 'x'.repeat(size);
    running = true;
    cb();
    pump();
  });
  socket.on('acked', (n) => {
    if (n > acked) acked = n;
    pump();
  });
  socket.on('stop', (cb) => {
    running = false;
    cb(seq);
  });
});

httpServer.listen(port, host, () => {
  console.log(`listening on ws://${host}:${httpServer.address().port} (socket.io ${engine})`);
});
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
