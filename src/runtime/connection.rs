//! One adopted connection: a task on the shared runtime that reads, parses, validates and
//! inflates what the peer sends and writes what the JS thread cannot write at once. Every
//! outcome becomes an [`Event`] on the environment's [`Hub`].
//!
//! Writes: the caller's thread (JS, or the reader for an automatic pong) frames and writes
//! straight to the descriptor while the connection's [`Outbox`] is idle, so a reply costs no
//! thread hop; whatever the kernel does not take at once, compressed frames and everything
//! queued behind them go to the task, which writes them in order with `writev`.
//!
//! The socket lifecycle mirrors a Node `net.Socket` (which the JS facade stands in for):
//! `End` when the peer's FIN arrives, `Finish` once our side is shut down after everything
//! queued was written, an `Io` error then teardown on a read or write failure, and `Closed`
//! (the descriptor dropped) when both sides are done or `destroy()` was called.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::BuildHasher;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::queue::{
    Deferred, Event, EventBody, Hub, Owner, Settled, Shared, AFTER_POLLS, BACKLOG_HIGH_WATER_MARK,
};
use super::runtime;
use crate::protocol::deflate::{DeflateConfig, Deflater, InflateConfig, Inflater};
use crate::protocol::frame::{self, OPCODE_CLOSE, OPCODE_PONG};
use crate::protocol::receiver::{Event as Parsed, Receiver, ReceiverConfig};
use crate::sync::lock;

/// Bytes asked of the kernel per read (ws reads 64 KiB chunks too, Node's default).
const READ_CHUNK: usize = 64 * 1024;

/// At most this many buffers per `writev` (well under `IOV_MAX`).
const MAX_IOVECS: usize = 64;

/// A compressor or decompressor unused this long frees its zlib state, keeping its last
/// window as a dictionary (`Deflater::compact`), as `lib/permessage-deflate.js` does.
const COMPACT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

thread_local! {
    /// The read buffer of a runtime thread, shared by every connection it serves: a
    /// connection holds no read buffer of its own while idle (the parser keeps only the
    /// bytes of an incomplete frame).
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

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
    /// The adopting thread reads the connection (see [`adopt`]).
    pub js_reads: bool,
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
pub struct OutFrame<'a> {
    /// The payload.
    pub data: &'a [u8],
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

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The connection is gone; nothing was written.
    Gone,
    /// Queued: a later `Written` event counts it.
    Queued,
    /// In the kernel already (or dropped after our close frame, as ws drops it): no event
    /// follows for it.
    Written,
}

/// A compressed frame waiting for the task, which owns the deflater.
#[derive(Debug)]
struct Compress {
    data: Bytes,
    opcode: u8,
    fin: bool,
    rsv1: bool,
    mask: Mask,
}

/// Memory of a JS Buffer that JS keeps alive until the write holding it is reported written
/// or the connection closed (`lib/native-socket.js` keeps the Buffer in its pending writes
/// until then, and the task touches queued bytes only before it reports them written or
/// closed): a write the kernel does not take at once is queued without a copy, as a
/// `net.Socket` queues the caller's Buffer.
struct Pinned {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the memory is not freed or moved while the task can read it (see above), and it is
// only read.
unsafe impl Send for Pinned {}

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is the live, unmoved Buffer memory described above.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Work queued for the task, in write order.
#[derive(Debug)]
enum Item {
    /// Framed bytes; `count` JS writes complete once they are written.
    Ready(Bytes, u32),
    /// A frame to deflate and frame (one JS write).
    Compress(Compress),
    /// Shut down our side once everything before it is written (`socket.end()`).
    End,
}

/// The write side's shared state; the JS thread, the reader and the task each lock it for a
/// moment (never across an `await` or a deflate).
#[derive(Debug)]
struct OutState {
    items: VecDeque<Item>,
    /// The 101 response and the first frames wait for `uncork()`.
    corked: bool,
    /// The task owns the descriptor's write side: it took items and has not finished them.
    busy: bool,
    /// `end()` was queued: later writes are dropped.
    ending: bool,
    /// Our close frame is queued or written: later frames are dropped (RFC 6455 §5.5.1).
    close_sent: bool,
    /// The descriptor is closed or about to be: nobody may write to it any more.
    closed: bool,
    /// The peer ended its side: compressions not started yet wait for JS's `end()`, which
    /// fails them as ws fails the messages still compressing when its socket ends.
    read_ended: bool,
    /// `end()` found nothing to write and shut our side down itself: the task's write side
    /// is done.
    finished: bool,
    /// That `end()` came after the peer's EOF and queued `Closed` itself: closing the
    /// descriptor is all that is left, and queues nothing.
    closed_reported: bool,
    /// Nudges (`transportNudge()`) the task answers once it has read what was readable when
    /// they were asked.
    nudges: u32,
    /// Nudges asked during a poll with nothing to read: answered when that poll ends.
    nudges_after_poll: u32,
    /// The task is being polled.
    polling: bool,
    keys: MaskKeys,
}

/// The write side of a connection, shared by its [`Handle`], its reader and its task.
#[derive(Debug)]
struct Outbox {
    state: Mutex<OutState>,
    /// Its task is woken through it.
    shared: Shared,
    /// Where the JS thread reports an `end()` it completed itself.
    hub: Arc<Hub>,
    id: u32,
    fd: RawFd,
    config: ConnConfig,
}

impl Owner for Outbox {
    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Outbox {
    /// Writes framed bytes: straight to the descriptor when nothing is ahead of them and
    /// `now`, the rest (what the kernel did not take) through the task. With `pinned`, the
    /// last part is JS memory kept alive for the write ([`Pinned`]): it is queued uncopied.
    fn write(&self, parts: &[&[u8]], count: u32, now: bool, pinned: bool) -> Sent {
        let mut state = lock(&self.state);
        if state.closed {
            return Sent::Gone;
        }
        if state.ending {
            return Sent::Written;
        }
        let mut done = 0;
        if now && !state.busy && !state.corked && state.items.is_empty() {
            done = write_fd(self.fd, parts);
        }
        let total: usize = parts.iter().map(|part| part.len()).sum();
        if done == total {
            return Sent::Written;
        }
        let (copied, last) = match parts.split_last() {
            Some((last, before)) if pinned => (before, Some(*last)),
            _ => (parts, None),
        };
        let mut rest = Vec::new();
        let mut skip = done;
        for part in copied {
            let start = skip.min(part.len());
            rest.extend_from_slice(&part[start..]);
            skip -= start;
        }
        match last {
            Some(last) => {
                if !rest.is_empty() {
                    state.items.push_back(Item::Ready(Bytes::from(rest), 0));
                }
                let last = &last[skip.min(last.len())..];
                let pinned = Pinned { ptr: last.as_ptr(), len: last.len() };
                state.items.push_back(Item::Ready(Bytes::from_owner(pinned), count));
            }
            None => state.items.push_back(Item::Ready(Bytes::from(rest), count)),
        }
        self.wake_writer(&state);
        Sent::Queued
    }

    /// Frames and writes `frame` (see [`Outbox::write`]); a compressed one goes to the task.
    fn send(&self, frame: &OutFrame<'_>, count: u32, pinned: bool) -> Sent {
        let key = {
            let mut state = lock(&self.state);
            if state.closed {
                return Sent::Gone;
            }
            if state.close_sent || state.ending {
                return Sent::Written;
            }
            if frame.opcode == OPCODE_CLOSE {
                state.close_sent = true;
            }
            if frame.compress {
                state.items.push_back(Item::Compress(Compress {
                    data: Bytes::copy_from_slice(frame.data),
                    opcode: frame.opcode,
                    fin: frame.fin,
                    rsv1: frame.rsv1,
                    mask: frame.mask,
                }));
                self.wake_writer(&state);
                return Sent::Queued;
            }
            match frame.mask {
                Mask::None => None,
                Mask::Random => Some(state.keys.next_key()),
                Mask::Key(key) => Some(key),
            }
        };
        // The state is unlocked while framing: another thread may queue in between, which
        // `write()` sees (the order between two threads' frames is theirs to decide).
        if key.is_some() {
            let encoded = frame::encode_frame(frame.data, frame.opcode, frame.fin, frame.rsv1, key);
            self.write(&[&encoded], count, true, false)
        } else {
            let header = frame::encode_header(
                frame.data.len() as u64,
                frame.opcode,
                frame.fin,
                frame.rsv1,
                None,
            );
            self.write(&[&header, frame.data], count, true, pinned)
        }
    }

    /// Queues `end()`.
    fn end(&self) -> Option<u32> {
        let mut state = lock(&self.state);
        if state.closed {
            return None;
        }
        let mut dropped = 0;
        if !state.ending {
            // A message the runtime has not started to compress is dropped, with everything
            // queued behind it, as ws fails the messages still being compressed when its
            // socket ends.
            if let Some(first) =
                state.items.iter().position(|item| matches!(item, Item::Compress(_)))
            {
                for item in state.items.drain(first..) {
                    dropped += match item {
                        Item::Ready(_, count) => count,
                        Item::Compress(_) => 1,
                        Item::End => 0,
                    };
                }
            }
            state.ending = true;
            if self.idle(&state) && shutdown_write(self.fd).is_ok() {
                // Nothing to wait for: done here. A task waiting for this to close (the peer
                // ended already) is woken, or, deferred, closes here.
                state.finished = true;
                self.hub.push(Event::new(self.id, EventBody::Finish));
                if self.shared.read_done.load(Ordering::Acquire) {
                    // Both sides are done and nothing more can happen to the connection: JS
                    // hears `Closed` now, as a Node socket closes right after its shutdown,
                    // not once the runtime thread holding the descriptor has woken to drop it.
                    state.closed_reported = true;
                    self.hub.push(Event::new(self.id, EventBody::Closed));
                }
                drop(state);
                self.shared.wake_task();
            } else {
                state.items.push_back(Item::End);
                self.wake_writer(&state);
            }
        }
        Some(dropped)
    }

    /// Lets the writer start. What was queued meanwhile (the 101 response, and the frames sent
    /// in the `'connection'` listener) is written at once, in one `writev`, when it is all
    /// framed already: the task is then not needed.
    fn uncork(&self) {
        let mut state = lock(&self.state);
        state.corked = false;
        let framed = state.items.iter().all(|item| matches!(item, Item::Ready(..)));
        if state.items.is_empty() || state.busy || state.closed || !framed {
            self.wake_writer(&state);
            return;
        }
        let mut done = {
            let parts: Vec<&[u8]> = state
                .items
                .iter()
                .filter_map(|item| match item {
                    Item::Ready(bytes, _) => Some(&bytes[..]),
                    _ => None,
                })
                .collect();
            write_fd(self.fd, &parts)
        };
        let mut written = 0;
        while let Some(Item::Ready(bytes, count)) = state.items.front_mut() {
            if done < bytes.len() {
                *bytes = bytes.slice(done..);
                break;
            }
            done -= bytes.len();
            written += *count;
            state.items.pop_front();
        }
        if written > 0 {
            self.hub.push(Event::new(self.id, EventBody::Written(written)));
        }
        if state.items.is_empty() {
            // Its room would otherwise stay with an idle connection for good (192 bytes).
            state.items = VecDeque::new();
        }
        self.wake_writer(&state);
    }

    /// Nothing is queued and the task is not writing: the JS thread may use the descriptor's
    /// write side itself.
    fn idle(&self, state: &OutState) -> bool {
        !state.busy && !state.corked && !state.closed && state.items.is_empty()
    }

    /// `end()` completed on the JS thread (see [`Outbox::end`]).
    fn finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// Wakes the task when it has work it is not doing yet.
    fn wake_writer(&self, state: &OutState) {
        if Self::has_work(state) {
            self.shared.start_task();
        }
    }

    /// Something is queued for the task to write, and it is not writing.
    fn has_work(state: &OutState) -> bool {
        !state.busy && !state.corked && !state.items.is_empty()
    }

    /// The task's next batch, or `None` (and the write side idle) when there is none.
    fn take(&self) -> Option<VecDeque<Item>> {
        let mut state = lock(&self.state);
        let ready = if state.read_ended {
            // ws handles the peer's FIN before a compression it queued completes (zlib's
            // callback needs another turn of the event loop): start none once it was read.
            state.items.iter().position(|item| matches!(item, Item::Compress(_)))
        } else {
            None
        }
        .unwrap_or(state.items.len());
        if state.corked || ready == 0 || state.closed {
            state.busy = false;
            return None;
        }
        state.busy = true;
        let rest = state.items.split_off(ready);
        Some(std::mem::replace(&mut state.items, rest))
    }

    /// The peer ended its side.
    fn read_ended(&self) {
        lock(&self.state).read_ended = true;
    }

    /// Marks the descriptor closed and returns what was still queued, and whether `Closed`
    /// is still to be queued. Nudges still asked are answered.
    fn close(&self) -> (VecDeque<Item>, bool) {
        let mut state = lock(&self.state);
        state.closed = true;
        let nudges = std::mem::take(&mut state.nudges);
        self.answer(nudges + std::mem::take(&mut state.nudges_after_poll));
        (std::mem::take(&mut state.items), !state.closed_reported)
    }

    /// Asks the task for a nudge when the peer sent something not read yet (bytes or its FIN):
    /// a poll that starts after this answers it, having read that, as the socket is read in
    /// the turns of Node's event loop that pass while zlib works for ws; with nothing unread
    /// while the task is being polled, that poll answers it as it ends. Returns false when the
    /// caller answers it itself (no poll under way and nothing to read first, reading is
    /// over, or the JS thread reads the connection).
    fn nudge(&self) -> bool {
        let mut state = lock(&self.state);
        if self.config.js_reads || state.closed {
            return false;
        }
        // Under the lock, `closed` is false only while the descriptor is open.
        if !state.read_ended && readable(self.fd) {
            state.nudges += 1;
            drop(state);
            self.shared.wake_task();
            return true;
        }
        // A poll under way may be about to queue what it read (a message, the peer's EOF).
        if state.polling {
            state.nudges_after_poll += 1;
            return true;
        }
        false
    }

    /// A poll of the task starts: returns the nudges it is to answer when it ends (those asked
    /// before it read anything).
    fn start_poll(&self) -> u32 {
        let mut state = lock(&self.state);
        state.polling = true;
        state.nudges
    }

    /// A poll of the task ends: answers the `asked` nudges it read for (later ones wait for
    /// the next poll, which their `wake_task()` brings) and those asked during it with
    /// nothing to read.
    fn end_poll(&self, asked: u32) {
        let mut state = lock(&self.state);
        state.polling = false;
        // `close()` answered them all already if it ran.
        let answered = asked.min(state.nudges);
        state.nudges -= answered;
        let answered = answered + std::mem::take(&mut state.nudges_after_poll);
        drop(state);
        self.answer(answered);
    }

    /// Queues `count` nudges.
    fn answer(&self, count: u32) {
        for _ in 0..count {
            self.hub.push(Event::new(self.id, EventBody::Nudge));
        }
    }
}

/// The JS thread's handle on a connection task.
#[derive(Debug)]
pub struct Handle {
    outbox: Arc<Outbox>,
}

impl Handle {
    /// Frames and writes (or queues) a frame.
    ///
    /// # Safety
    /// With `pinned`, `frame.data` must stay valid and unchanged until this write is reported
    /// written or the connection's `Closed` event is drained ([`Pinned`]).
    pub unsafe fn send(&self, frame: &OutFrame<'_>, pinned: bool) -> Sent {
        if self.outbox.shared.destroyed.load(Ordering::Acquire) {
            return Sent::Gone;
        }
        self.outbox.send(frame, 1, pinned)
    }

    /// Writes (or queues) bytes that are `count` JS writes: raw `ws._socket.write()` data or
    /// frames JS framed itself. Unless `now`, they go through the task even when the
    /// connection is idle (the caller has many connections to write to: the runtime's
    /// threads write them while JS goes on).
    ///
    /// # Safety
    /// With `pinned`, as for [`Handle::send`].
    pub unsafe fn write(&self, data: &[u8], count: u32, now: bool, pinned: bool) -> Sent {
        if self.outbox.shared.destroyed.load(Ordering::Acquire) {
            return Sent::Gone;
        }
        self.outbox.write(&[data], count, now, pinned)
    }

    /// Shuts down our side once everything queued is written, dropping the messages not
    /// compressed yet and what is queued behind them; returns how many JS writes were
    /// dropped (the last ones), `None` once the connection is gone.
    pub fn end(&self) -> Option<u32> {
        if self.outbox.shared.destroyed.load(Ordering::Acquire) {
            return None;
        }
        self.outbox.end()
    }

    /// Stops reading, after `PAUSED_READ_LIMIT` more bytes (TCP backpressure then reaches
    /// the peer).
    pub fn pause(&self) {
        self.outbox.shared.paused_read.store(0, Ordering::Release);
        self.outbox.shared.paused.store(true, Ordering::Release);
    }

    /// Restarts reading.
    pub fn resume(&self) {
        self.outbox.shared.paused.store(false, Ordering::Release);
        self.outbox.shared.wake_task();
    }

    /// Drops what is queued and not written yet (the 101 response of a connection that could
    /// not be taken over), before [`Handle::destroy`].
    pub fn discard(&self) {
        lock(&self.outbox.state).items.clear();
    }

    /// Drops the socket now (`socket.destroy()`); `Closed` follows.
    pub fn destroy(&self) {
        self.outbox.shared.destroyed.store(true, Ordering::Release);
        self.outbox.shared.wake_task();
    }

    /// Lets the writer start. A connection starts corked so that the 101 response and the
    /// frames sent in the `'connection'` (or `'open'`) listener leave in one `writev`, as they
    /// reach the kernel in one go with the Node transport, and the peer reads them together.
    pub fn uncork(&self) {
        self.outbox.uncork();
    }

    /// Drops the socket with a TCP RST (`socket.resetAndDestroy()`).
    pub fn reset(&self) {
        self.outbox.shared.reset.store(true, Ordering::Release);
        self.destroy();
    }

    /// Asks for a nudge answered after what the peer sent by now is read (see
    /// [`Outbox::nudge`]); false when the caller is to answer it.
    pub fn nudge(&self) -> bool {
        self.outbox.nudge()
    }

    /// Parses `data` as if it had been read from the socket (`socket.push()`).
    pub fn inject(&self, data: Bytes) -> bool {
        if self.outbox.shared.destroyed.load(Ordering::Acquire) {
            return false;
        }
        lock(&self.outbox.shared.injected).push(data);
        self.outbox.shared.wake_task();
        true
    }

    /// Turns on or off `Data` events (a copy of every chunk read, for `'data'` listeners).
    pub fn tap(&self, on: bool) {
        self.outbox.shared.tap.store(on, Ordering::Release);
    }
}

/// An adopted socket.
enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    /// A socket the JS thread reads: the task only ever waits to write to it, and it is
    /// registered with the runtime only once its task runs ([`Stream::register`]), so a
    /// short-lived connection that never needs its task never touches the runtime.
    Writer(AsyncFd<Unowned>),
    /// A [`Stream::Writer`] not registered yet.
    Unregistered(RawFd),
}

/// A descriptor its [`Descriptor`] owns, as [`AsyncFd`] wants it.
struct Unowned(RawFd);

impl AsRawFd for Unowned {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Stream {
    fn raw_fd(&self) -> RawFd {
        match self {
            Self::Tcp(stream) => stream.as_raw_fd(),
            Self::Unix(stream) => stream.as_raw_fd(),
            Self::Writer(fd) => fd.get_ref().0,
            Self::Unregistered(fd) => *fd,
        }
    }

    /// Registers a [`Stream::Unregistered`] with the runtime (on the task's first poll).
    fn register(&mut self) -> io::Result<()> {
        if let Self::Unregistered(fd) = *self {
            // Writability only: the JS thread reads it. (Readability too woke a runtime thread
            // per incoming message for nothing; on the 2-vCPU VM that moved where the
            // scheduler ran threads, not the work done: docs/benchmarks.md, "A.16k".)
            // SAFETY: the descriptor stays open while the `AsyncFd` lives: its `Descriptor`
            // closes it only after `release()` dropped the `AsyncFd` (or `into_inner()`).
            let registered =
                unsafe { AsyncFd::register_with_interest(Unowned(fd), Interest::WRITABLE) };
            *self = Self::Writer(registered.map_err(|err| err.into_parts().1)?);
        }
        Ok(())
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(stream) => stream.poll_read_ready(cx),
            Self::Unix(stream) => stream.poll_read_ready(cx),
            // Never read by the task.
            Self::Writer(_) | Self::Unregistered(_) => Poll::Pending,
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(stream) => stream.poll_write_ready(cx),
            Self::Unix(stream) => stream.poll_write_ready(cx),
            // The caller writes until the kernel says "would block", then waits here: the
            // readiness seen is cleared, so that the next wait is for a new edge.
            Self::Writer(fd) => fd.poll_write_ready(cx).map_ok(|mut guard| guard.clear_ready()),
            Self::Unregistered(_) => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(stream) => stream.try_read(buf),
            Self::Unix(stream) => stream.try_read(buf),
            Self::Writer(_) | Self::Unregistered(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        use std::io::Write;

        match self {
            Self::Tcp(stream) => stream.try_write_vectored(bufs),
            Self::Unix(stream) => stream.try_write_vectored(bufs),
            Self::Writer(_) | Self::Unregistered(_) => {
                with_fd(self.raw_fd(), |mut socket| socket.write_vectored(bufs))
            }
        }
    }

    /// `shutdown(SHUT_WR)`: the peer reads EOF once everything written arrived.
    fn shutdown_write(&self) -> io::Result<()> {
        shutdown_write(self.raw_fd())
    }

    /// Lets go of the descriptor (its [`Descriptor`] closes it): with `reset` the close sends
    /// a RST (`SO_LINGER` 0) rather than a FIN, as `resetAndDestroy()`.
    fn release(self, reset: bool, descriptor: &Descriptor) {
        if reset {
            // Best effort: the socket is being closed anyway.
            let _ = set_zero_linger(self.raw_fd());
        }
        // Leaves the runtime's reactor without closing the descriptor.
        let released = match self {
            Self::Tcp(stream) => stream.into_std().map(IntoRawFd::into_raw_fd),
            Self::Unix(stream) => stream.into_std().map(IntoRawFd::into_raw_fd),
            Self::Writer(fd) => Ok(fd.into_inner().0),
            Self::Unregistered(fd) => Ok(fd),
        };
        if released.is_err() {
            // tokio closed it while failing to deregister it.
            descriptor.closed.store(true, Ordering::Release);
        }
    }
}

/// The adopted descriptor, shared by the task and the JS-thread reader: closed when the last
/// of them lets go, so that neither closes a descriptor the other still uses (its number could
/// be reused at once).
#[derive(Debug)]
pub struct Descriptor {
    fd: RawFd,
    /// Closed already (see [`Stream::release`]).
    closed: std::sync::atomic::AtomicBool,
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            // SAFETY: this descriptor is ours (a `dup()`), and closed only here.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// Runs `f` on a `std` socket over `fd` that does not close it. `writev` and `shutdown` on a
/// stream socket work the same for TCP and Unix sockets.
fn with_fd<T>(fd: RawFd, f: impl FnOnce(&std::net::TcpStream) -> T) -> T {
    // SAFETY: the caller holds `fd` open for the whole call (the task closes it only after
    // marking the outbox closed, under the lock every writer holds); `ManuallyDrop` keeps this
    // temporary `TcpStream` from closing it.
    let socket = std::mem::ManuallyDrop::new(unsafe {
        <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    f(&socket)
}

/// `SO_LINGER` 0, so that closing `fd` sends a RST (`resetAndDestroy()`); a Unix socket
/// refuses it, which is fine: there is nothing to reset.
pub(crate) fn set_zero_linger(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `fd` is open for this call (see `with_fd`); `linger` outlives it.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads from the descriptor itself, whatever the runtime's readiness says.
fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;

    with_fd(fd, |mut socket| socket.read(buf))
}

/// The descriptor has something to read (bytes, EOF or an error), now.
fn readable(fd: RawFd) -> bool {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut poll, 1, 0) > 0 && poll.revents != 0 }
}

/// `shutdown(SHUT_WR)` on a stream socket.
fn shutdown_write(fd: RawFd) -> io::Result<()> {
    with_fd(fd, |socket| socket.shutdown(std::net::Shutdown::Write))
}

/// Writes as much of `parts` as the kernel takes now, without waiting; returns the bytes
/// written (errors count as nothing written: the task meets them again and reports them). It
/// writes to the descriptor itself: tokio's readiness cache says "not writable" until its
/// driver has polled a newly adopted socket.
fn write_fd(fd: RawFd, parts: &[&[u8]]) -> usize {
    use std::io::Write;

    let total: usize = parts.iter().map(|part| part.len()).sum();
    let mut done = 0;
    with_fd(fd, |mut socket| {
        while done < total {
            // On the stack: this runs for every reply written at once.
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let (mut count, mut skip) = (0, done);
            for part in parts {
                let start = skip.min(part.len());
                skip -= start;
                if start < part.len() && count < MAX_IOVECS {
                    slices[count] = IoSlice::new(&part[start..]);
                    count += 1;
                }
            }
            match socket.write_vectored(&slices[..count]) {
                Ok(n) if n > 0 => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
    });
    done
}

/// Duplicates `fd` and registers the copy with the runtime, so that the caller can close its
/// own descriptor without closing the connection (RESEARCH.md §3c).
fn duplicate(fd: RawFd, unix: bool, js_reads: bool) -> io::Result<(Stream, Arc<Descriptor>)> {
    if fd < 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid file descriptor"));
    }
    // SAFETY: the caller (the JS thread, synchronously) holds `fd` open for this call; the
    // borrow ends with the `dup()`.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    let rt = runtime().map_err(io::Error::other)?;
    let _context = rt.enter();
    let stream = if unix {
        let stream = std::os::unix::net::UnixStream::from(owned);
        stream.set_nonblocking(true)?;
        if js_reads {
            Stream::Unregistered(stream.into_raw_fd())
        } else {
            Stream::Unix(tokio::net::UnixStream::from_std(stream)?)
        }
    } else {
        let stream = std::net::TcpStream::from(owned);
        stream.set_nonblocking(true)?;
        // ws calls `socket.setNoDelay()` on every connection.
        stream.set_nodelay(true)?;
        if js_reads {
            Stream::Unregistered(stream.into_raw_fd())
        } else {
            Stream::Tcp(tokio::net::TcpStream::from_std(stream)?)
        }
    };
    Ok(described(stream))
}

/// The [`Descriptor`] of a stream: from here the stream is only ever released
/// ([`Stream::release`]), never dropped closed.
fn described(stream: Stream) -> (Stream, Arc<Descriptor>) {
    let descriptor = Arc::new(Descriptor {
        fd: stream.raw_fd(),
        closed: std::sync::atomic::AtomicBool::new(false),
    });
    (stream, descriptor)
}

/// Takes over the connection behind `fd` (a TCP socket, or a Unix one when `unix`) as
/// connection `id`: `head` is parsed before anything read from the socket, and `preamble`
/// (the server's 101 response) is written before any frame, once the connection is uncorked
/// ([`Handle::uncork`]). With `config.js_reads`, the caller's thread reads the connection
/// through the returned [`Reader`] (the task only writes): an incoming message then wakes one
/// thread, not a runtime thread and then the JS thread.
pub fn adopt(
    hub: Arc<Hub>,
    id: u32,
    fd: RawFd,
    unix: bool,
    head: &[u8],
    preamble: &[u8],
    config: ConnConfig,
) -> io::Result<(Handle, Option<Reader>)> {
    let (stream, descriptor) = duplicate(fd, unix, config.js_reads)?;
    start(hub, id, stream, descriptor, head, preamble, config)
}

/// Takes over a connection the runtime accepted and read the request head of (see
/// [`crate::runtime::listener`]) as connection `id`, as [`adopt`] does.
pub fn accept(
    hub: Arc<Hub>,
    id: u32,
    stream: tokio::net::TcpStream,
    head: &[u8],
    preamble: &[u8],
    config: ConnConfig,
) -> io::Result<(Handle, Option<Reader>)> {
    // ws calls `socket.setNoDelay()` on every connection. Best effort: a client that went
    // away while JS decided fails its first read instead.
    let _ = stream.set_nodelay(true);
    let stream = if config.js_reads {
        Stream::Unregistered(stream.into_std()?.into_raw_fd())
    } else {
        Stream::Tcp(stream)
    };
    let (stream, descriptor) = described(stream);
    start(hub, id, stream, descriptor, head, preamble, config)
}

/// Starts the task of a connection taken over (see [`adopt`]).
fn start(
    hub: Arc<Hub>,
    id: u32,
    stream: Stream,
    descriptor: Arc<Descriptor>,
    head: &[u8],
    preamble: &[u8],
    config: ConnConfig,
) -> io::Result<(Handle, Option<Reader>)> {
    let rt = runtime().map_err(io::Error::other)?;
    let mut items = VecDeque::new();
    if !preamble.is_empty() {
        items.push_back(Item::Ready(Bytes::copy_from_slice(preamble), 0));
    }
    let outbox = Arc::new(Outbox {
        state: Mutex::new(OutState {
            items,
            corked: true,
            busy: false,
            ending: false,
            close_sent: false,
            closed: false,
            read_ended: false,
            finished: false,
            closed_reported: false,
            nudges: 0,
            nudges_after_poll: 0,
            polling: false,
            keys: MaskKeys::new(),
        }),
        shared: Shared::default(),
        hub,
        id,
        fd: stream.raw_fd(),
        config,
    });
    let task = Task { outbox: Arc::clone(&outbox) };
    // `head` is parsed here, on the caller's thread, so its events are queued before this
    // returns (ws parses it on the next tick, before anything else is read).
    let mut parser = None;
    // Node emits `head` as `'data'` too (ws unshifts it), to listeners added in the tick of
    // the upgrade: always offer it.
    if !head.is_empty() {
        task.emit(EventBody::Data(Bytes::copy_from_slice(head)));
    }
    task.parse(&mut parser, head, false);
    // The parser goes with whoever reads.
    if config.js_reads {
        let reader = Reader {
            task: Task { outbox: Arc::clone(&outbox) },
            parser,
            descriptor: Arc::clone(&descriptor),
        };
        outbox.shared.defer(Unspawned { task, descriptor: Some(descriptor), built: None });
        return Ok((Handle { outbox }, Some(reader)));
    }
    rt.spawn(Connection::new(task, Some(stream), Some(descriptor), parser));
    Ok((Handle { outbox }, None))
}

/// The task of a connection the JS thread reads, while it is deferred (see
/// [`Shared::defer`]): what building it takes, until it is spawned or closes. Such a
/// connection usually never needs its task (about 0.2 KiB).
struct Unspawned {
    task: Task,
    /// Moved into the task when it is built.
    descriptor: Option<Arc<Descriptor>>,
    built: Option<Box<Connection>>,
}

impl Unspawned {
    fn built(&mut self) -> &mut Connection {
        let (task, descriptor) = (&self.task, &mut self.descriptor);
        self.built.get_or_insert_with(|| {
            let task = Task { outbox: Arc::clone(&task.outbox) };
            let descriptor = descriptor.take();
            let stream = descriptor.as_ref().map(|descriptor| Stream::Unregistered(descriptor.fd));
            let mut connection = Connection::new(task, stream, descriptor, None);
            // The JS thread reads it.
            connection.reading = false;
            Box::new(connection)
        })
    }
}

impl Future for Unspawned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self.get_mut().built()).poll(cx)
    }
}

impl Deferred for Unspawned {
    fn settle(self: Pin<&mut Self>) -> Settled {
        let this = self.get_mut();
        let settled = match &this.built {
            Some(connection) => connection.settling(),
            None => settling(&this.task.outbox, false, false),
        };
        if settled == Settled::Done {
            let connection = this.built();
            let closed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| connection.close()));
            if closed.is_err() {
                connection.close_after_panic();
            }
        }
        settled
    }
}

/// What a connection task finds when asked to settle (see [`Deferred::settle`]): `Done` when
/// closing is all it has left to do (it was destroyed or failed, or both sides ended).
fn settling(outbox: &Outbox, failed: bool, reading: bool) -> Settled {
    let read_done = outbox.shared.read_done.load(Ordering::Acquire);
    if failed || outbox.shared.destroyed.load(Ordering::Acquire) || (outbox.finished() && read_done)
    {
        Settled::Done
    } else if reading || Outbox::has_work(&lock(&outbox.state)) {
        Settled::Run
    } else {
        Settled::Idle
    }
}

/// The per-connection state both halves share: all of it lives in the outbox, so that the
/// reader's and the task's copies are a pointer each.
struct Task {
    outbox: Arc<Outbox>,
}

/// What one read did (see [`Task::read_once`]).
enum ReadStep {
    /// Bytes came (or the read was interrupted): read again.
    Read,
    /// Fewer bytes came than there was room for: the socket is most likely empty now.
    ReadShort,
    /// Nothing to read now.
    WouldBlock,
    /// The peer ended its side; `End` is queued.
    Eof,
    /// A socket error, not reported yet.
    Failed(io::Error),
}

impl Task {
    /// Reads once with `read` into the thread's buffer and parses what came, counting it
    /// against a pause; on EOF, ends the reading side. With `pushed` (the connection's pushed
    /// bytes, locked), those are taken once the read is done and parsed first: a `push()`
    /// waiting for the lock returns after the read, so what the peer sends after it returned
    /// comes after what it pushed, as on a `net.Socket`, whose `push()` hands bytes on at once.
    fn read_once(
        &self,
        parser: &mut LazyParser,
        pushed: Option<MutexGuard<'_, Vec<Bytes>>>,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> ReadStep {
        let (result, room) = READ_BUFFER.with(|cell| {
            let mut buf = cell.borrow_mut();
            let result = read(&mut buf);
            if let Some(pushed) = pushed {
                self.parse_pushed(parser, pushed);
            }
            if let Ok(n) = result {
                self.chunk(parser, &buf[..n], true);
            }
            (result, buf.len())
        });
        match result {
            Ok(0) => {
                self.read_ended();
                ReadStep::Eof
            }
            Ok(n) => {
                if self.outbox.shared.paused.load(Ordering::Acquire) {
                    self.outbox.shared.paused_read.fetch_add(n, Ordering::AcqRel);
                }
                if n < room {
                    ReadStep::ReadShort
                } else {
                    ReadStep::Read
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => ReadStep::Read,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => ReadStep::WouldBlock,
            Err(err) => ReadStep::Failed(err),
        }
    }

    /// Takes the bytes JS pushed and parses them, unlocked (inflating may take a while).
    fn parse_pushed(&self, parser: &mut LazyParser, mut pushed: MutexGuard<'_, Vec<Bytes>>) {
        let taken = std::mem::take(&mut *pushed);
        drop(pushed);
        for data in taken {
            self.chunk(parser, &data, false);
        }
    }

    /// The peer ended its side: `End`, and the writer starts no more compressions.
    fn read_ended(&self) {
        self.outbox.read_ended();
        self.emit(EventBody::End);
        self.outbox.shared.read_done.store(true, Ordering::Release);
        self.outbox.shared.wake_task();
    }

    /// Queues an event.
    fn emit(&self, body: EventBody) {
        self.outbox.hub.push(Event::new(self.outbox.id, body));
    }

    /// Queues a socket error; the connection is torn down next, as Node does after
    /// `'error'`.
    fn report(&self, err: &io::Error, syscall: &'static str) {
        report(&self.outbox.hub, self.outbox.id, err, syscall);
    }

    /// Handles a chunk `read` from the descriptor (or pushed by JS): a copy for `'data'`
    /// listeners, then the parser.
    fn chunk(&self, parser: &mut LazyParser, data: &[u8], read: bool) {
        if data.is_empty() {
            return;
        }
        if self.outbox.shared.tap.load(Ordering::Acquire) {
            self.emit(EventBody::Data(Bytes::copy_from_slice(data)));
        }
        self.parse(parser, data, read);
    }

    /// Feeds a chunk to the parser, creating it on the first bytes.
    fn parse(&self, parser: &mut LazyParser, data: &[u8], read: bool) {
        if data.is_empty() {
            return;
        }
        let receiver = self.outbox.config.receiver;
        parser.get_or_insert_with(|| Box::new(Parser::new(receiver))).feed(self, data, read);
    }
}

/// A connection's task, written by hand: an async fn's state machine kept room for every
/// future it awaited (about 1 KiB more per idle connection). JS, the hub and the outbox wake
/// it through [`Shared::wake_task`]; each poll looks at everything again.
struct Connection {
    task: Task,
    /// Taken when the connection closes.
    stream: Option<Stream>,
    descriptor: Option<Arc<Descriptor>>,
    /// Unused when the JS thread reads the connection.
    parser: LazyParser,
    framer: Framer,
    /// Framed bytes taken from the outbox and not written yet: what `destroy()` interrupted
    /// still goes out when the connection closes.
    out: VecDeque<Bytes>,
    /// JS writes that `out` completes.
    written: u32,
    /// `out` ends with `end()`: shut our side down once it is written.
    end: bool,
    /// The halves still running: reading until EOF or an error, writing until `end()` is
    /// done or an error.
    reading: bool,
    writing: bool,
    /// A socket error was reported: close now.
    failed: bool,
    /// Polled before: the runtime's readiness of the socket is current.
    polled: bool,
    /// `Closed` is to be queued (see [`Connection::close_writing`]).
    closed_owed: bool,
    /// Idle timers of the inflater and the deflater, while they hold zlib state.
    read_idle: IdleTimer,
    write_idle: IdleTimer,
}

/// The error a connection fails with when handling it panicked (a bug).
fn panicked() -> io::Error {
    io::Error::other("ws-rs internal error (a panic): the connection was closed")
}

impl Future for Connection {
    type Output = ();

    /// A poll that panics (a bug) fails the connection as a socket error would: JS still gets
    /// `'error'` and `'close'`, and its nudges their answer.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.poll_connection(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                this.close_after_panic();
                Poll::Ready(())
            }
        }
    }
}

impl Connection {
    fn poll_connection(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let _polling = AFTER_POLLS.start();
        let this = self;
        #[cfg(test)]
        tests::panic_if_asked(this.task.outbox.id);
        this.task.outbox.shared.register(cx.waker());
        let asked = this.task.outbox.start_poll();
        if let Some(Err(err)) = this.stream.as_mut().map(Stream::register) {
            this.fail(&err, "write");
        }
        if this.reading && !this.killed() {
            // The first poll can come before the runtime saw the socket's readiness: what the
            // peer sent before (a FIN that stops compressions, say) is read before writing, as
            // for a nudge.
            let mut parser = this.parser.take();
            this.poll_read(cx, &mut parser, asked > 0 || !this.polled);
            this.parser = parser;
        }
        this.polled = true;
        if this.writing && this.task.outbox.finished() {
            this.writing = false;
        }
        if this.writing && !this.killed() {
            this.poll_write(cx);
        }
        let read_done = this.task.outbox.shared.read_done.load(Ordering::Acquire);
        let done = this.killed() || (!this.reading && !this.writing && read_done);
        if done {
            this.close();
        }
        this.task.outbox.end_poll(asked);
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A task dropped before it closed (the runtime going away) still lets go of the
        // descriptor without closing it under the reader.
        if let (Some(stream), Some(descriptor)) = (self.stream.take(), &self.descriptor) {
            stream.release(false, descriptor);
        }
    }
}

impl Connection {
    /// A connection task: the runtime reads `stream` with `parser` unless it has none (the JS
    /// thread reads it).
    fn new(
        task: Task,
        stream: Option<Stream>,
        descriptor: Option<Arc<Descriptor>>,
        parser: LazyParser,
    ) -> Self {
        let config = task.outbox.config.deflate;
        Self {
            task,
            stream,
            descriptor,
            parser,
            framer: Framer { deflater: None, config, keys: MaskKeys::new() },
            out: VecDeque::new(),
            written: 0,
            end: false,
            reading: true,
            writing: true,
            failed: false,
            polled: false,
            closed_owed: false,
            read_idle: None,
            write_idle: None,
        }
    }

    fn settling(&self) -> Settled {
        settling(&self.task.outbox, self.failed, self.reading)
    }
}

impl Connection {
    /// `destroy()` was called or a socket error was reported.
    fn killed(&self) -> bool {
        self.failed || self.task.outbox.shared.destroyed.load(Ordering::Acquire)
    }

    /// Reports a socket error and stops both halves.
    fn fail(&mut self, err: &io::Error, syscall: &'static str) {
        self.task.report(err, syscall);
        self.failed = true;
    }

    /// Reads until the socket has nothing more, EOF or an error, unless JS paused (once
    /// `PAUSED_READ_LIMIT` more bytes were read) or is behind.
    fn poll_read(&mut self, cx: &mut Context<'_>, parser: &mut LazyParser, nudged: bool) {
        let outbox = Arc::clone(&self.task.outbox);
        let shared = &outbox.shared;
        loop {
            if shared.read_paused()
                || shared.backlog.load(Ordering::Acquire) >= BACKLOG_HIGH_WATER_MARK
            {
                // `resume()` or the hub's drain wakes the task.
                return;
            }
            // Held until the read below is done (see `Task::read_once`).
            let pushed = lock(&shared.injected);
            if !pushed.is_empty() {
                self.read_idle = None;
            }
            let Some(stream) = &self.stream else { return };
            let ready = match stream.poll_read_ready(cx) {
                // A nudge waits for what was readable when it was asked, which the runtime's
                // readiness may not show yet: read the descriptor itself.
                Poll::Pending if nudged => false,
                Poll::Pending => {
                    self.task.parse_pushed(parser, pushed);
                    self.poll_read_idle(cx, parser);
                    return;
                }
                Poll::Ready(Err(err)) => {
                    self.task.parse_pushed(parser, pushed);
                    self.fail(&err, "read");
                    return;
                }
                Poll::Ready(Ok(())) => true,
            };
            let step = if ready {
                self.task.read_once(parser, Some(pushed), |buf| stream.try_read(buf))
            } else {
                self.task.read_once(parser, Some(pushed), |buf| read_fd(stream.raw_fd(), buf))
            };
            match step {
                ReadStep::Read | ReadStep::ReadShort => self.read_idle = None,
                // Readiness is cleared: the next poll waits.
                ReadStep::WouldBlock if ready => {}
                ReadStep::WouldBlock => {
                    self.poll_read_idle(cx, parser);
                    return;
                }
                ReadStep::Eof => {
                    self.reading = false;
                    return;
                }
                ReadStep::Failed(err) => {
                    self.fail(&err, "read");
                    return;
                }
            }
        }
    }

    /// Compacts the inflater once it has been idle for [`COMPACT_AFTER`].
    fn poll_read_idle(&mut self, cx: &mut Context<'_>, parser: &mut LazyParser) {
        let inflater = parser.as_mut().and_then(|parser| parser.inflater.as_mut());
        if !inflater.as_ref().is_some_and(|inflater| inflater.is_allocated()) {
            self.read_idle = None;
            return;
        }
        if poll_idle(&mut self.read_idle, cx) && inflater.is_some_and(|inflater| inflater.compact())
        {
            super::memory::release_free_memory();
        }
    }

    /// Writes what the outbox queued, a batch per `writev`, until `end()` is done or an
    /// error.
    fn poll_write(&mut self, cx: &mut Context<'_>) {
        loop {
            if self.out.is_empty() && !self.end {
                let Some(items) = self.task.outbox.take() else {
                    self.poll_write_idle(cx);
                    return;
                };
                self.write_idle = None;
                for item in items {
                    self.framer.apply(item, &mut self.out, &mut self.written, &mut self.end);
                }
            }
            let Some(stream) = &self.stream else { return };
            while !self.out.is_empty() {
                let result = {
                    let slices: Vec<IoSlice<'_>> =
                        self.out.iter().take(MAX_IOVECS).map(|buf| IoSlice::new(buf)).collect();
                    stream.try_write_vectored(&slices)
                };
                match result {
                    Ok(0) => {
                        self.fail(&io::ErrorKind::WriteZero.into(), "write");
                        return;
                    }
                    Ok(n) => advance(&mut self.out, n),
                    // Tried before waiting: tokio's readiness says "not writable" until its
                    // driver has polled a newly adopted socket.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        match stream.poll_write_ready(cx) {
                            Poll::Pending => return,
                            Poll::Ready(Err(err)) => {
                                self.fail(&err, "write");
                                return;
                            }
                            Poll::Ready(Ok(())) => {}
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        self.fail(&err, "write");
                        return;
                    }
                }
            }
            if self.written > 0 {
                self.task.emit(EventBody::Written(std::mem::take(&mut self.written)));
            }
            if self.end {
                match stream.shutdown_write() {
                    Ok(()) => self.task.emit(EventBody::Finish),
                    Err(err) => self.fail(&err, "shutdown"),
                }
                self.writing = false;
                return;
            }
        }
    }

    /// Compacts the deflater once it has been idle for [`COMPACT_AFTER`].
    fn poll_write_idle(&mut self, cx: &mut Context<'_>) {
        let deflater = self.framer.deflater.as_mut();
        if !deflater.as_ref().is_some_and(|deflater| deflater.is_allocated()) {
            self.write_idle = None;
            return;
        }
        if poll_idle(&mut self.write_idle, cx)
            && deflater.is_some_and(|deflater| deflater.compact())
        {
            super::memory::release_free_memory();
        }
    }

    /// Closes the descriptor and queues `Closed`. Killed, it first writes what is queued
    /// without waiting, as Node's `socket.write()` tries the kernel at once, so that what
    /// was written before `destroy()` usually goes out.
    fn close(&mut self) {
        self.close_writing(true);
    }

    /// Handling the connection panicked (a bug): it fails as after a socket error, and closes
    /// without framing anything more (framing may be what panicked), so that JS still gets
    /// `'error'` and `'close'`, and its nudges their answer.
    fn close_after_panic(&mut self) {
        self.fail(&panicked(), "read");
        self.close_writing(false);
    }

    /// [`Connection::close`], writing what is queued if `write_left`. The stream goes back
    /// to its descriptor before anything is framed, and `Closed` is owed until it is queued,
    /// so that a panic while framing neither closes the descriptor twice nor loses `Closed`
    /// ([`Connection::close_after_panic`] queues it).
    fn close_writing(&mut self, write_left: bool) {
        let (left, report) = self.task.outbox.close();
        self.closed_owed |= report;
        if let (Some(stream), Some(descriptor)) = (self.stream.take(), self.descriptor.take()) {
            let fd = stream.raw_fd();
            stream.release(self.task.outbox.shared.reset.load(Ordering::Acquire), &descriptor);
            if write_left && self.killed() {
                let (mut written, mut end) = (0, false);
                for item in left {
                    self.framer.apply(item, &mut self.out, &mut written, &mut end);
                }
                let parts: Vec<&[u8]> = self.out.iter().map(|buf| &buf[..]).collect();
                // The descriptor keeps `fd` open until dropped.
                write_fd(fd, &parts);
            }
            // Closed here unless the JS thread still reads it (then when it stops).
            drop(descriptor);
        }
        self.task.outbox.shared.destroyed.store(true, Ordering::Release);
        if std::mem::take(&mut self.closed_owed) {
            self.task.outbox.hub.push(Event::new(self.task.outbox.id, EventBody::Closed));
        }
    }
}

/// The reading half of a connection read on the JS thread (see [`adopt`]): the caller
/// calls [`Reader::read`] whenever its descriptor is readable.
pub struct Reader {
    task: Task,
    parser: LazyParser,
    descriptor: Arc<Descriptor>,
}

/// What [`Reader::read`] left the connection in.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read all there was (or a turn's worth): call again once readable.
    More,
    /// Paused by JS, with `PAUSED_READ_LIMIT` bytes read since: call again after resuming.
    Paused,
    /// EOF, an error or the connection is gone: do not call again.
    Done,
}

/// The most read in one [`Reader::read`] call, so that a flooding peer leaves the event loop
/// its turns (the descriptor is still readable; the caller is called again).
const READS_PER_TURN: usize = 16;

impl Reader {
    /// The reader's descriptor, to watch for readability.
    pub fn raw_fd(&self) -> RawFd {
        self.descriptor.fd
    }

    /// Reads and parses what the socket has, queueing the events (the caller drains them).
    pub fn read(&mut self) -> ReadOutcome {
        let outbox = Arc::clone(&self.task.outbox);
        let shared = &outbox.shared;
        for _ in 0..READS_PER_TURN {
            if shared.destroyed.load(Ordering::Acquire) || shared.read_done.load(Ordering::Acquire)
            {
                return ReadOutcome::Done;
            }
            if shared.read_paused() {
                return ReadOutcome::Paused;
            }
            self.read_injected();
            let fd = self.descriptor.fd;
            match self.task.read_once(&mut self.parser, None, |buf| read_fd(fd, buf)) {
                ReadStep::Read => {}
                // As libuv does: the descriptor is watched level-triggered, so anything that
                // came meanwhile makes it readable again, and the read that would only say
                // "nothing more" (one syscall per message) is saved.
                ReadStep::ReadShort | ReadStep::WouldBlock => return ReadOutcome::More,
                ReadStep::Eof => return ReadOutcome::Done,
                ReadStep::Failed(err) => {
                    self.fail(&err);
                    return ReadOutcome::Done;
                }
            }
        }
        ReadOutcome::More
    }

    /// Reports a read error and tears the connection down, as after any socket error.
    fn fail(&self, err: &io::Error) {
        let shared = &self.task.outbox.shared;
        self.task.report(err, "read");
        shared.read_done.store(true, Ordering::Release);
        shared.destroyed.store(true, Ordering::Release);
        shared.wake_task();
    }

    /// A read panicked (a bug): the connection fails as after a read error, so that JS still
    /// gets `'error'` and `'close'` and the process goes on.
    pub fn abandon(&self) {
        self.fail(&panicked());
    }

    /// Parses what JS pushed (`socket.push()`).
    pub fn read_injected(&mut self) {
        self.task.parse_pushed(&mut self.parser, lock(&self.task.outbox.shared.injected));
    }
}

/// The reading half's protocol state, created on the first bytes read: an idle connection
/// does not carry it. Boxed: the connection task would otherwise hold it by value (it is the
/// largest part of the reading state).
type LazyParser = Option<Box<Parser>>;

/// The reading half's protocol state.
struct Parser {
    receiver: Receiver,
    /// Created on the first compressed message (zlib state is not free: RESEARCH.md §3f);
    /// boxed, so that a connection without one does not carry its room.
    inflater: Option<Box<Inflater>>,
    /// A protocol error was reported: the rest of the input is read and dropped, as ws keeps
    /// the socket flowing after a receiver error.
    done: bool,
    /// The peer's close frame arrived: no more automatic pongs.
    close_received: bool,
    /// The message being assembled came compressed.
    inflating: bool,
}

impl Parser {
    fn new(config: ReceiverConfig) -> Self {
        Self {
            receiver: Receiver::new(config),
            inflater: None,
            done: false,
            close_received: false,
            inflating: false,
        }
    }

    /// Parses a chunk and queues what it completes, then the chunk's size (JS accounts the
    /// receiver's buffered bytes per chunk, as ws's `Receiver` is a `Writable` written one
    /// socket chunk at a time).
    fn feed(&mut self, task: &Task, chunk: &[u8], read: bool) {
        if self.done || chunk.is_empty() {
            return;
        }
        // The chunk's events reach the queue together, so that JS sees a chunk whole.
        let mut events = Vec::new();
        self.parse(task, chunk, &mut events);
        events.push(Event::new(task.outbox.id, EventBody::Chunk { len: chunk.len(), read }));
        task.outbox.hub.push_all(events);
    }

    /// Parses a chunk and queues what it completes.
    fn parse(&mut self, task: &Task, chunk: &[u8], events: &mut Vec<Event>) {
        if let Err(err) = self.receiver.push(chunk) {
            self.done = true;
            events.push(Event::new(task.outbox.id, EventBody::Protocol(err)));
            return;
        }
        while let Some(outcome) = self.receiver.next() {
            let parsed = match outcome {
                Ok(parsed) => parsed,
                Err(err) => {
                    self.done = true;
                    events.push(Event::new(task.outbox.id, EventBody::Protocol(err)));
                    return;
                }
            };
            match parsed {
                Parsed::Message { binary, data } => {
                    let cost = data.iter().map(Bytes::len).sum();
                    let compressed = std::mem::take(&mut self.inflating);
                    let body = EventBody::Message { binary, compressed, data };
                    events.push(Event::with_cost(
                        task.outbox.id,
                        body,
                        Arc::clone(&task.outbox) as _,
                        cost,
                    ));
                }
                Parsed::Ping(data) => {
                    if task.outbox.config.auto_pong && !self.close_received {
                        let mask = if task.outbox.config.receiver.is_server {
                            Mask::None
                        } else {
                            Mask::Random
                        };
                        let pong = OutFrame {
                            data: &data,
                            opcode: OPCODE_PONG,
                            fin: true,
                            rsv1: false,
                            compress: false,
                            mask,
                        };
                        // Not a JS write: nothing to count. Gone or dropped after our
                        // close frame: nobody needs the pong.
                        task.outbox.send(&pong, 0, false);
                    }
                    events.push(Event::new(task.outbox.id, EventBody::Ping(data)));
                }
                Parsed::Pong(data) => {
                    events.push(Event::new(task.outbox.id, EventBody::Pong(data)))
                }
                Parsed::Close { code, reason } => {
                    self.close_received = true;
                    events.push(Event::new(task.outbox.id, EventBody::Close { code, reason }));
                }
                Parsed::Inflate { data, fin } => {
                    self.inflating = true;
                    let config = task.outbox.config.inflate.unwrap_or_default();
                    let inflater =
                        self.inflater.get_or_insert_with(|| Box::new(Inflater::new(config)));
                    match inflater.decompress(&data, fin) {
                        Ok(out) => self.receiver.push_inflated(Bytes::from(out), fin),
                        Err(err) => {
                            self.done = true;
                            events.push(Event::new(task.outbox.id, EventBody::Inflate(err)));
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The task's framing state: the deflater of our compressed messages.
struct Framer {
    /// Created on the first compressed message; boxed, as the inflater.
    deflater: Option<Box<Deflater>>,
    config: Option<DeflateConfig>,
    keys: MaskKeys,
}

impl Framer {
    /// Turns an item into buffers to write, counting the JS writes it completes.
    fn apply(&mut self, item: Item, out: &mut VecDeque<Bytes>, written: &mut u32, end: &mut bool) {
        match item {
            Item::Ready(data, count) => {
                *written += count;
                if !*end {
                    out.push_back(data);
                }
            }
            Item::Compress(frame) => {
                *written += 1;
                if !*end {
                    self.frame(frame, out);
                }
            }
            Item::End => *end = true,
        }
    }

    /// Deflates and frames one frame into `out`: one buffer when masked (copied and masked
    /// in one pass), else the header and the payload as two (no copy).
    fn frame(&mut self, frame: Compress, out: &mut VecDeque<Bytes>) {
        let Compress { data, opcode, fin, rsv1, mask } = frame;
        #[cfg(test)]
        tests::panic_if_framing(&data);
        let payload = match self.config {
            Some(config) => {
                let deflater = self.deflater.get_or_insert_with(|| Box::new(Deflater::new(config)));
                match deflater.compress(&data, fin) {
                    Ok(compressed) => Bytes::from(compressed),
                    // zlib only fails on an inconsistent stream (see `ZlibError`); the
                    // frame then goes out uncompressed rather than corrupt.
                    Err(_) => data,
                }
            }
            None => data,
        };
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

/// A half's idle timer: boxed, and only while its codec holds zlib state, so that an idle
/// connection without one carries no timer.
type IdleTimer = Option<Pin<Box<tokio::time::Sleep>>>;

/// Starts the idle timer if it is not running; true (and the timer gone) once it fired.
fn poll_idle(timer: &mut IdleTimer, cx: &mut Context<'_>) -> bool {
    let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(COMPACT_AFTER)));
    if sleep.as_mut().poll(cx).is_ready() {
        *timer = None;
        return true;
    }
    false
}

/// Masking keys: SipHash, keyed from the OS's entropy by `RandomState`, over a counter. The
/// keys are unpredictable to anyone who does not know that key, which is what RFC 6455 §5.3
/// asks (the crate has no CSPRNG dependency).
#[derive(Debug)]
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

/// Queues socket error `err` of connection `id` (as a failed `syscall`).
pub fn report(hub: &Hub, id: u32, err: &io::Error, syscall: &'static str) {
    hub.push(Event::new(
        id,
        EventBody::Io { code: error_code(err).to_owned(), message: err.to_string(), syscall },
    ));
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

    /// A one-byte text message, to compress or not.
    fn x_frame(compress: bool) -> OutFrame<'static> {
        OutFrame { data: b"x", opcode: 1, fin: true, rsv1: compress, compress, mask: Mask::None }
    }

    /// The connection whose next task poll panics (0: none).
    static PANIC_IN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    /// Panics in a poll of connection `id` if a test asked for it.
    pub(super) fn panic_if_asked(id: u32) {
        if PANIC_IN.compare_exchange(id, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            panic!("a test asked connection {id}'s poll to panic");
        }
    }

    /// A payload whose framing panics.
    const PANICS_WHEN_FRAMED: &[u8] = b"a test asked framing this to panic";

    /// Panics while framing [`PANICS_WHEN_FRAMED`].
    pub(super) fn panic_if_framing(data: &[u8]) {
        assert_ne!(data, PANICS_WHEN_FRAMED);
    }

    #[test]
    fn a_panic_while_closing_still_reports_closed() {
        let hub = hub();
        let (_client, handle) = adopted(&hub, 19);
        // Still corked: the frame is left to frame when the connection closes.
        let frame = OutFrame { data: PANICS_WHEN_FRAMED, ..x_frame(true) };
        assert_eq!(unsafe { handle.send(&frame, false) }, Sent::Queued);
        handle.destroy();
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Closed)), "{events:?}");
    }

    #[test]
    fn a_task_that_panics_reports_an_error_and_closed_and_the_runtime_goes_on() {
        let hub = hub();
        let (mut client, handle) = adopted(&hub, 17);
        handle.uncork();
        PANIC_IN.store(17, Ordering::SeqCst);
        // Wakes the task, whose poll panics.
        client.write_all(&frame::encode_frame(b"hi", 1, true, false, Some([1, 2, 3, 4]))).unwrap();
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        let error = events
            .iter()
            .position(|e| matches!(&e.body, EventBody::Io { code, .. } if code == "EIO"));
        let closed = events.iter().position(|e| matches!(e.body, EventBody::Closed));
        assert!(error.is_some() && error < closed, "{events:?}");
        // The peer sees the connection closed, and other connections still work.
        // (reset: the frame it sent was never read)
        let ended = client.read_to_end(&mut Vec::new());
        assert!(ended.is_ok() || ended.is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset));
        let (mut other, handle) = adopted(&hub, 18);
        handle.uncork();
        other.write_all(&frame::encode_frame(b"ok", 1, true, false, Some([1, 2, 3, 4]))).unwrap();
        let events =
            collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Message { .. })));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Message { .. })));
    }
    use std::time::{Duration, Instant};

    /// A hub whose events the test can collect.
    fn hub() -> Arc<Hub> {
        Arc::new(Hub::new(Box::new(|| {})))
    }

    /// Drains until `done` says so or 5 s pass; chunk sizes are left out.
    fn collect(hub: &Hub, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let start = Instant::now();
        let mut all = Vec::new();
        while start.elapsed() < Duration::from_secs(5) {
            let (events, _) = hub.drain(|_| true);
            all.extend(events.into_iter().filter(|e| !matches!(e.body, EventBody::Chunk { .. })));
            if done(&all) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        all
    }

    /// A connection in the server role, read by the runtime, with the defaults otherwise.
    fn server_config() -> ConnConfig {
        ConnConfig {
            receiver: ReceiverConfig { is_server: true, ..ReceiverConfig::default() },
            ..ConnConfig::default()
        }
    }

    /// Adopts `server` as connection `id` in the server role, with nothing read or to write.
    fn adopt_server(hub: &Arc<Hub>, id: u32, server: &std::net::TcpStream) -> Handle {
        adopt(Arc::clone(hub), id, server.as_raw_fd(), false, &[], &[], server_config()).unwrap().0
    }

    /// A server connection `id` the runtime reads (the accepted socket is dropped: the
    /// connection holds a duplicate), and its client.
    fn adopted(hub: &Arc<Hub>, id: u32) -> (std::net::TcpStream, Handle) {
        let (client, server) = pair();
        (client, adopt_server(hub, id, &server))
    }

    /// A server connection `id` the runtime reads, whose peer ended its side, once `End` is
    /// drained; and that peer.
    fn ended_by_peer(hub: &Arc<Hub>, id: u32) -> (std::net::TcpStream, Handle) {
        let (client, handle) = adopted(hub, id);
        handle.uncork();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        collect(hub, |e| e.iter().any(|e| matches!(e.body, EventBody::End)));
        (client, handle)
    }

    /// Keeps every runtime worker busy until dropped: no connection task is polled meanwhile.
    fn hold_runtime() -> impl Drop {
        struct Held(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Held {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let rt = runtime().unwrap();
        let workers = rt.metrics().num_workers();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 0..workers {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            rt.spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            });
        }
        wait_until(|| started.load(Ordering::SeqCst) == workers);
        assert_eq!(started.load(Ordering::SeqCst), workers);
        Held(release)
    }

    /// Waits until `ready` or 5 s pass.
    fn wait_until(mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A server connection read on the caller's thread.
    fn js_read_server() -> ConnConfig {
        ConnConfig { js_reads: true, ..server_config() }
    }

    /// A server connection read on the caller's thread, adopted as `id` with `preamble` (its
    /// descriptor is a duplicate: the accepted socket is dropped here), and its client.
    fn js_read_pair(
        hub: &Arc<Hub>,
        id: u32,
        preamble: &[u8],
    ) -> (std::net::TcpStream, Handle, Reader) {
        let (client, server) = pair();
        let (handle, reader) =
            adopt(Arc::clone(hub), id, server.as_raw_fd(), false, &[], preamble, js_read_server())
                .unwrap();
        (client, handle, reader.unwrap())
    }

    /// Reads on the caller's thread until EOF (at most 5 s).
    fn read_until_done(reader: &mut Reader) {
        let start = Instant::now();
        while reader.read() != ReadOutcome::Done && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_large_message_is_read_whole_on_either_thread_and_its_chunks_add_up() {
        let payload: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
        let mut input = frame::encode_frame(&payload, 2, true, false, Some([9, 8, 7, 6]));
        input.extend_from_slice(&frame::encode_frame(b"ok", 1, true, false, Some([1, 2, 3, 4])));
        for js_reads in [true, false] {
            let hub = hub();
            let (mut client, server) = pair();
            let config = ConnConfig { js_reads, ..js_read_server() };
            let (handle, reader) =
                adopt(Arc::clone(&hub), 10, server.as_raw_fd(), false, &[], &[], config).unwrap();
            drop(server);
            handle.uncork();
            let sent = input.clone();
            let writer = std::thread::spawn(move || {
                // In pieces, so that the payload spans many reads.
                for piece in sent.chunks(100_000) {
                    client.write_all(piece).unwrap();
                }
                client.shutdown(std::net::Shutdown::Write).unwrap();
                client
            });
            if let Some(mut reader) = reader {
                read_until_done(&mut reader);
            }
            let (mut events, mut chunks) = (Vec::new(), 0);
            let start = Instant::now();
            while !events.iter().any(|e: &Event| matches!(e.body, EventBody::End))
                && start.elapsed() < Duration::from_secs(5)
            {
                for event in hub.drain(|_| true).0 {
                    match event.body {
                        EventBody::Chunk { len, .. } => chunks += len,
                        _ => events.push(event),
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            assert_eq!(chunks, input.len(), "js_reads {js_reads}");
            let messages: Vec<Vec<u8>> = events
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Message { data, .. } => Some(data.concat()),
                    _ => None,
                })
                .collect();
            assert_eq!(messages, [payload.clone(), b"ok".to_vec()], "js_reads {js_reads}");
            drop(writer.join().unwrap());
            handle.destroy();
        }
    }

    #[test]
    fn an_adopted_server_socket_echoes_a_masked_message_and_closes() {
        let hub = hub();
        let (mut client, server) = pair();
        let config = ConnConfig { auto_pong: true, ..server_config() };
        // The head holds a masked text frame "hi"; the 101 response goes first.
        let head = frame::encode_frame(b"hi", 1, true, false, Some([1, 2, 3, 4]));
        let handle = adopt(Arc::clone(&hub), 7, server.as_raw_fd(), false, &head, b"HTTP", config)
            .unwrap()
            .0;
        handle.uncork();
        drop(server);
        client.write_all(&frame::encode_frame(b"", 9, true, false, Some([0; 4]))).unwrap();
        let events = collect(&hub, |e| e.len() >= 3);
        // `head` is offered to `'data'` listeners first.
        assert!(matches!(&events[0].body, EventBody::Data(data) if data.len() == 8));
        let events = &events[1..];
        assert!(
            matches!(&events[0].body, EventBody::Message { binary: false, data, .. } if data[0] == "hi")
        );
        assert!(matches!(&events[1].body, EventBody::Ping(_)));
        let frame = OutFrame {
            data: b"hi",
            opcode: 1,
            fin: true,
            rsv1: false,
            compress: false,
            mask: Mask::None,
        };
        // Nothing is queued any more: the frame goes straight to the kernel.
        wait_until(|| {
            lock(&handle.outbox.state).items.is_empty() && !lock(&handle.outbox.state).busy
        });
        assert_eq!(unsafe { handle.send(&frame, false) }, Sent::Written);
        assert_eq!(handle.end(), Some(0));
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        // 101 preamble, the automatic pong, then the echo.
        assert_eq!(got, b"HTTP\x8a\x00\x81\x02hi");
        drop(client);
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        let kinds: Vec<_> = events.iter().map(|e| std::mem::discriminant(&e.body)).collect();
        assert!(kinds.contains(&std::mem::discriminant(&EventBody::Finish)));
        assert!(kinds.contains(&std::mem::discriminant(&EventBody::End)));
    }

    #[test]
    fn destroy_closes_the_connection() {
        let hub = hub();
        let (mut client, server) = pair();
        let handle =
            adopt(Arc::clone(&hub), 1, server.as_raw_fd(), false, &[], &[], ConnConfig::default())
                .unwrap()
                .0;
        drop(server);
        handle.destroy();
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Closed)));
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got);
        assert!(got.is_empty());
        assert_eq!(handle.end(), None);
    }

    #[test]
    fn a_protocol_error_is_reported_once() {
        let hub = hub();
        let (mut client, _handle) = adopted(&hub, 1);
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
    fn frames_queued_while_corked_follow_the_preamble_in_order() {
        let hub = hub();
        let (mut client, server) = pair();
        let handle = adopt(
            Arc::clone(&hub),
            2,
            server.as_raw_fd(),
            false,
            &[],
            b"101 ",
            ConnConfig::default(),
        )
        .unwrap()
        .0;
        drop(server);
        let frame = |data: &'static [u8]| OutFrame {
            data,
            opcode: 2,
            fin: true,
            rsv1: false,
            compress: false,
            mask: Mask::None,
        };
        assert_eq!(unsafe { handle.send(&frame(b"a"), true) }, Sent::Queued);
        assert_eq!(unsafe { handle.write(b"raw", 1, true, false) }, Sent::Queued);
        handle.uncork();
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Written(_))));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Written(2))));
        wait_until(|| !lock(&handle.outbox.state).busy);
        assert_eq!(unsafe { handle.send(&frame(b"b"), false) }, Sent::Written);
        assert_eq!(handle.end(), Some(0));
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"101 \x82\x01araw\x82\x01b");
    }

    #[test]
    fn each_chunk_is_counted_after_the_events_it_completes() {
        let hub = hub();
        let (mut client, _handle) = adopted(&hub, 3);
        let frame = frame::encode_frame(b"hello", 1, true, false, Some([9; 4]));
        client.write_all(&frame).unwrap();
        let start = Instant::now();
        let mut events = Vec::new();
        while events.len() < 2 && start.elapsed() < Duration::from_secs(5) {
            events.extend(hub.drain(|_| true).0);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(matches!(events[0].body, EventBody::Message { compressed: false, .. }));
        assert!(
            matches!(events[1].body, EventBody::Chunk { len, read: true } if len == frame.len())
        );
    }

    #[test]
    fn ending_drops_the_messages_not_compressed_yet_and_what_follows() {
        let hub = hub();
        let (_client, server) = pair();
        let handle =
            adopt(Arc::clone(&hub), 4, server.as_raw_fd(), false, &[], &[], ConnConfig::default())
                .unwrap()
                .0;
        // Still corked: nothing has been taken by the task.
        assert_eq!(unsafe { handle.send(&x_frame(false), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.send(&x_frame(true), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.send(&x_frame(false), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.write(b"raw", 2, true, false) }, Sent::Queued);
        assert_eq!(handle.end(), Some(4));
        assert_eq!(handle.end(), Some(0));
        handle.destroy();
    }

    #[test]
    fn a_fin_that_came_before_the_first_poll_stops_the_compressions_queued_before_it() {
        let hub = hub();
        let (mut client, server) = pair();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // No task is polled, and the runtime does not look at the new socket's readiness, until
        // the sends below are queued.
        let held = hold_runtime();
        let handle = adopt_server(&hub, 16, &server);
        drop(server);
        handle.uncork();
        assert_eq!(unsafe { handle.send(&x_frame(true), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.send(&x_frame(false), false) }, Sent::Queued);
        drop(held);
        collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::End)));
        assert_eq!(handle.end(), Some(2));
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, []);
    }

    #[test]
    fn after_the_peers_fin_no_compression_starts_and_end_drops_it() {
        let hub = hub();
        let (mut client, handle) = ended_by_peer(&hub, 5);
        assert_eq!(unsafe { handle.send(&x_frame(false), false) }, Sent::Written);
        assert_eq!(unsafe { handle.send(&x_frame(true), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.send(&x_frame(false), false) }, Sent::Queued);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(handle.end(), Some(2));
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, [0x81, 0x01, b'x']);
    }

    #[test]
    fn reading_stops_while_the_backlog_is_full_and_resumes_when_js_drains() {
        let hub = hub();
        let (client, handle) = adopted(&hub, 6);
        // 5 MiB in 80 masked 64 KiB messages, from a thread: the server stops reading at
        // 4 MiB of undrained payload, so the kernel buffers fill and the writer blocks.
        let payload = vec![7u8; 64 * 1024];
        let frame = frame::encode_frame(&payload, 2, true, false, Some([1, 2, 3, 4]));
        let writer = std::thread::spawn(move || {
            let mut client = client;
            for _ in 0..80 {
                client.write_all(&frame).unwrap();
            }
            client
        });
        let outbox = Arc::clone(&handle.outbox);
        let shared = &outbox.shared;
        wait_until(|| shared.backlog.load(Ordering::SeqCst) >= BACKLOG_HIGH_WATER_MARK);
        std::thread::sleep(Duration::from_millis(100));
        let held = shared.backlog.load(Ordering::SeqCst);
        assert!((BACKLOG_HIGH_WATER_MARK..5 * 1024 * 1024).contains(&held), "{held}");
        // Draining wakes the reader: every message arrives.
        let count = |events: &[Event]| {
            events.iter().filter(|e| matches!(e.body, EventBody::Message { .. })).count()
        };
        let events = collect(&hub, |events| count(events) == 80);
        assert_eq!(count(&events), 80);
        drop(writer.join().unwrap());
        handle.destroy();
    }

    #[test]
    fn a_reader_on_the_callers_thread_parses_until_eof_and_end_then_closes_in_place() {
        let hub = hub();
        let (mut client, handle, mut reader) = js_read_pair(&hub, 8, &[]);
        handle.uncork();
        assert_eq!(reader.read(), ReadOutcome::More);
        // An idle connection holds no parser until bytes come.
        assert!(reader.parser.is_none());
        client.write_all(&frame::encode_frame(b"hi", 1, true, false, Some([1, 2, 3, 4]))).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        read_until_done(&mut reader);
        assert!(reader.parser.is_some());
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::End)));
        assert!(matches!(
            &events[0].body,
            EventBody::Message { binary: false, data, .. } if data[0] == b"hi"[..]
        ));
        assert!(matches!(events[1].body, EventBody::End));
        // Once our side is ended too, `end()` closes the connection in place (its task was
        // never needed).
        assert_eq!(handle.end(), Some(0));
        assert!(handle.outbox.shared.finished_unspawned());
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        assert!(events.iter().any(|e| matches!(e.body, EventBody::Closed)));
        drop(reader);
    }

    #[test]
    fn a_closed_hub_lets_go_of_the_connections_whose_events_it_held() {
        let hub = hub();
        let (mut client, handle, mut reader) = js_read_pair(&hub, 14, &[]);
        handle.uncork();
        client.write_all(&frame::encode_frame(b"hi", 1, true, false, Some([1, 2, 3, 4]))).unwrap();
        wait_until(|| {
            reader.read();
            !hub.is_empty()
        });
        // A message left queued holds its connection's outbox, which holds the hub: the
        // environment's cleanup hook destroys the connections and closes the hub.
        let weak = Arc::downgrade(&hub);
        handle.destroy();
        hub.close();
        hub.push(Event::new(14, EventBody::End));
        assert!(hub.is_empty());
        drop((handle, reader, hub, client));
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn frames_sent_before_uncork_go_out_with_the_101_from_the_js_thread() {
        let hub = hub();
        let preamble = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let (mut client, handle, _reader) = js_read_pair(&hub, 13, preamble);
        let frame = |data: &'static [u8]| OutFrame {
            data,
            opcode: 1,
            fin: true,
            rsv1: false,
            compress: false,
            mask: Mask::None,
        };
        // Sent in the `'connection'` listener: queued while corked.
        assert_eq!(unsafe { handle.send(&frame(b"hi"), false) }, Sent::Queued);
        assert_eq!(unsafe { handle.send(&frame(b"yo"), false) }, Sent::Queued);
        handle.uncork();
        assert!(handle.outbox.shared.is_deferred());
        let (events, _) = hub.drain(|_| true);
        assert!(matches!(events[..], [Event { body: EventBody::Written(2), .. }]));
        let mut received = vec![0u8; preamble.len() + 8];
        client.read_exact(&mut received).unwrap();
        assert_eq!(&received[..preamble.len()], preamble);
        assert_eq!(&received[preamble.len()..], b"\x81\x02hi\x81\x02yo");
        handle.destroy();
    }

    #[test]
    fn a_connection_read_on_the_js_thread_is_closed_by_that_thread_without_its_task() {
        let hub = hub();
        let preamble = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let (mut client, handle, mut reader) = js_read_pair(&hub, 9, preamble);
        // The 101 response and the end of our side are written on this thread, and the
        // queue keeps no room (every idle connection would carry it).
        handle.uncork();
        assert_eq!(lock(&handle.outbox.state).items.capacity(), 0);
        assert_eq!(handle.end(), Some(0));
        assert!(handle.outbox.shared.is_deferred());
        let (events, _) = hub.drain(|_| true);
        assert!(matches!(events[..], [Event { body: EventBody::Finish, .. }]));
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
        assert_eq!(received, preamble);
        // The peer's EOF, read on this thread, leaves only closing to do: done here, so the
        // events are queued before `read()` returns.
        drop(client);
        read_until_done(&mut reader);
        assert!(handle.outbox.shared.finished_unspawned());
        let (events, _) = hub.drain(|_| true);
        let kinds: Vec<_> = events.iter().map(|e| std::mem::discriminant(&e.body)).collect();
        assert_eq!(
            kinds,
            [EventBody::End, EventBody::Closed].map(|body| std::mem::discriminant(&body))
        );
    }

    #[test]
    fn ending_after_the_peer_ended_reports_closed_at_once_without_waiting_for_the_task() {
        let hub = hub();
        let (mut client, handle) = ended_by_peer(&hub, 13);
        // The runtime reads this connection, so its task holds the descriptor; the events
        // are queued before `end()` returns all the same.
        assert!(!handle.outbox.shared.is_deferred());
        assert_eq!(handle.end(), Some(0));
        let (events, _) = hub.drain(|_| true);
        let kinds: Vec<_> = events.iter().map(|e| std::mem::discriminant(&e.body)).collect();
        assert_eq!(
            kinds,
            [EventBody::Finish, EventBody::Closed].map(|body| std::mem::discriminant(&body))
        );
        // The task still closes the descriptor, and reports nothing more.
        let mut received = Vec::new();
        client.read_to_end(&mut received).unwrap();
        wait_until(|| handle.outbox.shared.destroyed.load(Ordering::Acquire));
        assert!(handle.outbox.shared.destroyed.load(Ordering::Acquire));
        std::thread::sleep(Duration::from_millis(20));
        assert!(hub.drain(|_| true).0.is_empty());
    }

    #[test]
    fn a_nudge_comes_back_after_what_the_peer_sent_before_it_was_asked() {
        let hub = hub();
        let (client, server) = pair();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // The peer's FIN is unread when the nudge is asked: the task answers it after reading.
        let handle = {
            let _held = hold_runtime();
            let handle = adopt_server(&hub, 20, &server);
            assert!(handle.nudge());
            handle
        };
        drop(server);
        let events = collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Nudge)));
        let end = events.iter().position(|e| matches!(e.body, EventBody::End));
        let nudge = events.iter().position(|e| matches!(e.body, EventBody::Nudge));
        assert!(end.unwrap() < nudge.unwrap(), "{events:?}");
        handle.destroy();
        drop(client);
        // The JS thread answers for a connection it reads itself.
        let (client, handle, _reader) = js_read_pair(&hub, 60, &[]);
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(!handle.nudge());
        handle.destroy();
    }

    #[test]
    fn bytes_pushed_come_before_what_reaches_the_socket_afterwards() {
        let hub = hub();
        let masked = |text: &[u8]| frame::encode_frame(text, 1, true, false, Some([1, 2, 3, 4]));
        let texts = |events: &[Event]| -> Vec<Bytes> {
            events
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Message { data, .. } => Some(data[0].clone()),
                    _ => None,
                })
                .collect()
        };
        // Pushed while the new connection's task makes its first read (as ws's tests do in
        // `'open'`): what the peer sends after `inject()` returned is parsed after them.
        for id in 80..130 {
            let (mut client, handle) = adopted(&hub, id);
            assert!(handle.inject(Bytes::from(masked(b"pushed"))));
            client.write_all(&masked(b"after")).unwrap();
            let events = collect(&hub, |e| texts(e).len() == 2);
            assert_eq!(texts(&events), ["pushed", "after"]);
            handle.destroy();
            collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        }
    }

    #[test]
    fn a_nudge_asked_while_the_task_works_is_answered_by_a_poll_that_reads_first() {
        let hub = hub();
        let (mut client, server) = pair();
        let config = ConnConfig { deflate: Some(DeflateConfig::default()), ..server_config() };
        let handle =
            adopt(Arc::clone(&hub), 140, server.as_raw_fd(), false, &[], &[], config).unwrap().0;
        drop(server);
        handle.uncork();
        let mut sink = client.try_clone().unwrap();
        let drain = std::thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while sink.read(&mut buf).is_ok_and(|n| n > 0) {}
        });
        // A message to compress keeps the task busy in one poll for a while (its own poll
        // under way: a nudge waits for it even with nothing to read)...
        let payload: Vec<u8> =
            (0..4u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let frame = OutFrame {
            data: &payload,
            opcode: 2,
            fin: true,
            rsv1: true,
            compress: true,
            mask: Mask::None,
        };
        assert_eq!(unsafe { handle.send(&frame, false) }, Sent::Queued);
        wait_until(|| lock(&handle.outbox.state).busy);
        assert!(handle.nudge());
        // ...and the peer's message arrives meanwhile: the nudge asked once it was readable
        // is answered after it is read (the poll under way does not answer it).
        client
            .write_all(&frame::encode_frame(b"peer", 1, true, false, Some([1, 2, 3, 4])))
            .unwrap();
        assert!(handle.nudge());
        let events =
            collect(&hub, |e| e.iter().filter(|e| matches!(e.body, EventBody::Nudge)).count() == 2);
        let message = events.iter().position(|e| matches!(e.body, EventBody::Message { .. }));
        let last_nudge = events.iter().rposition(|e| matches!(e.body, EventBody::Nudge));
        assert!(message.unwrap() < last_nudge.unwrap(), "{events:?}");
        handle.destroy();
        collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        drop(client);
        drain.join().unwrap();
    }

    #[test]
    fn a_deferred_task_is_destroyed_in_place_and_spawned_for_a_write_the_kernel_refuses() {
        let hub = hub();
        let (client, handle, _reader) = js_read_pair(&hub, 11, &[]);
        handle.uncork();
        // Resuming a connection the JS thread reads gives its task nothing to do.
        handle.resume();
        assert!(handle.outbox.shared.is_deferred());
        handle.destroy();
        assert!(handle.outbox.shared.finished_unspawned());
        let (events, _) = hub.drain(|_| true);
        assert!(matches!(events[..], [Event { body: EventBody::Closed, .. }]));
        drop(client);

        let (client, handle, _reader) = js_read_pair(&hub, 12, &[]);
        handle.uncork();
        // More than the socket buffers take while the peer reads nothing: the rest is queued
        // for the task.
        let big = vec![0u8; 32 << 20];
        assert_eq!(unsafe { handle.write(&big, 1, true, false) }, Sent::Queued);
        assert!(!handle.outbox.shared.is_deferred());
        assert!(!handle.outbox.shared.finished_unspawned());
        handle.destroy();
        collect(&hub, |e| e.iter().any(|e| matches!(e.body, EventBody::Closed)));
        drop(client);
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
