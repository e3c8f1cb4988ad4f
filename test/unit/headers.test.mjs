// Header grammar of the opening handshake (lib/headers.ts): RFC 7230 tokens, field values, the
// Sec-WebSocket-Protocol list, and the header lines JS adds to an answer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { headerLines, isToken, isValidHeaderLine, joinHeaderLines, parseProtocols } from '../../dist/headers.js';

// Every visible ASCII character that RFC 7230 leaves out of tokens (the separators).
const SEPARATORS = '"(),/:;<=>?@[\\]{}';

describe('unit: header grammar', () => {
  it('a token is one or more tchars', () => {
    for (const token of ['chat', 'v2.chat.example', "!#$%&'*+-.^_`|~", 'A0z9', 'x']) assert.ok(isToken(token), token);
    for (const c of SEPARATORS) assert.equal(isToken(`a${c}b`), false, `separator ${c}`);
    for (const bad of ['', ' chat', 'chat ', 'a b', 'a\tb', 'a\r\nb', 'a\0b', 'caf\u00e9', 'd\u00fcsseldorf', 'x\u20ac', '\x7f']) {
      assert.equal(isToken(bad), false, JSON.stringify(bad));
    }
  });

  it('parses a subprotocol list: commas, optional whitespace, order kept', () => {
    assert.deepEqual([...parseProtocols('chat')], ['chat']);
    assert.deepEqual([...parseProtocols('chat, superchat')], ['chat', 'superchat']);
    assert.deepEqual([...parseProtocols('b,a , \tc\t')], ['b', 'a', 'c']);
    assert.deepEqual([...parseProtocols('Chat, chat')], ['Chat', 'chat'], 'names are case-sensitive');
  });

  it('no header is an empty set, the same one each time', () => {
    const none = parseProtocols(undefined);
    assert.equal(none.size, 0);
    assert.equal(parseProtocols(undefined), none);
  });

  it('a malformed list or a repeated name is refused (null)', () => {
    for (const header of ['', ' ', ',', 'chat,', ',chat', 'a,,b', 'a b', 'a;b', 'a/1', '"chat"', 'caf\u00e9', 'a, a', 'x, y, x']) {
      assert.equal(parseProtocols(header), null, JSON.stringify(header));
    }
  });

  it('turns a headers object into lines, in insertion order', () => {
    assert.deepEqual(headerLines(undefined), []);
    assert.deepEqual(headerLines({}), []);
    assert.deepEqual(headerLines({ 'X-One': '1', 'set-cookie': 'a=b; Path=/' }), ['X-One: 1', 'set-cookie: a=b; Path=/']);
  });

  it('a line is valid with a token name and a value free of CR, LF, NUL and other controls', () => {
    for (const line of ['X-A: 1', 'X-A:', 'X-A:1', 'X-A: tab\there', 'X-A: obs-text \u00e9\u00ff', 'X-A: a:b:c', "X-A: !\"#$%&'()*+,-./~"]) {
      assert.ok(isValidHeaderLine(line), JSON.stringify(line));
    }
    const bad = [
      ': no name', 'no colon', 'X A: 1', 'X-A : 1', 'X(A): 1', '\u00e9: 1', 'X-A: 1\r\nX-Injected: 2', 'X-A: 1\n', 'X-A: 1\r',
      'X-A: \0', 'X-A: \x1b[31m', 'X-A: \x7f', 'X-A: \u20ac', '',
    ];
    for (const line of bad) assert.equal(isValidHeaderLine(line), false, JSON.stringify(line));
  });

  it('joins lines for the core: each ended by CRLF, nothing for none', () => {
    assert.equal(joinHeaderLines([]), '');
    assert.equal(joinHeaderLines(['A: 1']), 'A: 1\r\n');
    assert.equal(joinHeaderLines(['A: 1', 'B: 2']), 'A: 1\r\nB: 2\r\n');
  });
});
