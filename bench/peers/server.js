'use strict';

//
// Server child of `bench/server-bench.js`: starts one peer's WebSocket server on
// 127.0.0.1 (port 0) and obeys the orchestrator over the IPC channel.
//
// Every peer behaves the same way, through an adapter (`bench/peers/adapters.js`):
// - it echoes every message it receives (same opcode, compressed when negotiated);
// - `{ cmd: 'stream', size }` streams `size`-byte binary messages to every open
//   connection, respecting `bufferedAmount` (scenario B);
// - `{ cmd: 'broadcast', size }` sends one `size`-byte message to every connection per
//   round, waiting while any connection is above the high-water mark (scenario C);
// - `{ cmd: 'stop' }` stops streaming or broadcasting;
// - `{ cmd: 'usage' }` answers with `process.cpuUsage()`, RSS and the connection count
//   (after a full GC when `gc: true`, which needs `--expose-gc`).
//
// Usage (by the orchestrator only): node --expose-gc server.js <peer> <deflate 0|1>
//

const { createAdapter } = require('./adapters');

/**
 * Waits for pending frees to settle, then collects garbage twice so RSS readings
 * compare like with like.
 *
 * @return {Promise<void>}
 */
async function settle() {
  if (typeof global.gc !== 'function') return;
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main() {
  const peer = process.argv[2];
  const deflate = process.argv[3] === '1';
  const adapter = await createAdapter(peer, deflate);
  let job = null;

  process.on('message', async (msg) => {
    let reply = {};

    switch (msg.cmd) {
      case 'usage':
        if (msg.gc) await settle();
        reply = {
          cpu: process.cpuUsage(),
          rss: process.memoryUsage.rss(),
          connections: adapter.count(),
          socketType: adapter.socketType()
        };
        break;
      case 'stream':
        job = adapter.stream(msg.size);
        break;
      case 'broadcast':
        job = adapter.broadcast(msg.size);
        break;
      case 'stop':
        if (job) job.stop();
        job = null;
        break;
      case 'exit':
        process.exit(0);
    }

    process.send({ id: msg.id, ...reply });
  });

  process.send({
    type: 'ready',
    port: adapter.port,
    transport: adapter.transport,
    socketType: adapter.socketType()
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
