//
// The ES module entry point: the names of the CommonJS entry, plus `WebSocket`
// as the default export.
//
import WebSocket from './index.js';

export const {
  createWebSocketStream,
  extension,
  PerMessageDeflate,
  Receiver,
  Sender,
  subprotocol,
  WebSocketServer
} = WebSocket;

export { WebSocket };
export default WebSocket;
