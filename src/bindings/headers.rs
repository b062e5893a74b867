//! Header helpers for `lib/extension.js`, `lib/subprotocol.js` and
//! `lib/websocket-server.js`: the napi face of `protocol::{extension, subprotocol,
//! handshake}`. Converts and calls, no protocol decisions.
//!
//! Parse failures throw an `Error` whose message is exactly ws's `SyntaxError` message and
//! whose `code` is `SyntaxError`; the JS callers rethrow it as a `SyntaxError`.

use napi::bindgen_prelude::{Either, Error, Result};
use napi_derive::napi;

use crate::protocol::extension::{self, HeaderSyntaxError};
use crate::protocol::{handshake, subprotocol};

/// One parameter of an extension offer: `value` is the string, or `true` when the parameter
/// has no value.
#[napi(object)]
pub struct ExtensionParamRecord {
    /// The parameter name.
    pub key: String,
    /// The value (quotes removed, escapes resolved), or `true`.
    #[napi(ts_type = "string | true")]
    pub value: Either<String, bool>,
}

/// One element of a `Sec-WebSocket-Extensions` header.
#[napi(object)]
pub struct ExtensionRecord {
    /// The extension name.
    pub name: String,
    /// The parameters, in header order.
    pub params: Vec<ExtensionParamRecord>,
}

fn syntax_error(err: HeaderSyntaxError) -> Error<&'static str> {
    Error::new("SyntaxError", err.to_string())
}

/// Parses a `Sec-WebSocket-Extensions` value into its elements, in header order, with ws's
/// rules; throws ws's `SyntaxError` message (`Unexpected character at index N`,
/// `Unexpected end of input`).
#[napi(catch_unwind)]
pub fn parse_extension_header(header: String) -> Result<Vec<ExtensionRecord>, &'static str> {
    let elements = extension::parse(&header).map_err(syntax_error)?;
    Ok(elements
        .into_iter()
        .map(|element| ExtensionRecord {
            name: element.name,
            params: element
                .params
                .into_iter()
                .map(|param| ExtensionParamRecord {
                    key: param.key,
                    value: match param.value {
                        Some(value) => Either::A(value),
                        None => Either::B(true),
                    },
                })
                .collect(),
        })
        .collect())
}

/// Parses a `Sec-WebSocket-Protocol` value into its subprotocol names, in header order;
/// throws ws's `SyntaxError` message (including `The "x" subprotocol is duplicated`).
#[napi(catch_unwind)]
pub fn parse_subprotocol_header(header: String) -> Result<Vec<String>, &'static str> {
    subprotocol::parse(&header).map_err(syntax_error)
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
#[napi(catch_unwind)]
pub fn accept_key(key: String) -> String {
    handshake::accept_key(&key)
}

/// Whether a `Sec-WebSocket-Key` is the base64 of 16 bytes (ws's `/^[+/0-9A-Za-z]{22}==$/`).
#[napi(catch_unwind)]
pub fn is_valid_key(key: String) -> bool {
    handshake::is_valid_key(&key)
}
