// The upgrade request as the user sees it: shaped like the parts of http.IncomingMessage that
// ws users read (url, headers, socket.remoteAddress), parsed from the head the core validated.

export interface RequestSocketInfo {
  remoteAddress: string;
  remotePort: number;
  remoteFamily: 'IPv4' | 'IPv6';
}

export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  /**
   * Lower-case names; repeated headers joined with ", " (cookies with "; "), except those of which
   * node:http keeps the first (host, user-agent, authorization, ...), as Node does.
   */
  headers: Record<string, string>;
  /** Names and values as received, alternating. */
  rawHeaders: string[];
  /** On a port with the `tls` option, a TlsRequestSocketInfo (getPeerCertificate(), authorized...). */
  socket: RequestSocketInfo;
  /**
   * The client's address: the first X-Forwarded-For entry when the server's `trustProxy` option
   * allows it, else the connection's source (which a PROXY protocol header sets, see `proxyProtocol`).
   */
  clientAddress?: string;
}

/** @internal The client's address for `request` (see UpgradeRequest.clientAddress). */
export function clientAddressOf(request: UpgradeRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = forwarded?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket?.remoteAddress ?? '';
}

// Headers of which node:http keeps only the first when a request repeats them (IncomingMessage's
// rule), so that code reading request.headers sees the same values on both paths.
const FIRST_ONLY: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/**
 * @internal A request read by the core's own listener. Headers are parsed on first access: a server that
 * never looks at them (most echo and broadcast servers) pays one string per handshake, and idle
 * connections keep nothing of their request once the user drops it.
 */
export class ListenerRequest implements UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly socket: RequestSocketInfo;
  clientAddress?: string;
  #head: string;
  #headers: Record<string, string> | undefined;
  #rawHeaders: string[] | undefined;

  /** `head` is the request head as the core validated it (request line, headers, CRLFs). */
  constructor(socket: RequestSocketInfo, head: string) {
    this.socket = socket;
    this.#head = head;
    const lineEnd = head.indexOf('\r\n');
    const requestLine = head.slice(0, lineEnd);
    const firstSpace = requestLine.indexOf(' ');
    const lastSpace = requestLine.lastIndexOf(' ');
    this.method = requestLine.slice(0, firstSpace);
    this.url = requestLine.slice(firstSpace + 1, lastSpace);
    this.httpVersion = requestLine.slice(lastSpace + 6); // after " HTTP/"
  }

  get headers(): Record<string, string> {
    if (this.#headers === undefined) this.#parseHeaders();
    return this.#headers!;
  }

  get rawHeaders(): string[] {
    if (this.#rawHeaders === undefined) this.#parseHeaders();
    return this.#rawHeaders!;
  }

  #parseHeaders(): void {
    const headers: Record<string, string> = {};
    const rawHeaders: string[] = [];
    const lines = this.#head.split('\r\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      rawHeaders.push(name, value);
      const key = name.toLowerCase();
      const previous = headers[key];
      if (previous === undefined) headers[key] = value;
      else if (!FIRST_ONLY.has(key)) headers[key] = `${previous}${key === 'cookie' ? '; ' : ', '}${value}`;
    }
    this.#headers = headers;
    this.#rawHeaders = rawHeaders;
  }

  /** The Sec-WebSocket-Protocol header, found without parsing every header (the common case has none). */
  offeredProtocols(): string | undefined {
    if (this.#headers !== undefined) return this.#headers['sec-websocket-protocol'];
    return /\r\nsec-websocket-protocol:/i.test(this.#head) ? this.headers['sec-websocket-protocol'] : undefined;
  }
}
