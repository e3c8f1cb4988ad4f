// Fan-out server on uWebSockets.js for scenario (h): sockets on /sub subscribe to one topic; every
// message a socket on /pub sends goes to all of them with app.publish. UWS_DIR names the package
// (scripts/bench/setup-uws.sh).
import { createRequire } from 'node:module';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host } = parseServerArgs();
if (!process.env.UWS_DIR) {
  console.error('fanout-uws: set UWS_DIR (printed by scripts/bench/setup-uws.sh)');
  process.exit(2);
}
const uWS = createRequire(import.meta.url)(process.env.UWS_DIR);
const app = uWS.App();
const behavior = (subscriber) => ({
  compression: uWS.DISABLED,
  maxPayloadLength: MAX_PAYLOAD,
  maxBackpressure: 64 * 1024 * 1024, // the load generator's window bounds the queues; never drop
  idleTimeout: 0,
  open: (ws) => {
    if (subscriber) ws.subscribe('all');
  },
  message: (ws, message, isBinary) => {
    if (!subscriber) app.publish('all', message, isBinary);
  },
});
app
  .ws('/sub', behavior(true))
  .ws('/pub', behavior(false))
  .listen(host, port, (token) => {
    if (!token) {
      console.error(`fanout-uws: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`listening on ws://${host}:${uWS.us_socket_local_port(token)}`);
  });
process.on('SIGTERM', () => process.exit(0));
