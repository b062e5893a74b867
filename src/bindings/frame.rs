//! Frame encoding for `lib/sender.js`: `encodeFrame` over [`protocol::frame`]. Converts and calls only; the frame is written straight into the Node
//! `Buffer` that is returned, so the payload is copied (and masked) exactly once.

use napi::bindgen_prelude::{BufferSlice, Env, Error, FromNapiValue, Result, Status};
use napi::sys;
use napi_derive::napi;

use crate::protocol::frame::{encode_frame_into, frame_len};

/// The 4-byte masking key of a `maskKey` argument.
fn key(mask_key: Option<BufferSlice>) -> Result<Option<[u8; 4]>> {
    match mask_key {
        None => Ok(None),
        Some(buf) => match <[u8; 4]>::try_from(&buf[..]) {
            Ok(key) => Ok(Some(key)),
            Err(_) => Err(Error::new(Status::InvalidArg, "The mask key must be 4 bytes long")),
        },
    }
}

/// A new Node `Buffer` of `len` bytes whose contents the caller overwrites entirely.
pub(crate) fn alloc_buffer(env: &Env, len: usize) -> Result<BufferSlice<'_>> {
    let mut value = std::ptr::null_mut();
    let mut data = std::ptr::null_mut();
    // SAFETY: `env` is the environment of the current call; both out-pointers are valid.
    let status = unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut value) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(Status::GenericFailure, "Failed to allocate a Buffer"));
    }
    // SAFETY: `value` is the Buffer just created in `env`.
    unsafe { BufferSlice::from_napi_value(env.raw(), value) }
}

/// A whole frame (header and payload) in one Buffer, the payload masked in the same pass as
/// the copy when `maskKey` (4 bytes) is given. `opcode` is the 4-bit opcode.
#[napi(catch_unwind)]
pub fn encode_frame<'env>(
    env: &'env Env,
    payload: BufferSlice,
    opcode: u32,
    fin: bool,
    rsv1: bool,
    mask_key: Option<BufferSlice>,
) -> Result<BufferSlice<'env>> {
    let mask = key(mask_key)?;
    let mut out = alloc_buffer(env, frame_len(payload.len(), mask.is_some()))?;
    encode_frame_into(&mut out, &payload, (opcode & 0x0f) as u8, fin, rsv1, mask);
    Ok(out)
}
