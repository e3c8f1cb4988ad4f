// The upgrade decision: verifyClient, then the `upgrade` hook, then handleProtocols, then an
// answer (101 or an HTTP error) through a PendingHandshake, whichever path its socket came by.
// The core's own listener (ListenerHandshake, below) and node:http takeovers (http-takeover.ts)
// are two implementations of one interface, so that when the core validates both paths the
// decision stays as it is.
import type { EventEmitter } from 'node:events';

import type { Core } from './core';
import { WebSocketError } from './errors';
import { headerLines, isToken, isValidHeaderLine, joinHeaderLines, parseProtocols } from './headers';
import type { NormalizedOptions, UpgradeDecision } from './options';
import { clientAddressOf, type ListenerRequest, type UpgradeRequest } from './request';

/** An upgrade waiting for the user's decision, wherever its socket lives. */
export interface PendingHandshake {
  readonly request: UpgradeRequest;
  /** The Sec-WebSocket-Protocol header, if any. */
  offeredProtocols(): string | undefined;
  /** False once the client has gone (or the handshake was answered). */
  alive(): boolean;
  /** Answers 101; returns the connection's [slot, generation], or undefined if it is gone. */
  accept(protocol: string, headerLines: string): [number, number] | undefined;
  /** Answers `status`; `headerLines` are valid lines only. */
  reject(status: number, headerLines: string[], body: string): void;
}

/** What the decision needs from its server. */
export interface DecisionHost {
  readonly options: Readonly<NormalizedOptions>;
  /** The server's events: 'error', 'headers', 'wsClientError'. */
  readonly events: EventEmitter;
  /** False once the server is shutting down: upgrades still being decided get 503. */
  running(): boolean;
}

/** Called with the new connection once the 101 is queued. */
export type OnAccepted = (slot: number, generation: number, protocol: string) => void;

type Rejection = Extract<UpgradeDecision, { action: 'reject' }>;
type VerifyCallback = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/** Runs the user's hooks for `pending` and answers it. */
export function decideUpgrade(host: DecisionHost, pending: PendingHandshake, onAccepted: OnAccepted): void {
  const request = pending.request;
  request.clientAddress = clientAddressOf(request, host.options.trustProxy);
  if (!host.running()) {
    reject(pending, { action: 'reject', status: 503 });
    return;
  }
  const protocols = parseProtocols(pending.offeredProtocols());
  if (protocols === null) {
    const message = 'Invalid Sec-WebSocket-Protocol header';
    reject(pending, { action: 'reject', status: 400, body: message });
    if (host.events.listenerCount('wsClientError') > 0) {
      host.events.emit('wsClientError', new WebSocketError(message, 'WS_ERR_INVALID_HANDSHAKE', 400), request.socket, request);
    }
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
      else reject(pending, { action: 'reject', status: code, body: message, headers });
    });
  } else if ((verify as (i: typeof info) => boolean)(info)) {
    afterVerify();
  } else {
    reject(pending, { action: 'reject', status: 401 });
  }
}

/** Answers `pending` with an HTTP error (a status outside 400-599 becomes 500). */
export function reject(pending: PendingHandshake, decision: Rejection): void {
  if (!pending.alive()) return;
  const status = Number.isInteger(decision.status) && decision.status >= 400 && decision.status <= 599 ? decision.status : 500;
  pending.reject(status, headerLines(decision.headers).filter(isValidHeaderLine), decision.body ?? '');
}

function hookFailed(host: DecisionHost, pending: PendingHandshake, error: unknown): void {
  reject(pending, { action: 'reject', status: 500 });
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
    reject(pending, decision);
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
  if ((protocol && !isToken(protocol)) || !lines.every(isValidHeaderLine)) {
    hookFailed(host, pending, new TypeError('Invalid subprotocol or response header for the 101 answer'));
    return;
  }
  const id = pending.accept(protocol, joinHeaderLines(lines));
  if (id !== undefined) onAccepted(id[0], id[1], protocol);
}

/** The upgrades the core's own listeners read that await a decision: slot -> generation. */
export class ListenerHandshakes {
  readonly #core: Core;
  readonly #pending = new Map<number, number>();

  constructor(core: Core) {
    this.#core = core;
  }

  add(slot: number, generation: number, request: ListenerRequest): PendingHandshake {
    this.#pending.set(slot, generation);
    return new ListenerHandshake(this, slot, generation, request);
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

  accept(slot: number, generation: number, protocol: string, lines: string): boolean {
    this.#pending.delete(slot);
    return this.#core.acceptUpgrade(slot, generation, protocol, lines);
  }

  reject(slot: number, generation: number, status: number, lines: string[], body: string): void {
    this.#pending.delete(slot);
    this.#core.rejectUpgrade(slot, generation, status, joinHeaderLines(lines), body);
  }

  /** Answers every upgrade still awaiting its decision (a shutdown). */
  rejectAll(status: number): void {
    for (const [slot, generation] of [...this.#pending]) this.reject(slot, generation, status, [], '');
  }
}

// One object per handshake (not closures), holding only its id and request.
class ListenerHandshake implements PendingHandshake {
  constructor(
    private readonly table: ListenerHandshakes,
    private readonly slot: number,
    private readonly generation: number,
    readonly request: ListenerRequest,
  ) {}

  offeredProtocols(): string | undefined {
    return this.request.offeredProtocols();
  }

  alive(): boolean {
    return this.table.isPending(this.slot, this.generation);
  }

  accept(protocol: string, lines: string): [number, number] | undefined {
    return this.table.accept(this.slot, this.generation, protocol, lines) ? [this.slot, this.generation] : undefined;
  }

  reject(status: number, lines: string[], body: string): void {
    this.table.reject(this.slot, this.generation, status, lines, body);
  }
}
