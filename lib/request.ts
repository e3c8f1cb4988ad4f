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
  /** Lower-case names; repeated headers joined with ", " (cookies with "; "), as Node does. */
  headers: Record<string, string>;
  /** Names and values as received, alternating. */
  rawHeaders: string[];
  socket: RequestSocketInfo;
  /**
   * The client's address: the first X-Forwarded-For entry when the server's `trustProxy` option
   * allows it, else the connection's source (which a PROXY protocol header sets, see `proxyProtocol`).
   */
  clientAddress?: string;
}

/** The client's address for `request` (see UpgradeRequest.clientAddress). */
export function clientAddressOf(request: UpgradeRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = forwarded?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket?.remoteAddress ?? '';
}

/** Parses the core's UPGRADE payload: "address\0port\0family\0" followed by the raw request head. */
export function parseUpgradePayload(payload: Buffer): UpgradeRequest {
  const text = payload.toString('latin1');
  const addressEnd = text.indexOf('\0');
  const portEnd = text.indexOf('\0', addressEnd + 1);
  const familyEnd = text.indexOf('\0', portEnd + 1);
  const socket: RequestSocketInfo = {
    remoteAddress: text.slice(0, addressEnd),
    remotePort: Number(text.slice(addressEnd + 1, portEnd)),
    remoteFamily: text.slice(portEnd + 1, familyEnd) === '6' ? 'IPv6' : 'IPv4',
  };
  const lines = text.slice(familyEnd + 1).split('\r\n');
  const [method = '', url = '', version = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    const previous = headers[key];
    headers[key] = previous === undefined ? value : `${previous}${key === 'cookie' ? '; ' : ', '}${value}`;
  }
  return { method, url, httpVersion: version.replace(/^HTTP\//, ''), headers, rawHeaders, socket };
}
