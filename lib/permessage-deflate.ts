// The perMessageDeflate option (ws's shape and defaults) and its normalised form for the core.
// Negotiation (RFC 7692 §7), inflate and deflate all happen in the core (native/core/
// deflate_negotiation.cc, permessage_deflate.cc), synchronously on the reactor thread.
import { booleanOption, integerOption, optionError } from './options';

/** zlib settings of the server's compressor (ws's `zlibDeflateOptions`). */
export interface ZlibDeflateOptions {
  /** -1 (zlib's default, 6) to 9. */
  level?: number;
  /** 1 to 9 (default 8): memory against speed and ratio. */
  memLevel?: number;
  /** zlib strategy constant, 0 (Z_DEFAULT_STRATEGY) to 4. */
  strategy?: number;
}

/** ws's `perMessageDeflate` object. */
export interface PerMessageDeflateOptions {
  /** Reset our compressor after each message (less memory, a worse ratio). Default false. */
  serverNoContextTakeover?: boolean;
  /** Ask the client to reset its compressor after each message. Default false. */
  clientNoContextTakeover?: boolean;
  /** Our compressor's window (8-15; 8 is answered as 9, which zlib needs). Default: the client's wish, else 15. */
  serverMaxWindowBits?: number | boolean;
  /** The client's largest window (8-15); offers that cannot be limited are declined. Default: none. */
  clientMaxWindowBits?: number | boolean;
  zlibDeflateOptions?: ZlibDeflateOptions;
  /** Accepted for ws compatibility; the inflater's window follows the negotiation. */
  zlibInflateOptions?: Record<string, unknown>;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** Accepted for ws compatibility (ws's thread-pool limit): compression here is synchronous. */
  concurrencyLimit?: number;
}

/** permessage-deflate settings after normalization, as `wss.options.perMessageDeflate` shows them (and the core reads them). */
export interface NormalizedDeflateOptions {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 0: not set. */
  serverMaxWindowBits: number;
  /** 0: not set. */
  clientMaxWindowBits: number;
  level: number;
  memLevel: number;
  strategy: number;
  threshold: number;
}

const DEFAULT_THRESHOLD = 1024;

function windowBits(name: string, value: unknown): number {
  if (value === undefined || typeof value === 'boolean') return 0;
  return integerOption(name, value, 0, 8, 15);
}

/** @internal `perMessageDeflate` as the core takes it; null when off (ws's default). */
export function normalizeDeflate(value: unknown): NormalizedDeflateOptions | null {
  if (value === undefined || value === false) return null;
  if (value !== true && (value === null || typeof value !== 'object')) {
    throw optionError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `Expected the "perMessageDeflate" option to be a boolean or an object, got ${String(value)}`,
    );
  }
  const options: PerMessageDeflateOptions = value === true ? {} : (value as PerMessageDeflateOptions);
  const zlib = options.zlibDeflateOptions ?? {};
  if (zlib === null || typeof zlib !== 'object') {
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected "perMessageDeflate.zlibDeflateOptions" to be an object');
  }
  return {
    serverNoContextTakeover: booleanOption('perMessageDeflate.serverNoContextTakeover', options.serverNoContextTakeover, false),
    clientNoContextTakeover: booleanOption('perMessageDeflate.clientNoContextTakeover', options.clientNoContextTakeover, false),
    serverMaxWindowBits: windowBits('perMessageDeflate.serverMaxWindowBits', options.serverMaxWindowBits),
    clientMaxWindowBits: windowBits('perMessageDeflate.clientMaxWindowBits', options.clientMaxWindowBits),
    level: integerOption('perMessageDeflate.zlibDeflateOptions.level', zlib.level, -1, -1, 9),
    memLevel: integerOption('perMessageDeflate.zlibDeflateOptions.memLevel', zlib.memLevel, 8, 1, 9),
    strategy: integerOption('perMessageDeflate.zlibDeflateOptions.strategy', zlib.strategy, 0, 0, 4),
    threshold: integerOption('perMessageDeflate.threshold', options.threshold, DEFAULT_THRESHOLD, 0, Number.MAX_SAFE_INTEGER),
  };
}
