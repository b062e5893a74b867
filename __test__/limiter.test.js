'use strict';

const assert = require('assert');

const Limiter = require('../lib/limiter');

describe('Limiter', () => {
  it('treats a falsy concurrency as unlimited', () => {
    assert.strictEqual(new Limiter().concurrency, Infinity);
    assert.strictEqual(new Limiter(0).concurrency, Infinity);
    assert.strictEqual(new Limiter(3).concurrency, 3);
  });

  it('runs jobs at once while slots are free', () => {
    const limiter = new Limiter(2);
    const started = [];

    limiter.add(() => started.push(1));
    limiter.add(() => started.push(2));
    limiter.add(() => started.push(3));

    assert.deepStrictEqual(started, [1, 2]);
    assert.strictEqual(limiter.pending, 2);
    assert.strictEqual(limiter.jobs.length, 1);
  });

  it('starts queued jobs in order as running ones finish', (done) => {
    const limiter = new Limiter(1);
    const order = [];
    const callbacks = [];

    for (let i = 0; i < 3; i++) {
      limiter.add((cb) => {
        order.push(i);
        callbacks.push(cb);
      });
    }

    assert.deepStrictEqual(order, [0]);
    callbacks[0]();
    assert.deepStrictEqual(order, [0, 1]);
    assert.strictEqual(limiter.pending, 1);

    setImmediate(() => {
      callbacks[1]();
      callbacks[2]();
      assert.deepStrictEqual(order, [0, 1, 2]);
      assert.strictEqual(limiter.pending, 0);
      assert.strictEqual(limiter.jobs.length, 0);
      done();
    });
  });
});
