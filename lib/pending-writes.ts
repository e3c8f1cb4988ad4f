// Send callbacks that wait for the kernel (ws's rule: a send's callback runs once the socket has
// written the message). The core counts the bytes the transport took on a connection that asked
// (native/core/write_progress.h); each callback here is keyed by the count at which its message
// ends, and fires once a WRITTEN report reaches it. In send order, so one array and a head index.
import type { SendCallback } from './websocket';

/** @internal One connection's callbacks waiting for their message's bytes to leave. */
export class PendingWrites {
  #offsets: number[] = [];
  #callbacks: SendCallback[] = [];
  #head = 0;

  get empty(): boolean {
    return this.#head === this.#offsets.length;
  }

  /** The offset the oldest waiting message ends at (the next mark to arm); undefined if none. */
  get nextMark(): number | undefined {
    return this.empty ? undefined : this.#offsets[this.#head];
  }

  add(endOffset: number, callback: SendCallback): void {
    this.#offsets.push(endOffset);
    this.#callbacks.push(callback);
  }

  /** Calls, in order, every callback whose message ends at or before `written`. */
  written(written: number): void {
    while (!this.empty && this.#offsets[this.#head] <= written) {
      const callback = this.#callbacks[this.#head];
      this.#head++;
      this.#compact();
      callback();
    }
  }

  /** The connection is gone: every waiting callback gets `error`. */
  fail(error: Error): void {
    while (!this.empty) {
      const callback = this.#callbacks[this.#head];
      this.#head++;
      this.#compact();
      callback(error);
    }
  }

  // Drops the consumed front once it is most of the arrays (amortised O(1) per callback).
  #compact(): void {
    if (this.#head === this.#offsets.length) {
      this.#offsets.length = 0;
      this.#callbacks.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#offsets.length) {
      this.#offsets.splice(0, this.#head);
      this.#callbacks.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
