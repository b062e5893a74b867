'use strict';

const { kForOnEventAttribute, kListener } = require('./constants');

//
// The event classes keep their state under module-private symbols rather than
// `#private` fields so that reading an attribute off a prototype yields
// `undefined` instead of throwing, as in ws. `target` is set by the listener
// wrappers below, as the DOM sets it while dispatching.
//
const kCode = Symbol('kCode');
const kData = Symbol('kData');
const kError = Symbol('kError');
const kMessage = Symbol('kMessage');
const kReason = Symbol('kReason');
const kTarget = Symbol('kTarget');
const kType = Symbol('kType');
const kWasClean = Symbol('kWasClean');

/**
 * Class representing an event.
 */
class Event {
  /**
   * Create a new `Event`.
   *
   * @param {String} type The name of the event
   */
  constructor(type) {
    this[kTarget] = null;
    this[kType] = type;
  }

  /**
   * @type {*}
   */
  get target() {
    return this[kTarget];
  }

  /**
   * @type {String}
   */
  get type() {
    return this[kType];
  }
}

/**
 * Class representing a close event.
 *
 * @extends Event
 */
class CloseEvent extends Event {
  /**
   * Create a new `CloseEvent`.
   *
   * @param {String} type The name of the event
   * @param {Object} [options] A dictionary object that allows for setting
   *     attributes via object members of the same name
   * @param {Number} [options.code=0] The status code explaining why the
   *     connection was closed
   * @param {String} [options.reason=''] A human-readable string explaining why
   *     the connection was closed
   * @param {Boolean} [options.wasClean=false] Indicates whether or not the
   *     connection was cleanly closed
   */
  constructor(type, options = {}) {
    super(type);

    this[kCode] = withDefault(options.code, 0);
    this[kReason] = withDefault(options.reason, '');
    this[kWasClean] = withDefault(options.wasClean, false);
  }

  /**
   * @type {Number}
   */
  get code() {
    return this[kCode];
  }

  /**
   * @type {String}
   */
  get reason() {
    return this[kReason];
  }

  /**
   * @type {Boolean}
   */
  get wasClean() {
    return this[kWasClean];
  }
}

/**
 * Class representing an error event.
 *
 * @extends Event
 */
class ErrorEvent extends Event {
  /**
   * Create a new `ErrorEvent`.
   *
   * @param {String} type The name of the event
   * @param {Object} [options] A dictionary object that allows for setting
   *     attributes via object members of the same name
   * @param {*} [options.error=null] The error that generated this event
   * @param {String} [options.message=''] The error message
   */
  constructor(type, options = {}) {
    super(type);

    this[kError] = withDefault(options.error, null);
    this[kMessage] = withDefault(options.message, '');
  }

  /**
   * @type {*}
   */
  get error() {
    return this[kError];
  }

  /**
   * @type {String}
   */
  get message() {
    return this[kMessage];
  }
}

/**
 * Class representing a message event.
 *
 * @extends Event
 */
class MessageEvent extends Event {
  /**
   * Create a new `MessageEvent`.
   *
   * @param {String} type The name of the event
   * @param {Object} [options] A dictionary object that allows for setting
   *     attributes via object members of the same name
   * @param {*} [options.data=null] The message content
   */
  constructor(type, options = {}) {
    super(type);

    this[kData] = withDefault(options.data, null);
  }

  /**
   * @type {*}
   */
  get data() {
    return this[kData];
  }
}

//
// Like the DOM's attributes, the getters are enumerable accessors on the
// prototype (class syntax makes them non-enumerable).
//
for (const [Class, names] of [
  [Event, ['target', 'type']],
  [CloseEvent, ['code', 'reason', 'wasClean']],
  [ErrorEvent, ['error', 'message']],
  [MessageEvent, ['data']]
]) {
  for (const name of names) {
    Object.defineProperty(Class.prototype, name, { enumerable: true });
  }
}

//
// For each event type supported by `addEventListener()`, a function that turns
// the arguments of the `EventEmitter` event into a DOM-like event. `this` is the
// `WebSocket`.
//
const eventFactories = {
  close(code, reason) {
    return new CloseEvent('close', {
      code,
      reason: reason.toString(),
      wasClean: this._closeFrameReceived && this._closeFrameSent
    });
  },
  error(error) {
    return new ErrorEvent('error', { error, message: error.message });
  },
  message(data, isBinary) {
    return new MessageEvent('message', {
      data: isBinary ? data : data.toString()
    });
  },
  open() {
    return new Event('open');
  }
};

/**
 * This provides methods for emulating the `EventTarget` interface. It's not
 * meant to be used directly.
 *
 * @mixin
 */
const EventTarget = {
  /**
   * Register an event listener.
   *
   * @param {String} type A string representing the event type to listen for
   * @param {(Function|Object)} handler The listener to add
   * @param {Object} [options] An options object specifies characteristics about
   *     the event listener
   * @param {Boolean} [options.once=false] A `Boolean` indicating that the
   *     listener should be invoked at most once after being added. If `true`,
   *     the listener would be automatically removed when invoked.
   * @public
   */
  addEventListener(type, handler, options = {}) {
    const forAttribute = !!options[kForOnEventAttribute];

    //
    // As in the DOM, adding the same listener twice is a no-op. The listener
    // set by an `on*` attribute is tracked separately.
    //
    if (
      !forAttribute &&
      this.listeners(type).some(
        (listener) =>
          listener[kListener] === handler && !listener[kForOnEventAttribute]
      )
    ) {
      return;
    }

    if (!Object.prototype.hasOwnProperty.call(eventFactories, type)) return;

    const createEvent = eventFactories[type];
    const wrapper = function (...args) {
      const event = createEvent.apply(this, args);

      event[kTarget] = this;
      invokeListener(handler, this, event);
    };

    wrapper[kForOnEventAttribute] = forAttribute;
    wrapper[kListener] = handler;

    if (options.once) this.once(type, wrapper);
    else this.on(type, wrapper);
  },

  /**
   * Remove an event listener.
   *
   * @param {String} type A string representing the event type to remove
   * @param {(Function|Object)} handler The listener to remove
   * @public
   */
  removeEventListener(type, handler) {
    const wrapper = this.listeners(type).find(
      (listener) =>
        listener[kListener] === handler && !listener[kForOnEventAttribute]
    );

    if (wrapper) this.removeListener(type, wrapper);
  }
};

module.exports = {
  CloseEvent,
  ErrorEvent,
  Event,
  EventTarget,
  MessageEvent
};

/**
 * Return `value`, or `fallback` if `value` is `undefined`.
 *
 * @param {*} value The value
 * @param {*} fallback The default
 * @return {*} The resolved value
 * @private
 */
function withDefault(value, fallback) {
  return value === undefined ? fallback : value;
}

/**
 * Call an event listener, which can be a function or an object with a
 * `handleEvent()` method.
 *
 * @param {(Function|Object)} listener The listener to call
 * @param {*} thisArg The value to use as `this` when calling a function
 * @param {Event} event The event to pass to the listener
 * @private
 */
function invokeListener(listener, thisArg, event) {
  if (typeof listener === 'object' && listener.handleEvent) {
    listener.handleEvent(event);
  } else {
    listener.call(thisArg, event);
  }
}
