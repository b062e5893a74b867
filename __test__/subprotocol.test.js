'use strict';

const assert = require('assert');

const { parse } = require('../lib/subprotocol');

describe('subprotocol', () => {
  describe('parse', () => {
    it('returns the names in header order', () => {
      const protocols = parse('chat.v2, chat , \tsuperchat');

      assert.ok(protocols instanceof Set);
      assert.deepStrictEqual([...protocols], ['chat.v2', 'chat', 'superchat']);
    });

    it('throws a SyntaxError with the index of a bad character', () => {
      assert.throws(() => parse('a;b'), {
        constructor: SyntaxError,
        message: 'Unexpected character at index 1'
      });
      assert.throws(() => parse('a b'), {
        constructor: SyntaxError,
        message: 'Unexpected character at index 2'
      });
    });

    it('throws a SyntaxError if the header ends early', () => {
      for (const header of ['', 'a,', 'a ']) {
        assert.throws(() => parse(header), {
          constructor: SyntaxError,
          message: 'Unexpected end of input'
        });
      }
    });

    it('throws a SyntaxError if a name is duplicated', () => {
      assert.throws(() => parse('x, y, x'), {
        constructor: SyntaxError,
        message: 'The "x" subprotocol is duplicated'
      });
    });

    it('gives the SyntaxError a stack that starts at the caller', () => {
      try {
        parse(',');
        assert.fail('parse() did not throw');
      } catch (err) {
        assert.ok(err instanceof SyntaxError);
        assert.ok(/subprotocol\.test\.js/.test(err.stack.split('\n')[1]));
      }
    });
  });
});
