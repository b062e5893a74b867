//! Reading adopted connections on the JS thread: the environment's epoll instance holds their
//! descriptors and a libuv poll handle watches it on the event loop; when a connection is
//! readable the Rust parser runs right there ([`Reader::read`]) and the events go to JS at
//! once through `napi_make_callback`. An incoming message then wakes one thread, as with a
//! `net.Socket`, instead of a runtime thread and then the JS thread. Node exports libuv's
//! functions to addons.

use std::cell::RefCell;
use std::ffi::c_int;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::{Env, Error, Function, Result, Status, Unknown};
use napi::{sys, JsValue};

use crate::runtime::connection::{ReadOutcome, Reader};
use crate::runtime::queue::Hub;

/// libuv's `uv_poll_t` (opaque; its size comes from `uv_handle_size`).
#[repr(C)]
struct UvHandle {
    _opaque: [u8; 0],
}

type PollCallback = extern "C" fn(*mut UvHandle, c_int, c_int);
type CloseCallback = extern "C" fn(*mut UvHandle);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut UvHandle, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut UvHandle, events: c_int, callback: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut UvHandle) -> c_int;
    fn uv_close(handle: *mut UvHandle, callback: CloseCallback);
    fn uv_unref(handle: *mut UvHandle);
}

/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
const UV_READABLE: c_int = 1;

/// How this environment's JS is called from a libuv callback.
#[derive(Clone, Copy)]
struct Delivery {
    env: sys::napi_env,
    doorbell: sys::napi_ref,
    context: sys::napi_async_context,
    event_loop: *mut sys::uv_loop_s,
}

thread_local! {
    static DELIVERY: RefCell<Option<Delivery>> = const { RefCell::new(None) };
}

/// Sets up this environment: `doorbell` (the JS function the threadsafe doorbell calls) is
/// called directly after a read on the JS thread.
pub fn init(env: &Env, doorbell: &Function<'_, (), Unknown<'static>>) -> Result<()> {
    forget_delivery();
    let raw = env.raw();
    let mut delivery = Delivery {
        env: raw,
        doorbell: ptr::null_mut(),
        context: ptr::null_mut(),
        event_loop: ptr::null_mut(),
    };
    // SAFETY: plain N-API calls on the environment's own thread, with valid out-pointers.
    unsafe {
        check(sys::napi_create_reference(raw, doorbell.raw(), 1, &mut delivery.doorbell))?;
        let name = env.create_string("ws-rs:read")?;
        check(sys::napi_async_init(raw, ptr::null_mut(), name.raw(), &mut delivery.context))?;
        check(sys::napi_get_uv_event_loop(raw, &mut delivery.event_loop))?;
    }
    DELIVERY.with(|slot| *slot.borrow_mut() = Some(delivery));
    Ok(())
}

/// Stops reading on this environment's thread (when it goes away, after its connections).
pub fn clear() {
    forget_delivery();
    close_poller();
}

/// Forgets this environment's delivery and releases its function reference and async
/// context (on its thread: when it goes away, or before a new `init()`).
fn forget_delivery() {
    if let Some(delivery) = DELIVERY.with(|slot| slot.borrow_mut().take()) {
        // SAFETY: both were created in `init()` on this thread, for this environment.
        unsafe {
            sys::napi_delete_reference(delivery.env, delivery.doorbell);
            sys::napi_async_destroy(delivery.env, delivery.context);
        }
    }
}

/// Whether connections of this environment can be read on its thread.
pub fn available() -> bool {
    DELIVERY.with(|slot| slot.borrow().is_some())
}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::GenericFailure, "could not set up reads on the JS thread"))
    }
}

/// The environment's epoll instance, which holds the descriptors of the connections its
/// thread reads, and the libuv poll handle that watches it on the event loop. One for all
/// connections rather than a libuv poll handle each: that handle and the cell it pointed to
/// cost about 0.2 KiB per open connection.
struct Poller {
    epoll: c_int,
    handle: *mut UvHandle,
    /// Finds a watched connection by id (the transport's table holds the watches).
    find: FindWatch,
}

/// Runs the visitor on the watch of connection `id`, if it is still watched.
pub type FindWatch = fn(u32, &mut dyn FnMut(&Watch));

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
}

/// Ready connections taken per turn of the event loop; more stay ready for the next turn.
const EVENTS_PER_TURN: usize = 64;

/// Creates this environment's poller on first use.
fn poller_fd(find: FindWatch) -> Result<c_int> {
    if let Some(epoll) = POLLER.with(|slot| slot.borrow().as_ref().map(|poller| poller.epoll)) {
        return Ok(epoll);
    }
    let Some(delivery) = DELIVERY.with(|slot| *slot.borrow()) else {
        return Err(Error::new(Status::GenericFailure, "transportInit() was not called"));
    };
    let failed = |what: &str| Error::new(Status::GenericFailure, format!("{what} failed"));
    // SAFETY: the handle is allocated with the size libuv asks for, initialised before use,
    // and freed only in its close callback; the epoll descriptor is closed after it.
    unsafe {
        let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if epoll < 0 {
            return Err(failed("epoll_create1"));
        }
        let handle = libc::malloc(uv_handle_size(UV_POLL)).cast::<UvHandle>();
        if handle.is_null() {
            libc::close(epoll);
            return Err(failed("malloc"));
        }
        if uv_poll_init(delivery.event_loop, handle, epoll) != 0 {
            libc::free(handle.cast());
            libc::close(epoll);
            return Err(failed("uv_poll_init"));
        }
        // Open connections hold the loop through JS (RESEARCH.md §3d), not through this.
        uv_unref(handle);
        uv_poll_start(handle, UV_READABLE, on_ready);
        POLLER.with(|slot| *slot.borrow_mut() = Some(Poller { epoll, handle, find }));
        Ok(epoll)
    }
}

/// Stops this environment's poller.
fn close_poller() {
    if let Some(poller) = POLLER.with(|slot| slot.borrow_mut().take()) {
        // SAFETY: the handle was started in `poller_fd`; libuv frees it in the close
        // callback, after which nothing watches the epoll descriptor.
        unsafe {
            uv_poll_stop(poller.handle);
            uv_close(poller.handle, free_handle);
            libc::close(poller.epoll);
        }
    }
}

/// Frees a closed poll handle.
extern "C" fn free_handle(handle: *mut UvHandle) {
    // SAFETY: allocated with `malloc` in `poller_fd`, closed once.
    unsafe { libc::free(handle.cast()) }
}

/// Adds or removes `fd` (watched for reading, tagged with its connection id).
fn control(op: c_int, fd: c_int, id: u32) -> bool {
    let Some(epoll) = POLLER.with(|slot| slot.borrow().as_ref().map(|poller| poller.epoll)) else {
        return false;
    };
    let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: u64::from(id) };
    // SAFETY: a plain syscall with a valid event.
    unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) == 0 }
}

/// A connection read on the JS thread, held in the transport's table; dropping it stops
/// watching (on `Closed`, or when the environment goes away).
pub struct Watch {
    reader: RefCell<Reader>,
    hub: Arc<Hub>,
    id: u32,
    /// The reader's descriptor, open while the reader lives.
    fd: c_int,
    /// In the epoll set: not after JS paused it (see [`ReadOutcome::Paused`]) or it is done.
    watched: std::cell::Cell<bool>,
    /// Done reading: never watched again.
    done: std::cell::Cell<bool>,
}

impl Watch {
    /// Starts watching `reader`'s descriptor on this environment's loop, as connection `id`
    /// (`find` looks it up when it is readable).
    pub fn start(reader: Reader, hub: Arc<Hub>, id: u32, find: FindWatch) -> Result<Self> {
        poller_fd(find)?;
        let fd = reader.raw_fd();
        if !control(libc::EPOLL_CTL_ADD, fd, id) {
            return Err(Error::new(Status::GenericFailure, "epoll_ctl failed"));
        }
        Ok(Self {
            reader: RefCell::new(reader),
            hub,
            id,
            fd,
            watched: std::cell::Cell::new(true),
            done: std::cell::Cell::new(false),
        })
    }

    /// JS resumed: watch again if pausing stopped it.
    pub fn resume(&self) {
        if !self.watched.get() && !self.done.get() {
            self.watched.set(control(libc::EPOLL_CTL_ADD, self.fd, self.id));
        }
    }

    /// Parses what JS pushed now (it is delivered with the next doorbell).
    pub fn read_injected(&self) {
        // Never borrowed while JS runs, which is the only way here.
        if let Ok(mut reader) = self.reader.try_borrow_mut() {
            reader.read_injected();
        }
    }

    /// Reading panicked: the connection fails as after a read error, and is not watched again.
    fn abandon(&self) {
        if let Ok(reader) = self.reader.try_borrow() {
            reader.abandon();
            self.stop(true);
        }
    }

    /// Takes the descriptor out of the epoll set; `done`: for good.
    fn stop(&self, done: bool) {
        self.done.set(done);
        if self.watched.replace(false) {
            control(libc::EPOLL_CTL_DEL, self.fd, self.id);
        }
    }

    /// Reads what the descriptor has and stops watching it if reading paused or ended
    /// (before JS runs, so that a `resume()` from JS watches it again).
    fn read(&self) {
        let Ok(mut reader) = self.reader.try_borrow_mut() else { return };
        let outcome = reader.read();
        if outcome != ReadOutcome::More {
            self.stop(outcome == ReadOutcome::Done);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Before the reader (and maybe the descriptor) goes.
        self.stop(true);
    }
}

/// Connections are readable: read, parse, and deliver to JS at once, one connection at a time
/// (JS runs its ticks between two, as between two sockets' reads).
extern "C" fn on_ready(_handle: *mut UvHandle, _status: c_int, _events: c_int) {
    let Some((epoll, find)) =
        POLLER.with(|slot| slot.borrow().as_ref().map(|poller| (poller.epoll, poller.find)))
    else {
        return;
    };
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_TURN];
    // SAFETY: a plain syscall into a buffer of `EVENTS_PER_TURN` events.
    let ready =
        unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), EVENTS_PER_TURN as c_int, 0) };
    for event in events.iter().take(usize::try_from(ready).unwrap_or(0)) {
        // Looked up again for each: JS may have closed a connection of this batch.
        let id = event.u64 as u32;
        let mut hub = None;
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            find(id, &mut |watch| {
                watch.hub.hold();
                hub = Some(Arc::clone(&watch.hub));
                watch.read();
            })
        }));
        // A read that panicked (a bug) fails its connection, instead of the process (a panic
        // cannot cross into libuv).
        if read.is_err() {
            find(id, &mut Watch::abandon);
        }
        if let Some(hub) = hub {
            if !hub.is_empty() {
                deliver();
            }
            hub.release();
        }
    }
}

/// Calls the doorbell's JS function in a callback scope (ticks and microtasks run after it);
/// an exception it throws is reported as uncaught, as from any I/O callback.
fn deliver() {
    let Some(delivery) = DELIVERY.with(|slot| *slot.borrow()) else { return };
    let env = delivery.env;
    // SAFETY: on the environment's thread, inside its loop; every handle lives in the scope.
    unsafe {
        let mut scope = ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
            return;
        }
        let (mut function, mut global, mut result) =
            (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        sys::napi_get_reference_value(env, delivery.doorbell, &mut function);
        sys::napi_get_global(env, &mut global);
        let status = sys::napi_make_callback(
            env,
            delivery.context,
            global,
            function,
            0,
            ptr::null(),
            &mut result,
        );
        if status == sys::Status::napi_pending_exception {
            let mut err = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut err);
            sys::napi_fatal_exception(env, err);
        }
        sys::napi_close_handle_scope(env, scope);
    }
}
