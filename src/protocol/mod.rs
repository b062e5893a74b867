//! Sans-IO WebSocket protocol core (RFC 6455, RFC 7692): no sockets, no tokio, no napi.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod close_code;
pub mod deflate;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod mask;
pub mod receiver;
pub mod subprotocol;
pub mod utf8;
