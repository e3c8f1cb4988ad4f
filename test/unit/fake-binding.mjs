// An in-memory binding with the addon's interface (lib/native.ts): connections with states and
// output queues, the drop/close backpressure policy, and turns delivered in the binding's wire
// format (records, payload chunks of at most 64 KiB cut between records, externals). Tests drive
// the "network" side through its methods; lib sees only the binding's interface.
const EVENT = { UPGRADE: 1, MESSAGE: 2, PING: 3, PONG: 4, CLOSE: 5, DRAIN: 6, ERROR: 7, CLIENT_ERROR: 8, ACCEPT_ERROR: 9, STOPPED: 10, SUBSCRIPTION: 11 };
const CALL = { OK: 0, CLOSED: -1, WRONG_STATE: -2, DROPPED: -3 };
const EXTERNAL_MIN = 64 * 1024;
const CHUNK = 64 * 1024;

export const constants = {
  ...Object.fromEntries(Object.entries(EVENT).map(([k, v]) => [`EVENT_${k}`, v])),
  MESSAGE_BINARY: 1, MESSAGE_EXTERNAL: 2, RECORD_WORDS: 6, MAX_CONTROL_PAYLOAD: 125, MAX_TOPIC_LENGTH: 1024,
  OPCODES: { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 },
  CALL_STATUS: CALL,
  DEFAULTS: { maxPayload: 1000, maxHeaderSize: 2000, maxConnections: 3, handshakeTimeout: 4, closeTimeout: 5, idleTimeout: 6, sendPings: false, maxBackpressure: 100, maxFragments: 7 },
  ERRORS: [{ code: 'WS_ERR_NONE', message: 'none', closeCode: 1000 }, { code: 'WS_ERR_INVALID_OPCODE', message: 'Invalid opcode', closeCode: 1002 }],
  CLIENT_ERROR_HELD: 0x100,
  HANDSHAKE_FAILURES: [{ reason: 'NONE', status: 0, message: '' }, { reason: 'INVALID_KEY', status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' }],
};

export class FakeServer {
  static last;
  constructor(options, onBatch) {
    this.options = options;
    this.onBatch = onBatch;
    this.connections = new Map(); // slot -> { generation, state, queued, written, head }
    this.events = [];
    this.rejected = [];
    this.flushes = 0;
    this.nextPort = 40000;
    this.listening = 0;
    this.destroyed = false;
    FakeServer.last = this;
  }
  listen() { this.listening++; return [0, '', this.nextPort++]; }
  stopListening() { this.listening = 0; }
  dropConnections(onlyUnknown) {
    for (const [slot, c] of this.connections) if (!onlyUnknown || c.state !== 'open') this.#gone(slot, 1006);
  }
  #conn(slot, generation) {
    const c = this.connections.get(slot);
    return c && c.generation === generation ? c : undefined;
  }
  send(slot, generation, data, opcode) {
    const c = this.#conn(slot, generation);
    if (!c || c.state !== 'open') return CALL.CLOSED;
    const limit = this.options.maxBackpressure;
    if (limit && c.queued >= limit) {
      if (this.options.dropOnBackpressure) return CALL.DROPPED;
      this.#gone(slot, 1006);
      return CALL.CLOSED;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    c.output.push({ opcode, bytes });
    c.queued += bytes.length;
    return c.queued;
  }
  close(slot, generation, code) {
    const c = this.#conn(slot, generation);
    if (!c || c.state !== 'open') return CALL.CLOSED;
    c.state = 'closing';
    c.output.push({ opcode: 8, code });
    return CALL.OK;
  }
  terminate(slot, generation) { if (!this.#conn(slot, generation)) return CALL.CLOSED; this.#gone(slot, 1006); return CALL.OK; }
  accept(slot, generation, protocol, extensions, lines) {
    const c = this.#conn(slot, generation);
    if (!c) return CALL.CLOSED;
    if (c.state !== 'awaiting') return CALL.WRONG_STATE;
    c.state = 'open';
    c.output.push({ status: 101, protocol, lines });
    return CALL.OK;
  }
  reject(slot, generation, status, lines, body) {
    const c = this.#conn(slot, generation);
    if (!c) return CALL.CLOSED;
    c.output.push({ status, lines, body });
    this.rejected.push({ slot, status, lines, body }); // the connection is gone: its answer stays readable here
    this.#gone(slot, 1006, true);
    return CALL.OK;
  }
  adopt() { return [9, 0, 0, 0]; } // EBADF: no fds here
  holdRefusals(hold) { this.hold = hold; }
  writeRefusal(slot, generation, data) {
    const c = this.#conn(slot, generation);
    if (!c || c.state !== 'held') return CALL.CLOSED;
    c.output.push({ raw: Buffer.from(data).toString('latin1') });
    return CALL.OK;
  }
  endRefusal(slot, generation) {
    const c = this.#conn(slot, generation);
    if (!c || c.state !== 'held') return CALL.CLOSED;
    c.state = 'ending';
    return CALL.OK;
  }
  bufferedAmount(slot, generation) { const c = this.#conn(slot, generation); return c ? c.queued : -1; }
  flush() {
    this.flushes++;
    for (const c of this.connections.values()) { c.written.push(...c.output); c.output = []; c.queued = 0; }
  }
  connectionCount() { return this.connections.size; }
  destroy() { this.destroyed = true; }

  // The "network" side.
  // `family` is the socket's (or the PROXY header's), as the core reports it: an IPv4 client of a
  // dual-stack listener is family 6 with a mapped address.
  clientConnects(head, address = '192.0.2.1', port = 5000, family = address.includes(':') ? 6 : 4) {
    const slot = this.connections.size;
    const generation = 7;
    this.connections.set(slot, { generation, state: 'awaiting', output: [], written: [], queued: 0 });
    this.events.push([EVENT.UPGRADE, slot, generation, Buffer.from(`${address}\0${port}\0${family}\0${head}`, 'latin1'), 0]);
    return { slot, generation };
  }
  /** The core refused a handshake itself (answered `status`, never told JS of an upgrade). */
  clientSends({ slot, generation }, payload, binary = true) {
    const bytes = Buffer.from(payload);
    this.events.push([EVENT.MESSAGE, slot, generation, bytes, binary ? 1 : 0]);
  }
  /** The core refused a request (HANDSHAKE_FAILURES[failure]): held while `hold` is set, else answered. */
  clientRefused(failure, address = '192.0.2.9', port = 6000) {
    const slot = this.connections.size;
    const generation = 3;
    const held = this.hold === true;
    this.connections.set(slot, { generation, state: held ? 'held' : 'answered', output: [], written: [], queued: 0 });
    const payload = Buffer.from(`${constants.HANDSHAKE_FAILURES[failure].message}\0${address}\0${port}`, 'latin1');
    this.events.push([EVENT.CLIENT_ERROR, slot, generation, payload, failure | (held ? constants.CLIENT_ERROR_HELD : 0)]);
    return { slot, generation };
  }
  clientPings({ slot, generation }, payload) { this.events.push([EVENT.PING, slot, generation, Buffer.from(payload), 0]); }
  clientLeaves({ slot }) { this.#gone(slot, 1006); }
  #gone(slot, code, unknown = false) {
    const c = this.connections.get(slot);
    if (!c) return;
    this.connections.delete(slot);
    if (!unknown) this.events.push([EVENT.CLOSE, slot, c.generation, Buffer.alloc(0), code]);
  }

  /** One turn: every queued event to JS in the binding's format, then the flush the binding does. */
  turn() {
    const events = this.events.splice(0);
    const records = new Uint32Array(events.length * 6);
    const area = [];
    const externals = [];
    let size = 0;
    events.forEach(([kind, slot, generation, bytes, arg], i) => {
      let offset = size;
      if (kind === EVENT.MESSAGE && bytes.length >= EXTERNAL_MIN) {
        offset = externals.push(bytes) - 1;
        arg |= 2;
      } else {
        area.push(bytes);
        size += bytes.length;
      }
      records.set([kind, slot, generation, offset, bytes.length, arg], i * 6);
    });
    const data = Buffer.concat(area);
    const chunks = [];
    let start = 0;
    for (let i = 0; i < events.length; i++) {
      const [kind, , , offset, length, arg] = records.subarray(i * 6, i * 6 + 6);
      if (kind === EVENT.MESSAGE && arg & 2) continue;
      if (offset + length - start > CHUNK && offset > start) { chunks.push(data.subarray(start, offset)); start = offset; }
    }
    chunks.push(data.subarray(start));
    this.chunks = chunks;
    try {
      this.onBatch(events.length, records, chunks, externals.length ? externals : undefined);
    } finally {
      this.flush();
    }
  }
}

export const fakeBinding = { Server: FakeServer, constants };
