//! Reading adopted connections on the JS thread: a libuv poll handle on the environment's
//! event loop watches the descriptor, and when it is readable the Rust parser runs right there
//! ([`Reader::read`]) and the events go to JS at once through `napi_make_callback`. An incoming
//! message then wakes one thread, as with a `net.Socket`, instead of a runtime thread and then
//! the JS thread. Node exports libuv's functions to addons.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
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
    fn uv_handle_set_data(handle: *mut UvHandle, data: *mut c_void);
    fn uv_handle_get_data(handle: *const UvHandle) -> *mut c_void;
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
    clear();
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

/// Forgets this environment's delivery and releases its function reference and async
/// context (on its thread: when it goes away, or before a new `init()`).
pub fn clear() {
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

/// A connection watched on the JS thread; dropping it stops watching (on `Closed`, or when
/// the environment goes away). The poll handle and the reader are freed by libuv's close
/// callback.
pub struct Watch {
    cell: *mut Cell,
}

struct Cell {
    reader: Reader,
    hub: Arc<Hub>,
    handle: *mut UvHandle,
    /// Stopped after JS paused it (see [`ReadOutcome::Paused`]).
    paused: bool,
    /// `uv_close()` was called: the cell lives only until its close callback.
    closing: bool,
}

impl Watch {
    /// Starts watching `reader`'s descriptor on this environment's loop.
    pub fn start(reader: Reader, hub: Arc<Hub>) -> Result<Self> {
        let Some(delivery) = DELIVERY.with(|slot| *slot.borrow()) else {
            return Err(Error::new(Status::GenericFailure, "transportInit() was not called"));
        };
        // SAFETY: the handle is allocated with the size libuv asks for, initialised before
        // use, and freed only in its close callback; its data points to the boxed cell.
        unsafe {
            let handle = libc::malloc(uv_handle_size(UV_POLL)).cast::<UvHandle>();
            if handle.is_null() {
                return Err(Error::new(Status::GenericFailure, "out of memory"));
            }
            if uv_poll_init(delivery.event_loop, handle, reader.raw_fd()) != 0 {
                libc::free(handle.cast());
                return Err(Error::new(Status::GenericFailure, "uv_poll_init failed"));
            }
            let cell = Box::into_raw(Box::new(Cell {
                reader,
                hub,
                handle,
                paused: false,
                closing: false,
            }));
            uv_handle_set_data(handle, cell.cast());
            // Open connections hold the loop through JS (RESEARCH.md §3d), not through this.
            uv_unref(handle);
            uv_poll_start(handle, UV_READABLE, on_readable);
            Ok(Self { cell })
        }
    }

    /// JS resumed: watch again if pausing stopped it.
    pub fn resume(&self) {
        // SAFETY: the cell lives until the close callback, which follows this watch's drop.
        unsafe {
            if (*self.cell).paused && !(*self.cell).closing {
                (*self.cell).paused = false;
                uv_poll_start((*self.cell).handle, UV_READABLE, on_readable);
            }
        }
    }

    /// Parses what JS pushed now (it is delivered with the next doorbell).
    pub fn read_injected(&self) {
        // SAFETY: as in `resume`; no JS runs meanwhile.
        unsafe { (*self.cell).reader.read_injected() }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: as in `resume`; `uv_close` is called once, here.
        unsafe {
            (*self.cell).closing = true;
            let handle = (*self.cell).handle;
            uv_poll_stop(handle);
            uv_close(handle, on_close);
        }
    }
}

/// Frees a closed poll handle and its cell.
extern "C" fn on_close(handle: *mut UvHandle) {
    // SAFETY: the data is the cell boxed in `Watch::start`, freed only here.
    unsafe {
        drop(Box::from_raw(uv_handle_get_data(handle).cast::<Cell>()));
        libc::free(handle.cast());
    }
}

/// The descriptor is readable: read, parse, and deliver to JS at once.
extern "C" fn on_readable(handle: *mut UvHandle, _status: c_int, _events: c_int) {
    // SAFETY: the data is the live cell (freed only in the close callback, which libuv runs
    // after this one returns); no reference to it is held while JS runs.
    let cell = unsafe { uv_handle_get_data(handle).cast::<Cell>() };
    let hub = unsafe { Arc::clone(&(*cell).hub) };
    hub.hold();
    let outcome = unsafe { (*cell).reader.read() };
    if !hub.is_empty() {
        deliver();
    }
    hub.release();
    unsafe {
        if (*cell).closing {
            return;
        }
        match outcome {
            ReadOutcome::More => {}
            ReadOutcome::Paused => {
                (*cell).paused = true;
                uv_poll_stop(handle);
            }
            ReadOutcome::Done => {
                uv_poll_stop(handle);
            }
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
