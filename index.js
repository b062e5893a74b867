'use strict';

//
// The CommonJS entry point: like ws, the module is the `WebSocket` class and
// every other public name hangs off it as a static property.
//
const createWebSocketStream = require('./lib/stream');
const extension = require('./lib/extension');
const PerMessageDeflate = require('./lib/permessage-deflate');
const Receiver = require('./lib/receiver');
const Sender = require('./lib/sender');
const subprotocol = require('./lib/subprotocol');
const WebSocket = require('./lib/websocket');
const WebSocketServer = require('./lib/websocket-server');

Object.assign(WebSocket, {
  createWebSocketStream,
  extension,
  PerMessageDeflate,
  Receiver,
  Sender,
  Server: WebSocketServer,
  subprotocol,
  WebSocket,
  WebSocketServer
});

module.exports = WebSocket;
