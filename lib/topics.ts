// Topics: ws.subscribe/unsubscribe/isSubscribed/subscriptions/publish and wss.publish/
// subscriberCount/publishStats meet the core here. The core keeps the registry and frames each
// publish once for all subscribers (native/core/server_topics.cc); this file checks arguments,
// picks the opcode (with the compress flag), and reports a topic's first subscriber and its last one leaving (the server's
// 'subscription' event). Calls go through Core like every other binding call.
import type { Core } from './core';

/** Options of `wss.publish()` and `ws.publish()`. */
export interface PublishOptions {
  /** Send as binary even for a string (default: strings are text, everything else binary), as in send(). */
  binary?: boolean;
  /**
   * Whether subscribers that negotiated permessage-deflate get the message compressed (default
   * true, as in send(); each subscriber's `threshold` applies, and subscribers without the
   * extension always get it uncompressed). Subscribers without server context takeover
   * (`server_no_context_takeover` agreed, e.g. with `perMessageDeflate: { serverNoContextTakeover:
   * true }`) share one compressed frame per window size: the message is deflated once. Those with
   * context takeover are compressed one by one with their own stream, as send() would (README,
   * "Topics and permessage-deflate").
   */
  compress?: boolean;
}

/**
 * Totals since the server started (`wss.publishStats`). `queued` counts deliveries (one per
 * subscriber a message was queued for); `refused` counts subscribers a message was NOT queued for
 * because their backpressure policy applied ('drop': skipped; 'close': the socket was dropped) or
 * because a fragmented send of theirs (`fin: false`) was unfinished. Closing sockets count in neither.
 */
export interface PublishStats {
  publishes: number;
  queued: number;
  refused: number;
  /**
   * Deflate runs publishes made: one per publish and window size for the subscribers without
   * server context takeover, one per subscriber with it.
   */
  deflates: number;
}

/** @internal The slot value that excludes no socket from a publish. */
export const NO_SOCKET = 0xffffffff;

/** @internal Throws the TypeError or RangeError a bad topic name deserves. */
export function checkTopic(topic: unknown, maxBytes: number): asserts topic is string {
  if (typeof topic !== 'string') {
    throw new TypeError(`The topic must be a string, got ${topic === null ? 'null' : typeof topic}`);
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8: short names skip the count.
  if (topic.length * 3 > maxBytes && Buffer.byteLength(topic) > maxBytes) {
    throw new RangeError(`The topic must not be longer than ${maxBytes} bytes of UTF-8`);
  }
}

/**
 * @internal One per server: the topic calls of its sockets and of the server itself.
 *
 * The 'subscription' events alternate per topic (1, 0, 1, ...) and each says what the core holds
 * when it is emitted: `#active` holds the topics last reported with 1. A closed socket's topics end
 * in the core before JS hears of it (its SUBSCRIPTION record comes with the CLOSE), and JS may have
 * subscribed another socket to such a topic meanwhile (in a 'close' listener, or after a
 * terminate()): then the topic never stopped being active as far as the listener knows, and no
 * event is emitted at all.
 */
export class Topics {
  readonly #core: Core;
  readonly #maxBytes: number;
  readonly #changed: (topic: string, count: number) => void;
  readonly #active = new Set<string>();

  /** `changed(topic, count)` runs when a topic gets its first subscriber (1) or loses its last (0). */
  constructor(core: Core, changed: (topic: string, count: number) => void) {
    this.#core = core;
    this.#maxBytes = core.maxTopicLength;
    this.#changed = changed;
  }

  subscribe(slot: number, generation: number, topic: string): boolean {
    checkTopic(topic, this.#maxBytes);
    const count = this.#core.subscribe(slot, generation, topic);
    if (count > 0 && !this.#active.has(topic)) {
      this.#active.add(topic);
      this.#changed(topic, 1);
    }
    return count > 0;
  }

  unsubscribe(slot: number, generation: number, topic: string): boolean {
    checkTopic(topic, this.#maxBytes);
    const count = this.#core.unsubscribe(slot, generation, topic);
    if (count === 0) this.ended(topic);
    return count >= 0;
  }

  /** The topic's count reached 0 (an unsubscribe, or the core's SUBSCRIPTION event for a closed socket). */
  ended(topic: string): void {
    if (!this.#active.has(topic) || this.#core.subscriberCount(topic) !== 0) return;
    this.#active.delete(topic);
    this.#changed(topic, 0);
  }

  isSubscribed(slot: number, generation: number, topic: string): boolean {
    checkTopic(topic, this.#maxBytes);
    return this.#core.isSubscribed(slot, generation, topic);
  }

  subscriptions(slot: number, generation: number): string[] {
    return this.#core.subscriptions(slot, generation);
  }

  subscriberCount(topic: string): number {
    checkTopic(topic, this.#maxBytes);
    return this.#core.subscriberCount(topic);
  }

  /** The number of sockets the message was queued for. */
  publish(topic: string, bytes: string | Uint8Array, options: PublishOptions | undefined, exceptSlot: number, exceptGeneration: number): number {
    checkTopic(topic, this.#maxBytes);
    const opcodes = this.#core.opcodes;
    const binary = options?.binary ?? typeof bytes !== 'string';
    let opcode = binary ? opcodes.BINARY : opcodes.TEXT;
    if (options?.compress !== false) opcode |= this.#core.sendCompress;
    return this.#core.publish(topic, bytes, opcode, exceptSlot, exceptGeneration);
  }

  stats(): PublishStats {
    return this.#core.publishStats();
  }
}
