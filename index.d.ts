/// <reference types="node" />

// Type definitions for ws-rs: the public API of the `ws` 8.x package, so that
// code typed against `@types/ws` compiles unchanged, plus the names `ws`
// exports that `@types/ws` leaves out (`Receiver`, `Sender`,
// `PerMessageDeflate`, `extension`, `subprotocol`).

import { EventEmitter } from 'events';
import {
  Agent,
  ClientRequest,
  ClientRequestArgs,
  IncomingMessage,
  OutgoingHttpHeaders,
  Server as HTTPServer
} from 'http';
import { Server as HTTPSServer } from 'https';
import { createConnection } from 'net';
import { Duplex, DuplexOptions, Writable } from 'stream';
import { SecureContextOptions } from 'tls';
import { URL } from 'url';
import { ZlibOptions } from 'zlib';

/**
 * Anything `websocket.send()` accepts: what `Buffer.from()` accepts, plus
 * `Blob`.
 */
type BufferLike =
  | string
  | Buffer
  | DataView
  | number
  | ArrayBufferView
  | Uint8Array
  | ArrayBuffer
  | SharedArrayBuffer
  | Blob
  | readonly any[]
  | readonly number[]
  | { valueOf(): ArrayBuffer }
  | { valueOf(): SharedArrayBuffer }
  | { valueOf(): Uint8Array }
  | { valueOf(): readonly number[] }
  | { valueOf(): string }
  | { [Symbol.toPrimitive](hint: string): string };

/** A listener of a `WebSocket` event, called with the socket as `this`. */
type WebSocketListener<A extends any[]> = (this: WebSocket, ...args: A) => void;

/**
 * A WebSocket connection: a client when created with an address, a server
 * side connection when handed out by `WebSocketServer`.
 */
declare class WebSocket extends EventEmitter {
  /** The connection is not yet open. */
  static readonly CONNECTING: 0;
  /** The connection is open and ready to communicate. */
  static readonly OPEN: 1;
  /** The connection is in the process of closing. */
  static readonly CLOSING: 2;
  /** The connection is closed. */
  static readonly CLOSED: 3;

  /**
   * The type of the `data` of `'message'` events for binary messages:
   * `Buffer`, `ArrayBuffer`, `Buffer[]` (one per fragment) or `Blob`.
   */
  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
  /** The number of bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
  /** The negotiated extensions, comma separated. */
  readonly extensions: string;
  /** Indicates whether the websocket is paused. */
  readonly isPaused: boolean;
  /** The subprotocol selected by the server, or `''`. */
  readonly protocol: string;
  /** The current state of the connection. */
  readonly readyState:
    | typeof WebSocket.CONNECTING
    | typeof WebSocket.OPEN
    | typeof WebSocket.CLOSING
    | typeof WebSocket.CLOSED;
  /** The URL of the server (clients only). */
  readonly url: string;

  /** The connection is not yet open. */
  readonly CONNECTING: 0;
  /** The connection is open and ready to communicate. */
  readonly OPEN: 1;
  /** The connection is in the process of closing. */
  readonly CLOSING: 2;
  /** The connection is closed. */
  readonly CLOSED: 3;

  /** The `'open'` event handler attribute. */
  onopen: ((event: WebSocket.Event) => void) | null;
  /** The `'error'` event handler attribute. */
  onerror: ((event: WebSocket.ErrorEvent) => void) | null;
  /** The `'close'` event handler attribute. */
  onclose: ((event: WebSocket.CloseEvent) => void) | null;
  /** The `'message'` event handler attribute. */
  onmessage: ((event: WebSocket.MessageEvent) => void) | null;

  /** Creates a server side websocket; the server then calls `setSocket()`. */
  constructor(address: null);
  /**
   * Connects to a WebSocket server.
   *
   * @param address The URL (`ws:`, `wss:`, `http:`, `https:`, `ws+unix:`)
   * @param options Client options and any `http.request()` option
   */
  constructor(
    address: string | URL,
    options?: WebSocket.ClientOptions | ClientRequestArgs
  );
  /**
   * Connects to a WebSocket server, offering subprotocols.
   *
   * @param address The URL (`ws:`, `wss:`, `http:`, `https:`, `ws+unix:`)
   * @param protocols The subprotocols to offer
   * @param options Client options and any `http.request()` option
   */
  constructor(
    address: string | URL,
    protocols?: string | string[],
    options?: WebSocket.ClientOptions | ClientRequestArgs
  );

  /**
   * Starts the closing handshake.
   *
   * @param code A status code explaining why the connection is closing
   * @param data The reason, at most 123 bytes
   */
  close(code?: number, data?: string | Buffer): void;
  /**
   * Sends a ping (at most 125 bytes of data).
   *
   * @param data The data to send
   * @param mask Whether to mask the frame (clients mask by default)
   * @param cb Called when the frame is written, or with an error
   */
  ping(data?: any, mask?: boolean, cb?: (err: Error) => void): void;
  /**
   * Sends a pong (at most 125 bytes of data).
   *
   * @param data The data to send
   * @param mask Whether to mask the frame (clients mask by default)
   * @param cb Called when the frame is written, or with an error
   */
  pong(data?: any, mask?: boolean, cb?: (err: Error) => void): void;
  /**
   * Sends a message.
   *
   * @param data The message
   * @param cb Called when the message is written, or with an error
   */
  send(data: BufferLike, cb?: (err?: Error) => void): void;
  /**
   * Sends a message.
   *
   * @param data The message
   * @param options `binary` (default: not a string), `compress`, `fin`
   *     (default `true`) and `mask`
   * @param cb Called when the message is written, or with an error
   */
  send(
    data: BufferLike,
    options: {
      mask?: boolean | undefined;
      binary?: boolean | undefined;
      compress?: boolean | undefined;
      fin?: boolean | undefined;
    },
    cb?: (err?: Error) => void
  ): void;
  /** Destroys the socket now, without a closing handshake. */
  terminate(): void;

  /**
   * Pause the websocket causing it to stop emitting events. Some events can
   * still be emitted after this is called, until all buffered data is
   * consumed. This method is a noop if the ready state is `CONNECTING` or
   * `CLOSED`.
   */
  pause(): void;
  /**
   * Make a paused socket resume emitting events. This method is a noop if the
   * ready state is `CONNECTING` or `CLOSED`.
   */
  resume(): void;

  /**
   * Adds an `EventTarget`-style listener for `open`, `close`, `error` or
   * `message`.
   */
  addEventListener<K extends keyof WebSocket.WebSocketEventMap>(
    type: K,
    listener:
      | ((event: WebSocket.WebSocketEventMap[K]) => void)
      | { handleEvent(event: WebSocket.WebSocketEventMap[K]): void },
    options?: WebSocket.EventListenerOptions
  ): void;
  /** Removes a listener added with `addEventListener()`. */
  removeEventListener<K extends keyof WebSocket.WebSocketEventMap>(
    type: K,
    listener:
      | ((event: WebSocket.WebSocketEventMap[K]) => void)
      | { handleEvent(event: WebSocket.WebSocketEventMap[K]): void }
  ): void;

  /** Emitted when the connection is closed. */
  on(
    event: 'close',
    listener: WebSocketListener<[code: number, reason: Buffer]>
  ): this;
  /** Emitted on a protocol or handshake error. */
  on(event: 'error', listener: WebSocketListener<[error: Error]>): this;
  /** Emitted with the `101` response (clients only). */
  on(
    event: 'upgrade',
    listener: WebSocketListener<[request: IncomingMessage]>
  ): this;
  /** Emitted for each message received. */
  on(
    event: 'message',
    listener: WebSocketListener<[data: WebSocket.RawData, isBinary: boolean]>
  ): this;
  /** Emitted when the connection is established. */
  on(event: 'open', listener: WebSocketListener<[]>): this;
  /** Emitted for each ping or pong received. */
  on(event: 'ping' | 'pong', listener: WebSocketListener<[data: Buffer]>): this;
  /** Emitted before a redirect is followed (clients only). */
  on(
    event: 'redirect',
    listener: WebSocketListener<[url: string, request: ClientRequest]>
  ): this;
  /** Emitted when the server answers with something other than `101`. */
  on(
    event: 'unexpected-response',
    listener: WebSocketListener<
      [request: ClientRequest, response: IncomingMessage]
    >
  ): this;
  on(event: string | symbol, listener: WebSocketListener<any[]>): this;

  once(
    event: 'close',
    listener: WebSocketListener<[code: number, reason: Buffer]>
  ): this;
  once(event: 'error', listener: WebSocketListener<[error: Error]>): this;
  once(
    event: 'upgrade',
    listener: WebSocketListener<[request: IncomingMessage]>
  ): this;
  once(
    event: 'message',
    listener: WebSocketListener<[data: WebSocket.RawData, isBinary: boolean]>
  ): this;
  once(event: 'open', listener: WebSocketListener<[]>): this;
  once(
    event: 'ping' | 'pong',
    listener: WebSocketListener<[data: Buffer]>
  ): this;
  once(
    event: 'redirect',
    listener: WebSocketListener<[url: string, request: ClientRequest]>
  ): this;
  once(
    event: 'unexpected-response',
    listener: WebSocketListener<
      [request: ClientRequest, response: IncomingMessage]
    >
  ): this;
  once(event: string | symbol, listener: WebSocketListener<any[]>): this;

  off(
    event: 'close',
    listener: WebSocketListener<[code: number, reason: Buffer]>
  ): this;
  off(event: 'error', listener: WebSocketListener<[error: Error]>): this;
  off(
    event: 'upgrade',
    listener: WebSocketListener<[request: IncomingMessage]>
  ): this;
  off(
    event: 'message',
    listener: WebSocketListener<[data: WebSocket.RawData, isBinary: boolean]>
  ): this;
  off(event: 'open', listener: WebSocketListener<[]>): this;
  off(
    event: 'ping' | 'pong',
    listener: WebSocketListener<[data: Buffer]>
  ): this;
  off(
    event: 'redirect',
    listener: WebSocketListener<[url: string, request: ClientRequest]>
  ): this;
  off(
    event: 'unexpected-response',
    listener: WebSocketListener<
      [request: ClientRequest, response: IncomingMessage]
    >
  ): this;
  off(event: string | symbol, listener: WebSocketListener<any[]>): this;

  addListener(
    event: 'close',
    listener: (code: number, reason: Buffer) => void
  ): this;
  addListener(event: 'error', listener: (error: Error) => void): this;
  addListener(
    event: 'upgrade',
    listener: (request: IncomingMessage) => void
  ): this;
  addListener(
    event: 'message',
    listener: (data: WebSocket.RawData, isBinary: boolean) => void
  ): this;
  addListener(event: 'open', listener: () => void): this;
  addListener(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  addListener(
    event: 'redirect',
    listener: (url: string, request: ClientRequest) => void
  ): this;
  addListener(
    event: 'unexpected-response',
    listener: (request: ClientRequest, response: IncomingMessage) => void
  ): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;

  removeListener(
    event: 'close',
    listener: (code: number, reason: Buffer) => void
  ): this;
  removeListener(event: 'error', listener: (error: Error) => void): this;
  removeListener(
    event: 'upgrade',
    listener: (request: IncomingMessage) => void
  ): this;
  removeListener(
    event: 'message',
    listener: (data: WebSocket.RawData, isBinary: boolean) => void
  ): this;
  removeListener(event: 'open', listener: () => void): this;
  removeListener(
    event: 'ping' | 'pong',
    listener: (data: Buffer) => void
  ): this;
  removeListener(
    event: 'redirect',
    listener: (url: string, request: ClientRequest) => void
  ): this;
  removeListener(
    event: 'unexpected-response',
    listener: (request: ClientRequest, response: IncomingMessage) => void
  ): this;
  removeListener(
    event: string | symbol,
    listener: (...args: any[]) => void
  ): this;
}

/** The class itself, under the name the namespace re-exports. */
declare const WebSocketClass: typeof WebSocket;
interface WebSocketClass extends WebSocket {}

declare namespace WebSocket {
  /** The payload of a `'message'` event, as chosen by `binaryType`. */
  type RawData = Buffer | ArrayBuffer | Buffer[];

  /** A message payload, text included. */
  type Data = string | Buffer | ArrayBuffer | Buffer[];

  /** What certificates and keys may be given as. */
  type CertMeta = string | string[] | Buffer | Buffer[];

  /**
   * A synchronous `verifyClient` hook: returns whether to accept the
   * handshake (`false` answers `401`).
   */
  type VerifyClientCallbackSync<
    Request extends IncomingMessage = IncomingMessage
  > = (info: { origin: string; secure: boolean; req: Request }) => boolean;

  /**
   * An asynchronous `verifyClient` hook: calls `callback` with the verdict
   * and, on rejection, an optional status code, body and headers.
   */
  type VerifyClientCallbackAsync<
    Request extends IncomingMessage = IncomingMessage
  > = (
    info: { origin: string; secure: boolean; req: Request },
    callback: (
      res: boolean,
      code?: number,
      message?: string,
      headers?: OutgoingHttpHeaders
    ) => void
  ) => void;

  /**
   * A hook to customise each handshake request (redirects included); it must
   * call `request.end()`.
   */
  type FinishRequestCallback = (
    request: ClientRequest,
    websocket: WebSocket
  ) => void;

  /** The options of a client `WebSocket`. */
  interface ClientOptions extends SecureContextOptions {
    /**
     * ws-rs only: which transport carries the bytes after the handshake.
     * `'native'` hands plain TCP/Unix sockets to the Rust runtime (TLS and
     * other streams stay on Node's); `'node'` keeps Node's socket. Default:
     * `WS_RS_TRANSPORT`, else `'native'`.
     */
    transport?: 'native' | 'node' | undefined;
    protocol?: string | undefined;
    /** Whether to follow redirects (default `false`). */
    followRedirects?: boolean | undefined;
    /** Fills the 4-byte masking key of each frame. */
    generateMask?(mask: Buffer): void;
    /** Timeout of the opening handshake, in milliseconds. */
    handshakeTimeout?: number | undefined;
    /** The maximum number of redirects to follow (default 10). */
    maxRedirects?: number | undefined;
    /** Enables/configures permessage-deflate (default `true`). */
    perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
    localAddress?: string | undefined;
    /** `13` (default) or `8`. */
    protocolVersion?: number | undefined;
    headers?: { [key: string]: string } | undefined;
    /** The value of the `Origin` (or `Sec-WebSocket-Origin`) header. */
    origin?: string | undefined;
    agent?: Agent | undefined;
    host?: string | undefined;
    family?: number | undefined;
    checkServerIdentity?(servername: string, cert: CertMeta): boolean;
    rejectUnauthorized?: boolean | undefined;
    /** Whether several events may be emitted in the same tick (default `true`). */
    allowSynchronousEvents?: boolean | undefined;
    /** Whether to answer pings automatically (default `true`). */
    autoPong?: boolean | undefined;
    /** The maximum message size in bytes (default 100 MiB, 0 = unlimited). */
    maxPayload?: number | undefined;
    /** The maximum number of buffered chunks (default 1048576, 0 = unlimited). */
    maxBufferedChunks?: number | undefined;
    /** The maximum number of fragments per message (default 131072, 0 = unlimited). */
    maxFragments?: number | undefined;
    /** Whether to skip UTF-8 validation of text and close frames. */
    skipUTF8Validation?: boolean | undefined;
    createConnection?: typeof createConnection | undefined;
    finishRequest?: FinishRequestCallback | undefined;
  }

  /** The parameters of the permessage-deflate extension (RFC 7692). */
  interface PerMessageDeflateOptions {
    /** Request/accept no server context takeover. */
    serverNoContextTakeover?: boolean | undefined;
    /** Advertise/acknowledge no client context takeover. */
    clientNoContextTakeover?: boolean | undefined;
    /** The server's LZ77 window size, 8 to 15. */
    serverMaxWindowBits?: number | undefined;
    /** The client's LZ77 window size, 8 to 15. */
    clientMaxWindowBits?: number | undefined;
    /** Options for deflate. */
    zlibDeflateOptions?:
      | {
          flush?: number | undefined;
          finishFlush?: number | undefined;
          chunkSize?: number | undefined;
          windowBits?: number | undefined;
          level?: number | undefined;
          memLevel?: number | undefined;
          strategy?: number | undefined;
          dictionary?: Buffer | Buffer[] | DataView | undefined;
          info?: boolean | undefined;
        }
      | undefined;
    /** Options for inflate. */
    zlibInflateOptions?: ZlibOptions | undefined;
    /** Messages below this size (bytes) are not compressed (default 1024). */
    threshold?: number | undefined;
    /** The number of concurrent compression jobs (default 10). */
    concurrencyLimit?: number | undefined;
  }

  /** The event passed to `onopen` and `'open'` event listeners. */
  interface Event {
    type: string;
    target: WebSocket;
  }

  /** The event passed to `onerror` and `'error'` event listeners. */
  interface ErrorEvent {
    error: any;
    message: string;
    type: string;
    target: WebSocket;
  }

  /** The event passed to `onclose` and `'close'` event listeners. */
  interface CloseEvent {
    wasClean: boolean;
    code: number;
    reason: string;
    type: string;
    target: WebSocket;
  }

  /** The event passed to `onmessage` and `'message'` event listeners. */
  interface MessageEvent {
    data: Data;
    type: string;
    target: WebSocket;
  }

  /** The events `addEventListener()` knows. */
  interface WebSocketEventMap {
    open: Event;
    error: ErrorEvent;
    close: CloseEvent;
    message: MessageEvent;
  }

  /** The options of `addEventListener()`. */
  interface EventListenerOptions {
    once?: boolean | undefined;
  }

  /** The options of a `WebSocketServer`. */
  interface ServerOptions<
    U extends typeof WebSocket.WebSocket = typeof WebSocket.WebSocket,
    V extends typeof IncomingMessage = typeof IncomingMessage
  > {
    /** The address to bind to (with `port`). */
    host?: string | undefined;
    /** Creates and binds an HTTP server on this port. */
    port?: number | undefined;
    /** The listen backlog (with `port`). */
    backlog?: number | undefined;
    /** An existing HTTP/S server to attach to. */
    server?: HTTPServer<V> | HTTPSServer<V> | undefined;
    /** A hook to accept or reject each handshake. */
    verifyClient?:
      | VerifyClientCallbackAsync<InstanceType<V>>
      | VerifyClientCallbackSync<InstanceType<V>>
      | undefined;
    /** Picks the subprotocol among those the client offered. */
    handleProtocols?: (
      protocols: Set<string>,
      request: InstanceType<V>
    ) => string | false;
    /** Accept only this path. */
    path?: string | undefined;
    /** Detached mode: call `handleUpgrade()` yourself. */
    noServer?: boolean | undefined;
    /** Whether several events may be emitted in the same tick (default `true`). */
    allowSynchronousEvents?: boolean | undefined;
    /** Whether to answer pings automatically (default `true`). */
    autoPong?: boolean | undefined;
    /** Whether to track clients in `server.clients` (default `true`). */
    clientTracking?: boolean | undefined;
    /** Time to wait for the closing handshake, in milliseconds (default 30000). */
    closeTimeout?: number | undefined;
    /**
     * ws-rs only: which transport carries the bytes after the handshake.
     * `'native'` hands plain TCP/Unix sockets to the Rust runtime (TLS and
     * other streams stay on Node's); `'node'` keeps Node's socket. Default:
     * `WS_RS_TRANSPORT`, else `'native'`.
     */
    transport?: 'native' | 'node' | undefined;
    /**
     * ws-rs only, with `port`: Rust listens and reads the HTTP handshake, and
     * plain requests get `426` without reaching JS. `server._server` is then
     * not an `http.Server`. Needs the native transport. Default:
     * `WS_RS_NATIVE_HTTP === '1'`.
     */
    nativeHttp?: boolean | undefined;
    /** Enables/configures permessage-deflate (default `false`). */
    perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
    /** The maximum message size in bytes (default 100 MiB, 0 = unlimited). */
    maxPayload?: number | undefined;
    /** The maximum number of buffered chunks (default 1048576, 0 = unlimited). */
    maxBufferedChunks?: number | undefined;
    /** The maximum number of fragments per message (default 131072, 0 = unlimited). */
    maxFragments?: number | undefined;
    /** Whether to skip UTF-8 validation of text and close frames. */
    skipUTF8Validation?: boolean | undefined;
    /** The class instantiated for each connection. */
    WebSocket?: U | undefined;
  }

  /** The address a server is bound to. */
  interface AddressInfo {
    address: string;
    family: string;
    port: number;
  }

  /** A listener of a `WebSocketServer` event, called with the server as `this`. */
  type ServerListener<T extends typeof WebSocket.WebSocket, A extends any[]> = (
    this: Server<T>,
    ...args: A
  ) => void;

  /** A WebSocket server. */
  class Server<
    T extends typeof WebSocket.WebSocket = typeof WebSocket.WebSocket,
    U extends typeof IncomingMessage = typeof IncomingMessage
  > extends EventEmitter {
    /** The options, defaults filled in. */
    options: ServerOptions<T, U>;
    path: string;
    /** The connected clients (when `clientTracking` is on). */
    clients: Set<InstanceType<T>>;

    /**
     * Creates a server: exactly one of `port`, `server` and `noServer` must be
     * given.
     *
     * @param options The server options
     * @param callback A `'listening'` listener (with `port`)
     */
    constructor(options?: ServerOptions<T, U>, callback?: () => void);

    /** The bound address; throws in `noServer` mode, `null` after close. */
    address(): AddressInfo | string | null;
    /**
     * Stops accepting connections; existing ones stay open.
     *
     * @param cb A `'close'` listener, given an error if already closed
     */
    close(cb?: (err?: Error) => void): void;
    /**
     * Validates an upgrade request and completes the handshake.
     *
     * @param request The upgrade request
     * @param socket The socket (any duplex stream)
     * @param upgradeHead The first bytes of the upgraded stream
     * @param callback Called with the new websocket
     */
    handleUpgrade(
      request: InstanceType<U>,
      socket: Duplex,
      upgradeHead: Buffer,
      callback: (client: InstanceType<T>, request: InstanceType<U>) => void
    ): void;
    /** Whether this server handles the request (checks `path`). */
    shouldHandle(request: InstanceType<U>): boolean | Promise<boolean>;

    /** Emitted for each completed handshake. */
    on(
      event: 'connection',
      cb: ServerListener<
        T,
        [websocket: InstanceType<T>, request: InstanceType<U>]
      >
    ): this;
    /** Emitted on an error of the underlying HTTP server. */
    on(event: 'error', cb: ServerListener<T, [error: Error]>): this;
    /** Emitted with the response lines before they are written. */
    on(
      event: 'headers',
      cb: ServerListener<T, [headers: string[], request: InstanceType<U>]>
    ): this;
    /** Emitted when the server closed or started listening. */
    on(event: 'close' | 'listening', cb: ServerListener<T, []>): this;
    /** Emitted for an invalid handshake; the listener must answer. */
    on(
      event: 'wsClientError',
      cb: ServerListener<
        T,
        [error: Error, socket: Duplex, request: InstanceType<U>]
      >
    ): this;
    on(event: string | symbol, listener: ServerListener<T, any[]>): this;

    once(
      event: 'connection',
      cb: ServerListener<
        T,
        [websocket: InstanceType<T>, request: InstanceType<U>]
      >
    ): this;
    once(event: 'error', cb: ServerListener<T, [error: Error]>): this;
    once(
      event: 'headers',
      cb: ServerListener<T, [headers: string[], request: InstanceType<U>]>
    ): this;
    once(event: 'close' | 'listening', cb: ServerListener<T, []>): this;
    once(
      event: 'wsClientError',
      cb: ServerListener<
        T,
        [error: Error, socket: Duplex, request: InstanceType<U>]
      >
    ): this;
    once(event: string | symbol, listener: ServerListener<T, any[]>): this;

    off(
      event: 'connection',
      cb: ServerListener<T, [socket: InstanceType<T>, request: InstanceType<U>]>
    ): this;
    off(event: 'error', cb: ServerListener<T, [error: Error]>): this;
    off(
      event: 'headers',
      cb: ServerListener<T, [headers: string[], request: InstanceType<U>]>
    ): this;
    off(event: 'close' | 'listening', cb: ServerListener<T, []>): this;
    off(
      event: 'wsClientError',
      cb: ServerListener<
        T,
        [error: Error, socket: Duplex, request: InstanceType<U>]
      >
    ): this;
    off(event: string | symbol, listener: ServerListener<T, any[]>): this;

    addListener(
      event: 'connection',
      cb: (websocket: InstanceType<T>, request: InstanceType<U>) => void
    ): this;
    addListener(event: 'error', cb: (error: Error) => void): this;
    addListener(
      event: 'headers',
      cb: (headers: string[], request: InstanceType<U>) => void
    ): this;
    addListener(event: 'close' | 'listening', cb: () => void): this;
    addListener(
      event: 'wsClientError',
      cb: (error: Error, socket: Duplex, request: InstanceType<U>) => void
    ): this;
    addListener(
      event: string | symbol,
      listener: (...args: any[]) => void
    ): this;

    removeListener(
      event: 'connection',
      cb: (websocket: InstanceType<T>, request: InstanceType<U>) => void
    ): this;
    removeListener(event: 'error', cb: (error: Error) => void): this;
    removeListener(
      event: 'headers',
      cb: (headers: string[], request: InstanceType<U>) => void
    ): this;
    removeListener(event: 'close' | 'listening', cb: () => void): this;
    removeListener(
      event: 'wsClientError',
      cb: (error: Error, socket: Duplex, request: InstanceType<U>) => void
    ): this;
    removeListener(
      event: string | symbol,
      listener: (...args: any[]) => void
    ): this;
  }

  /** The `WebSocketServer` class (`Server` is its older name). */
  const WebSocketServer: typeof Server;
  interface WebSocketServer extends Server {}
  /** The `WebSocket` class, also as a named export. */
  const WebSocket: typeof WebSocketClass;
  interface WebSocket extends WebSocketClass {}

  /**
   * Wraps a websocket in a duplex stream: messages become chunks and chunks
   * become messages.
   *
   * @param websocket The websocket to wrap
   * @param options `Duplex` options (`objectMode`, `autoDestroy` and
   *     `emitClose` are forced; `readableObjectMode` turns text into strings)
   */
  function createWebSocketStream(
    websocket: WebSocket,
    options?: DuplexOptions
  ): Duplex;

  /** The options of a `Receiver`. */
  interface ReceiverOptions {
    /** Whether several events may be emitted in the same tick (default `true`). */
    allowSynchronousEvents?: boolean | undefined;
    /** The type of binary message data (default `'nodebuffer'`). */
    binaryType?:
      'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob' | undefined;
    /** The negotiated extensions, by name. */
    extensions?: { [name: string]: PerMessageDeflate } | undefined;
    /** Whether frames come from a client (they must then be masked). */
    isServer?: boolean | undefined;
    /** The maximum number of buffered chunks (0 = unlimited, the default). */
    maxBufferedChunks?: number | undefined;
    /** The maximum number of fragments per message (0 = unlimited, the default). */
    maxFragments?: number | undefined;
    /** The maximum message size in bytes (0 = unlimited, the default). */
    maxPayload?: number | undefined;
    /** Whether to skip UTF-8 validation of text and close frames. */
    skipUTF8Validation?: boolean | undefined;
  }

  /**
   * The frame parser: a writable stream fed with the bytes of a connection,
   * emitting `'message'`, `'ping'`, `'pong'`, `'conclude'` (close frame) and
   * `'error'`.
   */
  class Receiver extends Writable {
    constructor(options?: ReceiverOptions);

    on(
      event: 'conclude',
      listener: (code: number, reason: Buffer) => void
    ): this;
    on(
      event: 'message',
      listener: (data: RawData | Blob, isBinary: boolean) => void
    ): this;
    on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  /** The options of `Sender.frame()`. */
  interface SenderFrameOptions {
    /** Whether to set the FIN bit. */
    fin?: boolean | undefined;
    /** Fills the masking key. */
    generateMask?: ((mask: Buffer) => void) | undefined;
    /** Whether to mask the payload. */
    mask?: boolean | undefined;
    /** Where to store the masking key. */
    maskBuffer?: Buffer | undefined;
    /** The opcode. */
    opcode: number;
    /** Whether `data` must be left untouched (masking then copies). */
    readOnly?: boolean | undefined;
    /** Whether to set the RSV1 bit. */
    rsv1?: boolean | undefined;
  }

  /** The frame writer of a connection. */
  class Sender {
    /**
     * @param socket The connection
     * @param extensions The negotiated extensions, by name
     * @param generateMask Fills the masking key of each frame
     */
    constructor(
      socket: Duplex,
      extensions?: { [name: string]: PerMessageDeflate },
      generateMask?: (mask: Buffer) => void
    );

    /** Frames `data`: returns the header and the payload. */
    static frame(data: Buffer | string, options: SenderFrameOptions): Buffer[];

    /** Sends a close frame. */
    close(
      code?: number,
      data?: string | Buffer,
      mask?: boolean,
      cb?: (err?: Error) => void
    ): void;
    /** Sends a ping frame. */
    ping(data: any, mask?: boolean, cb?: (err?: Error) => void): void;
    /** Sends a pong frame. */
    pong(data: any, mask?: boolean, cb?: (err?: Error) => void): void;
    /** Sends a data message (or fragment). */
    send(
      data: any,
      options: {
        binary?: boolean | undefined;
        compress?: boolean | undefined;
        fin?: boolean | undefined;
        mask?: boolean | undefined;
      },
      cb?: (err?: Error) => void
    ): void;
  }

  /** The permessage-deflate extension (RFC 7692). */
  class PerMessageDeflate {
    /** `'permessage-deflate'`. */
    static readonly extensionName: string;

    /** The negotiated parameters, once accepted. */
    params: { [param: string]: any } | null;

    /**
     * @param options The extension parameters, and `isServer` / `maxPayload`
     */
    constructor(
      options?: PerMessageDeflateOptions & {
        isServer?: boolean | undefined;
        maxPayload?: number | undefined;
      }
    );

    /** The parameters a client offers. */
    offer(): { [param: string]: any };
    /** Accepts an offer (server) or a response (client); throws if unacceptable. */
    accept(configurations: Array<{ [param: string]: any }>): {
      [param: string]: any;
    };
    /** Releases the compression contexts. */
    cleanup(): void;
    /** Inflates a fragment. */
    decompress(
      data: Buffer,
      fin: boolean,
      callback: (err: Error | null, result?: Buffer) => void
    ): void;
    /** Deflates a fragment. */
    compress(
      data: Buffer | string,
      fin: boolean,
      callback: (err: Error | null, result?: Buffer) => void
    ): void;
  }

  /** `Sec-WebSocket-Extensions` header parsing and formatting. */
  namespace extension {
    /** Parses the header into offers by extension name. */
    function parse(header: string): {
      [name: string]: Array<{ [param: string]: Array<string | true> }>;
    };
    /** Formats offers by extension name into a header value. */
    function format(extensions: {
      [name: string]:
        | {
            [param: string]:
              string | number | true | Array<string | number | true>;
          }
        | Array<{
            [param: string]:
              string | number | true | Array<string | number | true>;
          }>;
    }): string;
  }

  /** `Sec-WebSocket-Protocol` header parsing. */
  namespace subprotocol {
    /** Parses the header into the set of offered subprotocols. */
    function parse(header: string): Set<string>;
  }
}

export = WebSocket;
