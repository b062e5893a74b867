'use strict';

//
// The real npm `ws`, unmodified, with ws-rs's `bufferutil` and `utf-8-validate` installed
// under those names: a temporary project gets `node_modules/ws` (a copy of the installed
// package) and `node_modules/{bufferutil,utf-8-validate}` (symlinks to this package's
// folders), and a child Node process there runs a ws server and client against each
// other while counting the calls that reach our functions.
//
// ws prefers what Node itself offers (`buffer.isUtf8` since Node 18.14, and
// `http.websocketMask` where it exists) over the two packages, so the child hides those
// before it loads ws, as on the Node versions where ws falls back to the packages.
//

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFile } = require('child_process');

const root = path.join(__dirname, '..');

const CHILD = `'use strict';

const buffer = require('buffer');
const http = require('http');

buffer.isUtf8 = undefined;
http.websocketMask = undefined;
http.websocketUnmask = undefined;

const calls = { mask: 0, unmask: 0, isValidUTF8: 0 };

//
// ws calls \`bufferUtil.mask(...)\` through the module object, so wrapping its
// properties counts the calls; \`utf-8-validate\` is the function itself, so the cached
// module's exports are replaced before ws requires it.
//
const bufferUtil = require('bufferutil');
const { mask, unmask } = bufferUtil;

bufferUtil.mask = (...args) => {
  calls.mask++;
  return mask(...args);
};
bufferUtil.unmask = (...args) => {
  calls.unmask++;
  return unmask(...args);
};

const isValidUTF8 = require('utf-8-validate');

require.cache[require.resolve('utf-8-validate')].exports = (buf) => {
  calls.isValidUTF8++;
  return isValidUTF8(buf);
};

const WebSocket = require('ws');

const result = {
  ws: require.resolve('ws'),
  bufferutil: require.resolve('bufferutil'),
  utf8Validate: require.resolve('utf-8-validate'),
  loaded: Object.keys(require.cache).filter((file) =>
    /bufferutil|utf-8-validate|\\.node$/.test(file)
  ),
  calls,
  echoes: [],
  invalid: null
};

const timer = setTimeout(() => {
  console.log(JSON.stringify({ ...result, error: 'timed out' }));
  process.exit(1);
}, 10000);

const text = 'κόσμε, a text message long enough to be masked natively: ' + '€'.repeat(20);
const binary = Buffer.alloc(4096, 0x5a);
const wss = new WebSocket.Server({ port: 0 }, () => {
  const url = 'ws://127.0.0.1:' + wss.address().port;
  const client = new WebSocket(url);

  client.on('open', () => {
    client.send(text);
    client.send(binary);
  });
  client.on('message', (data, isBinary) => {
    result.echoes.push(isBinary ? data.equals(binary) : data.toString() === text);
    if (result.echoes.length === 2) {
      client.close();
      sendInvalid(url);
    }
  });
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => {
    result.invalid = { ...result.invalid, serverError: err.code };
  });
});

function sendInvalid(url) {
  const client = new WebSocket(url);

  client.on('open', () => {
    //
    // A text frame whose payload is not UTF-8: 40 bytes, above ws's threshold
    // for calling utf-8-validate.
    //
    client.send(Buffer.concat([Buffer.from('a'.repeat(36)), Buffer.from([0xed, 0xa0, 0x80, 0x61])]), {
      binary: false
    });
  });
  client.on('close', (code) => {
    result.invalid = { ...result.invalid, closeCode: code };
    clearTimeout(timer);
    wss.close();
    console.log(JSON.stringify(result));
  });
}
`;

describe('npm ws with the bufferutil and utf-8-validate drop-ins', () => {
  let dir;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-drop-ins-'));

    const modules = path.join(dir, 'node_modules');

    fs.mkdirSync(modules);
    fs.cpSync(path.join(root, 'node_modules', 'ws'), path.join(modules, 'ws'), {
      recursive: true
    });
    fs.symlinkSync(
      path.join(root, 'bufferutil'),
      path.join(modules, 'bufferutil'),
      'dir'
    );
    fs.symlinkSync(
      path.join(root, 'utf-8-validate'),
      path.join(modules, 'utf-8-validate'),
      'dir'
    );
    fs.writeFileSync(path.join(dir, 'child.js'), CHILD);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads ours, masks, unmasks and validates through them, and closes with 1007', function (done) {
    this.timeout(20000);

    execFile(
      process.execPath,
      [path.join(dir, 'child.js')],
      { cwd: dir, timeout: 15000 },
      (err, stdout, stderr) => {
        if (err) {
          done(new Error(`child failed: ${err.message}\n${stdout}\n${stderr}`));
          return;
        }

        const result = JSON.parse(stdout);

        assert.strictEqual(
          result.ws,
          path.join(fs.realpathSync(dir), 'node_modules', 'ws', 'index.js')
        );
        assert.strictEqual(
          result.bufferutil,
          path.join(root, 'bufferutil', 'index.js')
        );
        assert.strictEqual(
          result.utf8Validate,
          path.join(root, 'utf-8-validate', 'index.js')
        );

        //
        // Nothing of the C packages was loaded; the only addon is ws-rs's.
        //
        for (const file of result.loaded) {
          assert.ok(file.startsWith(root + path.sep), file);
          assert.ok(!file.includes('node_modules'), file);
        }

        assert.deepStrictEqual(result.echoes, [true, true]);
        assert.ok(result.calls.mask >= 2, JSON.stringify(result.calls));
        assert.ok(result.calls.unmask >= 2, JSON.stringify(result.calls));
        assert.ok(result.calls.isValidUTF8 >= 2, JSON.stringify(result.calls));
        assert.deepStrictEqual(result.invalid, {
          serverError: 'WS_ERR_INVALID_UTF8',
          closeCode: 1007
        });
        done();
      }
    );
  });
});
