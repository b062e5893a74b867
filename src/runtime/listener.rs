//! Listening sockets the runtime owns (`new WebSocketServer({ port, nativeHttp: true })`):
//! accept, read and parse the request head ([`crate::protocol::http`]), answer what is not an
//! upgrade, and queue each upgrade request for JS, which answers it with
//! [`Pending::take`] and then [`crate::runtime::connection::accept`] or [`reject`].

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::queue::{Event, EventBody, Hub};
use super::{next_id, runtime};
use crate::protocol::http::{self, HeadError, Request};
use crate::sync::lock;

/// How long a connection may take to send its request head: Node's `server.headersTimeout`
/// (shorter in tests).
const HEAD_TIMEOUT: Duration =
    if cfg!(test) { Duration::from_secs(1) } else { Duration::from_secs(60) };

/// How long a rejected connection is drained before it is closed: closing with unread data
/// sends a RST, which can destroy the response before the client reads it.
const LINGER: Duration = Duration::from_secs(2);

/// Upgrade requests JS has not answered yet, by request id: one table per JS environment.
#[derive(Debug)]
pub struct Pending {
    /// `None` once the environment went away.
    streams: Mutex<Option<HashMap<u32, Waiting>>>,
}

/// A request's connection, and the task watching it for the client going away.
#[derive(Debug)]
struct Waiting {
    stream: TcpStream,
    watch: Option<AbortHandle>,
}

impl Waiting {
    /// Stops the watch task: the request was answered.
    fn stop_watching(&self) {
        if let Some(watch) = &self.watch {
            watch.abort();
        }
    }
}

impl Default for Pending {
    /// A table taking requests.
    fn default() -> Self {
        Self { streams: Mutex::new(Some(HashMap::new())) }
    }
}

impl Pending {
    /// Holds the connection of request `id` for JS; false (and the connection is dropped)
    /// once the table was closed.
    fn insert(&self, id: u32, stream: TcpStream, watch: Option<AbortHandle>) -> bool {
        let waiting = Waiting { stream, watch };
        lock(&self.streams).as_mut().map(|streams| streams.insert(id, waiting)).is_some()
    }

    /// The connection of request `id`, once: `None` when it was answered already (or the
    /// client went away meanwhile).
    pub fn take(&self, id: u32) -> Option<TcpStream> {
        let waiting = lock(&self.streams).as_mut().and_then(|streams| streams.remove(&id))?;
        waiting.stop_watching();
        Some(waiting.stream)
    }

    /// Drops request `id`'s connection (its watch calls this): true if it was still waiting.
    fn forget(&self, id: u32) -> bool {
        lock(&self.streams).as_mut().and_then(|streams| streams.remove(&id)).is_some()
    }

    /// Drops every connection still waiting, and those of requests still being read (the
    /// environment is going away).
    pub fn close(&self) {
        let streams = lock(&self.streams).take();
        for waiting in streams.into_iter().flat_map(HashMap::into_values) {
            waiting.stop_watching();
        }
    }
}

/// A listening socket: its accept loop runs until [`Listener::close`] or drop.
#[derive(Debug)]
pub struct Listener {
    slot: Arc<Mutex<Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    listener: Option<TcpListener>,
    waker: Option<Waker>,
}

impl Listener {
    /// Binds `addr` with `backlog`, starts accepting on the runtime and returns the bound
    /// address. Each upgrade request becomes an [`EventBody::Request`] of listener `id` on
    /// `hub`, its connection held in `pending` under the request's id.
    pub fn bind(
        hub: Arc<Hub>,
        pending: Arc<Pending>,
        id: u32,
        addr: SocketAddr,
        backlog: u32,
    ) -> io::Result<(Self, SocketAddr)> {
        let rt = runtime().map_err(io::Error::other)?;
        let _context = rt.enter();
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        // As libuv does: a restarted server can bind while old connections are in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(backlog)?;
        let bound = listener.local_addr()?;
        let slot = Arc::new(Mutex::new(Slot { listener: Some(listener), waker: None }));
        rt.spawn(accept_loop(hub, pending, id, Arc::clone(&slot)));
        Ok((Self { slot }, bound))
    }

    /// Stops listening now: the socket is closed before this returns (new connections are
    /// refused), connections accepted already are served on.
    pub fn close(&self) {
        let mut slot = lock(&self.slot);
        slot.listener = None;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close();
    }
}

/// Accepts until the listener is closed.
async fn accept_loop(hub: Arc<Hub>, pending: Arc<Pending>, id: u32, slot: Arc<Mutex<Slot>>) {
    loop {
        let accepted = poll_fn(|cx| {
            let mut slot = lock(&slot);
            let Some(listener) = slot.listener.as_ref() else {
                return Poll::Ready(None);
            };
            match listener.poll_accept(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                Poll::Pending => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        match accepted {
            None => return,
            Some(Ok((stream, _))) => {
                tokio::spawn(serve(Arc::clone(&hub), Arc::clone(&pending), id, stream));
            }
            // Out of descriptors or memory, or the connection was reset while queued: libuv
            // goes on accepting too; the pause keeps a full descriptor table from spinning.
            Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Reads the request head of an accepted connection and either queues it for JS (an upgrade)
/// or answers it.
async fn serve(hub: Arc<Hub>, pending: Arc<Pending>, listener: u32, mut stream: TcpStream) {
    let mut buf = BytesMut::with_capacity(1024);
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream, &mut buf)).await;
    let request = match head {
        Ok(Ok(Some(request))) => request,
        Ok(Err(err)) => return reject(stream, Bytes::from_static(err.response())).await,
        Err(_) => return reject(stream, Bytes::from_static(HeadError::TimedOut.response())).await,
        // The client went away or broke the connection.
        Ok(Ok(None)) => return,
    };
    if !request.is_upgrade() {
        return reject(stream, Bytes::from(http::upgrade_required(&request.method))).await;
    }
    let rest = buf.split_off(request.len);
    let id = next_id();
    let Ok((data, text_len)) = describe(id, &request, &stream, &rest) else {
        return;
    };
    let watch =
        stream.as_fd().try_clone_to_owned().ok().map(|fd| {
            tokio::spawn(watch(Arc::clone(&pending), Arc::clone(&hub), listener, id, fd))
        });
    let abort = watch.as_ref().map(JoinHandle::abort_handle);
    if pending.insert(id, stream, abort) {
        hub.push(Event::new(listener, EventBody::Request { text_len, data }));
    }
}

/// Watches the connection of request `id` (through `fd`, a duplicate) while JS decides, as
/// Node's socket would report it: when the client ends or resets it, the request is dropped
/// and JS told ([`EventBody::RequestGone`]). Stops at the first byte the client sends (its
/// first frame: the connection is alive) and when the request is answered (aborted).
async fn watch(pending: Arc<Pending>, hub: Arc<Hub>, listener: u32, id: u32, fd: OwnedFd) {
    // SAFETY: `fd` is owned by the `AsyncFd` until it is dropped.
    let Ok(fd) = (unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }) else {
        return;
    };
    // `Some(reset)` once the client left.
    let gone = loop {
        let Ok(mut guard) = fd.readable().await else {
            break Some(false);
        };
        let mut byte = 0u8;
        // SAFETY: `byte` is a valid one-byte buffer; the descriptor is open (owned by `fd`).
        let peeked = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                std::ptr::from_mut(&mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if peeked >= 0 {
            break (peeked == 0).then_some(false);
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock => guard.clear_ready(),
            io::ErrorKind::Interrupted => {}
            // Node's socket reports a reset as `'error'` (other failures are rare here).
            kind => break Some(kind == io::ErrorKind::ConnectionReset),
        }
    };
    if let Some(reset) = gone {
        if pending.forget(id) {
            hub.push(Event::new(listener, EventBody::RequestGone { request: id, reset }));
        }
    }
}

/// Reads until `buf` holds a whole request head: `Ok(None)` at EOF or on a read error.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Option<Request>, HeadError> {
    // Where the last parse ended (`None` before the first).
    let mut parsed: Option<usize> = None;
    loop {
        let before = buf.len();
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
        // A head ends with a line feed: after the first read (which shows garbage at once),
        // parsing again only when one came, or 1 KiB more, keeps a client that sends a byte
        // at a time from making the runtime parse the head once per byte.
        if let Some(at) = parsed {
            if !buf[before..].contains(&b'\n') && buf.len() - at < 1024 {
                continue;
            }
        }
        parsed = Some(buf.len());
        if let Some(request) = http::parse_request(buf)? {
            return Ok(Some(request));
        }
        if buf.capacity() == buf.len() {
            buf.reserve(buf.len());
        }
    }
}

/// Parses an IP address as Node takes it, an IPv6 one possibly scoped by an interface name
/// (`fe80::1%eth0`); an unknown interface scopes nothing, and binding a link-local address
/// then fails with `EINVAL`, as in Node (which takes no numeric scope either).
pub fn parse_ip(address: &str, port: u16) -> Option<SocketAddr> {
    let Some((ip, zone)) = address.split_once('%') else {
        return address.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, port));
    };
    let ip: std::net::Ipv6Addr = ip.parse().ok()?;
    let scope = std::ffi::CString::new(zone)
        // SAFETY: a NUL-terminated string.
        .map(|name| unsafe { libc::if_nametoindex(name.as_ptr()) })
        .unwrap_or(0);
    Some(SocketAddr::V6(std::net::SocketAddrV6::new(ip, port, 0, scope)))
}

/// An address's IP as Node shows it: with `%` and its interface's name when it is scoped.
pub fn ip_text(addr: &SocketAddr) -> String {
    let SocketAddr::V6(v6) = addr else { return addr.ip().to_string() };
    if v6.scope_id() == 0 {
        return v6.ip().to_string();
    }
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname writes at most.
    let found = unsafe { libc::if_indextoname(v6.scope_id(), name.as_mut_ptr()) };
    let zone = if found.is_null() {
        v6.scope_id().to_string()
    } else {
        // SAFETY: if_indextoname wrote a NUL-terminated name.
        unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned()
    };
    format!("{}%{zone}", v6.ip())
}

/// What JS gets of upgrade request `id`: NUL-separated fields (the id, method, URL, HTTP
/// version, the remote address, port and family, the local address and port, then each
/// header's name and value), then the bytes read past the head. Returns them and the length
/// of the fields. NUL cannot occur in a parsed head, nor in an address.
fn describe(
    id: u32,
    request: &Request,
    stream: &TcpStream,
    rest: &[u8],
) -> io::Result<(Bytes, usize)> {
    let remote = stream.peer_addr()?;
    let local = stream.local_addr()?;
    let mut out = BytesMut::with_capacity(512 + rest.len());
    let family = if remote.is_ipv4() { "IPv4" } else { "IPv6" };
    let fields: [&str; 9] = [
        &id.to_string(),
        request.method.as_str(),
        request.url.as_str(),
        if request.minor_version == 0 { "1.0" } else { "1.1" },
        &ip_text(&remote),
        &remote.port().to_string(),
        family,
        &ip_text(&local),
        &local.port().to_string(),
    ];
    for field in fields {
        out.put_slice(field.as_bytes());
        out.put_u8(0);
    }
    for (name, value) in &request.headers {
        out.put_slice(name.as_bytes());
        out.put_u8(0);
        out.put_slice(value);
        out.put_u8(0);
    }
    let text_len = out.len();
    out.put_slice(rest);
    Ok((out.freeze(), text_len))
}

/// Writes `response`, ends our side and closes the connection once the client is done (or
/// after [`LINGER`]).
pub async fn reject(mut stream: TcpStream, response: Bytes) {
    if stream.write_all(&response).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn listen(hub: &Arc<Hub>, pending: &Arc<Pending>) -> (Listener, SocketAddr) {
        let addr = "127.0.0.1:0".parse().unwrap();
        Listener::bind(Arc::clone(hub), Arc::clone(pending), 7, addr, 16).unwrap()
    }

    fn wait_for_event(hub: &Hub) -> Event {
        for _ in 0..500 {
            let (mut events, _) = hub.drain(|_| true);
            if let Some(event) = events.pop() {
                return event;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no event");
    }

    /// Sends `bytes` and returns the client, and the queued request's id, other fields and
    /// the bytes past its head.
    fn request(
        hub: &Hub,
        addr: SocketAddr,
        bytes: &[u8],
    ) -> (std::net::TcpStream, u32, Vec<String>, Bytes) {
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.write_all(bytes).unwrap();
        let event = wait_for_event(hub);
        assert_eq!(event.id, 7);
        let EventBody::Request { text_len, data } = event.body else {
            panic!("not a request: {:?}", event.body);
        };
        let text = std::str::from_utf8(&data[..text_len]).unwrap();
        let mut fields: Vec<String> = text.split('\0').map(str::to_owned).collect();
        let id = fields.remove(0).parse().unwrap();
        (client, id, fields, data.slice(text_len..))
    }

    #[test]
    fn parses_and_shows_scoped_addresses_as_node_does() {
        let scoped = parse_ip("fe80::1%lo", 80).unwrap();
        let SocketAddr::V6(v6) = scoped else { panic!("{scoped}") };
        assert!(v6.scope_id() > 0);
        assert_eq!(ip_text(&scoped), "fe80::1%lo");
        let unknown = parse_ip("fe80::1%no-such-interface", 80).unwrap();
        assert_eq!(ip_text(&unknown), "fe80::1");
        assert_eq!(ip_text(&parse_ip("127.0.0.1", 1).unwrap()), "127.0.0.1");
        assert_eq!(ip_text(&parse_ip("::ffff:127.0.0.1", 1).unwrap()), "::ffff:127.0.0.1");
        assert!(parse_ip("127.0.0.1%lo", 1).is_none());
        assert!(parse_ip("localhost", 1).is_none());
    }

    #[test]
    fn queues_an_upgrade_request_with_what_followed_its_head() {
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        let pending = Arc::new(Pending::default());
        let (_listener, addr) = listen(&hub, &pending);
        let (mut client, id, fields, rest) = request(
            &hub,
            addr,
            b"GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nabc",
        );
        assert_eq!(&fields[..3], ["GET", "/x", "1.1"]);
        assert_eq!(fields[3], "127.0.0.1");
        assert_eq!(fields[4], client.local_addr().unwrap().port().to_string());
        assert_eq!(&fields[5..7], ["IPv4", "127.0.0.1"]);
        assert_eq!(fields[7], addr.port().to_string());
        assert_eq!(&fields[8..], ["Upgrade", "websocket", "Connection", "Upgrade", ""]);
        assert_eq!(&rest[..], b"abc");

        // Answered once; the connection is the client's.
        let stream = pending.take(id).unwrap();
        assert!(pending.take(id).is_none());
        runtime().unwrap().spawn(reject(stream, Bytes::from_static(b"HTTP/1.1 400 x\r\n\r\n")));
        let mut response = Vec::new();
        client.read_to_end(&mut response).unwrap();
        assert_eq!(response, b"HTTP/1.1 400 x\r\n\r\n");
    }

    #[test]
    fn drops_a_request_whose_client_went_away() {
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        let pending = Arc::new(Pending::default());
        let (_listener, addr) = listen(&hub, &pending);
        let (client, id, _, _) = request(
            &hub,
            addr,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        );
        drop(client);
        let event = wait_for_event(&hub);
        assert_eq!(event.id, 7);
        assert!(matches!(
            event.body,
            EventBody::RequestGone { request, reset: false } if request == id
        ));
        assert!(pending.take(id).is_none());

        // A reset is told apart (Node's socket emits `'error'` for it).
        let (client, id, _, _) = request(
            &hub,
            addr,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        );
        super::super::connection::set_zero_linger(client.as_raw_fd()).unwrap();
        drop(client);
        let event = wait_for_event(&hub);
        assert!(matches!(
            event.body,
            EventBody::RequestGone { request, reset: true } if request == id
        ));
    }

    #[test]
    fn reads_a_head_sent_a_byte_at_a_time() {
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        let pending = Arc::new(Pending::default());
        let (_listener, addr) = listen(&hub, &pending);
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_nodelay(true).unwrap();
        for byte in b"GET /slow HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n" {
            client.write_all(&[*byte]).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let event = wait_for_event(&hub);
        let EventBody::Request { text_len, data } = event.body else {
            panic!("not a request: {:?}", event.body);
        };
        assert!(std::str::from_utf8(&data[..text_len]).unwrap().contains("\0/slow\0"));
    }

    #[test]
    fn answers_plain_malformed_and_late_requests_itself() {
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        let pending = Arc::new(Pending::default());
        let (_listener, addr) = listen(&hub, &pending);
        for (request, status) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], &b"HTTP/1.1 426 "[..]),
            (b"\x16\x03\x01\x00\x10hello", b"HTTP/1.1 400 "),
            // Nothing, or half a head, within the head timeout (as Node's).
            (b"", b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", b"HTTP/1.1 408 "),
        ] {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client.write_all(request).unwrap();
            let mut response = Vec::new();
            client.read_to_end(&mut response).unwrap();
            assert!(response.starts_with(status), "{}", String::from_utf8_lossy(&response));
        }
        assert!(hub.is_empty());
    }

    #[test]
    fn a_closed_table_takes_no_more_requests() {
        let pending = Pending::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let _context = runtime().unwrap().enter();
        let stream = TcpStream::from_std(client.try_clone().unwrap()).unwrap();
        assert!(pending.insert(1, stream, None));
        pending.close();
        assert!(pending.take(1).is_none());
        assert!(!pending.insert(2, TcpStream::from_std(client).unwrap(), None));
    }

    #[test]
    fn refuses_connections_once_closed() {
        let hub = Arc::new(Hub::new(Box::new(|| {})));
        let pending = Arc::new(Pending::default());
        let (listener, addr) = listen(&hub, &pending);
        listener.close();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
