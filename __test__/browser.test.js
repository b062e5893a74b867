'use strict';

//
// A real browser against the `npm start` demo: headless Chromium (Debian's `chromium`
// package, driven by playwright-core) opens the chat page in two tabs, each tab sends a
// message, and both must show both messages, the connection count and the negotiated
// permessage-deflate. The server side checks the extension it negotiated with each tab.
// A screenshot of the first tab is saved as __test__/artifacts/browser-demo.png.
//
// Skips, saying why, when there is no Chromium (set CHROMIUM_PATH to use another binary);
// `.ci/run` installs Debian's package so that CI runs it.
//

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { start } = require('../examples/demo/server.js');

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = path.join(__dirname, 'artifacts');

/**
 * Loads playwright-core, or returns `null` when it is not installed.
 *
 * @return {Object|null} The module
 * @private
 */
function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    return null;
  }
}

describe('the demo in a real browser', function () {
  this.timeout(20000);

  let playwright;
  let demo;
  let context;
  let userDataDir;
  const serverSide = [];

  before(async function () {
    playwright = loadPlaywright();

    if (!playwright || !fs.existsSync(executablePath)) {
      console.log(
        `      skipped: ${
          playwright
            ? `no Chromium at ${executablePath}`
            : 'playwright-core is not installed'
        } (install Debian's chromium package, or set CHROMIUM_PATH)`
      );
      this.skip();
    }

    demo = await start({ port: 0, statsInterval: 250 });
    demo.wss.on('connection', (ws, req) => {
      serverSide.push({
        offered: req.headers['sec-websocket-extensions'] || '',
        negotiated: ws.extensions
      });
    });

    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-rs-chromium-'));
    context = await playwright.chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    });
  });

  after(async () => {
    if (context) await context.close();
    if (demo) await demo.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  it('shows every message in every tab, compressed both ways', async () => {
    const tabA = context.pages()[0] || (await context.newPage());
    const tabB = await context.newPage();

    for (const tab of [tabA, tabB]) {
      await tab.goto(demo.url);
      await tab.waitForFunction(
        () => document.getElementById('status').textContent === 'open'
      );
    }

    // Both tabs learn that there are two connections.
    for (const tab of [tabA, tabB]) {
      await tab.waitForFunction(
        () => document.getElementById('connections').textContent === '2'
      );
    }

    const nameA = await tabA.textContent('#me');
    const nameB = await tabB.textContent('#me');

    assert.match(nameA, /^guest-\d+$/);
    assert.match(nameB, /^guest-\d+$/);
    assert.notStrictEqual(nameA, nameB);

    await tabA.fill('#text', 'Hello from tab A: ünïcödé ✓');
    await tabA.click('#send');
    await tabB.fill('#text', 'And hello back from tab B');
    await tabB.press('#text', 'Enter');

    const expected = [
      `${nameA}:Hello from tab A: ünïcödé ✓`,
      `${nameB}:And hello back from tab B`
    ];

    for (const tab of [tabA, tabB]) {
      await tab.waitForFunction(
        (count) =>
          document.querySelectorAll('#messages li.chat').length >= count,
        expected.length
      );

      const lines = await tab.$$eval('#messages li.chat', (items) =>
        items.map((item) => item.textContent)
      );

      assert.deepStrictEqual(lines, expected);
      assert.strictEqual(
        await tab.textContent('#extensions'),
        'permessage-deflate'
      );
      assert.strictEqual(await tab.textContent('#connections'), '2');
    }

    // Each tab marks its own messages.
    assert.deepStrictEqual(
      await tabA.$$eval('#messages li.mine', (items) =>
        items.map((item) => item.textContent)
      ),
      [expected[0]]
    );

    // The server handled the two chat messages: the rate shown moves off zero.
    await tabA.waitForFunction(
      () => document.getElementById('rate').textContent !== '0',
      null,
      { polling: 20, timeout: 5000 }
    );

    fs.mkdirSync(artifacts, { recursive: true });
    await tabA.screenshot({ path: path.join(artifacts, 'browser-demo.png') });

    assert.strictEqual(serverSide.length, 2);
    for (const { offered, negotiated } of serverSide) {
      assert.match(offered, /permessage-deflate/);
      assert.strictEqual(negotiated, 'permessage-deflate');
    }

    // Closing a tab updates the count in the other one.
    await tabB.close();
    await tabA.waitForFunction(
      () => document.getElementById('connections').textContent === '1'
    );
  });
});
