'use strict';

//
// IPC helpers shared by the benchmarks that drive child processes.
//

/**
 * Waits for the next IPC message of a child, bounded.
 *
 * @param {ChildProcess} child The child
 * @param {String} what What is awaited, for the error
 * @param {Number} timeout The limit in milliseconds
 * @return {Promise<Object>}
 */
function nextMessage(child, what, timeout) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout waiting for ${what}`));
    }, timeout);
    const onMessage = (message) => {
      cleanup();
      resolve(message);
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`${what}: child exited with ${code ?? signal}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };

    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

module.exports = { nextMessage };
