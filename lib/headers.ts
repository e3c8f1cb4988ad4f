// Header grammar for the opening handshake (RFC 7230 tokens and field values): subprotocol lists
// and the response header lines JS adds to a 101 or an error answer.

// RFC 7230 token characters, for subprotocol names and header names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

// Shared by every request that offers no subprotocol; handleProtocols is never called with it.
const NO_PROTOCOLS: ReadonlySet<string> = new Set<string>();

/** The offered subprotocols, or null when the header is malformed (or repeats a name). */
export function parseProtocols(header: string | undefined): ReadonlySet<string> | null {
  if (header === undefined) return NO_PROTOCOLS;
  const protocols = new Set<string>();
  for (const part of header.split(',')) {
    const name = part.trim();
    if (!TOKEN.test(name) || protocols.has(name)) return null;
    protocols.add(name);
  }
  return protocols;
}

export function headerLines(headers: Record<string, string> | undefined): string[] {
  if (!headers) return [];
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
}

/** "Name: value" with a token name and no CR, LF or NUL: safe to put on the wire verbatim. */
export function isValidHeaderLine(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && TOKEN.test(line.slice(0, colon)) && FIELD_VALUE.test(line.slice(colon + 1));
}

/** Lines as the core expects them: each ended by CRLF ("" for none). */
export function joinHeaderLines(lines: string[]): string {
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
}
