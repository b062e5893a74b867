'use strict';

const assert = require('assert');

const { format, parse } = require('../lib/extension');

describe('extension', () => {
  describe('parse', () => {
    it('returns null-prototype objects of arrays', () => {
      const offers = parse('permessage-deflate; client_max_window_bits');

      assert.strictEqual(Object.getPrototypeOf(offers), null);
      assert.ok(Array.isArray(offers['permessage-deflate']));

      const [params] = offers['permessage-deflate'];

      assert.strictEqual(Object.getPrototypeOf(params), null);
      assert.deepStrictEqual(params.client_max_window_bits, [true]);
    });

    it('groups repeated extensions and parameters in header order', () => {
      assert.deepStrictEqual(parse('a; x=1; y; x="2", b, a; z=3'), {
        a: [
          { x: ['1', '2'], y: [true], __proto__: null },
          { z: ['3'], __proto__: null }
        ],
        b: [{ __proto__: null }],
        __proto__: null
      });
    });

    it('keeps names that are Object.prototype properties', () => {
      const offers = parse('__proto__; constructor=1');

      assert.deepStrictEqual(Object.keys(offers), ['__proto__']);
      assert.deepStrictEqual(offers.__proto__[0].constructor, ['1']);
    });

    it('throws a SyntaxError for a malformed header', () => {
      assert.throws(() => parse('a; b="c'), {
        constructor: SyntaxError,
        message: 'Unexpected end of input'
      });
      assert.throws(() => parse('a;;b'), {
        constructor: SyntaxError,
        message: 'Unexpected character at index 2'
      });
      assert.throws(() => parse('a; b="c d"'), {
        constructor: SyntaxError,
        message: 'Unexpected character at index 7'
      });
    });
  });

  describe('format', () => {
    it('formats single values, arrays and `true` parameters', () => {
      assert.strictEqual(
        format({
          'permessage-deflate': [
            { client_max_window_bits: true, server_max_window_bits: 10 },
            { server_no_context_takeover: [true], x: ['1', 2] }
          ],
          foo: {}
        }),
        'permessage-deflate; client_max_window_bits; server_max_window_bits=10, ' +
          'permessage-deflate; server_no_context_takeover; x=1; x=2, foo'
      );
    });

    it('round-trips with parse', () => {
      const header = 'a; x=1; y, b; z=2';

      assert.strictEqual(format(parse(header)), header);
    });
  });
});
