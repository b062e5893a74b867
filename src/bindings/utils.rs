//! napi functions for masking and UTF-8 validation: the native side of the `bufferutil` and
//! `utf-8-validate` drop-ins (`bufferutil/`, `utf-8-validate/`) and of `lib/buffer-util.js`,
//! `lib/validation.js`. Converts and calls into `protocol::{mask, utf8}`, nothing else.
//!
//! These three are called once per frame, so the per-call cost is what matters at small
//! sizes (ws only calls `bufferutil` from 48 bytes on because the call used to cost more than
//! a JS loop). `#[napi]` functions pay for napi-rs's generic argument machinery (a borrow
//! scope is allocated and locked on every call): about 100 ns more than the C `bufferutil`
//! per call on the development machine. So these are plain `extern "C"` Node-API callbacks,
//! as the C packages are: one `napi_get_cb_info`, one `napi_get_buffer_info` per buffer
//! (which accepts any `ArrayBufferView`: Buffer, every TypedArray, DataView), no object
//! created. They are registered with napi-rs's export table like `#[napi]` functions, so they
//! sit on the addon's exports beside them; the generated `binding.d.ts` does not list them
//! (their types are in `bufferutil/index.d.ts` and `utf-8-validate/index.d.ts`).
//!
//! JS signatures:
//! - `mask(source, mask, output, offset, length): void`
//! - `unmask(buffer, mask): void`
//! - `isValidUTF8(buf: ArrayBufferView | ArrayBuffer): boolean`
//!
//! Wrong argument types throw a `TypeError` (`code: 'ERR_INVALID_ARG_TYPE'`) where the C
//! packages would abort the process; out-of-range offsets and lengths never touch memory
//! outside the buffers.

use std::ffi::{c_void, CStr};
use std::ptr;

use napi::sys;

use crate::protocol::{mask as masking, utf8};

/// A byte view of a JS buffer's memory, as Node-API reports it.
#[derive(Clone, Copy)]
struct RawBytes {
    data: *mut u8,
    len: usize,
}

impl RawBytes {
    /// The address range, for overlap checks.
    fn span(self) -> std::ops::Range<usize> {
        self.data as usize..self.data as usize + self.len
    }
}

/// Reads the call's arguments into `argv` (missing ones are `undefined`).
///
/// # Safety
/// `env` and `info` come from the current Node-API callback.
unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> [sys::napi_value; N] {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    // SAFETY: `argv` has room for `argc` values; on failure they stay null and the
    // conversions below report a type error.
    unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    argv
}

/// The bytes of an `ArrayBufferView` (or, with `allow_array_buffer`, an `ArrayBuffer`).
///
/// # Safety
/// `env` and `value` come from the current Node-API callback.
unsafe fn bytes(
    env: sys::napi_env,
    value: sys::napi_value,
    allow_array_buffer: bool,
) -> Option<RawBytes> {
    if value.is_null() {
        return None;
    }
    let mut data: *mut c_void = ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: out-pointers are valid locals.
    let mut status = unsafe { sys::napi_get_buffer_info(env, value, &mut data, &mut len) };
    if status != sys::Status::napi_ok && allow_array_buffer {
        // SAFETY: as above.
        status = unsafe { sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len) };
    }
    if status != sys::Status::napi_ok {
        return None;
    }
    // Node-API may report any pointer (even null) for an empty view.
    if data.is_null() || len == 0 {
        return Some(RawBytes { data: ptr::NonNull::dangling().as_ptr(), len: 0 });
    }
    Some(RawBytes { data: data.cast(), len })
}

/// A number argument truncated to an integer, as `napi_get_value_int64` does (NaN is 0).
///
/// # Safety
/// `env` and `value` come from the current Node-API callback.
unsafe fn integer(env: sys::napi_env, value: sys::napi_value) -> Option<i64> {
    if value.is_null() {
        return None;
    }
    let mut out = 0i64;
    // SAFETY: the out-pointer is a valid local.
    let status = unsafe { sys::napi_get_value_int64(env, value, &mut out) };
    (status == sys::Status::napi_ok).then_some(out)
}

/// Throws `TypeError [ERR_INVALID_ARG_TYPE]` and returns `undefined` (a null `napi_value`).
///
/// # Safety
/// `env` comes from the current Node-API callback.
unsafe fn throw_type_error(env: sys::napi_env, message: &CStr) -> sys::napi_value {
    // SAFETY: both strings are NUL-terminated.
    unsafe { sys::napi_throw_type_error(env, c"ERR_INVALID_ARG_TYPE".as_ptr(), message.as_ptr()) };
    ptr::null_mut()
}

/// The 4-byte key; octets past the end of a shorter view count as 0, as in `bufferutil`'s
/// JS fallback (`x ^ undefined === x`).
///
/// # Safety
/// `key` describes live memory.
unsafe fn read_key(key: RawBytes) -> [u8; 4] {
    if key.len >= 4 {
        // One 4-byte load: assembling the key byte by byte on the stack and reading it back
        // as a word stalls on store forwarding.
        // SAFETY: at least 4 readable bytes.
        return unsafe { ptr::read_unaligned(key.data.cast::<[u8; 4]>()) };
    }
    // SAFETY: only the first `len` (< 4) bytes are read; the slice dies here.
    let bytes = unsafe { std::slice::from_raw_parts(key.data, key.len) };
    std::array::from_fn(|i| bytes.get(i).copied().unwrap_or(0))
}

/// Which indices `i` of `bufferutil.mask()`'s loop (`output[offset + i] = source[i] ^
/// mask[i & 3]`, `0 <= i < length`) touch memory inside both buffers: `first..last`.
/// Writes the JS fallback would send outside `output` are dropped, like any out-of-range
/// typed array store, and bytes past the end of `source` are not read.
fn mask_range(
    offset: i64,
    length: i64,
    source_len: usize,
    output_len: usize,
) -> Option<(usize, usize)> {
    let first = u64::try_from(offset.saturating_neg()).unwrap_or(0);
    let room = i64::try_from(output_len).unwrap_or(i64::MAX).saturating_sub(offset);
    let last = u64::try_from(length)
        .unwrap_or(0)
        .min(source_len as u64)
        .min(u64::try_from(room).unwrap_or(0));
    (first < last).then_some((first as usize, last as usize))
}

/// `mask(source, mask, output, offset, length)`: see the module docs.
unsafe extern "C" fn mask_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with a live env and callback info.
    unsafe {
        let [source, key, output, offset, length] = args::<5>(env, info);
        let (Some(source), Some(key), Some(output)) =
            (bytes(env, source, false), bytes(env, key, false), bytes(env, output, false))
        else {
            return throw_type_error(
                env,
                c"The \"source\", \"mask\" and \"output\" arguments must be an instance of Buffer, TypedArray, or DataView",
            );
        };
        let (Some(offset), Some(length)) = (integer(env, offset), integer(env, length)) else {
            return throw_type_error(
                env,
                c"The \"offset\" and \"length\" arguments must be of type number",
            );
        };
        let key = read_key(key);
        let Some((first, last)) = mask_range(offset, length, source.len, output.len) else {
            return ptr::null_mut();
        };
        let n = last - first;
        // offset + first >= 0 and offset + last <= output.len by construction.
        let at = (offset + first as i64) as usize;
        let src = source.data.add(first);
        let dst = output.data.add(at);
        let (src_span, dst_span) =
            (RawBytes { data: src, len: n }.span(), RawBytes { data: dst, len: n }.span());
        if src == dst {
            // In place (`mask(buf, key, buf, 0, n)`): one mutable view.
            masking::unmask_from(std::slice::from_raw_parts_mut(dst, n), key, first);
        } else if src_span.start < dst_span.end && dst_span.start < src_span.end {
            // Partial overlap: snapshot the source, then write.
            let copy = std::slice::from_raw_parts(src, n).to_vec();
            masking::mask_into_from(&copy, key, first, std::slice::from_raw_parts_mut(dst, n));
        } else {
            // Disjoint ranges: the shared and the mutable view never alias.
            // `first` is the key position of the first byte masked.
            masking::mask_into_from(
                std::slice::from_raw_parts(src, n),
                key,
                first,
                std::slice::from_raw_parts_mut(dst, n),
            );
        }
        ptr::null_mut()
    }
}

/// `unmask(buffer, mask)`: see the module docs.
unsafe extern "C" fn unmask_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with a live env and callback info.
    unsafe {
        let [buffer, key] = args::<2>(env, info);
        let (Some(buffer), Some(key)) = (bytes(env, buffer, false), bytes(env, key, false)) else {
            return throw_type_error(
                env,
                c"The \"buffer\" and \"mask\" arguments must be an instance of Buffer, TypedArray, or DataView",
            );
        };
        // The key is copied out before the mutable view exists, so even
        // `unmask(buf, buf)` does not alias.
        let key = read_key(key);
        masking::unmask(std::slice::from_raw_parts_mut(buffer.data, buffer.len), key);
        ptr::null_mut()
    }
}

/// `isValidUTF8(buf)`: see the module docs.
unsafe extern "C" fn is_valid_utf8_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API with a live env and callback info.
    unsafe {
        let [buf] = args::<1>(env, info);
        let Some(buf) = bytes(env, buf, true) else {
            return throw_type_error(
                env,
                c"The \"buf\" argument must be an instance of Buffer, TypedArray, DataView, or ArrayBuffer",
            );
        };
        let valid = utf8::is_valid(std::slice::from_raw_parts(buf.data, buf.len));
        let mut result = ptr::null_mut();
        sys::napi_get_boolean(env, valid, &mut result);
        result
    }
}

/// Creates a JS function for `callback` named `name`.
///
/// # Safety
/// `env` is the env being initialised.
unsafe fn create_function(
    env: sys::napi_env,
    name: &CStr,
    callback: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
) -> napi::Result<sys::napi_value> {
    let mut function = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated and `function` a valid out-pointer.
    let status = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(callback),
            ptr::null_mut(),
            &mut function,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::new(
            napi::Status::GenericFailure,
            format!("failed to create the native function {name:?}"),
        ));
    }
    Ok(function)
}

unsafe fn export_mask(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    // SAFETY: called by napi-rs during module registration.
    unsafe { create_function(env, c"mask", mask_callback) }
}

unsafe fn export_unmask(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    // SAFETY: as above.
    unsafe { create_function(env, c"unmask", unmask_callback) }
}

unsafe fn export_is_valid_utf8(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    // SAFETY: as above.
    unsafe { create_function(env, c"isValidUTF8", is_valid_utf8_callback) }
}

// Added to the export table napi-rs fills for `#[napi]` functions (the same call the macro
// generates), before the module initialises. Also compiled in `cargo test`, where it only
// fills a table nothing reads.
napi::ctor::declarative::ctor! {
    #[ctor(unsafe)]
    fn register_utils_exports() {
        napi::bindgen_prelude::register_module_export(None, "mask\0", export_mask);
        napi::bindgen_prelude::register_module_export(None, "unmask\0", export_unmask);
        napi::bindgen_prelude::register_module_export(
            None,
            "isValidUTF8\0",
            export_is_valid_utf8,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_range_keeps_in_range_indices() {
        assert_eq!(mask_range(0, 10, 10, 10), Some((0, 10)));
        assert_eq!(mask_range(2, 10, 10, 12), Some((0, 10)));
        assert_eq!(mask_range(2, 10, 10, 8), Some((0, 6)));
        assert_eq!(mask_range(0, 10, 4, 10), Some((0, 4)));
    }

    #[test]
    fn mask_range_skips_negative_offsets_and_lengths() {
        assert_eq!(mask_range(-3, 10, 10, 10), Some((3, 10)));
        assert_eq!(mask_range(-30, 10, 10, 10), None);
        assert_eq!(mask_range(0, -1, 10, 10), None);
        assert_eq!(mask_range(0, 0, 10, 10), None);
    }

    #[test]
    fn mask_range_survives_extreme_numbers() {
        assert_eq!(mask_range(i64::MAX, i64::MAX, 10, 10), None);
        assert_eq!(mask_range(i64::MIN, i64::MAX, 10, 10), None);
        assert_eq!(mask_range(0, i64::MAX, 10, 10), Some((0, 10)));
        assert_eq!(mask_range(11, 5, 10, 10), None);
    }
}
