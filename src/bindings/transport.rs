//! The napi face of the Rust-owned transport ([`crate::runtime`]): adopt a descriptor, queue
//! writes, pause/resume/end/destroy, and drain the environment's events in one call. Converts
//! and calls only; `lib/native-socket.js` is the only caller.
//!
//! Per-environment state lives in thread-locals: each Node environment (the main thread or a
//! worker) runs on its own thread, so a thread-local is exactly per-env state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, BufferSlice, Env, Error, Result, Status, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::protocol::deflate::{DeflateConfig, InflateConfig, DEFAULT_MEM_LEVEL};
use crate::protocol::receiver::ReceiverConfig;
use crate::runtime::connection::{self, Command, ConnConfig, Handle, Mask, OutFrame};
use crate::runtime::queue::{EventBody, Hub};

/// The doorbell: an unref'd JS callback without arguments (JS keeps the loop alive itself
/// while connections are open, RESEARCH.md §3d).
type Doorbell = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

thread_local! {
    static HUB: RefCell<Option<Arc<Hub>>> = const { RefCell::new(None) };
    static CONNECTIONS: RefCell<HashMap<u32, Handle>> = RefCell::new(HashMap::new());
}

/// Connection ids, unique in the process.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

// `TransportEvent.kind` values (mirrored in lib/native-socket.js).
const KIND_MESSAGE: u32 = 1;
const KIND_PING: u32 = 2;
const KIND_PONG: u32 = 3;
const KIND_CLOSE: u32 = 4;
const KIND_ERROR: u32 = 5;
const KIND_WRITTEN: u32 = 6;
const KIND_END: u32 = 7;
const KIND_FINISH: u32 = 8;
const KIND_IO_ERROR: u32 = 9;
const KIND_CLOSED: u32 = 10;
const KIND_DATA: u32 = 11;

/// permessage-deflate parameters for our messages.
#[napi(object)]
pub struct TransportDeflateOptions {
    /// `*_max_window_bits` for our direction.
    pub window_bits: u32,
    /// zlib level, -1 for the default.
    pub level: Option<i32>,
    /// zlib memLevel.
    pub mem_level: Option<u32>,
    /// zlib strategy.
    pub strategy: Option<i32>,
    /// `*_no_context_takeover` for our direction.
    pub no_context_takeover: bool,
}

/// permessage-deflate parameters for the peer's messages.
#[napi(object)]
pub struct TransportInflateOptions {
    /// `*_max_window_bits` for the peer's direction.
    pub window_bits: u32,
    /// `*_no_context_takeover` for the peer's direction.
    pub no_context_takeover: bool,
}

/// Options of `transportAdopt()`: the WebSocket's receiver options and the negotiated
/// extension.
#[napi(object)]
pub struct TransportOptions {
    /// Server role.
    pub is_server: bool,
    /// ws's `maxPayload` (0 = unlimited).
    pub max_payload: Option<f64>,
    /// ws's `maxFragments`.
    pub max_fragments: Option<f64>,
    /// ws's `maxBufferedChunks`.
    pub max_buffered_chunks: Option<f64>,
    /// ws's `skipUTF8Validation`.
    pub skip_utf8_validation: Option<bool>,
    /// ws's `autoPong`.
    pub auto_pong: Option<bool>,
    /// Set when permessage-deflate was negotiated.
    pub deflate: Option<TransportDeflateOptions>,
    /// Set when permessage-deflate was negotiated.
    pub inflate: Option<TransportInflateOptions>,
}

/// An error carried by an event: a protocol error (`status`, `rangeError`), an inflate error
/// (`status`, maybe `errno`) or a socket error (`syscall`, `errno`).
#[napi(object)]
pub struct TransportError {
    /// ws's or Node's `err.code`.
    pub code: String,
    /// The full message.
    pub message: String,
    /// The close status ws sends for it (0 for socket errors).
    pub status: u32,
    /// A `RangeError` rather than an `Error`.
    pub range_error: bool,
    /// zlib's errno, when it is a zlib error.
    pub errno: Option<i32>,
    /// The failed system call, for socket errors.
    pub syscall: Option<String>,
}

/// One event of `transportDrain()`.
#[napi(object)]
pub struct TransportEvent {
    /// The connection.
    pub id: u32,
    /// What happened (the `KIND_*` constants).
    pub kind: u32,
    /// Message: binary rather than text.
    pub binary: Option<bool>,
    /// Message: the fragments.
    pub fragments: Option<Vec<Buffer>>,
    /// Ping, pong: the payload; close: the reason.
    pub data: Option<Buffer>,
    /// Close: the status code. Written: the number of writes completed.
    pub code: Option<u32>,
    /// Error, io-error.
    pub error: Option<TransportError>,
}

impl TransportEvent {
    fn new(id: u32, kind: u32) -> Self {
        Self { id, kind, binary: None, fragments: None, data: None, code: None, error: None }
    }
}

/// A JS `Buffer` over `data` (zero-copy when the bytes are not shared).
fn buffer(data: Bytes) -> Buffer {
    Buffer::from(Vec::<u8>::from(data))
}

/// A JS number option as a limit (0 = unlimited).
fn limit(value: Option<f64>) -> u64 {
    match value {
        Some(v) if v >= 1.0 => v as u64,
        _ => 0,
    }
}

/// Registers the environment's doorbell: `callback` is called (with no arguments) whenever
/// events are waiting for `transportDrain()`.
#[napi]
pub fn transport_init(env: Env, callback: Doorbell) -> Result<()> {
    crate::runtime::runtime().map_err(|err| Error::new(Status::GenericFailure, err))?;
    if HUB.with(|slot| slot.borrow().is_none()) {
        // When the environment goes away (worker termination, process exit), its
        // connections are closed: nobody is left to receive their events (RESEARCH.md §3e).
        // The hook runs on this environment's thread, so it sees these thread-locals.
        env.add_env_cleanup_hook((), |()| {
            CONNECTIONS.with(|map| {
                for handle in map.borrow_mut().drain().map(|(_, handle)| handle) {
                    handle.destroy();
                }
            });
            HUB.with(|slot| slot.borrow_mut().take());
        })?;
    }
    let bell = Arc::new(callback);
    let hub = Arc::new(Hub::new(Box::new(move || {
        bell.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })));
    HUB.with(|slot| *slot.borrow_mut() = Some(hub));
    Ok(())
}

/// Takes over the connection behind descriptor `fd` (the caller then destroys its own
/// socket object) and returns the connection id. `head` is parsed first; `preamble` (the
/// server's 101 response) is written before any frame. Throws if the descriptor cannot be
/// duplicated.
#[napi]
pub fn transport_adopt(
    fd: i32,
    unix: bool,
    head: BufferSlice,
    preamble: Option<BufferSlice>,
    options: TransportOptions,
) -> Result<u32> {
    let Some(hub) = HUB.with(|slot| slot.borrow().clone()) else {
        return Err(Error::new(Status::GenericFailure, "transportInit() was not called"));
    };
    let config = ConnConfig {
        receiver: ReceiverConfig {
            is_server: options.is_server,
            max_payload: limit(options.max_payload),
            max_fragments: limit(options.max_fragments),
            max_buffered_chunks: limit(options.max_buffered_chunks) as usize,
            skip_utf8_validation: options.skip_utf8_validation.unwrap_or(false),
            per_message_deflate: options.inflate.is_some(),
        },
        inflate: options.inflate.map(|o| InflateConfig {
            window_bits: o.window_bits.min(15) as u8,
            no_context_takeover: o.no_context_takeover,
            max_payload: limit(options.max_payload),
        }),
        deflate: options.deflate.map(|o| DeflateConfig {
            window_bits: o.window_bits.min(15) as u8,
            level: o.level.unwrap_or(-1),
            mem_level: o.mem_level.map_or(DEFAULT_MEM_LEVEL, |m| m.min(9) as u8),
            strategy: o.strategy.unwrap_or(0),
            no_context_takeover: o.no_context_takeover,
        }),
        auto_pong: options.auto_pong.unwrap_or(true),
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let preamble = preamble.map(|p| p.to_vec()).unwrap_or_default();
    let handle = connection::adopt(hub, id, fd, unix, head.to_vec(), preamble, config)
        .map_err(|err| Error::new(Status::GenericFailure, err.to_string()))?;
    CONNECTIONS.with(|map| map.borrow_mut().insert(id, handle));
    Ok(id)
}

/// Runs `f` on connection `id`'s handle; false when it is gone.
fn with_handle(id: u32, f: impl FnOnce(&Handle) -> bool) -> bool {
    CONNECTIONS.with(|map| map.borrow().get(&id).is_some_and(f))
}

/// Queues a frame: `data` is deflated when `compress`, masked with `maskKey` (4 bytes) or a
/// fresh key when `mask`. Returns false when the connection is gone.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn transport_send(
    id: u32,
    data: BufferSlice,
    opcode: u32,
    fin: bool,
    rsv1: bool,
    compress: bool,
    mask: bool,
    mask_key: Option<BufferSlice>,
) -> bool {
    let mask = match (mask, mask_key) {
        (false, _) => Mask::None,
        (true, Some(key)) => match <[u8; 4]>::try_from(&key[..]) {
            Ok(key) => Mask::Key(key),
            Err(_) => Mask::Random,
        },
        (true, None) => Mask::Random,
    };
    let command = Command::Frame(OutFrame {
        data: Bytes::copy_from_slice(&data),
        opcode: (opcode & 0x0f) as u8,
        fin,
        rsv1,
        compress,
        mask,
    });
    with_handle(id, |handle| handle.command(command))
}

/// Queues raw bytes (`ws._socket.write()`).
#[napi]
pub fn transport_write(id: u32, data: BufferSlice) -> bool {
    let command = Command::Raw(Bytes::copy_from_slice(&data));
    with_handle(id, |handle| handle.command(command))
}

/// Shuts down our side once everything queued is written (`socket.end()`).
#[napi]
pub fn transport_end(id: u32) -> bool {
    with_handle(id, |handle| handle.command(Command::End))
}

/// Closes the connection now (`socket.destroy()`); a closed event follows.
#[napi]
pub fn transport_destroy(id: u32) -> bool {
    with_handle(id, |handle| {
        handle.destroy();
        true
    })
}

/// Lets the writer start (a connection starts corked: see `Handle::uncork`).
#[napi]
pub fn transport_uncork(id: u32) -> bool {
    with_handle(id, |handle| {
        handle.uncork();
        true
    })
}

/// Closes the connection now with a TCP RST (`socket.resetAndDestroy()`).
#[napi]
pub fn transport_reset(id: u32) -> bool {
    with_handle(id, |handle| {
        handle.reset();
        true
    })
}

/// Parses `data` as if it had been read from the connection (`socket.push()`).
#[napi]
pub fn transport_inject(id: u32, data: BufferSlice) -> bool {
    let data = Bytes::copy_from_slice(&data);
    with_handle(id, |handle| handle.inject(data))
}

/// Turns on or off data events (copies of the chunks read, for `'data'` listeners).
#[napi]
pub fn transport_tap(id: u32, on: bool) -> bool {
    with_handle(id, |handle| {
        handle.tap(on);
        true
    })
}

/// Stops (`paused`) or restarts reading.
#[napi]
pub fn transport_set_paused(id: u32, paused: bool) -> bool {
    with_handle(id, |handle| {
        if paused {
            handle.pause();
        } else {
            handle.resume();
        }
        true
    })
}

/// Every event queued for this environment, in order.
#[napi]
pub fn transport_drain() -> Vec<TransportEvent> {
    let Some(hub) = HUB.with(|slot| slot.borrow().clone()) else { return Vec::new() };
    let events = hub.drain();
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let id = event.id;
        let converted = match event.body {
            EventBody::Message { binary, data } => TransportEvent {
                binary: Some(binary),
                fragments: Some(data.into_iter().map(buffer).collect()),
                ..TransportEvent::new(id, KIND_MESSAGE)
            },
            EventBody::Data(data) => {
                TransportEvent { data: Some(buffer(data)), ..TransportEvent::new(id, KIND_DATA) }
            }
            EventBody::Ping(data) => {
                TransportEvent { data: Some(buffer(data)), ..TransportEvent::new(id, KIND_PING) }
            }
            EventBody::Pong(data) => {
                TransportEvent { data: Some(buffer(data)), ..TransportEvent::new(id, KIND_PONG) }
            }
            EventBody::Close { code, reason } => TransportEvent {
                code: Some(u32::from(code)),
                data: Some(buffer(reason)),
                ..TransportEvent::new(id, KIND_CLOSE)
            },
            EventBody::Protocol(err) => TransportEvent {
                error: Some(TransportError {
                    code: err.code().to_owned(),
                    message: err.message(),
                    status: u32::from(err.close_status()),
                    range_error: err.is_range_error(),
                    errno: None,
                    syscall: None,
                }),
                ..TransportEvent::new(id, KIND_ERROR)
            },
            EventBody::Inflate(err) => TransportEvent {
                error: Some(TransportError {
                    code: err.code().to_owned(),
                    message: err.message(),
                    status: u32::from(err.close_status()),
                    range_error: err.errno().is_none(),
                    errno: err.errno(),
                    syscall: None,
                }),
                ..TransportEvent::new(id, KIND_ERROR)
            },
            EventBody::Written(count) => {
                TransportEvent { code: Some(count), ..TransportEvent::new(id, KIND_WRITTEN) }
            }
            EventBody::End => TransportEvent::new(id, KIND_END),
            EventBody::Finish => TransportEvent::new(id, KIND_FINISH),
            EventBody::Io { code, message, syscall } => TransportEvent {
                error: Some(TransportError {
                    code,
                    message,
                    status: 0,
                    range_error: false,
                    errno: None,
                    syscall: Some(syscall.to_owned()),
                }),
                ..TransportEvent::new(id, KIND_IO_ERROR)
            },
            EventBody::Closed => {
                CONNECTIONS.with(|map| map.borrow_mut().remove(&id));
                TransportEvent::new(id, KIND_CLOSED)
            }
        };
        out.push(converted);
    }
    out
}
