//! The HTTP/1.1 request head of an opening handshake (RFC 6455 §4.1, RFC 9112 §2-5), for
//! servers whose listening socket Rust owns: parse the head, tell an upgrade request from a
//! plain one, and the responses a server gives without asking JS. Sans-IO, no napi.

/// The largest request head accepted: Node's default `--max-http-header-size`.
pub const MAX_HEAD: usize = 16 * 1024;

/// The most header lines a head may have.
const MAX_HEADERS: usize = 128;

/// A complete request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/chat?room=1`.
    pub url: String,
    /// The minor version of HTTP/1.x.
    pub minor_version: u8,
    /// The header lines in order, names as sent and values as bytes (ISO-8859-1 to Node).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The length of the head, blank line included; what follows belongs to the upgraded
    /// stream.
    pub len: usize,
}

/// Why a head cannot be served.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum HeadError {
    /// Longer than [`MAX_HEAD`] or more than [`MAX_HEADERS`] lines: `431`.
    TooLarge,
    /// Not an HTTP/1.x request head: `400`.
    Malformed,
    /// No complete head within Node's `headersTimeout`: `408`.
    TimedOut,
}

impl HeadError {
    /// The response Node's HTTP server gives for it before closing the connection.
    pub fn response(self) -> &'static [u8] {
        match self {
            HeadError::TooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
            }
            HeadError::Malformed => b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
            HeadError::TimedOut => b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
        }
    }
}

/// The answer of ws's own HTTP server to a request that is not an upgrade (the connection is
/// closed after it).
pub fn upgrade_required(method: &str) -> Vec<u8> {
    const BODY: &str = "Upgrade Required";
    let mut response = format!(
        "HTTP/1.1 426 Upgrade Required\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
         Connection: close\r\n\r\n",
        BODY.len()
    );
    if method != "HEAD" {
        response.push_str(BODY);
    }
    response.into_bytes()
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => Ok(Some(Request {
            method: request.method.unwrap_or_default().to_owned(),
            url: request.path.unwrap_or_default().to_owned(),
            minor_version: request.version.unwrap_or(1),
            headers: request
                .headers
                .iter()
                .map(|header| (header.name.to_owned(), header.value.to_vec()))
                .collect(),
            len,
        })),
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Whether this asks to switch protocols, as Node's parser decides it (an `Upgrade`
    /// header and the `upgrade` token in `Connection`): Node's server then emits `'upgrade'`
    /// rather than `'request'`. Whether it is a valid WebSocket upgrade is ws's question.
    pub fn is_upgrade(&self) -> bool {
        self.method != "CONNECT"
            && self.header("upgrade").is_some()
            && self.headers.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("connection")
                    && value
                        .split(|&b| b == b',')
                        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn parses_an_upgrade_request_and_where_its_head_ends() {
        let mut buf = UPGRADE.to_vec();
        buf.extend_from_slice(&[0x81, 0x80]);
        let request = parse_request(&buf).unwrap().unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.url, "/chat?x=1");
        assert_eq!(request.minor_version, 1);
        assert_eq!(request.len, UPGRADE.len());
        assert_eq!(request.headers.len(), 5);
        assert_eq!(request.headers[0], ("Host".to_owned(), b"a".to_vec()));
        assert_eq!(request.header("sec-websocket-version"), Some(&b"13"[..]));
        assert!(request.is_upgrade());
    }

    #[test]
    fn waits_for_the_rest_of_a_head() {
        for end in [0, 3, 20, UPGRADE.len() - 1] {
            assert_eq!(parse_request(&UPGRADE[..end]), Ok(None), "{end}");
        }
    }

    #[test]
    fn an_upgrade_needs_both_headers() {
        let plain = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().unwrap();
        assert!(!plain.is_upgrade());
        let no_token = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n";
        assert!(!parse_request(no_token).unwrap().unwrap().is_upgrade());
        let no_upgrade = b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n";
        assert!(!parse_request(no_upgrade).unwrap().unwrap().is_upgrade());
        let split = b"GET / HTTP/1.1\r\nConnection: close\r\nconnection: UPGRADE\r\n\
            upgrade: foo\r\n\r\n";
        assert!(parse_request(split).unwrap().unwrap().is_upgrade());
        let connect = b"CONNECT a:1 HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n";
        assert!(!parse_request(connect).unwrap().unwrap().is_upgrade());
    }

    #[test]
    fn rejects_what_is_not_a_request_head() {
        assert_eq!(parse_request(b"\x16\x03\x01\x02\x00"), Err(HeadError::Malformed));
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(parse_request(b"GET / HTTP/2.0\r\n\r\n"), Err(HeadError::Malformed));
    }

    #[test]
    fn limits_the_head_as_node_does() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse_request(&long), Err(HeadError::TooLarge));
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_request(&long), Err(HeadError::TooLarge));

        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&many), Err(HeadError::TooLarge));
    }

    #[test]
    fn answers_plain_requests_with_426() {
        let response = String::from_utf8(upgrade_required("GET")).unwrap();
        assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(response.contains("Content-Length: 16\r\n"));
        assert!(response.ends_with("\r\n\r\nUpgrade Required"));
        assert!(String::from_utf8(upgrade_required("HEAD")).unwrap().ends_with("\r\n\r\n"));
        assert!(HeadError::TooLarge.response().starts_with(b"HTTP/1.1 431 "));
        assert!(HeadError::Malformed.response().starts_with(b"HTTP/1.1 400 "));
    }
}
