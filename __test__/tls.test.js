'use strict';

//
// wss:// over TLS with certificates made in before() by the openssl CLI (a CA, server
// certificates, a client certificate): ws-rs as client and as server, certificate
// verification (ca, rejectUnauthorized, host name), mutual TLS, and interop with npm ws.
//

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');

const { generate, haveOpenssl } = require('./helpers/certs');
const {
  loadReference,
  loadUnderTest,
  underTestName
} = require('./helpers/modules');
const { Tracker, collect, once, withTimeout } = require('./helpers/wire');

describe('wss:// over TLS', function () {
  const t = new Tracker();
  let pki;
  let RS;
  let NPM;

  before(function () {
    this.timeout(20000);
    if (!haveOpenssl()) {
      console.warn(
        '    tls.test.js: skipped, the openssl CLI is not available'
      );
      this.skip();
    }
    pki = generate();
    NPM = loadReference();
    RS = loadUnderTest();
  });

  after(function () {
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  afterEach(() => t.cleanup());

  /**
   * Starts an https server on 127.0.0.1:0 and closes it in the cleanup.
   *
   * @param {Object} [options] Extra `https.createServer()` options
   * @return {Promise<https.Server>}
   * @private
   */
  async function httpsServer(options = {}) {
    const server = https.createServer({ ...pki.server, ...options });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.defer(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        })
    );
    return server;
  }

  /**
   * Starts a `WebSocketServer` of `WebSocket` on a new https server.
   *
   * @param {Function} WebSocket The implementation
   * @param {Object} [serverOptions] Extra `WebSocketServer` options
   * @param {Object} [httpsOptions] Extra https options
   * @return {Promise<Object>} `{ wss, url }` with a `wss://127.0.0.1:port` URL
   * @private
   */
  async function wssServer(WebSocket, serverOptions = {}, httpsOptions = {}) {
    const server = await httpsServer(httpsOptions);
    const wss = t.track(new WebSocket.Server({ server, ...serverOptions }));
    return { wss, url: `wss://127.0.0.1:${server.address().port}` };
  }

  /**
   * Waits until a client opens or fails.
   *
   * @param {WebSocket} ws The client
   * @return {Promise} Resolves on `'open'`, rejects with the `'error'`
   * @private
   */
  function opened(ws) {
    return withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
      5000,
      'the client to open'
    );
  }

  const combos = [
    ['ws-rs', 'ws-rs'],
    ['ws-rs', 'ws'],
    ['ws', 'ws-rs']
  ];

  for (const [serverName, clientName] of combos) {
    for (const extras of [false, true]) {
      const label = (name) => (name === 'ws-rs' ? underTestName : 'npm ws');
      const title =
        `echoes over wss:// (${label(serverName)} server, ${label(clientName)} client` +
        (extras ? ', permessage-deflate and a subprotocol)' : ')');

      it(title, async function () {
        const pick = (name) => (name === 'ws-rs' ? RS : NPM);
        const { wss, url } = await wssServer(pick(serverName), {
          perMessageDeflate: extras
        });
        const connection = once(wss, 'connection');
        const client = t.client(
          pick(clientName),
          url,
          extras ? ['tls-echo'] : [],
          {
            ca: pki.ca,
            perMessageDeflate: extras
          }
        );
        assert.strictEqual(client.url, `${url}/`);
        await opened(client);
        const [server, req] = await connection;
        assert.strictEqual(req.socket.encrypted, true);
        assert.strictEqual(client.protocol, extras ? 'tls-echo' : '');
        assert.strictEqual(
          client.extensions,
          extras ? 'permessage-deflate' : ''
        );
        assert.strictEqual(server.extensions, client.extensions);
        server.on('message', (data, isBinary) =>
          server.send(data, { binary: isBinary })
        );

        const big = crypto.randomBytes(1024 * 1024);
        const text = 'über TLS '.repeat(5000);
        const echoes = collect(client, 3);
        client.send(text);
        client.send(big);
        client.send(Buffer.alloc(0));
        const got = await echoes;
        assert.strictEqual(got[0].isBinary, false);
        assert.strictEqual(got[0].data.toString(), text);
        assert.ok(got[1].isBinary && got[1].data.equals(big));
        assert.strictEqual(got[2].data.length, 0);

        const pong = once(client, 'pong');
        client.ping('over tls');
        assert.strictEqual((await pong)[0].toString(), 'over tls');

        const atServer = once(server, 'close');
        const atClient = once(client, 'close');
        client.close(4000, 'tls bye');
        const [[code, reason], [clientCode]] = await Promise.all([
          atServer,
          atClient
        ]);
        assert.strictEqual(code, 4000);
        assert.strictEqual(reason.toString(), 'tls bye');
        assert.strictEqual(clientCode, 4000);
      });
    }
  }

  describe(`${underTestName} client certificate checks`, function () {
    it('rejects a server certificate from an unknown CA by default', async function () {
      const { wss, url } = await wssServer(RS);
      let connected = false;
      wss.on('connection', () => {
        connected = true;
      });
      const client = t.client(RS, url);
      const closed = once(client, 'close');
      const err = await opened(client).then(
        () => assert.fail('the client opened'),
        (e) => e
      );
      assert.ok(
        [
          'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
          'SELF_SIGNED_CERT_IN_CHAIN'
        ].includes(err.code),
        `unexpected error ${err.code}: ${err.message}`
      );
      const [code] = await closed;
      assert.strictEqual(code, 1006);
      assert.strictEqual(client.readyState, client.CLOSED);
      assert.strictEqual(connected, false);
    });

    it('connects with rejectUnauthorized: false and no CA', async function () {
      const { url } = await wssServer(RS);
      const client = t.client(RS, url, { rejectUnauthorized: false });
      await opened(client);
      assert.strictEqual(client.readyState, client.OPEN);
    });

    it('rejects a certificate for another host name', async function () {
      const { url } = await wssServer(RS, {}, pki.other);
      const client = t.client(RS, url, { ca: pki.ca });
      const err = await opened(client).then(
        () => assert.fail('the client opened'),
        (e) => e
      );
      assert.strictEqual(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    });

    it('passes servername and checkServerIdentity through to tls.connect()', async function () {
      const { url } = await wssServer(RS, {}, pki.other);
      let checked;
      const client = t.client(RS, url, {
        ca: pki.ca,
        servername: 'other.example',
        checkServerIdentity: (host, cert) => {
          checked = cert.subject.CN;
          return undefined;
        }
      });
      await opened(client);
      assert.strictEqual(checked, 'other.example');
    });

    it('presents a client certificate (mutual TLS)', async function () {
      const { wss, url } = await wssServer(
        RS,
        {},
        { ca: pki.ca, requestCert: true, rejectUnauthorized: true }
      );
      const connection = once(wss, 'connection');
      const client = t.client(RS, url, { ca: pki.ca, ...pki.client });
      await opened(client);
      const [, req] = await connection;
      assert.strictEqual(req.socket.authorized, true);
      assert.strictEqual(
        req.socket.getPeerCertificate().subject.CN,
        'ws-rs test client'
      );

      const noCert = t.client(RS, url, { ca: pki.ca });
      await assert.rejects(opened(noCert));
    });
  });

  it(`${underTestName} handleUpgrade on an https server (noServer)`, async function () {
    const server = await httpsServer();
    const wss = t.track(new RS.Server({ noServer: true }));
    server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        wss.emit('connection', ws, req);
        ws.send('hello over tls');
      });
    });
    const client = t.client(NPM, `wss://127.0.0.1:${server.address().port}`, {
      ca: pki.ca
    });
    const [data, isBinary] = await once(client, 'message');
    assert.strictEqual(isBinary, false);
    assert.strictEqual(data.toString(), 'hello over tls');
  });
});
