//! The Rust-owned transport: a process-wide tokio runtime, one task per adopted connection
//! and one event queue per JS environment. Knows the protocol core, not napi: the bindings
//! (`src/bindings/transport.rs`) hand it file descriptors and commands and drain its events.
//!
//! Why a single runtime that is never shut down: napi-rs/napi-rs#3443 (a runtime torn down
//! with the last environment while its threads still run addon code). See RESEARCH.md §3e.

pub mod connection;
pub mod listener;
pub mod memory;
pub mod queue;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

/// The runtime, or why it could not be built.
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Connection, listener and request ids: unique in the process, so that one event queue can
/// carry all of them.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh id (see [`NEXT_ID`]).
pub fn next_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The process-wide runtime, created on first use with one worker per CPU (at most 4: the
/// work per byte is small, and the JS thread needs a core of its own), or
/// `WS_RS_WORKER_THREADS` workers (1-64) when that is set.
pub fn runtime() -> Result<&'static Runtime, String> {
    let built = RUNTIME.get_or_init(|| {
        let workers = std::env::var("WS_RS_WORKER_THREADS")
            .ok()
            .and_then(|value| value.parse::<usize>().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4)
            });
        Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("ws-rs-io")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|err| err.to_string())
    });
    built.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_built_once_and_shared() {
        let first = runtime().map(|rt| rt as *const Runtime);
        let second = runtime().map(|rt| rt as *const Runtime);
        assert_eq!(first, second);
        assert!(first.is_ok());
    }
}
