//! The event queue of one JS environment: every connection task pushes its events here, and
//! the first push into an empty queue rings the doorbell once. The JS thread then drains the
//! whole queue in one call, so under load there is one thread hop per batch, not per message
//! (RESEARCH.md §3a).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use std::task::Waker;

use crate::protocol::deflate::InflateError;
use crate::protocol::error::ProtocolError;
use crate::sync::lock;

/// State a connection shares between its task and the JS thread.
#[derive(Debug, Default)]
pub struct Shared {
    /// `pause()` was called: the task stops reading once it has read
    /// [`PAUSED_READ_LIMIT`] bytes more.
    pub paused: AtomicBool,
    /// Bytes read since `pause()`.
    pub paused_read: AtomicUsize,
    /// Payload bytes pushed to the queue and not drained by JS yet.
    pub backlog: AtomicUsize,
    /// The connection task, to wake (or to spawn): JS, the hub and the outbox wake it after
    /// changing what it looks at (see [`Shared::wake_task`]).
    task: Mutex<TaskSlot>,
    /// `destroy()` was called (or the task closed the socket).
    pub destroyed: AtomicBool,
    /// The reading half is done (EOF or a read error).
    pub read_done: AtomicBool,
    /// `resetAndDestroy()`: close with a RST.
    pub reset: AtomicBool,
    /// Someone listens to `'data'`: queue a copy of each chunk read.
    pub tap: AtomicBool,
    /// Bytes JS pushed (`socket.push()`), parsed before the next read.
    pub injected: Mutex<Vec<Bytes>>,
}

impl Shared {
    /// JS paused the connection and [`PAUSED_READ_LIMIT`] bytes were read since: stop.
    pub fn read_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
            && self.paused_read.load(Ordering::Acquire) >= PAUSED_READ_LIMIT
    }

    /// Remembers the task's waker; called at the start of each poll, before it looks at
    /// anything, so that a change made after it looked wakes it again.
    pub fn register(&self, waker: &Waker) {
        let mut slot = lock(&self.task);
        if !matches!(&*slot, TaskSlot::Waker(current) if current.will_wake(waker)) {
            *slot = TaskSlot::Waker(waker.clone());
        }
    }

    /// Keeps the connection task unspawned until it has work: a connection the JS thread
    /// reads and writes needs its task only for a write the kernel did not take at once. A
    /// short-lived one then never wakes a runtime thread: it is closed by the thread that
    /// wakes it last ([`Shared::wake_task`]).
    pub fn defer(&self, task: impl Deferred + 'static) {
        *lock(&self.task) = TaskSlot::Unspawned(Box::pin(task));
    }

    /// The task is deferred (not spawned yet).
    #[cfg(test)]
    pub fn is_deferred(&self) -> bool {
        matches!(&*lock(&self.task), TaskSlot::Unspawned(_))
    }

    /// The task was deferred to the end, and finished by a caller of `wake_task`.
    #[cfg(test)]
    pub fn finished_unspawned(&self) -> bool {
        matches!(&*lock(&self.task), TaskSlot::Finished)
    }

    /// Wakes the connection task (after `resume()`, `destroy()`, bytes pushed, a drain that
    /// brought the backlog down, the reader's EOF, an `end()` done). A deferred one is asked
    /// to settle here instead: it closes on this thread when that is all it has left to do,
    /// stays deferred when it has nothing to do, and is spawned otherwise. Not to be called
    /// while holding its outbox's lock (settling takes it): see [`Shared::start_task`].
    pub fn wake_task(&self) {
        let mut slot = lock(&self.task);
        match std::mem::replace(&mut *slot, TaskSlot::Settling { woken: false }) {
            TaskSlot::Unspawned(mut task) => {
                drop(slot);
                let settled = task.as_mut().settle();
                let mut slot = lock(&self.task);
                let woken = matches!(*slot, TaskSlot::Settling { woken: true });
                *slot = match settled {
                    Settled::Done => TaskSlot::Finished,
                    Settled::Idle if !woken => TaskSlot::Unspawned(task),
                    Settled::Idle | Settled::Run => {
                        drop(slot);
                        return spawn(task);
                    }
                };
            }
            other => {
                *slot = other;
                wake(&mut slot);
            }
        }
    }

    /// Wakes the connection task, spawning it if it was deferred: it has writing to do.
    pub fn start_task(&self) {
        let mut slot = lock(&self.task);
        if matches!(*slot, TaskSlot::Unspawned(_)) {
            if let TaskSlot::Unspawned(task) = std::mem::take(&mut *slot) {
                drop(slot);
                spawn(task);
            }
        } else {
            wake(&mut slot);
        }
    }
}

/// Wakes a spawned task, or tells one settling that it was woken meanwhile.
fn wake(slot: &mut TaskSlot) {
    match slot {
        TaskSlot::Waker(waker) => waker.wake_by_ref(),
        TaskSlot::Settling { woken } => *woken = true,
        _ => {}
    }
}

/// Spawns a deferred task: its first poll looks at everything, so a wake-up that finds it
/// spawned but not polled yet is not lost.
fn spawn(task: Pin<Box<dyn Deferred>>) {
    // The runtime exists: the connection was started on it.
    if let Ok(rt) = super::runtime() {
        rt.spawn(task);
    }
}

/// A connection task that can wait unspawned (see [`Shared::defer`]).
pub trait Deferred: Future<Output = ()> + Send {
    /// Called instead of a wake-up while unspawned: finishes the task on the caller's thread
    /// when closing is all it has left to do.
    fn settle(self: Pin<&mut Self>) -> Settled;
}

/// What a deferred task did when asked to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It finished (it closed the connection).
    Done,
    /// It has nothing to do yet: it stays deferred.
    Idle,
    /// It has work: spawn it.
    Run,
}

/// The connection task as [`Shared`] holds it.
#[derive(Default)]
enum TaskSlot {
    /// Spawned and not polled yet (or done).
    #[default]
    None,
    /// Deferred (see [`Shared::defer`]).
    Unspawned(Pin<Box<dyn Deferred>>),
    /// Being settled by a caller of [`Shared::wake_task`]; `woken` when woken meanwhile.
    Settling { woken: bool },
    /// Finished while deferred: never spawned.
    Finished,
    /// The waker of its last poll.
    Waker(Waker),
}

impl std::fmt::Debug for TaskSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TaskSlot::None => "None",
            TaskSlot::Unspawned(_) => "Unspawned",
            TaskSlot::Settling { .. } => "Settling",
            TaskSlot::Finished => "Finished",
            TaskSlot::Waker(_) => "Waker",
        })
    }
}

/// The reader stops reading while this many payload bytes wait for JS.
pub const BACKLOG_HIGH_WATER_MARK: usize = 4 * 1024 * 1024;

/// A paused connection is still read up to this many bytes, as a paused `net.Socket` reads
/// until its buffer reaches its `highWaterMark` (ws reads what it holds when it closes).
pub const PAUSED_READ_LIMIT: usize = 16 * 1024;

/// What happened on a connection.
#[derive(Debug)]
pub enum EventBody {
    /// A complete data message: its fragments (inflated when it was compressed).
    Message {
        /// Opcode 2 rather than 1.
        binary: bool,
        /// It came compressed (permessage-deflate) and was inflated.
        compressed: bool,
        /// The non-empty fragments, in order.
        data: Vec<Bytes>,
    },
    /// A copy of a chunk read, before it is parsed.
    Data(Bytes),
    /// A chunk of `len` bytes was parsed, after the events it completes: `read` from the
    /// descriptor, or pushed by JS (`socket.push()`) or the upgrade's head, which JS does not
    /// hand to `socket.push()` again.
    Chunk { len: usize, read: bool },
    /// The answer to `transportNudge()` (see `Outbox::nudge` and [`AfterPolls::push`]).
    Nudge,
    /// A ping (already answered when auto-pong is on).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame, code and reason validated.
    Close {
        /// 1005 when the frame had no payload.
        code: u16,
        /// The reason.
        reason: Bytes,
    },
    /// The peer broke the protocol; nothing more is parsed.
    Protocol(ProtocolError),
    /// A compressed message could not be inflated; nothing more is parsed.
    Inflate(InflateError),
    /// This many writes JS asked for reached the kernel, in order.
    Written(u32),
    /// The peer ended its side (EOF).
    End,
    /// Our side was ended (`shutdown(SHUT_WR)` done) after everything queued was written.
    Finish,
    /// A socket error (read or write): the connection is torn down next.
    Io {
        /// Node's code for it, e.g. `ECONNRESET`, `EPIPE`.
        code: String,
        /// The OS's message.
        message: String,
        /// `read` or `write`.
        syscall: &'static str,
    },
    /// The descriptor is closed; the last event of the connection.
    Closed,
    /// The client of an upgrade request JS had not answered went away (the event's id is the
    /// listener's): it ended the connection, or reset it (`reset`).
    RequestGone { request: u32, reset: bool },
    /// An upgrade request to a listener the runtime owns (the event's id is the listener's).
    Request {
        /// `data` starts with this many bytes of the request's fields.
        text_len: usize,
        /// The fields, then what the client sent past the head.
        data: Bytes,
    },
}

/// An event of connection `id`.
#[derive(Debug)]
pub struct Event {
    /// The connection.
    pub id: u32,
    /// What happened.
    pub body: EventBody,
    /// Backlog bytes this event accounts for, returned to `owner` when it is drained.
    cost: usize,
    owner: Option<Arc<dyn Owner>>,
}

/// What holds a connection's [`Shared`] state (its outbox, which keeps it inline so that a
/// connection makes one allocation fewer).
pub trait Owner: Send + Sync + std::fmt::Debug {
    /// The connection's shared state.
    fn shared(&self) -> &Shared;
}

/// For the queue's own tests (connections own their state through their outbox).
#[cfg(test)]
impl Owner for Shared {
    fn shared(&self) -> &Shared {
        self
    }
}

impl Event {
    /// An event that holds no backlog.
    pub fn new(id: u32, body: EventBody) -> Self {
        Self { id, body, cost: 0, owner: None }
    }

    /// Whether JS must be woken for it. A chunk record alone is not: it only updates JS's
    /// accounting, which can wait for the next event that needs JS (a large message read in
    /// many chunks then wakes JS once, not once per chunk).
    fn is_urgent(&self) -> bool {
        !matches!(self.body, EventBody::Chunk { .. })
    }

    /// An event whose payload counts towards the connection's backlog until drained.
    pub fn with_cost(id: u32, body: EventBody, owner: Arc<dyn Owner>, cost: usize) -> Self {
        owner.shared().backlog.fetch_add(cost, Ordering::AcqRel);
        Self { id, body, cost, owner: Some(owner) }
    }
}

/// Connection task polls under way on the runtime, and the events waiting for one to end
/// (see [`AfterPolls::push`]): one for the process, as the runtime is.
pub static AFTER_POLLS: AfterPolls = AfterPolls::new();

/// Polls under way, and the events waiting for one of them to end.
pub struct AfterPolls {
    polls: AtomicUsize,
    waiting: Mutex<Vec<(Arc<Hub>, Event)>>,
    any_waiting: AtomicBool,
}

/// A poll, under way while this lives (see [`AfterPolls::push`]).
pub struct Polling<'a>(&'a AfterPolls);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.polls.fetch_sub(1, Ordering::SeqCst);
        // Sequentially consistent with `push()`: either this sees its event waiting, or it
        // sees this poll over.
        if self.0.any_waiting.load(Ordering::SeqCst) {
            self.0.flush();
        }
    }
}

impl AfterPolls {
    const fn new() -> Self {
        Self {
            polls: AtomicUsize::new(0),
            waiting: Mutex::new(Vec::new()),
            any_waiting: AtomicBool::new(false),
        }
    }

    /// A poll starts.
    pub fn start(&self) -> Polling<'_> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Polling(self)
    }

    /// Queues `event` once a poll under way now has ended (the next one to end queues it), at
    /// once when none is: what a busy runtime thread is about to queue (a write completed, a
    /// message read) comes first, as Node's event loop handles socket I/O while zlib's thread
    /// pool works for ws.
    pub fn push(&self, hub: &Arc<Hub>, event: Event) {
        if self.polls.load(Ordering::SeqCst) == 0 {
            hub.push(event);
            return;
        }
        lock(&self.waiting).push((Arc::clone(hub), event));
        self.any_waiting.store(true, Ordering::SeqCst);
        if self.polls.load(Ordering::SeqCst) == 0 {
            self.flush();
        }
    }

    /// Queues the events waiting for a poll to end.
    fn flush(&self) {
        let waiting = {
            let mut waiting = lock(&self.waiting);
            self.any_waiting.store(false, Ordering::SeqCst);
            std::mem::take(&mut *waiting)
        };
        for (hub, event) in waiting {
            hub.push(event);
        }
    }
}

/// The event queue and doorbell of one JS environment.
pub struct Hub {
    queue: Mutex<Queue>,
    bell: Box<dyn Fn() + Send + Sync>,
}

/// The events, and whether the doorbell rang since JS last emptied them.
#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    rung: bool,
    /// [`Hub::close`] was called: events are dropped.
    closed: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A queue that calls `bell` once per batch: on the first event that needs JS since JS
    /// last emptied the queue.
    pub fn new(bell: Box<dyn Fn() + Send + Sync>) -> Self {
        Self { queue: Mutex::new(Queue::default()), bell }
    }

    /// Queues an event (see [`Hub::push_all`]).
    pub fn push(&self, event: Event) {
        let urgent = event.is_urgent();
        self.queue(urgent, |events| events.push_back(event));
    }

    /// Queues events in order, ringing the doorbell unless it rang already or none of them
    /// is urgent.
    pub fn push_all(&self, batch: Vec<Event>) {
        let urgent = batch.iter().any(Event::is_urgent);
        self.queue(urgent, |events| events.extend(batch));
    }

    /// Holds the doorbell: events queued until [`Hub::release`] do not ring it (the JS thread
    /// queues them itself and drains them at once).
    pub fn hold(&self) {
        lock(&self.queue).rung = true;
    }

    /// Ends [`Hub::hold`]: rings if events are still waiting (queued by other threads, or
    /// left undrained), else lets the next event ring.
    pub fn release(&self) {
        let ring = {
            let mut queue = lock(&self.queue);
            queue.rung = !queue.events.is_empty();
            queue.rung
        };
        if ring {
            (self.bell)();
        }
    }

    /// Whether events are waiting.
    pub fn is_empty(&self) -> bool {
        lock(&self.queue).events.is_empty()
    }

    /// Drops what is queued and what is pushed from now on: the environment went away. Events
    /// hold their connection's outbox, which holds the hub: left queued, they would keep both
    /// alive for good.
    pub fn close(&self) {
        let dropped = {
            let mut queue = lock(&self.queue);
            queue.closed = true;
            std::mem::take(&mut queue.events)
        };
        drop(dropped);
    }

    /// Adds to the queue under its lock; rings once it is unlocked.
    fn queue(&self, urgent: bool, add: impl FnOnce(&mut VecDeque<Event>)) {
        let ring = {
            let mut queue = lock(&self.queue);
            if queue.closed {
                drop(queue);
                add(&mut VecDeque::new());
                return;
            }
            add(&mut queue.events);
            let ring = urgent && !queue.rung;
            queue.rung |= ring;
            ring
        };
        if ring {
            (self.bell)();
        }
    }

    /// Takes queued events in order while `accept` takes them (it sees each event before it
    /// is removed, and the first one it refuses stays queued), and gives the readers their
    /// backlog back. Returns whether events are left.
    pub fn drain(&self, mut accept: impl FnMut(&Event) -> bool) -> (Vec<Event>, bool) {
        let (taken, more) = {
            let mut queue = lock(&self.queue);
            let count = queue.events.iter().take_while(|event| accept(event)).count();
            let taken: Vec<Event> = queue.events.drain(..count).collect();
            let more = !queue.events.is_empty();
            queue.rung &= more;
            (taken, more)
        };
        for event in &taken {
            if let Some(owner) = &event.owner {
                let shared = owner.shared();
                let before = shared.backlog.fetch_sub(event.cost, Ordering::AcqRel);
                if before >= BACKLOG_HIGH_WATER_MARK
                    && before - event.cost < BACKLOG_HIGH_WATER_MARK
                {
                    shared.wake_task();
                }
            }
        }
        (taken, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn an_event_after_polls_waits_for_a_poll_under_way_to_end() {
        let after = AfterPolls::new();
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        // No poll under way: queued at once.
        after.push(&hub, Event::new(1, EventBody::Nudge));
        assert_eq!(hub.drain(|_| true).0.len(), 1);
        let first = after.start();
        let second = after.start();
        after.push(&hub, Event::new(2, EventBody::Nudge));
        // Pushed by another thread meanwhile (a write the poll completed): ahead of it.
        hub.push(Event::new(3, EventBody::Written(1)));
        assert_eq!(hub.drain(|_| true).0.len(), 1);
        drop(first);
        let events = hub.drain(|_| true).0;
        assert!(matches!(events[..], [Event { id: 2, body: EventBody::Nudge, .. }]));
        drop(second);
        assert!(hub.is_empty());
    }

    #[test]
    fn the_doorbell_rings_once_per_batch() {
        let rings = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&rings);
        let hub = Hub::new(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        hub.push(Event::new(1, EventBody::End));
        hub.push(Event::new(2, EventBody::End));
        assert_eq!(rings.load(Ordering::SeqCst), 1);
        assert_eq!(hub.drain(|_| true).0.len(), 2);
        hub.push(Event::new(1, EventBody::Closed));
        assert_eq!(rings.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_chunk_record_alone_waits_for_the_next_urgent_event() {
        let rings = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&rings);
        let hub = Hub::new(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        hub.push_all(vec![Event::new(1, EventBody::Chunk { len: 10, read: true })]);
        hub.push(Event::new(1, EventBody::Chunk { len: 10, read: true }));
        assert_eq!(rings.load(Ordering::SeqCst), 0);
        hub.push_all(vec![
            Event::new(1, EventBody::End),
            Event::new(1, EventBody::Chunk { len: 1, read: true }),
        ]);
        assert_eq!(rings.load(Ordering::SeqCst), 1);
        assert_eq!(hub.drain(|_| true).0.len(), 4);
        hub.push(Event::new(1, EventBody::Closed));
        assert_eq!(rings.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_refused_event_stays_queued_with_those_after_it() {
        let hub = Hub::new(Box::new(|| {}));
        for id in 1..=3 {
            hub.push(Event::new(id, EventBody::End));
        }
        let (taken, more) = hub.drain(|event| event.id < 2);
        assert_eq!(taken.len(), 1);
        assert!(more);
        let (taken, more) = hub.drain(|_| true);
        assert_eq!(taken.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3]);
        assert!(!more);
    }

    #[test]
    fn a_spawned_task_keeps_its_waker_through_every_kind_of_wake_up() {
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let shared = Shared::default();
        shared.register(&Waker::from(Arc::clone(&count)));
        shared.start_task();
        shared.wake_task();
        shared.start_task();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_deferred_task_settles_where_it_is_woken() {
        struct Fake(Arc<Mutex<Vec<Settled>>>);
        impl Future for Fake {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
                std::task::Poll::Pending
            }
        }
        impl Deferred for Fake {
            fn settle(self: Pin<&mut Self>) -> Settled {
                lock(&self.0).pop().unwrap_or(Settled::Idle)
            }
        }
        let answers = Arc::new(Mutex::new(vec![Settled::Done, Settled::Idle]));
        let shared = Shared::default();
        shared.defer(Fake(Arc::clone(&answers)));
        shared.wake_task();
        assert!(shared.is_deferred());
        shared.wake_task();
        assert!(shared.finished_unspawned());
        // Later wake-ups find nothing to do.
        shared.wake_task();
        shared.start_task();
        assert!(shared.finished_unspawned());
    }

    #[test]
    fn draining_returns_the_backlog() {
        let hub = Hub::new(Box::new(|| {}));
        let shared = Arc::new(Shared::default());
        hub.push(Event::with_cost(1, EventBody::Ping(Bytes::new()), Arc::clone(&shared) as _, 10));
        assert_eq!(shared.backlog.load(Ordering::SeqCst), 10);
        hub.drain(|_| true);
        assert_eq!(shared.backlog.load(Ordering::SeqCst), 0);
    }
}
