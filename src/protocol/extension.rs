//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): parse and format, with the
//! acceptance rules and error messages of ws's `lib/extension.js`. Sans-IO, no napi.
//!
//! The parser is one pass over the bytes, so its time is linear in the header's length.

use std::fmt;

/// One parameter of an extension element: `key` or `key=value` (quotes removed, escapes
/// resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionParam {
    /// The parameter name.
    pub key: String,
    /// The value; `None` for a parameter without one (ws's `true`).
    pub value: Option<String>,
}

/// One element of the header: an extension name with its parameters, in header order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension name, e.g. `permessage-deflate`.
    pub name: String,
    /// The parameters, in header order (a name may repeat).
    pub params: Vec<ExtensionParam>,
}

/// A header that ws refuses, with its `SyntaxError` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderSyntaxError {
    /// `Unexpected character at index N`; N counts UTF-16 code units, as JS does (every
    /// character before the offending one is ASCII, so it is also the byte index).
    UnexpectedCharacter(usize),
    /// `Unexpected end of input`.
    UnexpectedEnd,
    /// `The "x" subprotocol is duplicated` (`Sec-WebSocket-Protocol` only).
    DuplicatedSubprotocol(String),
}

impl fmt::Display for HeaderSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedCharacter(index) => write!(f, "Unexpected character at index {index}"),
            Self::UnexpectedEnd => f.write_str("Unexpected end of input"),
            Self::DuplicatedSubprotocol(name) => {
                write!(f, "The \"{name}\" subprotocol is duplicated")
            }
        }
    }
}

impl std::error::Error for HeaderSyntaxError {}

/// RFC 7230 `tchar`: `!#$%&'*+-.^_`|~`, digits and letters (ws's `tokenChars`).
pub(crate) fn is_token_char(byte: u8) -> bool {
    matches!(byte,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

/// Optional white space (`OWS`): a space or a horizontal tab.
pub(crate) fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Where the parser is: reading an extension name, a parameter name, or a value.
enum Part {
    Name,
    ParamName,
    Value,
}

/// Parses a `Sec-WebSocket-Extensions` value into its elements, in header order.
///
/// Follows ws's `parse()` rule for rule: tokens separated by `;` and `,`, optional white
/// space around them (not at the very start), values as tokens or quoted strings whose
/// unescaped content is a non-empty token.
pub fn parse(header: &str) -> Result<Vec<Extension>, HeaderSyntaxError> {
    let bytes = header.as_bytes();
    let mut offers: Vec<Extension> = Vec::new();
    let mut params: Vec<ExtensionParam> = Vec::new();
    let mut part = Part::Name;
    let mut extension_name = String::new();
    let mut param_name = String::new();
    let mut must_unescape = false;
    let mut is_escaping = false;
    let mut in_quotes = false;
    let mut start: Option<usize> = None;
    let mut end: Option<usize> = None;
    let mut last = None;

    let unexpected = HeaderSyntaxError::UnexpectedCharacter;
    // The token between `start` and `end` (or `i`); both are at ASCII positions.
    let slice = |start: usize, end: usize| header.get(start..end).unwrap_or_default().to_owned();

    for (i, &code) in bytes.iter().enumerate() {
        last = Some(code);
        match part {
            Part::Name => {
                if end.is_none() && is_token_char(code) {
                    start.get_or_insert(i);
                } else if i != 0 && is_ows(code) {
                    if end.is_none() && start.is_some() {
                        end = Some(i);
                    }
                } else if code == b';' || code == b',' {
                    let Some(s) = start else { return Err(unexpected(i)) };
                    let name = slice(s, end.unwrap_or(i));
                    if code == b',' {
                        offers.push(Extension { name, params: std::mem::take(&mut params) });
                    } else {
                        extension_name = name;
                        part = Part::ParamName;
                    }
                    start = None;
                    end = None;
                } else {
                    return Err(unexpected(i));
                }
            }
            Part::ParamName => {
                if end.is_none() && is_token_char(code) {
                    start.get_or_insert(i);
                } else if is_ows(code) {
                    if end.is_none() && start.is_some() {
                        end = Some(i);
                    }
                } else if code == b';' || code == b',' {
                    let Some(s) = start else { return Err(unexpected(i)) };
                    params.push(ExtensionParam { key: slice(s, end.unwrap_or(i)), value: None });
                    if code == b',' {
                        offers.push(Extension {
                            name: std::mem::take(&mut extension_name),
                            params: std::mem::take(&mut params),
                        });
                        part = Part::Name;
                    }
                    start = None;
                    end = None;
                } else if code == b'=' && start.is_some() && end.is_none() {
                    param_name = slice(start.unwrap_or(i), i);
                    part = Part::Value;
                    start = None;
                } else {
                    return Err(unexpected(i));
                }
            }
            Part::Value => {
                // The value of a quoted-string after unescaping must conform to the token
                // ABNF, so only token characters are valid (RFC 6455 §9.1).
                if is_escaping {
                    if !is_token_char(code) {
                        return Err(unexpected(i));
                    }
                    if start.is_none() {
                        start = Some(i);
                    } else {
                        must_unescape = true;
                    }
                    is_escaping = false;
                } else if in_quotes {
                    if is_token_char(code) {
                        start.get_or_insert(i);
                    } else if code == b'"' && start.is_some() {
                        in_quotes = false;
                        end = Some(i);
                    } else if code == b'\\' {
                        is_escaping = true;
                    } else {
                        return Err(unexpected(i));
                    }
                } else if code == b'"' && i.checked_sub(1).and_then(|p| bytes.get(p)) == Some(&b'=')
                {
                    in_quotes = true;
                } else if end.is_none() && is_token_char(code) {
                    start.get_or_insert(i);
                } else if start.is_some() && is_ows(code) {
                    if end.is_none() {
                        end = Some(i);
                    }
                } else if code == b';' || code == b',' {
                    let Some(s) = start else { return Err(unexpected(i)) };
                    let value = unescape(slice(s, end.unwrap_or(i)), must_unescape);
                    must_unescape = false;
                    params.push(ExtensionParam {
                        key: std::mem::take(&mut param_name),
                        value: Some(value),
                    });
                    if code == b',' {
                        offers.push(Extension {
                            name: std::mem::take(&mut extension_name),
                            params: std::mem::take(&mut params),
                        });
                        part = Part::Name;
                    } else {
                        part = Part::ParamName;
                    }
                    start = None;
                    end = None;
                } else {
                    return Err(unexpected(i));
                }
            }
        }
    }

    let Some(s) = start else { return Err(HeaderSyntaxError::UnexpectedEnd) };
    if in_quotes || last.is_some_and(is_ows) {
        return Err(HeaderSyntaxError::UnexpectedEnd);
    }
    let token = slice(s, end.unwrap_or(bytes.len()));
    match part {
        Part::Name => offers.push(Extension { name: token, params }),
        Part::ParamName => {
            params.push(ExtensionParam { key: token, value: None });
            offers.push(Extension { name: extension_name, params });
        }
        Part::Value => {
            params.push(ExtensionParam {
                key: param_name,
                value: Some(unescape(token, must_unescape)),
            });
            offers.push(Extension { name: extension_name, params });
        }
    }
    Ok(offers)
}

/// Removes the backslashes of a quoted value (only escapes can be left in it).
fn unescape(value: String, must_unescape: bool) -> String {
    if must_unescape {
        value.replace('\\', "")
    } else {
        value
    }
}

/// Builds a `Sec-WebSocket-Extensions` value, as ws's `format()`: elements joined by `, `,
/// parameters by `; `, a parameter without a value as its bare name.
pub fn format(extensions: &[Extension]) -> String {
    let mut out = String::new();
    for (index, extension) in extensions.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(&extension.name);
        for param in &extension.params {
            out.push_str("; ");
            out.push_str(&param.key);
            if let Some(value) = &param.value {
                out.push('=');
                out.push_str(value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ExtensionParam { key: (*k).to_owned(), value: v.map(str::to_owned) })
                .collect(),
        }
    }

    #[test]
    fn parses_a_single_extension() {
        assert_eq!(parse("foo").unwrap(), [ext("foo", &[])]);
    }

    #[test]
    fn parses_params_in_header_order() {
        assert_eq!(
            parse("foo;bar;baz=1;bar=2").unwrap(),
            [ext("foo", &[("bar", None), ("baz", Some("1")), ("bar", Some("2"))])]
        );
    }

    #[test]
    fn parses_multiple_extensions() {
        assert_eq!(
            parse("foo,bar;baz,foo;baz").unwrap(),
            [ext("foo", &[]), ext("bar", &[("baz", None)]), ext("foo", &[("baz", None)])]
        );
    }

    #[test]
    fn parses_quoted_params() {
        assert_eq!(parse("foo;bar=\"hi\"").unwrap(), [ext("foo", &[("bar", Some("hi"))])]);
        assert_eq!(parse("foo;bar=\"\\0\"").unwrap(), [ext("foo", &[("bar", Some("0"))])]);
        assert_eq!(parse("foo;bar=\"b\\a\\z\"").unwrap(), [ext("foo", &[("bar", Some("baz"))])]);
        assert_eq!(
            parse("foo;bar=\"b\\az\";bar").unwrap(),
            [ext("foo", &[("bar", Some("baz")), ("bar", None)])]
        );
        assert_eq!(parse("foo;bar=\"baz\"qux"), Err(HeaderSyntaxError::UnexpectedCharacter(13)));
        assert_eq!(parse("foo;bar=\"baz\" qux"), Err(HeaderSyntaxError::UnexpectedCharacter(14)));
    }

    #[test]
    fn ignores_the_optional_white_spaces() {
        let header = "foo; bar\t; \tbaz=1\t ;  bar=\"1\"\t\t, \tqux\t ;norf";
        assert_eq!(
            parse(header).unwrap(),
            [
                ext("foo", &[("bar", None), ("baz", Some("1")), ("bar", Some("1"))]),
                ext("qux", &[("norf", None)])
            ]
        );
    }

    fn assert_unexpected_character(cases: &[(&str, usize)]) {
        for &(header, index) in cases {
            let err = parse(header).unwrap_err();
            assert_eq!(err, HeaderSyntaxError::UnexpectedCharacter(index), "{header:?}");
            assert_eq!(err.to_string(), format!("Unexpected character at index {index}"));
        }
    }

    #[test]
    fn rejects_an_empty_name() {
        assert_unexpected_character(&[
            (",", 0),
            ("foo,,", 4),
            ("foo,  ,", 6),
            ("foo;=", 4),
            ("foo; =", 5),
            ("foo;;", 4),
            ("foo; ;", 5),
            ("foo;bar=,", 8),
            ("foo;bar=\"\"", 9),
        ]);
    }

    #[test]
    fn rejects_a_misplaced_white_space() {
        assert_unexpected_character(&[
            (" foo", 0),
            ("f oo", 2),
            ("foo;ba r", 7),
            ("foo;bar =", 8),
            ("foo;bar= ", 8),
            ("foo;bar=ba z", 11),
        ]);
    }

    #[test]
    fn rejects_invalid_token_characters() {
        assert_unexpected_character(&[
            ("f@o", 1),
            ("f\\oo", 1),
            ("\"foo\"", 0),
            ("f\"oo\"", 1),
            ("foo;b@r", 5),
            ("foo;b\\ar", 5),
            ("foo;\"bar\"", 4),
            ("foo;b\"ar\"", 5),
            ("foo;bar=b@z", 9),
            ("foo;bar=b\\az ", 9),
            ("foo;bar=\"b@z\"", 10),
            ("foo;bar=\"baz;\"", 12),
            ("foo;bar=b\"az\"", 9),
            ("foo;bar=\"\\\\\"", 10),
        ]);
    }

    #[test]
    fn rejects_non_ascii_characters_at_their_index() {
        assert_unexpected_character(&[("fé", 1), ("foo;bar=\"é\"", 9), ("foo;€", 4)]);
    }

    #[test]
    fn rejects_a_header_that_ends_prematurely() {
        for header in [
            "",
            "foo ",
            "foo\t",
            "foo, ",
            "foo;",
            "foo;bar ",
            "foo;bar,",
            "foo;bar; ",
            "foo;bar=",
            "foo;bar=\"baz",
            "foo;bar=\"1\\",
            "foo;bar=\"baz\" ",
        ] {
            let err = parse(header).unwrap_err();
            assert_eq!(err, HeaderSyntaxError::UnexpectedEnd, "{header:?}");
            assert_eq!(err.to_string(), "Unexpected end of input");
        }
    }

    #[test]
    fn parses_a_long_header_in_linear_time() {
        let header = vec!["permessage-deflate; client_max_window_bits"; 50_000].join(", ");
        assert_eq!(parse(&header).unwrap().len(), 50_000);
    }

    #[test]
    fn formats_extensions_as_ws() {
        assert_eq!(format(&[ext("foo", &[])]), "foo");
        assert_eq!(
            format(&[ext("foo", &[("bar", None), ("bar", Some("2")), ("baz", Some("1"))])]),
            "foo; bar; bar=2; baz=1"
        );
        assert_eq!(
            format(&[ext("foo", &[]), ext("foo", &[("baz", None)]), ext("bar", &[("baz", None)])]),
            "foo, foo; baz, bar; baz"
        );
    }
}
