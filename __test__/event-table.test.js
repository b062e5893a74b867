'use strict';

const assert = require('assert');
const EventEmitter = require('events');
const { once } = require('events');

const EventTable = require('../lib/event-table');
const WebSocket = require('..');

describe('EventTable', () => {
  it('inherits no key, as `{ __proto__: null }`', () => {
    const emitter = new EventEmitter();

    emitter._events = new EventTable(['close']);
    assert.strictEqual(emitter._events.toString, undefined);
    assert.strictEqual(emitter._events.constructor, undefined);
    assert.strictEqual(emitter.emit('constructor'), false);
    assert.strictEqual(emitter.emit('close'), false);

    let called = 0;

    emitter.on('constructor', () => called++);
    assert.strictEqual(emitter.emit('constructor'), true);
    assert.strictEqual(called, 1);
  });

  it("lists only a WebSocket's own events in `eventNames()`", async () => {
    const wss = new WebSocket.Server({ port: 0 });

    await once(wss, 'listening');

    const ws = new WebSocket(`ws://127.0.0.1:${wss.address().port}`);

    assert.deepStrictEqual(ws.eventNames(), []);
    ws.on('open', () => {});
    assert.deepStrictEqual(ws.eventNames(), ['open']);

    const [[serverWs]] = await Promise.all([
      once(wss, 'connection'),
      once(ws, 'open')
    ]);

    assert.deepStrictEqual(serverWs.eventNames(), []);
    serverWs.on('message', () => {});
    assert.deepStrictEqual(serverWs.eventNames(), ['message']);
    ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
});
