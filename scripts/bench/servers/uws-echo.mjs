// Echo server on uWebSockets.js. The package lives outside the repo (scripts/bench/setup-uws.sh);
// UWS_DIR names it, and on glibc < 2.38 the harness starts this with LD_PRELOAD set to the shim.
import { createRequire } from 'node:module';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host } = parseServerArgs();
if (!process.env.UWS_DIR) {
  console.error('uws-echo: set UWS_DIR (printed by scripts/bench/setup-uws.sh)');
  process.exit(2);
}
const uWS = createRequire(import.meta.url)(process.env.UWS_DIR);

uWS
  .App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD,
    // uWS drops sends past maxBackpressure; a 4 MiB echo must be queued, never dropped.
    maxBackpressure: 4 * MAX_PAYLOAD,
    idleTimeout: 0, // the idle-connection memory scenario holds connections silent
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .listen(host, port, (token) => {
    if (!token) {
      console.error(`uws-echo: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`listening on ws://${host}:${uWS.us_socket_local_port(token)}`);
  });
process.on('SIGTERM', () => process.exit(0));
