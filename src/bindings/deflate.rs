//! `NativeDeflate` and `NativeInflate`: the napi face of [`protocol::deflate`]'s
//! [`Deflater`] and [`Inflater`], for `lib/permessage-deflate.js`. Converts and calls, no
//! protocol decisions.
//!
//! Each object keeps its zlib stream behind a `Mutex` so that the `*Async` variants can run
//! on the libuv thread pool (a napi `AsyncTask`). The JS caller never has two operations in
//! flight on one object (they share the LZ77 window and must run in order), so the lock is
//! never contended; it only makes the hand-over between threads sound.
//!
//! Failures throw (or reject with) an `Error` whose `code` is ws's
//! `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH` or Node zlib's `Z_*` name, and whose message is ws's or
//! zlib's.
//!
//! [`protocol::deflate`]: crate::protocol::deflate

use std::sync::{Arc, Mutex};

use crate::sync::lock;

use napi::bindgen_prelude::{
    AsyncTask, Buffer, BufferSlice, Env, Error, JsObjectValue, Result, Status,
};
use napi::{JsValue, Task};
use napi_derive::napi;

use crate::protocol::deflate::{
    zlib_option, DeflateConfig, Deflater, InflateConfig, Inflater, ZlibError, DEFAULT_LEVEL,
    DEFAULT_MEM_LEVEL, DEFAULT_STRATEGY, LEVEL_RANGE, MAX_WINDOW_BITS, MEM_LEVEL_RANGE,
    STRATEGY_RANGE, WINDOW_BITS_RANGE,
};

/// Options of `new NativeDeflate()`: Node's `zlibDeflateOptions` plus the negotiated
/// parameters of our direction.
#[napi(object)]
pub struct NativeDeflateOptions {
    /// The base-2 logarithm of the window the peer accepts, 8 to 15 (default 15).
    pub window_bits: Option<f64>,
    /// The compression level, 0 to 9, or -1 for zlib's default (default -1).
    pub level: Option<f64>,
    /// zlib's `memLevel`, 1 to 9 (default 8).
    pub mem_level: Option<f64>,
    /// zlib's `strategy`, 0 to 4 (default 0, `Z_DEFAULT_STRATEGY`).
    pub strategy: Option<f64>,
    /// Drop the window after each message (`*_no_context_takeover`).
    pub no_context_takeover: Option<bool>,
}

/// Options of `new NativeInflate()`.
#[napi(object)]
pub struct NativeInflateOptions {
    /// The base-2 logarithm of the peer's window, 8 to 15 (default 15).
    pub window_bits: Option<f64>,
    /// Drop the window after each message (`*_no_context_takeover` of the peer).
    pub no_context_takeover: Option<bool>,
    /// The largest inflated message in bytes; 0 or absent for unlimited (ws's `maxPayload`).
    pub max_payload: Option<f64>,
}

/// A failure as `(code, message)`, built off the JS thread and thrown on it.
type Failure = (&'static str, String);

/// An `Error` with a deliberate `code` (napi-rs passes the status string as `code`).
fn failure_error((code, message): Failure) -> Error<&'static str> {
    Error::new(code, message)
}

/// A JS number option as a small integer, or `default` when absent or not finite.
fn int_option(value: Option<f64>, default: i32) -> i32 {
    match value {
        Some(v) if v.is_finite() => v.clamp(i32::MIN as f64, i32::MAX as f64) as i32,
        _ => default,
    }
}

/// A window-bits option (8 to 15; absent is 15, the codec clamps other values).
fn window_bits_option(value: Option<f64>) -> u8 {
    u8::try_from(int_option(value, MAX_WINDOW_BITS.into())).unwrap_or(MAX_WINDOW_BITS)
}

/// A result as a JS `Buffer`, copied into memory V8 allocates: cheaper than an external
/// buffer (whose finalizer V8 runs after a GC) for the sizes the sync calls handle.
fn to_buffer(env: &Env, data: Vec<u8>) -> Result<BufferSlice<'_>, &'static str> {
    BufferSlice::copy_from(env, data)
        .map_err(|err| Error::new("ERR_MEMORY_ALLOCATION_FAILED", err.reason.clone()))
}

/// A thread-pool result as a JS `Buffer` over the same memory (no copy for the large
/// results the async calls handle), after giving back a large unused capacity: the
/// allocation lives as long as the JS buffer does.
fn to_external_buffer(mut data: Vec<u8>) -> Buffer {
    if data.capacity() - data.len() > 4096.max(data.len() / 4) {
        data.shrink_to_fit();
    }
    Buffer::from(data)
}

/// Rejects an async task with a JS `Error` carrying `code`: `Task::resolve` can only fail
/// with a `Status`, so the error object is built here and handed over as a JS value.
fn reject<T>(env: &Env, (code, message): Failure) -> Result<T> {
    let mut error = env.create_error(Error::new(Status::GenericFailure, message))?;
    error.set_named_property("code", code)?;
    Err(Error::from(error.to_unknown()))
}

/// The permessage-deflate compressor of one direction of a connection.
#[napi]
pub struct NativeDeflate {
    inner: Arc<Mutex<Deflater>>,
}

#[napi]
impl NativeDeflate {
    /// Creates a compressor (`{ windowBits, level, memLevel, strategy, noContextTakeover }`).
    /// Throws a `RangeError` (`ERR_OUT_OF_RANGE`, Node's message) for an option out of the
    /// range Node's zlib accepts, as `zlib.createDeflateRaw()` does.
    #[napi(catch_unwind, constructor)]
    pub fn new(env: Env, options: Option<NativeDeflateOptions>) -> Result<Self> {
        let options = options.unwrap_or(NativeDeflateOptions {
            window_bits: None,
            level: None,
            mem_level: None,
            strategy: None,
            no_context_takeover: None,
        });
        let config = checked_deflate_config(&env, &options)?;
        Ok(Self { inner: Arc::new(Mutex::new(Deflater::new(config))) })
    }

    /// Compresses one fragment with `Z_SYNC_FLUSH`; with `fin` (the last fragment of the
    /// message) the trailing `00 00 ff ff` is removed.
    #[napi(catch_unwind)]
    pub fn compress<'env>(
        &self,
        env: &'env Env,
        data: BufferSlice,
        fin: bool,
    ) -> Result<BufferSlice<'env>, &'static str> {
        let out = compress(&self.inner, &data, fin).map_err(failure_error)?;
        to_buffer(env, out)
    }

    /// `compress()` on the libuv thread pool. Do not start another operation on this object
    /// before the promise settles.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn compress_async(&self, data: Buffer, fin: bool) -> AsyncTask<CompressTask> {
        AsyncTask::new(CompressTask { inner: Arc::clone(&self.inner), data, fin })
    }

    /// Drops the window: the next fragment starts a fresh stream.
    #[napi(catch_unwind)]
    pub fn reset(&self) {
        lock(&self.inner).reset();
    }

    /// Frees the zlib state of an idle compressor, keeping its last window as the dictionary
    /// of the next message; false when there was nothing to free or it is in use.
    #[napi(catch_unwind)]
    pub fn compact(&self) -> bool {
        self.inner.try_lock().is_ok_and(|mut deflater| deflater.compact())
    }
}

/// Asks the allocator to hand free memory back to the OS (after compactions) shortly, on a
/// runtime thread; one trim covers a burst of calls. Returns whether this call scheduled it.
#[napi(catch_unwind)]
pub fn release_free_memory() -> bool {
    crate::runtime::memory::release_free_memory()
}

/// Checks the options as Node's zlib does (in its order: windowBits, level, memLevel,
/// strategy) and builds the codec's config.
/// Throws the `RangeError` (`ERR_OUT_OF_RANGE`, Node's message) `new NativeDeflate(options)`
/// would, without building a compressor: lets a transport that deflates elsewhere fail where ws
/// fails, in the `send()` that first compresses.
#[napi(catch_unwind)]
pub fn check_deflate_options(env: Env, options: NativeDeflateOptions) -> Result<()> {
    checked_deflate_config(&env, &options).map(|_| ())
}

/// [`deflate_config`], with a failure thrown as Node's zlib throws it.
fn checked_deflate_config(env: &Env, options: &NativeDeflateOptions) -> Result<DeflateConfig> {
    deflate_config(options).or_else(|err| {
        env.throw_range_error(err.message(), Some(err.code()))?;
        Err(Error::new(Status::PendingException, err.message().to_owned()))
    })
}

fn deflate_config(options: &NativeDeflateOptions) -> std::result::Result<DeflateConfig, ZlibError> {
    let window_bits =
        zlib_option("windowBits", options.window_bits, WINDOW_BITS_RANGE, MAX_WINDOW_BITS.into())?;
    let level = zlib_option("level", options.level, LEVEL_RANGE, DEFAULT_LEVEL)?;
    let mem_level =
        zlib_option("memLevel", options.mem_level, MEM_LEVEL_RANGE, DEFAULT_MEM_LEVEL.into())?;
    let strategy = zlib_option("strategy", options.strategy, STRATEGY_RANGE, DEFAULT_STRATEGY)?;
    Ok(DeflateConfig {
        // Both in range (checked above), so the conversions cannot fail.
        window_bits: u8::try_from(window_bits).unwrap_or(MAX_WINDOW_BITS),
        level,
        mem_level: u8::try_from(mem_level).unwrap_or(DEFAULT_MEM_LEVEL),
        strategy,
        no_context_takeover: options.no_context_takeover.unwrap_or(false),
    })
}

fn compress(
    inner: &Mutex<Deflater>,
    data: &[u8],
    fin: bool,
) -> std::result::Result<Vec<u8>, Failure> {
    lock(inner).compress(data, fin).map_err(|err| (err.code(), err.message().to_owned()))
}

/// The thread-pool half of `NativeDeflate.compressAsync()`.
pub struct CompressTask {
    inner: Arc<Mutex<Deflater>>,
    data: Buffer,
    fin: bool,
}

impl Task for CompressTask {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(compress(&self.inner, &self.data, self.fin))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        match output {
            Ok(data) => Ok(to_external_buffer(data)),
            Err(failure) => reject(&env, failure),
        }
    }
}

/// The permessage-deflate decompressor of the peer's direction of a connection.
#[napi]
pub struct NativeInflate {
    inner: Arc<Mutex<Inflater>>,
}

#[napi]
impl NativeInflate {
    /// Creates a decompressor (`{ windowBits, noContextTakeover, maxPayload }`).
    #[napi(catch_unwind, constructor)]
    pub fn new(options: Option<NativeInflateOptions>) -> Self {
        let options = options.unwrap_or(NativeInflateOptions {
            window_bits: None,
            no_context_takeover: None,
            max_payload: None,
        });
        let max_payload = match options.max_payload {
            // As ws's `maxPayload | 0` followed by its `maxPayload < 1` check: anything below
            // 1 (or not a number) is unlimited.
            Some(v) if v >= 1.0 => v as u64,
            _ => 0,
        };
        let config = InflateConfig {
            window_bits: window_bits_option(options.window_bits),
            no_context_takeover: options.no_context_takeover.unwrap_or(false),
            max_payload,
        };
        Self { inner: Arc::new(Mutex::new(Inflater::new(config))) }
    }

    /// Inflates one fragment; with `fin` the `00 00 ff ff` tail is appended first. Throws
    /// `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH` past `maxPayload` (counted across the message's
    /// fragments) or a Node zlib code such as `Z_DATA_ERROR` with zlib's message.
    #[napi(catch_unwind)]
    pub fn decompress<'env>(
        &self,
        env: &'env Env,
        data: BufferSlice,
        fin: bool,
    ) -> Result<BufferSlice<'env>, &'static str> {
        let out = decompress(&self.inner, &data, fin).map_err(failure_error)?;
        to_buffer(env, out)
    }

    /// `decompress()` on the libuv thread pool. Do not start another operation on this
    /// object before the promise settles.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    pub fn decompress_async(&self, data: Buffer, fin: bool) -> AsyncTask<DecompressTask> {
        AsyncTask::new(DecompressTask { inner: Arc::clone(&self.inner), data, fin })
    }

    /// Drops the window and the current message's length.
    #[napi(catch_unwind)]
    pub fn reset(&self) {
        lock(&self.inner).reset();
    }

    /// Frees the zlib state of an idle decompressor, keeping its last window as the
    /// dictionary of the next message; false when there was nothing to free or it is in use.
    #[napi(catch_unwind)]
    pub fn compact(&self) -> bool {
        self.inner.try_lock().is_ok_and(|mut inflater| inflater.compact())
    }
}

fn decompress(
    inner: &Mutex<Inflater>,
    data: &[u8],
    fin: bool,
) -> std::result::Result<Vec<u8>, Failure> {
    lock(inner).decompress(data, fin).map_err(|err| (err.code(), err.message()))
}

/// The thread-pool half of `NativeInflate.decompressAsync()`.
pub struct DecompressTask {
    inner: Arc<Mutex<Inflater>>,
    data: Buffer,
    fin: bool,
}

impl Task for DecompressTask {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(decompress(&self.inner, &self.data, self.fin))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        match output {
            Ok(data) => Ok(to_external_buffer(data)),
            Err(failure) => reject(&env, failure),
        }
    }
}
