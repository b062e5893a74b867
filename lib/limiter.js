'use strict';

const kDone = Symbol('kDone');
const kRun = Symbol('kRun');

/**
 * A first-in first-out job queue that runs at most `concurrency` jobs at a
 * time. A job is a function that receives a `done` callback and must call it
 * once when it finishes.
 */
class Limiter {
  /**
   * Creates a new `Limiter`.
   *
   * @param {Number} [concurrency=Infinity] The maximum number of jobs allowed
   *     to run concurrently
   */
  constructor(concurrency) {
    //
    // A single bound function is shared by every job, so queuing a job does
    // not allocate a closure.
    //
    this[kDone] = () => {
      this.pending -= 1;
      this[kRun]();
    };

    // As in ws, `0` (or any falsy value) means "no limit".
    this.concurrency = concurrency || Infinity;
    this.jobs = [];
    this.pending = 0;
  }

  /**
   * Adds a job to the queue.
   *
   * @param {Function} job The job to run
   * @public
   */
  add(job) {
    this.jobs.push(job);
    this[kRun]();
  }

  /**
   * Starts the oldest queued job if a slot is free.
   *
   * @private
   */
  [kRun]() {
    if (this.pending === this.concurrency || this.jobs.length === 0) return;

    const job = this.jobs.shift();

    this.pending += 1;
    job(this[kDone]);
  }
}

module.exports = Limiter;
