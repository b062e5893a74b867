//! ws-rs: the Rust core behind a drop-in replacement for the npm package `ws`.
//!
//! `protocol` is sans-IO (no sockets, no napi); `bindings` converts between it and JS.
#![deny(clippy::all)]

pub mod bindings;
pub mod protocol;
pub mod runtime;
pub mod sync;
