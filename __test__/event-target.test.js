'use strict';

const assert = require('assert');
const EventEmitter = require('events');

const {
  CloseEvent,
  ErrorEvent,
  Event,
  EventTarget,
  MessageEvent
} = require('../lib/event-target');
const { kForOnEventAttribute, kListener } = require('../lib/constants');

/**
 * An `EventEmitter` with the `EventTarget` mixin, standing in for a
 * `WebSocket`.
 */
class Target extends EventEmitter {
  constructor() {
    super();
    this._closeFrameReceived = false;
    this._closeFrameSent = false;
  }
}

Target.prototype.addEventListener = EventTarget.addEventListener;
Target.prototype.removeEventListener = EventTarget.removeEventListener;

/**
 * Assert that `name` is an enumerable, configurable getter without setter on
 * `Class.prototype`.
 *
 * @param {Function} Class The class
 * @param {String} name The attribute
 */
function assertAttribute(Class, name) {
  const descriptor = Object.getOwnPropertyDescriptor(Class.prototype, name);

  assert.strictEqual(descriptor.enumerable, true, name);
  assert.strictEqual(descriptor.configurable, true, name);
  assert.strictEqual(typeof descriptor.get, 'function', name);
  assert.strictEqual(descriptor.set, undefined, name);
}

describe('Event classes', () => {
  it('expose their attributes as enumerable getters', () => {
    assertAttribute(Event, 'type');
    assertAttribute(Event, 'target');
    assertAttribute(CloseEvent, 'code');
    assertAttribute(CloseEvent, 'reason');
    assertAttribute(CloseEvent, 'wasClean');
    assertAttribute(ErrorEvent, 'error');
    assertAttribute(ErrorEvent, 'message');
    assertAttribute(MessageEvent, 'data');
  });

  it('inherit from `Event`', () => {
    for (const Class of [CloseEvent, ErrorEvent, MessageEvent]) {
      assert.ok(new Class('x') instanceof Event);
    }
  });

  it('use the DOM defaults when no options are given', () => {
    const event = new Event('open');
    const close = new CloseEvent('close');
    const error = new ErrorEvent('error');
    const message = new MessageEvent('message');

    assert.strictEqual(event.type, 'open');
    assert.strictEqual(event.target, null);
    assert.strictEqual(close.code, 0);
    assert.strictEqual(close.reason, '');
    assert.strictEqual(close.wasClean, false);
    assert.strictEqual(error.error, null);
    assert.strictEqual(error.message, '');
    assert.strictEqual(message.data, null);
  });

  it('take their attributes from the options object', () => {
    const err = new Error('boom');
    const close = new CloseEvent('close', {
      code: 4000,
      reason: 'bye',
      wasClean: true
    });
    const error = new ErrorEvent('error', { error: err, message: 'boom' });
    const message = new MessageEvent('message', { data: 'hi' });

    assert.strictEqual(close.code, 4000);
    assert.strictEqual(close.reason, 'bye');
    assert.strictEqual(close.wasClean, true);
    assert.strictEqual(error.error, err);
    assert.strictEqual(error.message, 'boom');
    assert.strictEqual(message.data, 'hi');
  });

  it('return `undefined` when an attribute is read off a prototype', () => {
    assert.strictEqual(CloseEvent.prototype.code, undefined);
    assert.strictEqual(MessageEvent.prototype.data, undefined);
  });
});

describe('EventTarget', () => {
  it('wraps `EventEmitter` events into DOM events with a `target`', () => {
    const target = new Target();
    const seen = [];

    target.addEventListener('open', (event) => seen.push(event));
    target.addEventListener('message', (event) => seen.push(event));
    target.addEventListener('error', (event) => seen.push(event));
    target.addEventListener('close', (event) => seen.push(event));

    const err = new Error('oops');
    const binary = Buffer.from([1, 2]);

    target._closeFrameReceived = true;
    target._closeFrameSent = true;
    target.emit('open');
    target.emit('message', Buffer.from('text'), false);
    target.emit('message', binary, true);
    target.emit('error', err);
    target.emit('close', 1000, Buffer.from('done'));

    assert.strictEqual(seen.length, 5);
    assert.ok(seen.every((event) => event.target === target));
    assert.strictEqual(seen[0].type, 'open');
    assert.ok(seen[1] instanceof MessageEvent);
    assert.strictEqual(seen[1].data, 'text');
    assert.strictEqual(seen[2].data, binary);
    assert.ok(seen[3] instanceof ErrorEvent);
    assert.strictEqual(seen[3].error, err);
    assert.strictEqual(seen[3].message, 'oops');
    assert.ok(seen[4] instanceof CloseEvent);
    assert.strictEqual(seen[4].code, 1000);
    assert.strictEqual(seen[4].reason, 'done');
    assert.strictEqual(seen[4].wasClean, true);
  });

  it('reports `wasClean` as false unless close frames went both ways', () => {
    const target = new Target();
    let event;

    target.addEventListener('close', (e) => {
      event = e;
    });
    target._closeFrameSent = true;
    target.emit('close', 1006, Buffer.alloc(0));

    assert.strictEqual(event.wasClean, false);
  });

  it('ignores unknown event types and duplicate listeners', () => {
    const target = new Target();
    const listener = () => {};

    target.addEventListener('ping', listener);
    assert.strictEqual(target.listenerCount('ping'), 0);

    target.addEventListener('open', listener);
    target.addEventListener('open', listener);
    assert.strictEqual(target.listenerCount('open'), 1);
    assert.strictEqual(target.listeners('open')[0][kListener], listener);
  });

  it('supports `handleEvent` objects and the `once` option', () => {
    const target = new Target();
    const calls = [];
    const handler = {
      handleEvent(event) {
        calls.push([this, event.type]);
      }
    };

    target.addEventListener('open', handler, { once: true });
    target.emit('open');
    target.emit('open');

    assert.deepStrictEqual(calls, [[handler, 'open']]);
    assert.strictEqual(target.listenerCount('open'), 0);
  });

  it('removes only listeners added with `addEventListener`', () => {
    const target = new Target();
    const listener = () => {};

    target.on('open', listener);
    target.addEventListener('open', listener);
    target.addEventListener('open', listener, { [kForOnEventAttribute]: true });

    target.removeEventListener('open', listener);

    const left = target.listeners('open');

    assert.strictEqual(left.length, 2);
    assert.strictEqual(left[0], listener);
    assert.strictEqual(left[1][kForOnEventAttribute], true);
  });
});
