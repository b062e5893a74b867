'use strict';

const { parseExtensionHeader } = require('./native');

/**
 * Parses the `Sec-WebSocket-Extensions` header into an object.
 *
 * The grammar (RFC 6455 §9.1, RFC 7230 §3.2.6) is checked by the Rust core;
 * this function only reshapes its result into ws's form: a null-prototype
 * object mapping each extension name to the list of its offers, each offer
 * being a null-prototype object mapping a parameter name to the list of its
 * values (`true` for a parameter without a value).
 *
 * @param {String} header The field value of the header
 * @return {Object} The parsed object
 * @throws {SyntaxError} If the header is not valid
 * @public
 */
function parse(header) {
  let list;

  try {
    list = parseExtensionHeader(header);
  } catch (err) {
    throw toSyntaxError(err, header);
  }

  const offers = Object.create(null);

  for (let i = 0; i < list.length; i++) {
    const { name, params } = list[i];
    const offer = Object.create(null);

    for (let j = 0; j < params.length; j++) {
      const { key, value } = params[j];

      if (offer[key] === undefined) offer[key] = [value];
      else offer[key].push(value);
    }

    if (offers[name] === undefined) offers[name] = [offer];
    else offers[name].push(offer);
  }

  return offers;
}

/**
 * Builds the `Sec-WebSocket-Extensions` header field value.
 *
 * @param {Object} extensions The map of extensions and parameters to format
 * @return {String} A string representing the given object
 * @public
 */
function format(extensions) {
  const elements = [];

  for (const name of Object.keys(extensions)) {
    const configurations = Array.isArray(extensions[name])
      ? extensions[name]
      : [extensions[name]];

    for (const params of configurations) {
      const parts = [name];

      for (const key of Object.keys(params)) {
        const values = Array.isArray(params[key]) ? params[key] : [params[key]];

        for (const value of values) {
          parts.push(value === true ? key : `${key}=${value}`);
        }
      }

      elements.push(parts.join('; '));
    }
  }

  return elements.join(', ');
}

/**
 * Turns an error thrown by the native parser into ws's `SyntaxError`.
 *
 * @param {Error} err The error thrown by the native parser
 * @param {*} header The value that was parsed
 * @return {Error} The error to throw
 * @private
 */
function toSyntaxError(err, header) {
  //
  // A non-string argument (rejected by napi before any parsing) or a missing
  // binding is a programming error, not a malformed header.
  //
  if (typeof header !== 'string' || err instanceof TypeError) return err;

  const error = new SyntaxError(err.message);

  Error.captureStackTrace(error, parse);
  return error;
}

module.exports = { format, parse };
