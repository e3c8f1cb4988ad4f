// Child process of the handshake-flood test (test/tls/tls-hostile.test.mjs). It holds an open wss
// connection, opens `count` TCP connections, writes one ClientHello on each (all in one go, so
// that the server has `count` handshakes to do at once), then does `echoes` sequential echo round
// trips on the open connection, noting after each how many of the ClientHellos the server has
// answered so far (the count and the echo are seen in the same process, so no message between
// them can blur it).
//
// Why not node:tls clients for the flood: creating each TLSSocket costs the client more than the
// native server's whole handshake step, so their ClientHellos would trickle in as fast as the
// server answers them, and the server would never hold a queue of handshakes to be fair about.
//   in:  { type: 'start', port, ca, hello (base64), count, echoes }   { type: 'stop' }
//   out: { type: 'echoed', answered: [after echo 1, after echo 2, ...] } after the last echo;
//        { type: 'all', answered, failed } once every flood connection got the server's first
//        flight or failed; { type: 'error', message }. The flood's handshakes are never
//        finished; the connections stay open until 'stop'.
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';

let answered = 0;
let failed = 0;
const sockets = [];

// Bounded on its own: a parent that died without a 'stop' leaves nothing behind.
setTimeout(() => process.exit(2), 120_000).unref();
process.on('disconnect', () => process.exit(0));

process.on('message', (message) => {
  if (message.type === 'start') {
    start(message).catch((error) => {
      process.send({ type: 'error', message: String(error?.stack ?? error) });
    });
  } else if (message.type === 'stop') {
    for (const socket of sockets) socket.destroy();
    process.disconnect();
  }
});

async function start({ port, ca, hello, count, echoes }) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca });
  await once(ws, 'open');
  const connects = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      if (ok) answered++;
      else failed++;
      if (answered + failed === count) process.send({ type: 'all', answered, failed });
    };
    socket.once('data', () => settle(true));
    socket.on('error', () => settle(false));
    socket.once('close', () => settle(false));
    connects.push(once(socket, 'connect'));
  }
  await Promise.all(connects);
  const bytes = Buffer.from(hello, 'base64');
  for (const socket of sockets) socket.write(bytes);
  const progress = [];
  for (let i = 0; i < echoes; i++) {
    ws.send(`round trip ${i}`);
    const [data] = await once(ws, 'message');
    progress.push(answered);
    if (data.toString() !== `round trip ${i}`) throw new Error(`echo ${i} came back as ${data}`);
  }
  process.send({ type: 'echoed', answered: progress });
  ws.close();
}
