// Shared command line of the peer echo servers: --port P (0 = any free port) --host H, and for
// scenario (g) --deflate (ws: perMessageDeflate, threshold 0) or --compression shared|dedicated
// (uWebSockets.js: SHARED_COMPRESSOR, or DEDICATED_COMPRESSOR + DEDICATED_DECOMPRESSOR).
export function parseServerArgs(argv = process.argv.slice(2)) {
  const opts = { port: 0, host: '127.0.0.1', deflate: false, compression: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') opts.port = Number(argv[++i]);
    else if (argv[i] === '--host') opts.host = argv[++i];
    else if (argv[i] === '--deflate') opts.deflate = true;
    else if (argv[i] === '--compression') opts.compression = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (opts.compression !== null && !['shared', 'dedicated'].includes(opts.compression)) throw new Error('--compression is shared or dedicated');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('bad --port');
  return opts;
}

// Every peer allows at least this much so that the 4 MiB scenario and the 16 MiB limit agree.
export const MAX_PAYLOAD = 16 * 1024 * 1024;
