//! Handing freed memory back to the OS. Idle (de)compressors free their zlib state (see
//! `Deflater::compact`); glibc keeps freed heap memory for reuse unless `malloc_trim()` asks
//! it to return the free pages, which is what makes idle deflating connections cheap in RSS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Compactions come in bursts (connections that went quiet together): one trim, this long
/// after the first request, covers the whole burst; a trim walks every heap, so not one each.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// A trim is scheduled and has not started yet.
static SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Asks for free memory to be handed back to the OS shortly, on a runtime thread. Returns
/// whether this call scheduled the trim (false: one is already due, and covers this call).
pub fn release_free_memory() -> bool {
    if SCHEDULED.swap(true, Ordering::AcqRel) {
        return false;
    }
    match super::runtime() {
        Ok(rt) => {
            rt.spawn(async {
                tokio::time::sleep(DEBOUNCE).await;
                // Cleared first: memory freed from now on needs a trim of its own.
                SCHEDULED.store(false, Ordering::Release);
                trim();
            });
            true
        }
        Err(_) => {
            SCHEDULED.store(false, Ordering::Release);
            false
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trim_covers_a_burst_of_requests() {
        let first = release_free_memory();
        assert!(!release_free_memory());
        assert!(first);
        std::thread::sleep(DEBOUNCE * 3);
        assert!(!SCHEDULED.load(Ordering::Acquire));
        assert!(release_free_memory());
    }
}
