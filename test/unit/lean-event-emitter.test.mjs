// LeanEventEmitter (lib/lean-event-emitter.ts) against node's EventEmitter: the same calls on
// both must give the same listener calls, counts, names and return values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once, getEventListeners } from 'node:events';
import { LeanEventEmitter } from '../../dist/lean-event-emitter.js';

const sym = Symbol('event');

/** Runs `script(emitter, log)` on a node EventEmitter and on a LeanEventEmitter; returns both logs. */
function both(script) {
  return [new EventEmitter(), new LeanEventEmitter()].map((emitter) => {
    const log = [];
    script(emitter, log);
    return log;
  });
}

function assertSame(script) {
  const [expected, actual] = both(script);
  assert.deepEqual(actual, expected);
  return actual;
}

const state = (emitter) => [emitter.eventNames(), ...emitter.eventNames().map((n) => emitter.listenerCount(n))];

describe('unit: LeanEventEmitter behaves as EventEmitter', () => {
  it('on, once, prepend and prependOnce: call order, arguments, return values', () => {
    const log = assertSame((e, log) => {
      const tag = (name) => (...args) => log.push([name, ...args]);
      log.push(e.on('x', tag('on1')) === e);
      e.once('x', tag('once'));
      e.prependListener('x', tag('prepended'));
      e.prependOnceListener('x', tag('prependedOnce'));
      e.addListener('x', tag('on2'));
      log.push(state(e));
      log.push(e.emit('x', 1, 'a'));
      log.push(e.emit('x', 2));
      log.push(e.emit('nobody'));
      log.push(state(e));
    });
    assert.deepEqual(log[2], ['prependedOnce', 1, 'a']);
  });

  it('off and removeListener: one registration at a time, the most recent first; once wrappers by their listener', () => {
    assertSame((e, log) => {
      const f = () => log.push('f');
      const g = () => log.push('g');
      e.on('x', f); e.on('x', g); e.on('x', f); e.once('x', g);
      log.push(e.off('x', f) === e);
      e.emit('x');
      e.removeListener('x', g); // the once wrapper, the most recent
      e.emit('x');
      e.removeListener('x', () => {}); // not registered
      e.off('missing', f);
      log.push(state(e), e.listeners('x').length, e.rawListeners('x').length);
    });
  });

  it('removeAllListeners: for one event, for all, with symbols; the emitter stays usable', () => {
    assertSame((e, log) => {
      e.on('a', () => log.push('a')); e.on('b', () => log.push('b')); e.on(sym, () => log.push('sym'));
      log.push(e.removeAllListeners('a') === e, state(e));
      e.emit('a'); e.emit(sym);
      log.push(e.removeAllListeners() === e, state(e));
      e.emit('b');
      e.on('a', () => log.push('again'));
      e.emit('a');
      e.removeAllListeners(undefined); // an explicit undefined is an event name: nothing goes
      log.push(state(e));
    });
  });

  it('newListener and removeListener events, with the listener given by the user', () => {
    assertSame((e, log) => {
      const f = function f() {};
      e.on('newListener', (name, listener) => log.push(['new', String(name), listener.name]));
      e.on('removeListener', (name, listener) => log.push(['removed', String(name), listener.name]));
      e.on('x', f); e.once('y', f); e.prependListener(sym, f);
      e.emit('y');
      e.off('x', f);
      e.removeAllListeners(sym);
      e.removeAllListeners();
      log.push(state(e));
    });
  });

  it('listenerCount, listeners, rawListeners, eventNames; inherited names are not events', () => {
    assertSame((e, log) => {
      const f = () => {};
      log.push(e.listenerCount('x'), e.listeners('x'), e.eventNames(), e.emit('toString'), e.listenerCount('constructor'));
      e.on('x', f); e.once('x', f); e.on('__proto__', f); e.on('hasOwnProperty', f);
      log.push(state(e), e.listeners('x').every((l) => l === f), e.rawListeners('x')[1] !== f, e.rawListeners('x')[1].listener === f);
      log.push(e.emit('__proto__'), EventEmitter.listenerCount(e, 'x'), getEventListeners(e, 'hasOwnProperty').length);
    });
  });

  it('an unhandled "error" throws, a handled one does not; errorMonitor sees both', () => {
    assertSame((e, log) => {
      e.on(EventEmitter.errorMonitor, (error) => log.push(['monitor', error.message]));
      try { e.emit('error', new Error('boom')); } catch (error) { log.push(['thrown', error.message]); }
      e.once('error', (error) => log.push(['handled', error.message]));
      log.push(e.emit('error', new Error('second')));
    });
  });

  it('setMaxListeners and the leak warning', async () => {
    const warnings = [];
    const onWarning = (warning) => warnings.push([warning.name, warning.count, warning.type]);
    process.on('warning', onWarning);
    try {
      for (const emitter of [new EventEmitter(), new LeanEventEmitter()]) {
        assert.equal(emitter.getMaxListeners(), EventEmitter.defaultMaxListeners);
        emitter.setMaxListeners(2);
        assert.equal(emitter.getMaxListeners(), 2);
        for (let i = 0; i < 3; i++) emitter.on('leak', () => {});
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, [['MaxListenersExceededWarning', 3, 'leak'], ['MaxListenersExceededWarning', 3, 'leak']]);
  });

  it('captureRejections (EventEmitter.captureRejections = true): a rejected async listener becomes "error"', async () => {
    const previous = EventEmitter.captureRejections;
    EventEmitter.captureRejections = true;
    try {
      const results = [];
      for (const emitter of [new EventEmitter(), new LeanEventEmitter()]) {
        const error = new Promise((resolve) => emitter.once('error', resolve));
        emitter.on('x', async () => { throw new Error('rejected'); });
        emitter.emit('x');
        results.push((await error).message);
      }
      assert.deepEqual(results, ['rejected', 'rejected']);
    } finally {
      EventEmitter.captureRejections = previous;
    }
  });

  it('works with events.once and instanceof EventEmitter', async () => {
    const emitter = new LeanEventEmitter();
    assert.ok(emitter instanceof EventEmitter);
    const waiting = once(emitter, 'ready');
    emitter.emit('ready', 1, 2);
    assert.deepEqual(await waiting, [1, 2]);
    assert.equal(emitter.listenerCount('ready'), 0);
  });

  it('holds no listener table until the first listener, and none after the last is gone', () => {
    const emitter = new LeanEventEmitter();
    assert.equal(emitter._events, undefined);
    const f = () => {};
    emitter.on('a', f).once('b', f);
    assert.notEqual(emitter._events, undefined);
    emitter.off('a', f);
    emitter.emit('b');
    assert.equal(emitter._events, undefined);
    emitter.prependListener('c', f).removeAllListeners('c');
    assert.equal(emitter._events, undefined);
    emitter.on('d', f).removeAllListeners();
    assert.equal(emitter._events, undefined);
    assert.equal(emitter.emit('d'), false);
  });
});
