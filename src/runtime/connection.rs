//! One adopted connection: a task on the shared runtime that reads, parses, validates and
//! inflates what the peer sends, and deflates, frames, masks and writes what JS sends. Every
//! outcome becomes an [`Event`] on the environment's [`Hub`].
//!
//! The socket lifecycle mirrors a Node `net.Socket` (which the JS facade stands in for):
//! `End` when the peer's FIN arrives, `Finish` once our side is shut down after everything
//! queued was written, an `Io` error then teardown on a read or write failure, and `Closed`
//! (the descriptor dropped) when both sides are done or `destroy()` was called.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::queue::{Event, EventBody, Hub, Shared, BACKLOG_HIGH_WATER_MARK};
use super::runtime;
use crate::protocol::deflate::{DeflateConfig, Deflater, InflateConfig, Inflater};
use crate::protocol::frame::{self, OPCODE_CLOSE, OPCODE_PONG};
use crate::protocol::receiver::{Event as Parsed, Receiver, ReceiverConfig};

/// Bytes asked of the kernel per read (ws reads 64 KiB chunks too, Node's default).
const READ_CHUNK: usize = 64 * 1024;

/// A batch of queued writes stops growing at this many bytes, so writing starts early.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// At most this many buffers per `writev` (well under `IOV_MAX`).
const MAX_IOVECS: usize = 64;

/// How a connection behaves, from the negotiated handshake and the WebSocket options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnConfig {
    /// The parser's options (role, limits, whether RSV1 is allowed).
    pub receiver: ReceiverConfig,
    /// permessage-deflate for the peer's messages, when negotiated.
    pub inflate: Option<InflateConfig>,
    /// permessage-deflate for ours, when negotiated.
    pub deflate: Option<DeflateConfig>,
    /// Answer pings in Rust (ws's `autoPong`); the `Ping` event is still queued.
    pub auto_pong: bool,
}

/// The masking key of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Unmasked (server to client).
    None,
    /// A fresh key from the connection's generator (RFC 6455 §5.3).
    Random,
    /// A key JS chose (ws's `generateMask` option).
    Key([u8; 4]),
}

/// A data or control frame to deflate (if `compress`), frame and write.
#[derive(Debug)]
pub struct OutFrame {
    /// The payload.
    pub data: Bytes,
    /// The opcode (0 for a continuation).
    pub opcode: u8,
    /// Last fragment of the message.
    pub fin: bool,
    /// RSV1 (set on the first frame of a compressed message).
    pub rsv1: bool,
    /// Deflate the payload (every fragment of a compressed message).
    pub compress: bool,
    /// The masking key.
    pub mask: Mask,
}

/// A write JS asked for. Each one is counted in a later `Written` event.
#[derive(Debug)]
pub enum Command {
    /// A frame.
    Frame(OutFrame),
    /// Raw bytes (`ws._socket.write()`).
    Raw(Bytes),
    /// Shut down our side once everything before it is written (`socket.end()`).
    End,
}

/// What the writer receives: JS's commands and the reader's automatic pongs.
#[derive(Debug)]
enum Item {
    Js(Command),
    AutoPong(Bytes),
    /// Start writing: everything queued so far goes out in one `writev`.
    Uncork,
}

/// The JS thread's handle on a connection task.
#[derive(Debug)]
pub struct Handle {
    tx: UnboundedSender<Item>,
    inject: UnboundedSender<Bytes>,
    shared: Arc<Shared>,
}

impl Handle {
    /// Queues a write; false once the connection is gone.
    pub fn command(&self, command: Command) -> bool {
        !self.shared.destroyed.load(Ordering::Acquire) && self.tx.send(Item::Js(command)).is_ok()
    }

    /// Stops reading (TCP backpressure then reaches the peer).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Restarts reading.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// Drops the socket now (`socket.destroy()`); `Closed` follows.
    pub fn destroy(&self) {
        self.shared.destroyed.store(true, Ordering::Release);
        self.shared.kill.notify_one();
    }

    /// Lets the writer start. A connection starts corked so that the 101 response and the
    /// frames sent in the `'connection'` (or `'open'`) listener leave in one `writev`, as they
    /// reach the kernel in one go with the Node transport, and the peer reads them together.
    pub fn uncork(&self) {
        let _ = self.tx.send(Item::Uncork);
    }

    /// Drops the socket with a TCP RST (`socket.resetAndDestroy()`).
    pub fn reset(&self) {
        self.shared.reset.store(true, Ordering::Release);
        self.destroy();
    }

    /// Parses `data` as if it had been read from the socket (`socket.push()`).
    pub fn inject(&self, data: Bytes) -> bool {
        self.inject.send(data).is_ok()
    }

    /// Turns on or off `Data` events (a copy of every chunk read, for `'data'` listeners).
    pub fn tap(&self, on: bool) {
        self.shared.tap.store(on, Ordering::Release);
    }
}

/// The write half of an adopted socket.
enum Writer {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    Unix(tokio::net::unix::OwnedWriteHalf),
}

impl Writer {
    /// The socket's descriptor.
    fn raw_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;

        match self {
            Self::Tcp(half) => half.as_ref().as_raw_fd(),
            Self::Unix(half) => half.as_ref().as_raw_fd(),
        }
    }

    /// Drops the write half without the `shutdown(SHUT_WR)` tokio does on drop: the socket is
    /// just closed, as Node's `destroy()` does, and with `reset` it closes with a RST
    /// (`SO_LINGER` 0) rather than a FIN.
    fn close(self, reset: bool) {
        match self {
            Self::Tcp(half) => {
                if reset {
                    // Best effort: the socket is being dropped anyway.
                    let _ = half.as_ref().set_zero_linger();
                }
                half.forget();
            }
            Self::Unix(half) => half.forget(),
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(half) => Pin::new(half).poll_write(cx, buf),
            Self::Unix(half) => Pin::new(half).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(half) => Pin::new(half).poll_write_vectored(cx, bufs),
            Self::Unix(half) => Pin::new(half).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(half) => Pin::new(half).poll_flush(cx),
            Self::Unix(half) => Pin::new(half).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(half) => Pin::new(half).poll_shutdown(cx),
            Self::Unix(half) => Pin::new(half).poll_shutdown(cx),
        }
    }
}

/// A socket split for the two halves of the task.
type Halves = (Box<dyn AsyncRead + Send + Unpin>, Writer);

/// Duplicates `fd` and registers the copy with the runtime, so that the caller can close its
/// own descriptor without closing the connection (RESEARCH.md §3c).
fn duplicate(fd: RawFd, unix: bool) -> io::Result<Halves> {
    if fd < 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid file descriptor"));
    }
    // SAFETY: the caller (the JS thread, synchronously) holds `fd` open for this call; the
    // borrow ends with the `dup()`.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    let rt = runtime().map_err(io::Error::other)?;
    let _context = rt.enter();
    if unix {
        let stream = std::os::unix::net::UnixStream::from(owned);
        stream.set_nonblocking(true)?;
        let (read, write) = tokio::net::UnixStream::from_std(stream)?.into_split();
        Ok((Box::new(read), Writer::Unix(write)))
    } else {
        let stream = std::net::TcpStream::from(owned);
        stream.set_nonblocking(true)?;
        // ws calls `socket.setNoDelay()` on every connection.
        stream.set_nodelay(true)?;
        let (read, write) = tokio::net::TcpStream::from_std(stream)?.into_split();
        Ok((Box::new(read), Writer::Tcp(write)))
    }
}

/// Takes over the connection behind `fd` (a TCP socket, or a Unix one when `unix`) as
/// connection `id`: `head` is parsed before anything read from the socket, and `preamble`
/// (the server's 101 response) is written before any frame, once the connection is uncorked
/// ([`Handle::uncork`]).
pub fn adopt(
    hub: Arc<Hub>,
    id: u32,
    fd: RawFd,
    unix: bool,
    head: Vec<u8>,
    preamble: Vec<u8>,
    config: ConnConfig,
) -> io::Result<Handle> {
    let (read, write) = duplicate(fd, unix)?;
    let rt = runtime().map_err(io::Error::other)?;
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::unbounded_channel();
    let (inject, injected) = mpsc::unbounded_channel();
    let task = Task { hub, id, shared: Arc::clone(&shared), config };
    // `head` is parsed here, on the caller's thread, so its events are queued before this
    // returns (ws parses it on the next tick, before anything else is read).
    let mut parser = Parser {
        receiver: Receiver::new(config.receiver),
        inflater: None,
        done: false,
        close_received: false,
        tx: tx.clone(),
    };
    // Node emits `head` as `'data'` too (ws unshifts it), to listeners added in the tick of
    // the upgrade: always offer it.
    if !head.is_empty() {
        task.emit(EventBody::Data(Bytes::copy_from_slice(&head)));
    }
    parser.feed(&task, &head);
    rt.spawn(task.run(read, write, parser, injected, rx, preamble));
    Ok(Handle { tx, inject, shared })
}

/// The per-connection state both halves share.
struct Task {
    hub: Arc<Hub>,
    id: u32,
    shared: Arc<Shared>,
    config: ConnConfig,
}

impl Task {
    /// Runs the connection to its end, then queues `Closed`.
    async fn run(
        self,
        read: Box<dyn AsyncRead + Send + Unpin>,
        mut write: Writer,
        parser: Parser,
        injected: UnboundedReceiver<Bytes>,
        mut rx: UnboundedReceiver<Item>,
        preamble: Vec<u8>,
    ) {
        let mut framer = Framer {
            deflater: None,
            config: self.config.deflate,
            is_client: !self.config.receiver.is_server,
            keys: MaskKeys::new(),
            close_sent: false,
        };
        let mut out = VecDeque::new();
        if !preamble.is_empty() {
            out.push_back(Bytes::from(preamble));
        }
        let killed = {
            let reading = self.read_loop(read, parser, injected);
            let writing = self.write_loop(&mut write, &mut rx, &mut framer, &mut out);
            tokio::select! {
                _ = async { tokio::join!(reading, writing) } => false,
                () = self.shared.kill.notified() => true,
            }
        };
        if killed {
            // Node's `socket.write()` tries the kernel at once, so what was written before
            // `destroy()` usually goes out: do the same with what is queued, without waiting.
            let (mut written, mut end) = (0, false);
            while let Ok(item) = rx.try_recv() {
                framer.apply(item, &mut out, &mut written, &mut end);
            }
            write_without_waiting(write.raw_fd(), &mut out);
        }
        write.close(self.shared.reset.load(Ordering::Acquire));
        self.shared.destroyed.store(true, Ordering::Release);
        self.hub.push(Event::new(self.id, EventBody::Closed));
    }

    /// Queues an event.
    fn emit(&self, body: EventBody) {
        self.hub.push(Event::new(self.id, body));
    }

    /// Queues a socket error and tears the connection down, as Node does after `'error'`.
    fn fail(&self, err: &io::Error, syscall: &'static str) {
        self.emit(EventBody::Io {
            code: error_code(err).to_owned(),
            message: err.to_string(),
            syscall,
        });
        self.shared.kill.notify_one();
    }

    /// Reads until EOF or an error, pausing while JS asked so or is behind.
    async fn read_loop(
        &self,
        mut read: Box<dyn AsyncRead + Send + Unpin>,
        mut parser: Parser,
        mut injected: UnboundedReceiver<Bytes>,
    ) {
        let mut buf = vec![0; READ_CHUNK];
        loop {
            while self.shared.paused.load(Ordering::Acquire)
                || self.shared.backlog.load(Ordering::Acquire) >= BACKLOG_HIGH_WATER_MARK
            {
                self.shared.wake.notified().await;
            }
            let result = tokio::select! {
                result = read.read(&mut buf) => result,
                Some(data) = injected.recv() => {
                    self.chunk(&mut parser, &data);
                    continue;
                }
            };
            match result {
                Ok(0) => {
                    self.emit(EventBody::End);
                    return;
                }
                Ok(n) => self.chunk(&mut parser, &buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.fail(&err, "read");
                    return;
                }
            }
        }
    }

    /// Handles a chunk read (or pushed): a copy for `'data'` listeners, then the parser.
    fn chunk(&self, parser: &mut Parser, data: &[u8]) {
        if self.shared.tap.load(Ordering::Acquire) {
            self.emit(EventBody::Data(Bytes::copy_from_slice(data)));
        }
        parser.feed(self, data);
    }

    /// Writes what JS queues, a batch per `writev`, until `End` or an error.
    async fn write_loop(
        &self,
        write: &mut Writer,
        rx: &mut UnboundedReceiver<Item>,
        framer: &mut Framer,
        out: &mut VecDeque<Bytes>,
    ) {
        let (mut written, mut end) = (0u32, false);
        loop {
            match rx.recv().await {
                None => return,
                Some(Item::Uncork) => break,
                Some(item) => {
                    framer.apply(item, out, &mut written, &mut end);
                }
            }
        }
        loop {
            let mut batch_bytes = out.iter().map(Bytes::len).sum::<usize>();
            if out.is_empty() && written == 0 && !end {
                let Some(item) = rx.recv().await else { return };
                batch_bytes += framer.apply(item, out, &mut written, &mut end);
            }
            while !end && batch_bytes < MAX_BATCH_BYTES {
                let Ok(item) = rx.try_recv() else { break };
                batch_bytes += framer.apply(item, out, &mut written, &mut end);
            }
            if let Err(err) = write_all(write, out).await {
                self.fail(&err, "write");
                return;
            }
            if written > 0 {
                self.emit(EventBody::Written(written));
                written = 0;
            }
            if end {
                match write.shutdown().await {
                    Ok(()) => self.emit(EventBody::Finish),
                    Err(err) => self.fail(&err, "shutdown"),
                }
                return;
            }
        }
    }
}

/// The reading half's protocol state.
struct Parser {
    receiver: Receiver,
    /// Created on the first compressed message (zlib state is not free: RESEARCH.md §3f).
    inflater: Option<Inflater>,
    /// A protocol error was reported: the rest of the input is read and dropped, as ws keeps
    /// the socket flowing after a receiver error.
    done: bool,
    /// The peer's close frame arrived: no more automatic pongs.
    close_received: bool,
    tx: UnboundedSender<Item>,
}

impl Parser {
    /// Parses a chunk and queues what it completes.
    fn feed(&mut self, task: &Task, chunk: &[u8]) {
        if self.done || chunk.is_empty() {
            return;
        }
        if let Err(err) = self.receiver.push(chunk) {
            self.done = true;
            task.emit(EventBody::Protocol(err));
            return;
        }
        while let Some(outcome) = self.receiver.next() {
            let parsed = match outcome {
                Ok(parsed) => parsed,
                Err(err) => {
                    self.done = true;
                    task.emit(EventBody::Protocol(err));
                    return;
                }
            };
            match parsed {
                Parsed::Message { binary, data } => {
                    let cost = data.iter().map(Bytes::len).sum();
                    let body = EventBody::Message { binary, data };
                    task.hub.push(Event::with_cost(task.id, body, &task.shared, cost));
                }
                Parsed::Ping(data) => {
                    if task.config.auto_pong && !self.close_received {
                        // The writer may be gone already; then nobody needs the pong.
                        let _ = self.tx.send(Item::AutoPong(data.clone()));
                    }
                    task.emit(EventBody::Ping(data));
                }
                Parsed::Pong(data) => task.emit(EventBody::Pong(data)),
                Parsed::Close { code, reason } => {
                    self.close_received = true;
                    task.emit(EventBody::Close { code, reason });
                }
                Parsed::Inflate { data, fin } => {
                    let config = task.config.inflate.unwrap_or_default();
                    let inflater = self.inflater.get_or_insert_with(|| Inflater::new(config));
                    match inflater.decompress(&data, fin) {
                        Ok(out) => self.receiver.push_inflated(Bytes::from(out), fin),
                        Err(err) => {
                            self.done = true;
                            task.emit(EventBody::Inflate(err));
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The writing half's protocol state.
struct Framer {
    /// Created on the first compressed message.
    deflater: Option<Deflater>,
    config: Option<DeflateConfig>,
    is_client: bool,
    keys: MaskKeys,
    /// Our close frame is queued: later frames are dropped (RFC 6455 §5.5.1).
    close_sent: bool,
}

impl Framer {
    /// Turns an item into buffers to write; returns their size.
    fn apply(
        &mut self,
        item: Item,
        out: &mut VecDeque<Bytes>,
        written: &mut u32,
        end: &mut bool,
    ) -> usize {
        let before = out.len();
        match item {
            Item::Js(Command::Frame(frame)) => {
                *written += 1;
                if !self.close_sent && !*end {
                    self.frame(frame, out);
                }
            }
            Item::Js(Command::Raw(data)) => {
                *written += 1;
                if !*end {
                    out.push_back(data);
                }
            }
            Item::Js(Command::End) => *end = true,
            Item::AutoPong(data) => {
                if !self.close_sent && !*end {
                    let mask = if self.is_client { Mask::Random } else { Mask::None };
                    let pong = OutFrame {
                        data,
                        opcode: OPCODE_PONG,
                        fin: true,
                        rsv1: false,
                        compress: false,
                        mask,
                    };
                    self.frame(pong, out);
                }
            }
            Item::Uncork => {}
        }
        out.iter().skip(before).map(Bytes::len).sum()
    }

    /// Encodes one frame into `out`: one buffer when masked (copied and masked in one
    /// pass), else the header and the payload as two (no copy).
    fn frame(&mut self, frame: OutFrame, out: &mut VecDeque<Bytes>) {
        let OutFrame { data, opcode, fin, rsv1, compress, mask } = frame;
        let payload = match (compress, self.config) {
            (true, Some(config)) => {
                let deflater = self.deflater.get_or_insert_with(|| Deflater::new(config));
                match deflater.compress(&data, fin) {
                    Ok(compressed) => Bytes::from(compressed),
                    // zlib only fails on an inconsistent stream (see `DeflateError`); the
                    // frame then goes out uncompressed rather than corrupt.
                    Err(_) => data,
                }
            }
            _ => data,
        };
        if opcode == OPCODE_CLOSE {
            self.close_sent = true;
        }
        let key = match mask {
            Mask::None => None,
            Mask::Random => Some(self.keys.next_key()),
            Mask::Key(key) => Some(key),
        };
        if key.is_some() {
            out.push_back(Bytes::from(frame::encode_frame(&payload, opcode, fin, rsv1, key)));
        } else {
            let header = frame::encode_header(payload.len() as u64, opcode, fin, rsv1, None);
            out.push_back(Bytes::from(header));
            if !payload.is_empty() {
                out.push_back(payload);
            }
        }
    }
}

/// Masking keys: SipHash, keyed from the OS's entropy by `RandomState`, over a counter. The
/// keys are unpredictable to anyone who does not know that key, which is what RFC 6455 §5.3
/// asks (the crate has no CSPRNG dependency).
struct MaskKeys {
    state: RandomState,
    counter: u64,
    spare: Option<[u8; 4]>,
}

impl MaskKeys {
    fn new() -> Self {
        Self { state: RandomState::new(), counter: 0, spare: None }
    }

    /// The next 4-byte key (two per hash).
    fn next_key(&mut self) -> [u8; 4] {
        if let Some(key) = self.spare.take() {
            return key;
        }
        self.counter = self.counter.wrapping_add(1);
        let bits = self.state.hash_one(self.counter).to_le_bytes();
        self.spare = Some([bits[4], bits[5], bits[6], bits[7]]);
        [bits[0], bits[1], bits[2], bits[3]]
    }
}

/// Writes every buffer of `out`, coalescing them with `writev`.
async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    write: &mut W,
    out: &mut VecDeque<Bytes>,
) -> io::Result<()> {
    while !out.is_empty() {
        let n = {
            let slices: Vec<IoSlice<'_>> =
                out.iter().take(MAX_IOVECS).map(|buf| IoSlice::new(buf)).collect();
            write.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        advance(out, n);
    }
    Ok(())
}

/// Writes as much of `out` as the kernel takes now, without waiting (best effort, errors
/// ignored: the connection is being torn down). It writes to the descriptor itself, as Node's
/// `socket.write()` tries the kernel at once: tokio's readiness cache says "not writable" until
/// its driver has polled a newly adopted socket, which would drop a 101 queued in the same tick
/// as a `terminate()`.
fn write_without_waiting(fd: RawFd, out: &mut VecDeque<Bytes>) {
    use std::io::Write;

    // SAFETY: `fd` is the open, non-blocking socket of the write half the caller holds for the
    // whole call; `ManuallyDrop` keeps this temporary `TcpStream` from closing it. `writev` on
    // a stream socket works the same for TCP and Unix sockets.
    let socket = std::mem::ManuallyDrop::new(unsafe {
        <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    while !out.is_empty() {
        let slices: Vec<IoSlice<'_>> =
            out.iter().take(MAX_IOVECS).map(|buf| IoSlice::new(buf)).collect();
        let n = match (&*socket).write_vectored(&slices) {
            Ok(n) if n > 0 => n,
            _ => return,
        };
        advance(out, n);
    }
}

/// Drops the first `n` written bytes of `out`.
fn advance(out: &mut VecDeque<Bytes>, n: usize) {
    let mut left = n;
    while left > 0 {
        let Some(front) = out.front_mut() else { break };
        if front.len() <= left {
            left -= front.len();
            out.pop_front();
        } else {
            front.advance(left);
            left = 0;
        }
    }
}

/// Node's code for an I/O error (`err.code` of a `net.Socket` error).
fn error_code(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::ConnectionReset => "ECONNRESET",
        io::ErrorKind::BrokenPipe => "EPIPE",
        io::ErrorKind::ConnectionAborted => "ECONNABORTED",
        io::ErrorKind::TimedOut => "ETIMEDOUT",
        io::ErrorKind::NotConnected => "ENOTCONN",
        io::ErrorKind::WriteZero => "EPIPE",
        _ => "EIO",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A hub whose events the test can collect.
    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new(Box::new(|| {})))
    }

    /// Drains until `done` says so or 5 s pass.
    fn collect(hub: &Hub, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let start = Instant::now();
        let mut all = Vec::new();
        while start.elapsed() < Duration::from_secs(5) {
            all.extend(hub.drain());
            if done(&all) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        all
    }

    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn an_adopted_server_socket_echoes_a_masked_message_and_closes() {
        let hub = hub();
        let (mut client, server) = pair();
        let config = ConnConfig {
            receiver: ReceiverConfig { is_server: true, ..ReceiverConfig::default() },
            auto_pong: true,
            ..ConnConfig::default()
        };
        // The head holds a masked text frame "hi"; the 101 response goes first.
        let head = frame::encode_frame(b"hi", 1, true, false, Some([1, 2, 3, 4]));
        let handle =
            adopt(Arc::clone(&hub), 7, server.as_raw_fd(), false, head, b"HTTP".to_vec(), config)
                .unwrap();
        handle.uncork();
        drop(server);
        client.write_all(&frame::encode_frame(b"", 9, true, false, Some([0; 4]))).unwrap();
        let events = collect(&hub, |e| e.len() >= 3);
        // `head` is offered to `'data'` listeners first.
        assert!(matches!(&events[0].body, EventBody::Data(data) if data.len() == 8));
        let events = &events[1..];
        assert!(
            matches!(&events[0].body, EventBody::Message { binary: false, data } if data[0] == "hi")
        );
        assert!(matches!(&events[1].body, EventBody::Ping(_)));
        let command = Command::Frame(OutFrame {
            data: Bytes::from_static(b"hi"),
            opcode: 1,
            fin: true,
            rsv1: false,
            compress: false,
            mask: Mask::None,
        });
        assert!(handle.command(command));
        assert!(handle.command(Command::End));
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        // 101 preamble, the automatic pong, then the echo.
        assert_eq!(got, b"HTTP\x8a\x00\x81\x02hi");
        drop(client);
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        let kinds: Vec<_> = events.iter().map(|e| std::mem::discriminant(&e.body)).collect();
        assert!(kinds.contains(&std::mem::discriminant(&EventBody::Written(0))));
        assert!(kinds.contains(&std::mem::discriminant(&EventBody::Finish)));
        assert!(kinds.contains(&std::mem::discriminant(&EventBody::End)));
    }

    #[test]
    fn destroy_closes_the_connection() {
        let hub = hub();
        let (mut client, server) = pair();
        let handle = adopt(
            Arc::clone(&hub),
            1,
            server.as_raw_fd(),
            false,
            vec![],
            vec![],
            ConnConfig::default(),
        )
        .unwrap();
        drop(server);
        handle.destroy();
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Closed)));
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got);
        assert!(got.is_empty());
        assert!(!handle.command(Command::End));
    }

    #[test]
    fn a_protocol_error_is_reported_once() {
        let hub = hub();
        let (mut client, server) = pair();
        let config = ConnConfig {
            receiver: ReceiverConfig { is_server: true, ..ReceiverConfig::default() },
            ..ConnConfig::default()
        };
        let _handle =
            adopt(Arc::clone(&hub), 1, server.as_raw_fd(), false, vec![], vec![], config).unwrap();
        drop(server);
        // Unmasked frame to a server: "MASK must be set".
        client.write_all(&[0x81, 0x00, 0x81, 0x00]).unwrap();
        let events = Mutex::new(collect(&hub, |e| !e.is_empty()));
        let events = events.lock().unwrap();
        assert!(
            matches!(events[0].body, EventBody::Protocol(err) if err.code() == "WS_ERR_EXPECTED_MASK")
        );
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn mask_keys_differ() {
        let mut keys = MaskKeys::new();
        let a = keys.next_key();
        let b = keys.next_key();
        let c = keys.next_key();
        assert!(a != b || b != c);
    }
}
