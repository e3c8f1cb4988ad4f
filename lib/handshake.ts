// The upgrade decision: verifyClient, then the `upgrade` hook, then handleProtocols, then an
// answer (101 or an HTTP error) by the core. Whichever path the socket came by (the core's own
// listener, or a node:http socket the core adopted before the decision), it is by now a core
// connection awaiting a decision that the core has validated: one PendingHandshake, one
// acceptUpgrade/rejectUpgrade, one HTTP writer (the core's), which also checks the header lines.
import type { EventEmitter } from 'node:events';

import type { AnswerStatus, Core } from './core';
import { headerLines, isToken, joinHeaderLines, parseProtocols } from './headers';
import type { NormalizedOptions, UpgradeDecision } from './options';
import { clientAddressOf, type UpgradeRequest } from './request';

/** An upgrade waiting for the user's decision. */
export interface PendingHandshake {
  readonly request: UpgradeRequest;
  readonly slot: number;
  readonly generation: number;
  /** The Sec-WebSocket-Protocol header, if any. */
  offeredProtocols(): string | undefined;
  /** False once the client has gone (or the handshake was answered). */
  alive(): boolean;
  /** Answers 101 ('closed': the client has gone; 'invalid-headers': nothing was sent). */
  accept(protocol: string, headerLines: string[]): AnswerStatus;
  /** Answers `status` ('invalid-headers': nothing was sent). */
  reject(status: number, headerLines: string[], body: string): AnswerStatus;
}

/** What the decision needs from its server. */
export interface DecisionHost {
  readonly options: Readonly<NormalizedOptions>;
  /** The server's events: 'error', 'headers', 'wsClientError'. */
  readonly events: EventEmitter;
  /** False once the server is shutting down: upgrades still being decided get 503. */
  running(): boolean;
}

/** Called with the new connection once the 101 is queued (`deflate`: permessage-deflate was agreed). */
export type OnAccepted = (slot: number, generation: number, protocol: string, deflate: boolean) => void;

type Rejection = Extract<UpgradeDecision, { action: 'reject' }>;
type VerifyCallback = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/** Runs the user's hooks for `pending` and answers it. */
export function decideUpgrade(host: DecisionHost, pending: PendingHandshake, onAccepted: OnAccepted): void {
  const request = pending.request;
  request.clientAddress = clientAddressOf(request, host.options.trustProxy);
  if (!host.running()) {
    reject(host, pending, { action: 'reject', status: 503 });
    return;
  }
  const protocols = parseProtocols(pending.offeredProtocols());
  if (protocols === null) {
    // The core refuses these (INVALID_SUBPROTOCOL) before any decision; a binding that did not
    // would still not get a connection with a protocol list nobody can choose from.
    reject(host, pending, { action: 'reject', status: 400, body: 'Invalid Sec-WebSocket-Protocol header' });
    return;
  }

  const afterVerify = (): void => {
    const hook = host.options.upgrade;
    if (!hook) {
      complete(host, pending, protocols, undefined, onAccepted);
      return;
    }
    let decision: UpgradeDecision | void | Promise<UpgradeDecision | void>;
    try {
      decision = hook(request);
    } catch (error) {
      hookFailed(host, pending, error);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (value) => complete(host, pending, protocols, value ?? undefined, onAccepted),
        (error: unknown) => hookFailed(host, pending, error),
      );
    } else {
      complete(host, pending, protocols, decision ?? undefined, onAccepted);
    }
  };

  const verify = host.options.verifyClient;
  if (!verify) {
    afterVerify();
    return;
  }
  const info = { origin: request.headers.origin, secure: false, req: request };
  if (verify.length >= 2) {
    (verify as (i: typeof info, cb: VerifyCallback) => void)(info, (ok, code = 401, message, headers) => {
      if (ok) afterVerify();
      else reject(host, pending, { action: 'reject', status: code, body: message, headers });
    });
  } else if ((verify as (i: typeof info) => boolean)(info)) {
    afterVerify();
  } else {
    reject(host, pending, { action: 'reject', status: 401 });
  }
}

/**
 * Answers `pending` with an HTTP error (a status outside 400-599 becomes 500). Header lines the
 * core refuses are left out, and the refusal is reported as an 'error'.
 */
export function reject(host: DecisionHost, pending: PendingHandshake, decision: Rejection): void {
  if (!pending.alive()) return;
  const status = Number.isInteger(decision.status) && decision.status >= 400 && decision.status <= 599 ? decision.status : 500;
  const lines = headerLines(decision.headers);
  if (pending.reject(status, lines, decision.body ?? '') === 'invalid-headers') {
    pending.reject(status, [], decision.body ?? '');
    host.events.emit('error', invalidHeaders('rejection', lines));
  }
}

function invalidHeaders(answer: string, lines: string[]): TypeError {
  const rule = 'each must be "Name: value" with a token name and no CR, LF or NUL';
  return new TypeError(`Invalid response header for the ${answer} (${rule}): ${JSON.stringify(lines)}`);
}

function hookFailed(host: DecisionHost, pending: PendingHandshake, error: unknown): void {
  reject(host, pending, { action: 'reject', status: 500 });
  host.events.emit('error', error instanceof Error ? error : new Error(String(error)));
}

function complete(
  host: DecisionHost,
  pending: PendingHandshake,
  protocols: ReadonlySet<string>,
  decision: UpgradeDecision | undefined,
  onAccepted: OnAccepted,
): void {
  if (!pending.alive()) return; // the client left while we decided
  if (!host.running()) decision = { action: 'reject', status: 503 };
  if (decision?.action === 'reject') {
    reject(host, pending, decision);
    return;
  }
  let protocol = '';
  if (decision?.protocol !== undefined) {
    protocol = decision.protocol;
  } else if (protocols.size > 0) {
    const handleProtocols = host.options.handleProtocols;
    const chosen = handleProtocols ? handleProtocols(protocols as Set<string>, pending.request) : protocols.values().next().value;
    if (chosen) protocol = chosen;
  }
  const lines = decision?.headers ? headerLines(decision.headers) : [];
  if (host.events.listenerCount('headers') > 0) host.events.emit('headers', lines, pending.request);
  if (protocol && !isToken(protocol)) {
    hookFailed(host, pending, new TypeError(`Invalid subprotocol for the 101 answer: ${JSON.stringify(protocol)}`));
    return;
  }
  const answer = pending.accept(protocol, lines);
  if (answer === 'invalid-headers') hookFailed(host, pending, invalidHeaders('101 answer', lines));
  else if (answer === 'ok' || answer === 'ok-deflate') onAccepted(pending.slot, pending.generation, protocol, answer === 'ok-deflate');
}

/** The core connections awaiting a decision (from either path): slot -> generation. */
export class PendingHandshakes {
  readonly #core: Core;
  readonly #pending = new Map<number, number>();

  constructor(core: Core) {
    this.#core = core;
  }

  /** `offeredProtocols` reads the request's Sec-WebSocket-Protocol (lazily: most offer none). */
  add(slot: number, generation: number, request: UpgradeRequest, offeredProtocols: () => string | undefined): PendingHandshake {
    this.#pending.set(slot, generation);
    return new CoreHandshake(this, slot, generation, request, offeredProtocols);
  }

  isPending(slot: number, generation: number): boolean {
    return this.#pending.get(slot) === generation;
  }

  /** The connection closed: true if it was an upgrade still awaiting its decision. */
  forget(slot: number, generation: number): boolean {
    if (!this.isPending(slot, generation)) return false;
    this.#pending.delete(slot);
    return true;
  }

  accept(slot: number, generation: number, protocol: string, lines: string[]): AnswerStatus {
    const joined = joinLines(lines);
    if (joined === undefined) return 'invalid-headers';
    return this.#settled(slot, this.#core.acceptUpgrade(slot, generation, protocol, joined));
  }

  reject(slot: number, generation: number, status: number, lines: string[], body: string): AnswerStatus {
    const joined = joinLines(lines);
    if (joined === undefined) return 'invalid-headers';
    return this.#settled(slot, this.#core.rejectUpgrade(slot, generation, status, joined, body));
  }

  /** Answers every upgrade still awaiting its decision (a shutdown). */
  rejectAll(status: number): void {
    for (const [slot, generation] of [...this.#pending]) this.reject(slot, generation, status, [], '');
  }

  // Refused header lines leave the handshake pending (nothing was sent): it can still be answered.
  #settled(slot: number, answer: AnswerStatus): AnswerStatus {
    if (answer !== 'invalid-headers') this.#pending.delete(slot);
    return answer;
  }
}

// The core checks the grammar of the lines it is given ("Name: value\r\n" each), but once joined
// a line holding CRLF reads as two valid lines: a line break inside one line is refused here.
function joinLines(lines: string[]): string | undefined {
  return lines.some((line) => /[\r\n]/.test(line)) ? undefined : joinHeaderLines(lines);
}

// One object per handshake (not closures), holding only its id and request.
class CoreHandshake implements PendingHandshake {
  constructor(
    private readonly table: PendingHandshakes,
    readonly slot: number,
    readonly generation: number,
    readonly request: UpgradeRequest,
    readonly offeredProtocols: () => string | undefined,
  ) {}

  alive(): boolean {
    return this.table.isPending(this.slot, this.generation);
  }

  accept(protocol: string, lines: string[]): AnswerStatus {
    return this.table.accept(this.slot, this.generation, protocol, lines);
  }

  reject(status: number, lines: string[], body: string): AnswerStatus {
    return this.table.reject(this.slot, this.generation, status, lines, body);
  }
}
