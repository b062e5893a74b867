'use strict';

const { parseSubprotocolHeader } = require('./native');

/**
 * Parses the `Sec-WebSocket-Protocol` header into a set of subprotocol names.
 *
 * The grammar (a comma-separated list of tokens, RFC 6455 §4.1) and the
 * duplicate check are done by the Rust core.
 *
 * @param {String} header The field value of the header
 * @return {Set} The subprotocol names, in header order
 * @throws {SyntaxError} If the header is not valid or names a subprotocol
 *     twice
 * @public
 */
function parse(header) {
  let names;

  try {
    names = parseSubprotocolHeader(header);
  } catch (err) {
    if (typeof header !== 'string' || err instanceof TypeError) throw err;

    const error = new SyntaxError(err.message);

    Error.captureStackTrace(error, parse);
    throw error;
  }

  return new Set(names);
}

module.exports = { parse };
