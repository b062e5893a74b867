'use strict';

//
// The listener table of ws-rs's emitters (`emitter._events`). EventEmitter's
// own is a `{ __proto__: null }` literal, which V8 makes a dictionary of about
// 180 bytes: one per emitter, kept for as long as a connection is open. A table
// made by `new EventTable()` is a fast object with room for its keys inside
// it, and still inherits nothing, so any event name reads `undefined` until
// it is listened to.
//

/**
 * A listener table, with `events` present and no listener.
 *
 * Preset names stay in the table with `undefined`, so `eventNames()` lists
 * them once any listener is added: preset only on internal emitters.
 *
 * @constructor
 * @param {String[]} [events] The event names to make room for
 * @private
 */
function EventTable(events) {
  if (events === undefined) return;

  for (let i = 0; i < events.length; i++) this[events[i]] = undefined;
}

EventTable.prototype = Object.create(null);

module.exports = EventTable;
