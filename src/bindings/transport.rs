//! The napi face of the Rust-owned transport ([`crate::runtime`]): adopt a descriptor, queue
//! writes, pause/resume/end/destroy, and drain the environment's events in one call. Converts
//! and calls only; `lib/native-socket.js` is the only caller.
//!
//! Per-environment state lives in thread-locals: each Node environment (the main thread or a
//! worker) runs on its own thread, so a thread-local is exactly per-env state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use napi::bindgen_prelude::{
    Buffer, BufferSlice, Either, Env, Error, Float64ArraySlice, Function, Result, Status, Unknown,
};

use super::frame::alloc_buffer;
use super::js_reads::{self, Watch};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::protocol::deflate::{DeflateConfig, InflateConfig, DEFAULT_MEM_LEVEL};
use crate::protocol::receiver::ReceiverConfig;
use crate::runtime::connection::{self, ConnConfig, Handle, Mask, OutFrame, Sent};
use crate::runtime::listener::{self, Listener, Pending};
use crate::runtime::queue::{Event, EventBody, Hub, AFTER_POLLS};

/// The doorbell: an unref'd JS callback without arguments (JS keeps the loop alive itself
/// while connections are open, RESEARCH.md §3d).
type Doorbell = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

thread_local! {
    static HUB: RefCell<Option<Arc<Hub>>> = const { RefCell::new(None) };
    static CONNECTIONS: RefCell<HashMap<u32, Connection>> = RefCell::new(HashMap::new());
    static LISTENERS: RefCell<HashMap<u32, Listener>> = RefCell::new(HashMap::new());
    static PENDING: RefCell<Option<Arc<Pending>>> = const { RefCell::new(None) };
    /// The errors of the last `transportDrain()` batch, for `transportTakeErrors()`.
    static ERRORS: RefCell<Vec<TransportError>> = const { RefCell::new(Vec::new()) };
}

/// A connection as this environment holds it: its handle, and its watch when the JS thread
/// reads it (dropped with it, which stops the watching).
struct Connection {
    handle: Handle,
    watch: Option<Watch>,
}

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
const KIND_FRAGMENT: u32 = 12;
const KIND_CHUNK: u32 = 13;
const KIND_NUDGE: u32 = 14;
const KIND_REQUEST: u32 = 15;
const KIND_REQUEST_GONE: u32 = 16;
const KIND_REQUEST_RESET: u32 = 17;
const KIND_PUSHED_CHUNK: u32 = 18;

/// Slots per record of `transportDrain()`; the first record is the header.
const STRIDE: usize = 4;

/// A batch stops growing at this many payload bytes (one larger event comes alone): JS hands
/// out views into the batch, so a small message kept pins at most this much, no more than
/// ws's views into a socket chunk do.
const MAX_BATCH_BYTES: usize = 64 * 1024;

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

/// A JS number option as a limit (0 = unlimited).
fn limit(value: Option<f64>) -> u64 {
    match value {
        Some(v) if v >= 1.0 => v as u64,
        _ => 0,
    }
}

/// Registers the environment's doorbell: `doorbell` is called (with no arguments) whenever
/// events are waiting for `transportDrain()`: through a threadsafe function when a runtime
/// thread queued them, directly after the JS thread read a connection.
#[napi(catch_unwind)]
pub fn transport_init(env: Env, doorbell: Function<(), Unknown<'static>>) -> Result<()> {
    crate::runtime::runtime().map_err(|err| Error::new(Status::GenericFailure, err))?;
    if HUB.with(|slot| slot.borrow().is_none()) {
        // When the environment goes away (worker termination, process exit), its
        // connections are closed: nobody is left to receive their events (RESEARCH.md §3e).
        // The hook runs on this environment's thread, so it sees these thread-locals.
        env.add_env_cleanup_hook((), |()| {
            CONNECTIONS.with(|map| {
                for connection in map.borrow_mut().drain().map(|(_, connection)| connection) {
                    connection.handle.destroy();
                }
            });
            LISTENERS.with(|map| map.borrow_mut().clear());
            if let Some(pending) = PENDING.with(|slot| slot.borrow_mut().take()) {
                pending.close();
            }
            js_reads::clear();
            if let Some(hub) = HUB.with(|slot| slot.borrow_mut().take()) {
                hub.close();
            }
        })?;
    }
    js_reads::init(&env, &doorbell)?;
    let bell: Doorbell = doorbell.build_threadsafe_function().weak::<true>().build()?;
    let bell = Arc::new(bell);
    let hub = Arc::new(Hub::new(Box::new(move || {
        bell.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })));
    HUB.with(|slot| *slot.borrow_mut() = Some(hub));
    PENDING.with(|slot| {
        slot.borrow_mut().get_or_insert_with(Arc::default);
    });
    Ok(())
}

/// Takes over the connection behind descriptor `fd` (the caller then destroys its own
/// socket object) and returns the connection id. `head` is parsed first; `preamble` (the
/// server's 101 response) is written before any frame. Throws if the descriptor cannot be
/// duplicated.
#[napi(catch_unwind)]
pub fn transport_adopt(
    fd: i32,
    unix: bool,
    head: BufferSlice,
    preamble: Option<BufferSlice>,
    options: TransportOptions,
) -> Result<u32> {
    let hub = hub()?;
    let id = crate::runtime::next_id();
    let preamble = preamble.as_deref().unwrap_or_default();
    let started =
        connection::adopt(Arc::clone(&hub), id, fd, unix, &head, preamble, config(options));
    register(hub, id, started).map_err(|(err, handle)| {
        if let Some(handle) = handle {
            handle.destroy();
        }
        Error::new(Status::GenericFailure, err.to_string())
    })
}

/// Takes over the connection of upgrade request `request` (see `listenerOpen()`) as
/// `transportAdopt()` does, and returns the connection id. Throws if the request was answered
/// already; a connection that cannot be started fails as after a socket error (an io-error
/// event, then closed).
#[napi(catch_unwind)]
pub fn transport_accept(
    request: u32,
    head: BufferSlice,
    preamble: Option<BufferSlice>,
    options: TransportOptions,
) -> Result<u32> {
    let hub = hub()?;
    let stream = pending()?
        .take(request)
        .ok_or_else(|| Error::new(Status::InvalidArg, "the request was answered already"))?;
    let id = crate::runtime::next_id();
    let preamble = preamble.as_deref().unwrap_or_default();
    let started =
        connection::accept(Arc::clone(&hub), id, stream, &head, preamble, config(options));
    Ok(register(Arc::clone(&hub), id, started).unwrap_or_else(|(err, handle)| {
        // There is no Node socket to fall back on: the connection fails as after a socket
        // error ('error', then 'close'), not the caller.
        connection::report(&hub, id, &err, "accept");
        match handle {
            // Its 101 response is queued: the client must not get it.
            Some(handle) => {
                handle.discard();
                handle.destroy();
            }
            None => hub.push(Event::new(id, EventBody::Closed)),
        }
        id
    }))
}

/// Answers upgrade request `request` with `response` (ws's `abortHandshake()`) and closes its
/// connection. Returns false if it was answered already.
#[napi(catch_unwind)]
pub fn transport_reject(request: u32, response: BufferSlice) -> Result<bool> {
    let Some(stream) = pending()?.take(request) else {
        return Ok(false);
    };
    let rt = crate::runtime::runtime().map_err(|err| Error::new(Status::GenericFailure, err))?;
    rt.spawn(listener::reject(stream, Bytes::copy_from_slice(&response)));
    Ok(true)
}

/// The environment's event queue.
fn hub() -> Result<Arc<Hub>> {
    HUB.with(|slot| slot.borrow().clone())
        .ok_or_else(|| Error::new(Status::GenericFailure, "transportInit() was not called"))
}

/// The environment's unanswered upgrade requests.
fn pending() -> Result<Arc<Pending>> {
    PENDING
        .with(|slot| slot.borrow().clone())
        .ok_or_else(|| Error::new(Status::GenericFailure, "transportInit() was not called"))
}

/// The connection settings `options` describe.
fn config(options: TransportOptions) -> ConnConfig {
    // Inflating is the runtime's work: a connection that may receive compressed messages is
    // read there.
    let js_reads = options.inflate.is_none() && js_reads::available();
    ConnConfig {
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
        js_reads,
    }
}

/// Holds connection `id` once its task started (watching it when the JS thread reads it). An
/// internal failure (the runtime or the event loop refused the descriptor) comes back with
/// the handle of a task that started.
fn register(
    hub: Arc<Hub>,
    id: u32,
    started: std::io::Result<(Handle, Option<connection::Reader>)>,
) -> std::result::Result<u32, (std::io::Error, Option<Handle>)> {
    let (handle, reader) = started.map_err(|err| (err, None))?;
    let watch = match reader.map(|reader| Watch::start(reader, hub, id, find_watch)).transpose() {
        Ok(watch) => watch,
        Err(err) => return Err((std::io::Error::other(err.reason), Some(handle))),
    };
    CONNECTIONS.with(|map| map.borrow_mut().insert(id, Connection { handle, watch }));
    Ok(id)
}

/// A listening socket as `listenerOpen()` reports it: its id and bound address, or the
/// `errno` of the failed `bind()`/`listen()`.
#[napi(object)]
pub struct ListenerInfo {
    /// The listener id (0 on failure).
    pub id: u32,
    /// The bound address.
    pub address: String,
    /// `IPv4` or `IPv6`.
    pub family: String,
    /// The bound port.
    pub port: u32,
    /// The OS error number, 0 on success.
    pub errno: i32,
}

/// Listens on `address`:`port` (an IP address; port 0 picks one) with `backlog`: each upgrade
/// request comes as a request event of the listener (its fields, then what followed the
/// head), answered with `transportAccept()` or `transportReject()`; Rust answers other
/// requests itself (`426`, `400`, `431`).
#[napi(catch_unwind)]
pub fn listener_open(address: String, port: u32, backlog: u32) -> Result<ListenerInfo> {
    let hub = hub()?;
    let port = u16::try_from(port).map_err(|_| Error::new(Status::InvalidArg, "bad port"))?;
    let addr = listener::parse_ip(&address, port)
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("not an IP address: {address}")))?;
    let id = crate::runtime::next_id();
    match Listener::bind(hub, pending()?, id, addr, backlog) {
        Ok((listener, bound)) => {
            LISTENERS.with(|map| map.borrow_mut().insert(id, listener));
            Ok(ListenerInfo {
                id,
                address: listener::ip_text(&bound),
                family: if bound.is_ipv4() { "IPv4" } else { "IPv6" }.to_owned(),
                port: u32::from(bound.port()),
                errno: 0,
            })
        }
        Err(err) => Ok(ListenerInfo {
            id: 0,
            address,
            family: String::new(),
            port: u32::from(port),
            errno: err.raw_os_error().unwrap_or(libc::EINVAL),
        }),
    }
}

/// Stops listener `id` (its socket is closed before this returns); connections it accepted
/// are not touched.
#[napi(catch_unwind)]
pub fn listener_close(id: u32) -> bool {
    LISTENERS.with(|map| map.borrow_mut().remove(&id)).is_some()
}

/// Runs `f` on connection `id`'s watch, when the JS thread reads it.
fn find_watch(id: u32, f: &mut dyn FnMut(&Watch)) {
    with_connection(id, |connection| connection.watch.as_ref().map(f));
}

/// Runs `f` on connection `id`; `None` when it is gone.
fn with_connection<T>(id: u32, f: impl FnOnce(&Connection) -> T) -> Option<T> {
    CONNECTIONS.with(|map| map.borrow().get(&id).map(f))
}

/// Runs `f` on connection `id`'s handle; `None` when it is gone.
fn with_handle<T>(id: u32, f: impl FnOnce(&Handle) -> T) -> Option<T> {
    with_connection(id, |connection| f(&connection.handle))
}

/// What `transportSend()`/`transportWrite()` report: the connection is gone, the write is
/// queued (a written event counts it later), or it is in the kernel already.
fn sent(outcome: Option<Sent>) -> u32 {
    match outcome {
        None | Some(Sent::Gone) => 0,
        Some(Sent::Queued) => 1,
        Some(Sent::Written) => 2,
    }
}

/// Frames and writes a frame: `data` is deflated when `compress` (on the runtime), masked
/// with `maskKey` (4 bytes) or a fresh key when `mask`. Returns 0 when the connection is
/// gone, 1 when queued, 2 when written at once. When queued unmasked and uncompressed, `data`
/// is not copied: the caller keeps it alive and unchanged until the write is reported
/// written or the connection closed.
#[napi(catch_unwind)]
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
) -> u32 {
    let mask = match (mask, mask_key) {
        (false, _) => Mask::None,
        (true, Some(key)) => match <[u8; 4]>::try_from(&key[..]) {
            Ok(key) => Mask::Key(key),
            Err(_) => Mask::Random,
        },
        (true, None) => Mask::Random,
    };
    let frame = OutFrame { data: &data, opcode: (opcode & 0x0f) as u8, fin, rsv1, compress, mask };
    // SAFETY: lib/native-socket.js keeps `data` in its pending writes until then.
    sent(with_handle(id, |handle| unsafe { handle.send(&frame, true) }))
}

/// Writes bytes that stand for `count` writes (raw `ws._socket.write()` data, or frames JS
/// framed itself); same results as `transportSend()`. Unless `now`, the runtime writes them
/// even when the connection is idle. With `pinned`, the caller keeps `data` alive and
/// unchanged until the write is reported written or the connection closed, and it is queued
/// without a copy.
#[napi(catch_unwind)]
pub fn transport_write(id: u32, data: BufferSlice, count: u32, now: bool, pinned: bool) -> u32 {
    // SAFETY: with `pinned`, lib/native-socket.js keeps `data` in its pending writes.
    sent(with_handle(id, |handle| unsafe { handle.write(&data, count, now, pinned) }))
}

/// Shuts down our side once everything queued is written (`socket.end()`). Messages not
/// compressed yet are dropped with everything queued behind them: returns how many writes
/// (the last ones) were dropped, or -1 when the connection is gone.
#[napi(catch_unwind)]
pub fn transport_end(id: u32) -> i64 {
    with_handle(id, Handle::end).flatten().map_or(-1, i64::from)
}

/// Closes the connection now (`socket.destroy()`); a closed event follows.
#[napi(catch_unwind)]
pub fn transport_destroy(id: u32) -> bool {
    with_handle(id, Handle::destroy).is_some()
}

/// Lets the writer start (a connection starts corked: see `Handle::uncork`).
#[napi(catch_unwind)]
pub fn transport_uncork(id: u32) -> bool {
    with_handle(id, Handle::uncork).is_some()
}

/// Closes the connection now with a TCP RST (`socket.resetAndDestroy()`).
#[napi(catch_unwind)]
pub fn transport_reset(id: u32) -> bool {
    with_handle(id, Handle::reset).is_some()
}

/// Parses `data` as if it had been read from the connection (`socket.push()`).
#[napi(catch_unwind)]
pub fn transport_inject(id: u32, data: BufferSlice) -> bool {
    let data = Bytes::copy_from_slice(&data);
    with_connection(id, |connection| {
        let injected = connection.handle.inject(data);
        if let Some(watch) = &connection.watch {
            watch.read_injected();
        }
        injected
    })
    .unwrap_or(false)
}

/// Queues a nudge event for `id` behind everything queued, and rings: it comes back in a
/// later turn of the event loop, after what the runtime queued meanwhile (and what a task
/// poll under way queues) and after what the peer had sent by now is read, the step ws takes
/// through zlib's thread pool for each compressed message (`lib/native-socket.js` delivers
/// those one such step apart, as ws does). Works for a closed connection too.
#[napi(catch_unwind)]
pub fn transport_nudge(id: u32) -> Result<()> {
    let Some(hub) = HUB.with(|slot| slot.borrow().clone()) else {
        return Err(Error::new(Status::GenericFailure, "transportInit() was not called"));
    };
    if !with_handle(id, Handle::nudge).unwrap_or(false) {
        AFTER_POLLS.push(&hub, Event::new(id, EventBody::Nudge));
    }
    Ok(())
}

/// Turns on or off data events (copies of the chunks read, for `'data'` listeners).
#[napi(catch_unwind)]
pub fn transport_tap(id: u32, on: bool) -> bool {
    with_handle(id, |handle| handle.tap(on)).is_some()
}

/// Stops (`paused`) or restarts reading.
#[napi(catch_unwind)]
pub fn transport_set_paused(id: u32, paused: bool) -> bool {
    with_connection(id, |connection| {
        if paused {
            connection.handle.pause();
        } else {
            connection.handle.resume();
            if let Some(watch) = &connection.watch {
                watch.resume();
            }
        }
    })
    .is_some()
}

/// The payload of an event (`None` when it has none).
fn payload(body: &EventBody) -> Option<&[Bytes]> {
    match body {
        EventBody::Message { data, .. } => Some(data),
        EventBody::Data(data)
        | EventBody::Ping(data)
        | EventBody::Pong(data)
        | EventBody::Request { data, .. } => Some(std::slice::from_ref(data)),
        EventBody::Close { reason, .. } => Some(std::slice::from_ref(reason)),
        _ => None,
    }
}

/// The `arg` of a message record: bit 0 binary, bit 1 it came compressed.
fn message_arg(binary: bool, compressed: bool) -> f64 {
    f64::from(u8::from(binary) | (u8::from(compressed) << 1))
}

/// Records an event needs: one, plus one per fragment of a message of several.
fn records_of(event: &Event) -> usize {
    match &event.body {
        EventBody::Message { data, .. } if data.len() > 1 => 1 + data.len(),
        _ => 1,
    }
}

/// A protocol or inflate error as `transportTakeErrors()` hands it out.
fn error_of(body: EventBody) -> Option<TransportError> {
    match body {
        EventBody::Protocol(err) => Some(TransportError {
            code: err.code().to_owned(),
            message: err.message(),
            status: u32::from(err.close_status()),
            range_error: err.is_range_error(),
            errno: None,
            syscall: None,
        }),
        EventBody::Inflate(err) => Some(TransportError {
            code: err.code().to_owned(),
            message: err.message(),
            status: u32::from(err.close_status()),
            range_error: err.errno().is_none(),
            errno: err.errno(),
            syscall: None,
        }),
        EventBody::Io { code, message, syscall } => Some(TransportError {
            code,
            message,
            status: 0,
            range_error: false,
            errno: None,
            syscall: Some(syscall.to_owned()),
        }),
        _ => None,
    }
}

/// Drains this environment's events, in order, as records in `records` plus one Buffer
/// holding their payloads (one napi call and one Buffer per batch, not one object per
/// event). `records[0]` is the number of records, `records[1]` 1 when events are left for
/// another call, `records[2]` (when no record fits) the length `records` needs for the next
/// event, a message of many fragments; record `i` (from 1) is `records[4i..4i+4] = [id, kind, arg, length]`, its
/// payload the next `length` bytes of the Buffer:
/// - message (1): `arg` bit 0 binary, bit 1 it came compressed; of several fragments, one fragment (12) record per
///   fragment follows, each with its length (the bytes are the message's, not repeated);
/// - ping (2), pong (3), data (11): the payload; close (4): `arg` the code, the reason;
/// - error (5, protocol or inflate) and io-error (9): `arg` indexes `transportTakeErrors()`;
/// - written (6): `arg` writes completed; end (7), finish (8), closed (10);
/// - chunk (13): `arg` bytes read in one go, after the events they complete; pushed chunk
///   (18): the same for bytes from `socket.push()` or the upgrade's head;
/// - nudge (14): the answer to `transportNudge()`;
/// - request (15, the listener's id): `arg` the length of its NUL-separated fields, which the
///   bytes read past its head follow; request gone (16) or reset (17): `arg` the request.
///
/// A lone event larger than the batch limit comes in a Buffer of its own, without a copy
/// when it is one fragment.
#[napi(catch_unwind)]
pub fn transport_drain<'env>(
    env: &'env Env,
    mut records: Float64ArraySlice,
) -> Result<Option<Either<BufferSlice<'env>, Buffer>>> {
    // SAFETY: the typed array outlives this synchronous call and no JS runs meanwhile.
    let records = unsafe { records.as_mut() };
    let slots = records.len() / STRIDE;
    if slots < 4 {
        return Err(Error::new(Status::InvalidArg, "transportDrain() needs room for 4 records"));
    }
    let Some(hub) = HUB.with(|slot| slot.borrow().clone()) else {
        records[0] = 0.0;
        records[1] = 0.0;
        return Ok(None);
    };
    let (mut used, mut total, mut full, mut grow) = (0usize, 0usize, false, 0usize);
    let (mut events, more) = hub.drain(|event| {
        let need = records_of(event);
        let size: usize = payload(&event.body).map_or(0, |p| p.iter().map(Bytes::len).sum());
        let fits = used + need < slots && (total + size <= MAX_BATCH_BYTES || used == 0);
        if full || !fits {
            if used == 0 {
                // A message of more fragments than `records` has room for.
                grow = (need + 1) * STRIDE;
            }
            return false;
        }
        used += need;
        total += size;
        full = total > MAX_BATCH_BYTES;
        true
    });
    records[0] = used as f64;
    records[1] = f64::from(u8::from(more));
    records[2] = grow as f64;

    let mut errors = Vec::new();
    let mut slot = STRIDE;
    let mut push = |id: u32, kind: u32, arg: f64, length: usize| {
        records[slot] = f64::from(id);
        records[slot + 1] = f64::from(kind);
        records[slot + 2] = arg;
        records[slot + 3] = length as f64;
        slot += STRIDE;
    };
    // A lone large single-fragment payload is handed over as it is.
    let lone = full
        && events.len() == 1
        && matches!(&events[0].body, EventBody::Message { data, .. } if data.len() == 1);
    if lone {
        if let Some(Event {
            id, body: EventBody::Message { binary, compressed, mut data }, ..
        }) = events.pop()
        {
            let data = data.pop().unwrap_or_default();
            push(id, KIND_MESSAGE, message_arg(binary, compressed), data.len());
            return Ok(Some(Either::B(Buffer::from(Vec::<u8>::from(data)))));
        }
    }
    let result = drain_copied(env, events, total, push, &mut errors);
    ERRORS.with(|slot| *slot.borrow_mut() = errors);
    result.map(|buf| buf.map(Either::A))
}

/// Writes the records of `events` and copies their payloads into one new Buffer of `total`
/// bytes (`None` when there are none).
fn drain_copied<'env>(
    env: &'env Env,
    events: Vec<Event>,
    total: usize,
    mut push: impl FnMut(u32, u32, f64, usize),
    errors: &mut Vec<TransportError>,
) -> Result<Option<BufferSlice<'env>>> {
    let mut buf = if total > 0 { Some(alloc_buffer(env, total)?) } else { None };
    let mut offset = 0usize;
    for event in events {
        let id = event.id;
        if let (Some(pieces), Some(buf)) = (payload(&event.body), buf.as_mut()) {
            for piece in pieces {
                buf[offset..offset + piece.len()].copy_from_slice(piece);
                offset += piece.len();
            }
        }
        match event.body {
            EventBody::Message { binary, compressed, data } => {
                push(
                    id,
                    KIND_MESSAGE,
                    message_arg(binary, compressed),
                    data.iter().map(Bytes::len).sum(),
                );
                if data.len() > 1 {
                    for piece in &data {
                        push(id, KIND_FRAGMENT, 0.0, piece.len());
                    }
                }
            }
            EventBody::Data(data) => push(id, KIND_DATA, 0.0, data.len()),
            EventBody::Chunk { len, read } => {
                push(id, if read { KIND_CHUNK } else { KIND_PUSHED_CHUNK }, len as f64, 0)
            }
            EventBody::Nudge => push(id, KIND_NUDGE, 0.0, 0),
            EventBody::Ping(data) => push(id, KIND_PING, 0.0, data.len()),
            EventBody::Pong(data) => push(id, KIND_PONG, 0.0, data.len()),
            EventBody::Close { code, reason } => {
                push(id, KIND_CLOSE, f64::from(code), reason.len())
            }
            EventBody::Written(count) => push(id, KIND_WRITTEN, f64::from(count), 0),
            EventBody::End => push(id, KIND_END, 0.0, 0),
            EventBody::Finish => push(id, KIND_FINISH, 0.0, 0),
            EventBody::RequestGone { request, reset } => {
                let kind = if reset { KIND_REQUEST_RESET } else { KIND_REQUEST_GONE };
                push(id, kind, f64::from(request), 0)
            }
            EventBody::Request { text_len, data } => {
                push(id, KIND_REQUEST, text_len as f64, data.len())
            }
            EventBody::Closed => {
                CONNECTIONS.with(|map| map.borrow_mut().remove(&id));
                push(id, KIND_CLOSED, 0.0, 0);
            }
            body => {
                let kind =
                    if matches!(body, EventBody::Io { .. }) { KIND_IO_ERROR } else { KIND_ERROR };
                if let Some(err) = error_of(body) {
                    push(id, kind, errors.len() as f64, 0);
                    errors.push(err);
                }
            }
        }
    }
    Ok(buf)
}

/// The errors of the last `transportDrain()` batch, indexed by their records' `arg`.
#[napi(catch_unwind)]
pub fn transport_take_errors() -> Vec<TransportError> {
    ERRORS.with(|slot| std::mem::take(&mut *slot.borrow_mut()))
}
