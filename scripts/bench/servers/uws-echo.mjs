// Echo server on uWebSockets.js. The package lives outside the repo (scripts/bench/setup-uws.sh);
// UWS_DIR names it, and on glibc < 2.38 the harness starts this with LD_PRELOAD set to the shim.
// --compression shared: SHARED_COMPRESSOR (server_no_context_takeover, one compressor for all
// sockets); --compression dedicated: DEDICATED_COMPRESSOR + DEDICATED_DECOMPRESSOR (a zlib stream
// pair per socket, context takeover). Either way every echo is sent with compress = true.
import { createRequire } from 'node:module';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host, compression } = parseServerArgs();
if (!process.env.UWS_DIR) {
  console.error('uws-echo: set UWS_DIR (printed by scripts/bench/setup-uws.sh)');
  process.exit(2);
}
const uWS = createRequire(import.meta.url)(process.env.UWS_DIR);

uWS
  .App()
  .ws('/*', {
    compression:
      compression === 'shared' ? uWS.SHARED_COMPRESSOR
        : compression === 'dedicated' ? uWS.DEDICATED_COMPRESSOR | uWS.DEDICATED_DECOMPRESSOR
          : uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD,
    // uWS drops sends past maxBackpressure; a 4 MiB echo must be queued, never dropped.
    maxBackpressure: 4 * MAX_PAYLOAD,
    idleTimeout: 0, // the idle-connection memory scenario holds connections silent
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary, compression !== null);
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
