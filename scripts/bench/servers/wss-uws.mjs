// wss echo on uWebSockets.js's SSLApp (its own BoringSSL). UWS_DIR names the package (see
// scripts/bench/setup-uws.sh); the certificate comes from EPOLLWS_BENCH_TLS_CERT / _KEY.
import { createRequire } from 'node:module';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host } = parseServerArgs();
const uWS = createRequire(import.meta.url)(process.env.UWS_DIR);
uWS
  .SSLApp({ cert_file_name: process.env.EPOLLWS_BENCH_TLS_CERT, key_file_name: process.env.EPOLLWS_BENCH_TLS_KEY })
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD,
    maxBackpressure: 4 * MAX_PAYLOAD,
    idleTimeout: 0,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .listen(host, port, (token) => {
    if (!token) {
      console.error(`wss-uws: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    console.log(`listening on wss://${host}:${uWS.us_socket_local_port(token)}`);
  });
process.on('SIGTERM', () => process.exit(0));
