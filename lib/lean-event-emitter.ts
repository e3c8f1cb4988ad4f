// An EventEmitter base for objects that exist by the hundred thousand (one per connection).
//
// EventEmitter's constructor gives every instance five own properties and a listener table made
// with `{ __proto__: null }`, which V8 keeps as a dictionary: ~190 bytes per object before the
// first listener. Here the instance starts with two fields and no table; the first listener
// creates a fast-properties table (an ordinary object whose prototype has no properties at all),
// and the table goes away again when the last listener is removed. Everything else is
// EventEmitter's own code: node:events reads `_events`, `_eventsCount` and `_maxListeners` and
// treats a missing table as "no listeners"; captureRejections is found on EventEmitter.prototype
// (where `EventEmitter.captureRejections = true` puts it), and `instanceof EventEmitter` holds.
import { EventEmitter } from 'node:events';

// A listener table: named properties only, nothing inherited ("toString" is not an event).
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null) as object;
type Table = Record<string | symbol, unknown>;

// Deliberately does not call EventEmitter.init: the fields it would add are declared below.
function EventEmitterWithoutInit(): void {}
EventEmitterWithoutInit.prototype = EventEmitter.prototype;
const Base = EventEmitterWithoutInit as unknown as typeof EventEmitter;

type Listener = (...args: never[]) => void;

// Plain functions rather than private methods: a class with private methods gives each instance
// one more field (V8's brand check).
function ensureTable(emitter: LeanEventEmitter): void {
  if (emitter._events === undefined) emitter._events = new (ListenerTable as unknown as new () => Table)();
}

function dropEmptyTable(emitter: LeanEventEmitter): void {
  if (emitter._eventsCount === 0) emitter._events = undefined;
}

export class LeanEventEmitter extends Base {
  /** @internal node:events' listener table; undefined while there are no listeners. */
  _events: Table | undefined = undefined;
  /** @internal */
  _eventsCount = 0;

  override addListener(event: string | symbol, listener: Listener): this {
    ensureTable(this);
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  // on() is addListener() in node:events too.
  override on(event: string | symbol, listener: Listener): this {
    return this.addListener(event, listener);
  }

  override prependListener(event: string | symbol, listener: Listener): this {
    ensureTable(this);
    return super.prependListener(event, listener as (...args: unknown[]) => void);
  }

  // once() and prependOnceListener() go through on() and prependListener(); their wrappers remove
  // themselves through removeListener().
  override removeListener(event: string | symbol, listener: Listener): this {
    super.removeListener(event, listener as (...args: unknown[]) => void);
    dropEmptyTable(this);
    return this;
  }

  override off(event: string | symbol, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  // node:events tells "every event" (no argument) from the event named undefined (an explicit
  // undefined, which removes nothing): the arguments are passed on as given.
  override removeAllListeners(...event: [eventName?: string | symbol]): this {
    super.removeAllListeners(...event);
    dropEmptyTable(this);
    return this;
  }
}
