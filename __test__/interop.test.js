'use strict';

//
// Interoperability with npm `ws`: every test runs twice, once with a ws-rs server and an
// npm ws client, once with an npm ws server and a ws-rs client. A TCP tap between the two
// records the wire so that frames (opcodes, FIN/RSV1 bits, close payloads) and handshake
// headers can be checked independently of either implementation. The permessage-deflate
// matrix uses npm ws talking to itself through the same tap as the oracle for the
// negotiated header and the frame layout.
//
// `WS_RS_UNDER_TEST=ws npx mocha __test__/interop.test.js` runs the file with npm ws in
// place of ws-rs (see helpers/modules.js).
//

const assert = require('assert');
const crypto = require('crypto');

const {
  loadReference,
  loadUnderTest,
  underTestName
} = require('./helpers/modules');
const {
  Tracker,
  collect,
  frameShapes,
  once,
  parseWire,
  tap,
  withTimeout
} = require('./helpers/wire');

let RS;
let NPM;

const PAIRS = [
  {
    name: `${underTestName} server, ws client`,
    server: () => RS,
    client: () => NPM
  },
  {
    name: `ws server, ${underTestName} client`,
    server: () => NPM,
    client: () => RS
  }
];

/**
 * Opens a connection between a server of one implementation and a client of the other.
 *
 * @param {Tracker} t The tracker that closes everything afterwards
 * @param {Object} opts The options
 * @param {Function} opts.Server The server side `WebSocket` class
 * @param {Function} opts.Client The client side `WebSocket` class
 * @param {Object} [opts.serverOptions] Extra `WebSocketServer` options
 * @param {Object} [opts.clientOptions] Client options
 * @param {String[]} [opts.protocols] Subprotocols the client asks for
 * @param {Boolean} [opts.tap=false] Whether to route the connection through a tap
 * @return {Promise<Object>} `{ wss, server, client, req, res, wire }`
 * @private
 */
async function connectPair(t, opts) {
  const wss = await t.server(opts.Server, opts.serverOptions);
  let port = wss.address().port;
  let wire = null;
  if (opts.tap) {
    const tapped = await tap(port, t);
    port = tapped.port;
    wire = tapped.connections;
  }
  const connection = once(wss, 'connection');
  const client = t.client(
    opts.Client,
    `ws://127.0.0.1:${port}`,
    opts.protocols,
    opts.clientOptions
  );
  let res = null;
  client.on('upgrade', (response) => {
    res = response;
  });
  await withTimeout(
    new Promise((resolve, reject) => {
      client.once('open', resolve);
      client.once('error', reject);
    }),
    5000,
    'the client to open'
  );
  const [server, req] = await connection;
  return { wss, server, client, req, res, wire: wire && wire[0] };
}

/**
 * Echoes every message back with the same type.
 *
 * @param {WebSocket} ws The WebSocket
 * @private
 */
function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/**
 * Waits for the `'close'` event and returns its code and reason as a string.
 *
 * @param {WebSocket} ws The WebSocket
 * @param {Number} [ms=5000] The time limit
 * @return {Promise<{code: Number, reason: String}>}
 * @private
 */
async function closed(ws, ms = 5000) {
  const [code, reason] = await once(ws, 'close', ms);
  assert.ok(Buffer.isBuffer(reason), 'the close reason is a Buffer');
  return { code, reason: reason.toString() };
}

/**
 * Waits for the `'error'` event.
 *
 * @param {WebSocket} ws The WebSocket
 * @return {Promise<Error>}
 * @private
 */
async function errored(ws) {
  const [err] = await once(ws, 'error');
  return err;
}

/**
 * Returns the close frames of a recorded direction as `{ code, reason }`.
 *
 * @param {Buffer[]} chunks The recorded bytes
 * @return {Object[]}
 * @private
 */
function closeFrames(chunks) {
  return parseWire(chunks)
    .frames.filter((f) => f.opcode === 8)
    .map((f) =>
      f.length === 0
        ? { code: null, reason: '' }
        : {
            code: f.payload.readUInt16BE(0),
            reason: f.payload.subarray(2).toString()
          }
    );
}

/**
 * Asserts that a received message is exactly what was sent.
 *
 * @param {Object} got `{ data, isBinary }` from `collect()`
 * @param {Buffer|String} expected The payload
 * @param {Boolean} binary The expected type
 * @param {String} what A label for the assertion messages
 * @private
 */
function assertMessage(got, expected, binary, what) {
  assert.ok(Buffer.isBuffer(got.data), `${what}: data is a Buffer`);
  assert.strictEqual(got.isBinary, binary, `${what}: isBinary`);
  const want = Buffer.isBuffer(expected) ? expected : Buffer.from(expected);
  assert.strictEqual(got.data.length, want.length, `${what}: length`);
  assert.ok(got.data.equals(want), `${what}: bytes differ`);
}

describe('interop with npm ws', function () {
  const t = new Tracker();

  before(function () {
    NPM = loadReference();
    RS = loadUnderTest();
  });

  afterEach(() => t.cleanup());

  for (const pair of PAIRS) {
    describe(pair.name, function () {
      const pairOpts = (extra = {}) => ({
        Server: pair.server(),
        Client: pair.client(),
        ...extra
      });

      describe('data messages', function () {
        it('exchanges text and binary messages byte for byte', async function () {
          const { server, client } = await connectPair(t, pairOpts());
          echo(server);
          const sent = [
            ['héllo wörld € 𝄞', false],
            [crypto.randomBytes(1000), true],
            [new Uint8Array([0, 1, 2, 255]), true],
            ['x'.repeat(125), false],
            ['y'.repeat(126), false],
            [crypto.randomBytes(65535), true],
            [crypto.randomBytes(65536), true]
          ];
          const echoes = collect(client, sent.length);
          for (const [data, binary] of sent) client.send(data, { binary });
          const got = await echoes;
          sent.forEach(([data, binary], i) =>
            assertMessage(got[i], Buffer.from(data), binary, `message ${i}`)
          );
        });

        it('exchanges empty text and binary messages', async function () {
          const { server, client } = await connectPair(t, pairOpts());
          const atServer = collect(server, 2);
          const atClient = collect(client, 2);
          client.send('');
          client.send(Buffer.alloc(0));
          server.send('');
          server.send(Buffer.alloc(0), { binary: true });
          const [s, c] = await Promise.all([atServer, atClient]);
          assertMessage(s[0], '', false, 'empty text at the server');
          assertMessage(s[1], '', true, 'empty binary at the server');
          assertMessage(c[0], '', false, 'empty text at the client');
          assertMessage(c[1], '', true, 'empty binary at the client');
        });

        it('exchanges 16 MiB messages in both directions', async function () {
          this.timeout(20000);
          const { server, client } = await connectPair(t, pairOpts());
          echo(server);
          const binary = crypto.randomBytes(16 * 1024 * 1024);
          const text = 'aé€𝄞'.repeat((16 * 1024 * 1024) / 10);
          const echoes = collect(client, 2, 15000);
          client.send(binary);
          client.send(text);
          const got = await echoes;
          assertMessage(got[0], binary, true, '16 MiB binary');
          assertMessage(got[1], text, false, '16 MiB text');
        });

        it('reassembles fragmented sends (fin: false) in both directions', async function () {
          const { server, client, wire } = await connectPair(
            t,
            pairOpts({ tap: true })
          );
          const euro = Buffer.from('€');
          const atServer = collect(server, 2);
          const pings = [];
          server.on('ping', (data) => pings.push(data.toString()));

          // A text message split inside a UTF-8 sequence, with a ping in between.
          client.send('ab', { fin: false });
          client.send(euro.subarray(0, 1), { binary: false, fin: false });
          client.ping('between');
          client.send(euro.subarray(1), { binary: false, fin: false });
          client.send('cd', { fin: true });
          client.send(Buffer.from([1, 2]), { binary: true, fin: false });
          client.send(Buffer.from([3]), { binary: true, fin: true });

          const s = await atServer;
          assertMessage(s[0], 'ab€cd', false, 'fragmented text at the server');
          assertMessage(
            s[1],
            Buffer.from([1, 2, 3]),
            true,
            'fragmented binary'
          );
          assert.deepStrictEqual(pings, ['between']);

          const atClient = collect(client, 1);
          server.send('one', { fin: false });
          server.send('', { fin: false });
          server.send('two', { fin: true });
          const c = await atClient;
          assertMessage(c[0], 'onetwo', false, 'fragmented text at the client');

          client.close();
          await closed(client);
          await withTimeout(wire.done, 2000, 'the tap to close');
          assert.deepStrictEqual(frameShapes(parseWire(wire.up).frames), [
            'op=1 fin=0 rsv1=0 len=2',
            'op=0 fin=0 rsv1=0 len=1',
            'op=9 fin=1 rsv1=0 len=7',
            'op=0 fin=0 rsv1=0 len=2',
            'op=0 fin=1 rsv1=0 len=2',
            'op=2 fin=0 rsv1=0 len=2',
            'op=0 fin=1 rsv1=0 len=1',
            'op=8 fin=1 rsv1=0 len=0'
          ]);
          const down = frameShapes(parseWire(wire.down).frames);
          assert.deepStrictEqual(down, [
            'op=10 fin=1 rsv1=0 len=7',
            'op=1 fin=0 rsv1=0 len=3',
            'op=0 fin=0 rsv1=0 len=0',
            'op=0 fin=1 rsv1=0 len=3',
            'op=8 fin=1 rsv1=0 len=0'
          ]);
        });

        it('masks client frames and does not mask server frames', async function () {
          const { server, client, wire } = await connectPair(
            t,
            pairOpts({ tap: true })
          );
          echo(server);
          const echoes = collect(client, 1);
          client.send('masked?');
          await echoes;
          client.close(1000);
          await closed(client);
          await withTimeout(wire.done, 2000, 'the tap to close');
          const up = parseWire(wire.up);
          const down = parseWire(wire.down);
          assert.ok(up.frames.length > 0 && up.frames.every((f) => f.masked));
          assert.ok(
            down.frames.length > 0 && down.frames.every((f) => !f.masked)
          );
          assert.ok(!up.truncated && !down.truncated);
        });
      });

      describe('idle permessage-deflate', function () {
        it('goes on with the context after an idle connection freed its zlib state', async function () {
          this.timeout(10000);
          const deflate = { perMessageDeflate: { threshold: 0 } };
          const { server, client, wire } = await connectPair(
            t,
            pairOpts({
              serverOptions: deflate,
              clientOptions: deflate,
              tap: true
            })
          );
          assert.strictEqual(client.extensions, 'permessage-deflate');
          echo(server);
          const text = crypto.randomBytes(3000).toString('base64');
          const first = collect(client, 1);
          client.send(text);
          assert.strictEqual((await first)[0].data.toString(), text);

          //
          // ws-rs frees an idle (de)compressor after one to two seconds; the
          // peer keeps its window all along. The repeat then travels as
          // back-references into the previous message, both ways, so its
          // frames are a fraction of the first ones.
          //
          await new Promise((resolve) => setTimeout(resolve, 2500));
          const second = collect(client, 1);
          client.send(text);
          assert.strictEqual((await second)[0].data.toString(), text);
          for (const direction of [wire.up, wire.down]) {
            const sizes = parseWire(direction)
              .frames.filter((f) => f.opcode === 1)
              .map((f) => f.length);
            assert.strictEqual(sizes.length, 2);
            assert.ok(sizes[1] * 10 < sizes[0], `frame sizes ${sizes}`);
          }
        });
      });

      describe('ping and pong', function () {
        it('answers pings with the same payload in both directions', async function () {
          const { server, client } = await connectPair(t, pairOpts());
          const payloads = [
            Buffer.alloc(0),
            Buffer.from('ping from one side'),
            crypto.randomBytes(125)
          ];
          for (const [from, to] of [
            [client, server],
            [server, client]
          ]) {
            for (const payload of payloads) {
              const pinged = once(to, 'ping');
              const ponged = once(from, 'pong');
              from.ping(payload);
              const [[seen], [answer]] = await Promise.all([pinged, ponged]);
              assert.ok(seen.equals(payload), 'ping payload');
              assert.ok(answer.equals(payload), 'pong payload');
            }
          }
        });

        it('delivers unsolicited pongs', async function () {
          const { server, client } = await connectPair(t, pairOpts());
          const atClient = once(client, 'pong');
          const atServer = once(server, 'pong');
          server.pong('from the server');
          client.pong(Buffer.from([0, 255]));
          const [[c], [s]] = await Promise.all([atClient, atServer]);
          assert.strictEqual(c.toString(), 'from the server');
          assert.ok(s.equals(Buffer.from([0, 255])));
        });
      });

      describe('closing', function () {
        for (const side of ['client', 'server']) {
          it(`closes with a code and reason from the ${side}`, async function () {
            const pairNow = await connectPair(t, pairOpts({ tap: true }));
            const { wire } = pairNow;
            const closer = pairNow[side];
            const other = side === 'client' ? pairNow.server : pairNow.client;
            const reason = `bye from the ${side} ü`;
            const a = closed(closer);
            const b = closed(other);
            closer.close(4000, reason);
            assert.strictEqual(closer.readyState, closer.CLOSING);
            assert.deepStrictEqual(await b, { code: 4000, reason });
            assert.deepStrictEqual(await a, { code: 4000, reason });
            assert.strictEqual(closer.readyState, closer.CLOSED);
            assert.strictEqual(other.readyState, other.CLOSED);
            await withTimeout(wire.done, 2000, 'the tap to close');
            const frame = { code: 4000, reason };
            assert.deepStrictEqual(closeFrames(wire.up), [frame]);
            assert.deepStrictEqual(closeFrames(wire.down), [frame]);
          });

          it(`closes without a code (1005) from the ${side}`, async function () {
            const pairNow = await connectPair(t, pairOpts({ tap: true }));
            const { wire } = pairNow;
            const closer = pairNow[side];
            const other = side === 'client' ? pairNow.server : pairNow.client;
            const a = closed(closer);
            const b = closed(other);
            closer.close();
            assert.deepStrictEqual(await b, { code: 1005, reason: '' });
            assert.deepStrictEqual(await a, { code: 1005, reason: '' });
            await withTimeout(wire.done, 2000, 'the tap to close');
            const empty = { code: null, reason: '' };
            assert.deepStrictEqual(closeFrames(wire.up), [empty]);
            assert.deepStrictEqual(closeFrames(wire.down), [empty]);
          });

          it(`gets 1006 on both ends when the ${side} terminates`, async function () {
            const pairNow = await connectPair(t, pairOpts({ tap: true }));
            const { wire } = pairNow;
            const closer = pairNow[side];
            const other = side === 'client' ? pairNow.server : pairNow.client;
            const a = closed(closer);
            const b = closed(other);
            closer.terminate();
            assert.deepStrictEqual(await b, { code: 1006, reason: '' });
            assert.deepStrictEqual(await a, { code: 1006, reason: '' });
            await withTimeout(wire.done, 2000, 'the tap to close');
            assert.deepStrictEqual(closeFrames(wire.up), []);
            assert.deepStrictEqual(closeFrames(wire.down), []);
          });

          it(`fails with 1007 on invalid UTF-8 text from the ${side}`, async function () {
            const pairNow = await connectPair(t, pairOpts({ tap: true }));
            const { wire } = pairNow;
            const sender = pairNow[side];
            const receiver =
              side === 'client' ? pairNow.server : pairNow.client;
            const err = errored(receiver);
            const a = closed(sender);
            const b = closed(receiver);
            // ws does not validate what it sends: a Buffer sent as text goes out as is.
            sender.send(Buffer.from([0x68, 0xce, 0xba, 0xe1, 0xbd]), {
              binary: false
            });
            const e = await err;
            assert.ok(e instanceof Error);
            assert.strictEqual(e.code, 'WS_ERR_INVALID_UTF8');
            assert.strictEqual(
              e.message,
              'Invalid WebSocket frame: invalid UTF-8 sequence'
            );
            assert.deepStrictEqual(await a, { code: 1007, reason: '' });
            assert.deepStrictEqual(await b, { code: 1006, reason: '' });
            await withTimeout(wire.done, 2000, 'the tap to close');
            const fromReceiver = side === 'client' ? wire.down : wire.up;
            assert.deepStrictEqual(closeFrames(fromReceiver), [
              { code: 1007, reason: '' }
            ]);
          });

          it(`fails with 1007 on an invalid UTF-8 close reason from the ${side}`, async function () {
            const pairNow = await connectPair(t, pairOpts());
            const sender = pairNow[side];
            const receiver =
              side === 'client' ? pairNow.server : pairNow.client;
            const err = errored(receiver);
            const a = closed(sender);
            sender.close(4000, Buffer.from([0xff, 0xfe]));
            const e = await err;
            assert.strictEqual(e.code, 'WS_ERR_INVALID_UTF8');
            assert.strictEqual(
              e.message,
              'Invalid WebSocket frame: invalid UTF-8 sequence'
            );
            assert.strictEqual((await a).code, 1007);
          });

          it(`fails with 1009 when the ${side} exceeds the peer's maxPayload`, async function () {
            const limit = { maxPayload: 1000 };
            const pairNow = await connectPair(
              t,
              pairOpts({
                tap: true,
                serverOptions: side === 'client' ? limit : {},
                clientOptions: side === 'server' ? limit : {}
              })
            );
            const { wire } = pairNow;
            const sender = pairNow[side];
            const receiver =
              side === 'client' ? pairNow.server : pairNow.client;
            const fits = collect(receiver, 1);
            sender.send(crypto.randomBytes(1000));
            assert.strictEqual((await fits)[0].data.length, 1000);

            const err = errored(receiver);
            const a = closed(sender);
            const b = closed(receiver);
            sender.send(crypto.randomBytes(1001));
            const e = await err;
            assert.ok(e instanceof RangeError);
            assert.strictEqual(e.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
            assert.strictEqual(e.message, 'Max payload size exceeded');
            assert.deepStrictEqual(await a, { code: 1009, reason: '' });
            assert.deepStrictEqual(await b, { code: 1006, reason: '' });
            await withTimeout(wire.done, 2000, 'the tap to close');
            const fromReceiver = side === 'client' ? wire.down : wire.up;
            assert.deepStrictEqual(closeFrames(fromReceiver), [
              { code: 1009, reason: '' }
            ]);
          });

          it(`fails with 1009 when a deflated message from the ${side} inflates past maxPayload`, async function () {
            const limit = { maxPayload: 1000 };
            const pairNow = await connectPair(
              t,
              pairOpts({
                serverOptions: {
                  perMessageDeflate: { threshold: 0 },
                  ...(side === 'client' ? limit : {})
                },
                clientOptions: {
                  perMessageDeflate: { threshold: 0 },
                  ...(side === 'server' ? limit : {})
                }
              })
            );
            const sender = pairNow[side];
            const receiver =
              side === 'client' ? pairNow.server : pairNow.client;
            assert.strictEqual(sender.extensions, 'permessage-deflate');
            const err = errored(receiver);
            const a = closed(sender);
            sender.send('a'.repeat(5000));
            const e = await err;
            assert.ok(e instanceof RangeError);
            assert.strictEqual(e.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
            assert.strictEqual(e.message, 'Max payload size exceeded');
            assert.strictEqual((await a).code, 1009);
          });

          it(`fails with 1009 when fragments from the ${side} add up past maxPayload`, async function () {
            const limit = { maxPayload: 1000 };
            const pairNow = await connectPair(
              t,
              pairOpts({
                serverOptions: side === 'client' ? limit : {},
                clientOptions: side === 'server' ? limit : {}
              })
            );
            const sender = pairNow[side];
            const receiver =
              side === 'client' ? pairNow.server : pairNow.client;
            let messages = 0;
            receiver.on('message', () => messages++);
            const err = errored(receiver);
            const a = closed(sender);
            sender.send(Buffer.alloc(600), { fin: false });
            sender.send(Buffer.alloc(600), { fin: true });
            const e = await err;
            assert.ok(e instanceof RangeError);
            assert.strictEqual(e.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
            assert.strictEqual((await a).code, 1009);
            assert.strictEqual(messages, 0);
          });
        }

        it('closes cleanly when both sides close at the same time', async function () {
          const { server, client, wire } = await connectPair(
            t,
            pairOpts({ tap: true })
          );
          const a = closed(client);
          const b = closed(server);
          client.close(4001, 'client');
          server.close(4002, 'server');
          // Each side reports the code and reason it received.
          assert.deepStrictEqual(await a, { code: 4002, reason: 'server' });
          assert.deepStrictEqual(await b, { code: 4001, reason: 'client' });
          await withTimeout(wire.done, 2000, 'the tap to close');
          assert.deepStrictEqual(closeFrames(wire.up), [
            { code: 4001, reason: 'client' }
          ]);
          assert.deepStrictEqual(closeFrames(wire.down), [
            { code: 4002, reason: 'server' }
          ]);
        });

        it('delivers messages sent before close() and drops sends after it', async function () {
          const { server, client } = await connectPair(t, pairOpts());
          const received = [];
          server.on('message', (data) => received.push(data.toString()));
          const a = closed(client);
          const b = closed(server);
          client.send('first');
          client.send('second');
          client.close(1000, 'done');
          let sendError;
          client.send('too late', (err) => {
            sendError = err;
          });
          assert.deepStrictEqual(await b, { code: 1000, reason: 'done' });
          assert.deepStrictEqual(received, ['first', 'second']);
          assert.deepStrictEqual(await a, { code: 1000, reason: 'done' });
          assert.ok(sendError instanceof Error);
          assert.strictEqual(
            sendError.message,
            'WebSocket is not open: readyState 2 (CLOSING)'
          );
        });
      });

      describe('subprotocols', function () {
        it('selects the first protocol by default', async function () {
          const { server, client, req, res } = await connectPair(
            t,
            pairOpts({ protocols: ['chat', 'superchat'] })
          );
          assert.strictEqual(
            req.headers['sec-websocket-protocol'],
            'chat,superchat'
          );
          assert.strictEqual(res.headers['sec-websocket-protocol'], 'chat');
          assert.strictEqual(client.protocol, 'chat');
          assert.strictEqual(server.protocol, 'chat');
        });

        it('uses the protocol chosen by handleProtocols', async function () {
          let offered;
          const { server, client } = await connectPair(
            t,
            pairOpts({
              protocols: ['chat', 'superchat', 'v2.json'],
              serverOptions: {
                handleProtocols: (protocols) => {
                  offered = protocols;
                  return 'v2.json';
                }
              }
            })
          );
          assert.ok(offered instanceof Set);
          assert.deepStrictEqual(
            [...offered],
            ['chat', 'superchat', 'v2.json']
          );
          assert.strictEqual(client.protocol, 'v2.json');
          assert.strictEqual(server.protocol, 'v2.json');
        });

        it('has an empty protocol when none is asked for', async function () {
          const { server, client, req, res } = await connectPair(t, pairOpts());
          assert.strictEqual(req.headers['sec-websocket-protocol'], undefined);
          assert.strictEqual(res.headers['sec-websocket-protocol'], undefined);
          assert.strictEqual(client.protocol, '');
          assert.strictEqual(server.protocol, '');
        });

        it('fails the client when the server picks no protocol', async function () {
          await assert.rejects(
            connectPair(
              t,
              pairOpts({
                protocols: ['chat'],
                serverOptions: { handleProtocols: () => false }
              })
            ),
            { message: 'Server sent no subprotocol' }
          );
        });
      });
    });
  }

  describe('permessage-deflate matrix (npm ws with itself is the oracle)', function () {
    this.timeout(20000);

    const r = (n) => crypto.randomBytes(n);
    // Repeats at distances of 300, 1000, 5000 and 20000 bytes: a deflater that uses a
    // larger window than negotiated produces back references its peer cannot resolve.
    const far = Buffer.concat([
      ...[300, 1000, 5000, 20000].flatMap((n) => {
        const block = r(n);
        return [block, r(64), block];
      })
    ]);
    const MESSAGES = [
      { parts: ['hi'], binary: false },
      { parts: ['é'.repeat(60)], binary: false },
      { parts: [Buffer.alloc(1023, 7)], binary: true },
      { parts: [Buffer.alloc(1024, 7)], binary: true },
      { parts: [far], binary: true },
      // The same message again: with context takeover it may refer to the first copy.
      { parts: [far], binary: true },
      {
        parts: ['The quick brown fox jumps over the lazy dog. '.repeat(40)],
        binary: false
      },
      { parts: [''], binary: false },
      { parts: [Buffer.alloc(2000, 1)], binary: true, compress: false },
      {
        parts: ['fragmented '.repeat(200), 'and compressed '.repeat(100), '€'],
        binary: false
      }
    ];

    /**
     * Runs one configuration: the client sends MESSAGES, the server echoes them.
     *
     * @param {Function} Server The server side `WebSocket` class
     * @param {Function} Client The client side `WebSocket` class
     * @param {Object} cfg `{ server, client }` perMessageDeflate options
     * @return {Promise<Object>} What the tap and both ends observed
     * @private
     */
    async function run(Server, Client, cfg) {
      const wss = await t.server(Server, { perMessageDeflate: cfg.server });
      const tapped = await tap(wss.address().port, t);
      let serverWs = null;
      const atServer = [];
      wss.on('connection', (ws) => {
        serverWs = ws;
        ws.on('message', (data, isBinary) => {
          atServer.push({ data, isBinary });
          ws.send(data, { binary: isBinary });
        });
      });
      const client = t.client(Client, `ws://127.0.0.1:${tapped.port}`, {
        perMessageDeflate: cfg.client
      });
      try {
        await withTimeout(
          new Promise((resolve, reject) => {
            client.once('open', resolve);
            client.once('error', reject);
          }),
          5000,
          'the client to open'
        );
      } catch (err) {
        const conn = tapped.connections[0];
        await withTimeout(conn.done, 2000, 'the tap to close');
        const up = parseWire(conn.up);
        const down = parseWire(conn.down);
        return {
          error: err.message,
          offer: up.headers['sec-websocket-extensions'],
          status: down.head.split('\r\n')[0],
          response: down.headers['sec-websocket-extensions']
        };
      }

      const echoes = collect(client, MESSAGES.length, 10000);
      for (const m of MESSAGES) {
        m.parts.forEach((part, i) => {
          client.send(part, {
            binary: m.binary,
            compress: m.compress !== false,
            fin: i === m.parts.length - 1
          });
        });
      }
      const got = await echoes;
      MESSAGES.forEach((m, i) => {
        const want = Buffer.concat(m.parts.map((p) => Buffer.from(p)));
        assertMessage(
          atServer[i],
          want,
          m.binary,
          `message ${i} at the server`
        );
        assertMessage(got[i], want, m.binary, `message ${i} echoed`);
      });
      const extensions = {
        client: client.extensions,
        server: serverWs.extensions
      };
      client.close(1000);
      await closed(client);
      const conn = tapped.connections[0];
      await withTimeout(conn.done, 2000, 'the tap to close');
      const up = parseWire(conn.up);
      const down = parseWire(conn.down);
      return {
        offer: up.headers['sec-websocket-extensions'],
        status: down.head.split('\r\n')[0],
        response: down.headers['sec-websocket-extensions'],
        extensions,
        up: frameShapes(up.frames),
        down: frameShapes(down.frames)
      };
    }

    const OK = 'HTTP/1.1 101 Switching Protocols';
    const REFUSED = 'HTTP/1.1 400 Bad Request';
    // `expect` spells out ws's negotiation for a few configurations, so the oracle itself
    // is checked; every configuration is compared with the oracle.
    const configs = [
      {
        server: false,
        client: false,
        expect: { offer: undefined, status: OK }
      },
      { server: true, client: false, expect: { offer: undefined, status: OK } },
      {
        server: false,
        client: true,
        expect: {
          offer: 'permessage-deflate; client_max_window_bits',
          response: undefined
        }
      },
      { server: true, client: true, expect: { response: 'permessage-deflate' } }
    ];
    // Context takeover: every combination of the two flags on each side.
    for (let bits = 0; bits < 16; bits++) {
      const flags = (b0, b1) => {
        const o = {};
        if (bits & b0) o.serverNoContextTakeover = true;
        if (bits & b1) o.clientNoContextTakeover = true;
        return o;
      };
      configs.push({ server: flags(1, 2), client: flags(4, 8) });
    }
    configs[configs.length - 1].expect = {
      offer:
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
        'client_max_window_bits',
      response:
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover'
    };
    // An explicit `false` refuses the parameter when the other side insists on it.
    configs.push(
      {
        server: { serverNoContextTakeover: false },
        client: { serverNoContextTakeover: true },
        expect: { status: REFUSED, error: 'Unexpected server response: 400' }
      },
      {
        server: { clientNoContextTakeover: true },
        client: { clientNoContextTakeover: false },
        expect: { status: OK, error: 'Invalid Sec-WebSocket-Extensions header' }
      },
      { server: { serverNoContextTakeover: false }, client: {} },
      { server: {}, client: { clientNoContextTakeover: false } }
    );
    // Window bits 8..15 on one side at a time, then on both sides: accepted while the
    // server's limits are within the client's offer (b <= 23 - b), refused otherwise.
    for (let b = 8; b <= 15; b++) {
      configs.push(
        { server: { serverMaxWindowBits: b }, client: {} },
        { server: { clientMaxWindowBits: b }, client: {} },
        { server: {}, client: { serverMaxWindowBits: b } },
        { server: {}, client: { clientMaxWindowBits: b } },
        {
          server: { serverMaxWindowBits: b, clientMaxWindowBits: b },
          client: { serverMaxWindowBits: 23 - b, clientMaxWindowBits: 23 - b },
          expect: { status: b <= 23 - b ? OK : REFUSED }
        },
        {
          server: { serverMaxWindowBits: b, clientMaxWindowBits: b },
          client: { serverMaxWindowBits: b, clientMaxWindowBits: b },
          expect: {
            response: `permessage-deflate; server_max_window_bits=${b}; client_max_window_bits=${b}`
          }
        }
      );
    }
    configs.push(
      {
        server: { serverMaxWindowBits: false },
        client: { serverMaxWindowBits: 10 },
        expect: { status: REFUSED }
      },
      {
        server: { clientMaxWindowBits: 10 },
        client: { clientMaxWindowBits: false },
        expect: { offer: 'permessage-deflate', status: REFUSED }
      },
      {
        server: {},
        client: { clientMaxWindowBits: false },
        expect: { offer: 'permessage-deflate', response: 'permessage-deflate' }
      }
    );
    // Thresholds (ws applies them when the sender has no context takeover).
    for (const threshold of [0, 1, 100, 1024, 5000]) {
      configs.push(
        { server: { threshold, serverNoContextTakeover: true }, client: {} },
        { server: {}, client: { threshold, clientNoContextTakeover: true } }
      );
    }
    configs.push(
      { server: { threshold: 0 }, client: { threshold: 0 } },
      { server: { threshold: 100000 }, client: { threshold: 100000 } }
    );

    for (const cfg of configs) {
      it(`server ${JSON.stringify(cfg.server)}, client ${JSON.stringify(cfg.client)}`, async function () {
        const oracle = await run(NPM, NPM, cfg);
        if (cfg.expect) {
          for (const key of Object.keys(cfg.expect)) {
            assert.strictEqual(
              oracle[key],
              cfg.expect[key],
              `ws with itself: ${key}`
            );
          }
        }
        for (const pair of PAIRS) {
          const got = await run(pair.server(), pair.client(), cfg);
          assert.deepStrictEqual(
            got,
            oracle,
            `${pair.name}: differs from ws with itself`
          );
        }
      });
    }
  });
});
