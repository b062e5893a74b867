//! The `Sec-WebSocket-Protocol` header (RFC 6455 §4.1, §11.3.4): parse, with the acceptance
//! rules and error messages of ws's `lib/subprotocol.js`. Sans-IO, no napi.

use std::collections::HashSet;

use super::extension::{is_ows, is_token_char, HeaderSyntaxError};

/// Parses a `Sec-WebSocket-Protocol` value into its subprotocol names, in header order.
///
/// Tokens separated by `,` with optional white space around them (not at the very start);
/// a name may appear once (`The "x" subprotocol is duplicated`). Linear in the header's
/// length.
pub fn parse(header: &str) -> Result<Vec<String>, HeaderSyntaxError> {
    let bytes = header.as_bytes();
    let mut protocols: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut start: Option<usize> = None;
    let mut end: Option<usize> = None;

    let mut add = |start: usize, end: usize| {
        let name = header.get(start..end).unwrap_or_default();
        if !seen.insert(name) {
            return Err(HeaderSyntaxError::DuplicatedSubprotocol(name.to_owned()));
        }
        protocols.push(name.to_owned());
        Ok(())
    };

    for (i, &code) in bytes.iter().enumerate() {
        if end.is_none() && is_token_char(code) {
            start.get_or_insert(i);
        } else if i != 0 && is_ows(code) {
            if end.is_none() && start.is_some() {
                end = Some(i);
            }
        } else if code == b',' {
            // Every character so far is ASCII, so the byte index is JS's index too.
            let Some(s) = start else { return Err(HeaderSyntaxError::UnexpectedCharacter(i)) };
            add(s, end.unwrap_or(i))?;
            start = None;
            end = None;
        } else {
            return Err(HeaderSyntaxError::UnexpectedCharacter(i));
        }
    }

    let Some(s) = start else { return Err(HeaderSyntaxError::UnexpectedEnd) };
    if end.is_some() {
        return Err(HeaderSyntaxError::UnexpectedEnd);
    }
    add(s, bytes.len())?;
    Ok(protocols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_single_subprotocol() {
        assert_eq!(parse("foo").unwrap(), ["foo"]);
    }

    #[test]
    fn parses_multiple_subprotocols_in_order() {
        assert_eq!(parse("foo,bar,baz").unwrap(), ["foo", "bar", "baz"]);
    }

    #[test]
    fn ignores_the_optional_white_spaces() {
        assert_eq!(
            parse("foo , bar\t, \tbaz\t ,  qux\t\t,norf").unwrap(),
            ["foo", "bar", "baz", "qux", "norf"]
        );
    }

    #[test]
    fn rejects_an_empty_subprotocol() {
        for (header, index) in [(",", 0), ("foo,,", 4), ("foo,  ,", 6)] {
            assert_eq!(parse(header), Err(HeaderSyntaxError::UnexpectedCharacter(index)));
        }
    }

    #[test]
    fn rejects_a_duplicated_subprotocol() {
        for header in ["foo,foo,bar", "foo,bar,foo"] {
            let err = parse(header).unwrap_err();
            assert_eq!(err.to_string(), "The \"foo\" subprotocol is duplicated");
        }
    }

    #[test]
    fn rejects_a_misplaced_white_space_or_an_invalid_character() {
        for (header, index) in
            [("f oo", 2), (" foo", 0), ("f@o", 1), ("f\\oo", 1), ("foo,b@r", 5), ("foo,bé", 5)]
        {
            let err = parse(header).unwrap_err();
            assert_eq!(err.to_string(), format!("Unexpected character at index {index}"));
        }
    }

    #[test]
    fn rejects_a_header_that_ends_prematurely() {
        for header in ["", "foo ", "foo, ", "foo,bar ", "foo,bar,"] {
            assert_eq!(parse(header), Err(HeaderSyntaxError::UnexpectedEnd), "{header:?}");
        }
    }
}
