'use strict';

//
// Client child of `bench/server-bench.js`: npm `ws` (with bufferutil and
// utf-8-validate) driving one server over loopback, commanded over the IPC channel.
//
// - `{ cmd: 'connect', port, n, inflight, deflate, hello }` opens `n` connections,
//   `inflight` at a time; with `hello` ({ size, binary }) each one sends one message and
//   waits for its echo before it counts as connected.
// - `{ cmd: 'echo', size, binary }` starts a round-trip loop on the first connection:
//   send, wait for the echo, send again (scenario A and D).
// - `{ cmd: 'stop' }` stops the loop.
// - `{ cmd: 'count' }` answers with the messages and bytes received so far (all
//   connections).
// - `{ cmd: 'churn', port, total, inflight }` opens and closes `total` connections,
//   `inflight` at a time (scenario F).
//

const WebSocket = require('ws');

const conns = [];
let messages = 0;
let bytes = 0;
let echoing = false;

/**
 * Builds a payload: JSON-like text (compressible, as real traffic) or filler bytes.
 *
 * @param {Number} size The payload size in bytes
 * @param {Boolean} json Whether to make JSON-like text
 * @return {Buffer} The payload
 */
function payload(size, json) {
  if (!json) return Buffer.alloc(size, 120);
  let text = '[';
  for (let i = 0; text.length < size; i++) {
    text += `{"id":${i},"name":"user${i % 97}","active":${i % 3 === 0},"score":${(i * 7919) % 1000},"tags":["a","b${i % 5}"]},`;
  }
  return Buffer.from(text.slice(0, size - 1) + ']');
}

/**
 * Opens connections.
 *
 * @param {Object} msg The `connect` command
 * @return {Promise<Object>} `{ errors }`
 */
function connect(msg) {
  const { port, n, inflight, deflate, hello } = msg;
  const data = hello ? payload(hello.size, !hello.binary) : null;

  return new Promise((resolve) => {
    let started = 0;
    let done = 0;
    let errors = 0;

    const finish = () => {
      done++;
      if (done === n) resolve({ errors });
      else if (started < n) open();
    };

    const open = () => {
      started++;
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, {
        perMessageDeflate: deflate
      });
      let settled = false;

      ws.on('error', () => {
        if (!settled) {
          settled = true;
          errors++;
          finish();
        }
      });
      ws.on('open', () => {
        conns.push(ws);
        if (data) ws.send(data, { binary: hello.binary });
        else {
          settled = true;
          finish();
        }
      });
      ws.on('message', (message, isBinary) => {
        messages++;
        bytes += message.length;
        if (!settled) {
          settled = true;
          finish();
        } else if (echoing && ws === conns[0]) {
          ws.send(message, { binary: isBinary });
        }
      });
    };

    for (let i = 0; i < Math.min(inflight, n); i++) open();
  });
}

/**
 * Opens and closes connections (scenario F).
 *
 * @param {Object} msg The `churn` command
 * @return {Promise<Object>} `{ ms, errors }`
 */
function churn(msg) {
  const { port, total, inflight } = msg;
  const started = process.hrtime.bigint();

  return new Promise((resolve) => {
    let opened = 0;
    let closed = 0;
    let errors = 0;

    const one = () => {
      opened++;
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, {
        perMessageDeflate: false
      });
      ws.on('open', () => ws.close());
      ws.on('error', () => errors++);
      ws.on('close', () => {
        closed++;
        if (opened < total) one();
        else if (closed === total) {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          resolve({ ms, errors });
        }
      });
    };

    for (let i = 0; i < Math.min(inflight, total); i++) one();
  });
}

process.on('message', async (msg) => {
  let reply = {};

  switch (msg.cmd) {
    case 'connect':
      reply = await connect(msg);
      break;
    case 'echo':
      echoing = true;
      conns[0].send(payload(msg.size, msg.json), { binary: msg.binary });
      break;
    case 'stop':
      echoing = false;
      break;
    case 'count':
      reply = { messages, bytes, cpu: process.cpuUsage() };
      break;
    case 'churn':
      reply = await churn(msg);
      break;
    case 'exit':
      process.exit(0);
  }

  process.send({ id: msg.id, ...reply });
});

process.send({ type: 'ready' });
