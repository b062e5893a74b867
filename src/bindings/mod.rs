//! napi bindings: convert and call into `protocol`, nothing else.

pub mod deflate;
pub mod frame;
pub mod headers;
pub mod js_reads;
pub mod receiver;
pub mod transport;
pub mod utils;
