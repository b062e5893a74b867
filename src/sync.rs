//! Locking shared between the JS thread and the runtime's threads.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data of a poisoned one: nothing holding these locks panics but
/// on a bug, and then the data is still the best there is (at worst one connection's stream
/// is wrong, which its peer sees) — far better than a panic crossing into JS.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
