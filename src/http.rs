//! The accept loop shared by every listener (TCP, TLS over TCP, or unix socket): HTTP/1.1 only, a timer so the
//! header read timeout really fires, the request-header limit (431), a cap on
//! open connections overall and per peer address, and a graceful watcher per
//! connection for a bounded shutdown. Knows nothing of webhooks; never
//! buffers more of a request head than the header limit allows.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::tls::ingress::{Acceptor, Handshake};

pub type HttpResponse = Response<Full<Bytes>>;

/// What a handler's response body may be: `Full` (ingress), or a body that
/// can also stream (the admin API's `/v1/tail`) and is made from a `Full`
/// for the answers this loop writes itself.
pub trait ResponseBody:
    hyper::body::Body<Data = Bytes, Error = Infallible> + From<Full<Bytes>> + Send + 'static
{
}
impl<B: hyper::body::Body<Data = Bytes, Error = Infallible> + From<Full<Bytes>> + Send + 'static> ResponseBody for B {}

pub struct Limits {
    /// Request headers must arrive within this; also closes idle keep-alives.
    pub header_timeout: Duration,
    /// All request header lines together (`name: value\r\n` each); over it, 431.
    pub max_header_bytes: usize,
    pub max_connections: usize,
    /// Open connections per peer IP address (TCP); one more is closed at once.
    pub max_per_address: usize,
    /// Peers exempt from `max_per_address`: reverse proxies carry every client.
    pub exempt: Vec<IpNet>,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain: Duration,
    /// TLS on a TCP listener (ingress with `[server] tls`); the handshake
    /// must end within `header_timeout`.
    pub tls: Option<Acceptor>,
}

/// Room for the request line on top of `max_header_bytes`: hyper counts the
/// whole head, the limit counts header lines only.
const REQUEST_LINE_ROOM: usize = 8192;
/// hyper's smallest read buffer (`max_buf_size` panics below it).
const MIN_BUF: usize = 8192;
/// After a 431, how long and how much of what the client still sends is
/// read and discarded before closing, so the answer is not lost to a TCP
/// reset (closing a socket with unread input resets it).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;
/// At most one warning per this about connections refused per address.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where a server accepts connections: TCP, or a unix socket (the admin API).
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

/// Peers on a unix socket have no IP address; handlers see this one.
pub const UNIX_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Serve `handler` on `listener` until `shutdown`, then let open requests
/// finish for at most `limits.drain`.
pub async fn serve<H, F, B>(listener: impl Into<Listener>, handler: H, limits: Limits, shutdown: CancellationToken)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: ResponseBody,
{
    let listener = listener.into();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let mut warned: Option<Instant> = None;
    // hyper stops reading a head at this many bytes and answers 431 itself;
    // the exact count of header lines is checked per request in `Conn::spawn`.
    let head = limits.max_header_bytes.saturating_add(REQUEST_LINE_ROOM).max(MIN_BUF);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(head)
        .max_header_size(head);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = accept(&listener, limits.tls.as_ref()) => a,
            _ = shutdown.cancelled() => break,
        };
        let conn = Conn {
            builder: &builder,
            graceful: &graceful,
            permit,
            address: None,
            max_header_bytes: limits.max_header_bytes,
        };
        match accepted {
            Ok(Accepted::Tcp(stream, peer, tls)) => {
                let ip = peer.ip().to_canonical();
                let address = if limits.exempt.iter().any(|net| net.contains(&ip)) {
                    None
                } else {
                    let Some(slot) = per_address.enter(ip, limits.max_per_address) else {
                        refused(ip, limits.max_per_address, &mut warned);
                        continue;
                    };
                    Some(slot)
                };
                // Answers are small and latency is the point: no Nagle.
                let _ = stream.set_nodelay(true);
                let conn = Conn { address, ..conn };
                match tls {
                    None => conn.spawn(stream, peer, handler.clone()),
                    Some(tls) => conn.spawn_tls(stream, peer, tls, limits.header_timeout, handler.clone()),
                }
            }
            Ok(Accepted::Unix(stream)) => conn.spawn(stream, UNIX_PEER, handler.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("open connections did not finish in time; closing them");
    }
}

enum Accepted {
    /// With the TLS handshake still to do when the listener has one.
    Tcp(TcpStream, SocketAddr, Option<Acceptor>),
    Unix(UnixStream),
}

async fn accept(listener: &Listener, tls: Option<&Acceptor>) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer, tls.cloned())),
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// A connection over `max_per_address` is closed at once (dropped, nothing
/// read or answered); the operator hears of it at most once a minute.
fn refused(ip: IpAddr, max: usize, warned: &mut Option<Instant>) {
    if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
        *warned = Some(Instant::now());
        tracing::warn!(
            peer = %ip,
            max_connections_per_address = max,
            "connection refused: too many open connections from this address (next refusals this minute at debug)"
        );
    } else {
        tracing::debug!(peer = %ip, "connection refused: too many open connections from this address");
    }
}

/// Open connections per peer address; an address leaves the map with its
/// last connection, so the map is never larger than `max_connections`.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// One more connection from `ip`, unless it already has `max` open.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { ip, table: self.clone() })
    }
}

/// One open connection counted against its address; released on drop.
struct AddressSlot {
    ip: IpAddr,
    table: Arc<PerAddress>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// One accepted connection about to be served.
struct Conn<'a> {
    builder: &'a hyper::server::conn::http1::Builder,
    graceful: &'a GracefulShutdown,
    permit: OwnedSemaphorePermit,
    address: Option<AddressSlot>,
    max_header_bytes: usize,
}

impl Conn<'_> {
    fn spawn<S, H, F, B>(self, stream: S, peer: SocketAddr, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: ResponseBody,
    {
        let serving = Serving::from(self);
        tokio::spawn(serving.run(stream, peer, handler));
    }

    /// The TLS handshake (within `within`) on the connection's own task,
    /// then HTTP/1.1 over it; an ACME validation ends after its handshake.
    fn spawn_tls<H, F, B>(self, stream: TcpStream, peer: SocketAddr, tls: Acceptor, within: Duration, handler: H)
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: ResponseBody,
    {
        let serving = Serving::from(self);
        tokio::spawn(async move {
            match tls.accept(stream, within).await {
                Ok(Handshake::Http(stream)) => serving.run(stream, peer, handler).await,
                Ok(Handshake::Challenge) => tracing::info!(%peer, "answered an ACME TLS-ALPN-01 validation"),
                Err(e) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
            }
        });
    }
}

/// What a connection's own task needs: owned, so the TLS handshake can
/// run there before HTTP starts.
struct Serving {
    builder: hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    permit: OwnedSemaphorePermit,
    address: Option<AddressSlot>,
    max_header_bytes: usize,
}

impl From<Conn<'_>> for Serving {
    fn from(c: Conn<'_>) -> Serving {
        Serving {
            builder: c.builder.clone(),
            watcher: c.graceful.watcher(),
            permit: c.permit,
            address: c.address,
            max_header_bytes: c.max_header_bytes,
        }
    }
}

impl Serving {
    async fn run<S, H, F, B>(self, stream: S, peer: SocketAddr, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: ResponseBody,
    {
        let max_header_bytes = self.max_header_bytes;
        // Set when this side answered 431 itself: the client may still be sending.
        let too_large = Arc::new(AtomicBool::new(false));
        let flagged = too_large.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let fut = (header_bytes(req.headers()) <= max_header_bytes).then(|| handler(req, peer));
            let flagged = flagged.clone();
            async move {
                Ok::<_, Infallible>(match fut {
                    Some(fut) => fut.await,
                    None => {
                        flagged.store(true, Ordering::Relaxed);
                        headers_too_large(max_header_bytes).map(B::from)
                    }
                })
            }
        });
        let (io, returned) = Reclaim::new(stream);
        let conn = self.watcher.watch(self.builder.serve_connection(TokioIo::new(io), service));
        let result = conn.await;
        let linger = match &result {
            Err(e) => e.is_parse_too_large(),
            Ok(()) => too_large.load(Ordering::Relaxed),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
        let stream = returned.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stream) = stream.filter(|_| linger) {
            linger_close(stream).await;
        }
        drop(self.permit);
        drop(self.address);
    }
}

/// The request headers as they came on the wire: `name: value\r\n` each.
fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum()
}

/// 431, and the connection closes after it.
fn headers_too_large(max: usize) -> HttpResponse {
    let body = serde_json::json!({
        "error": "headers_too_large",
        "message": format!("the request headers exceed {max} bytes"),
    });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    let headers = resp.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    resp
}

/// Close after the answer was written without resetting the connection:
/// end our side, then read and discard what the client still sends, for at
/// most `LINGER` and `LINGER_BYTES`.
async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let drain = async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// A stream lent to hyper that comes back when hyper drops it (instead of
/// being closed), so the connection's task can close it gracefully.
struct Reclaim<S> {
    stream: Option<S>,
    back: Arc<Mutex<Option<S>>>,
}

impl<S> Reclaim<S> {
    fn new(stream: S) -> (Reclaim<S>, Arc<Mutex<Option<S>>>) {
        let back = Arc::new(Mutex::new(None));
        (Reclaim { stream: Some(stream), back: back.clone() }, back)
    }

    fn inner(&mut self) -> io::Result<&mut S> {
        self.stream.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl<S> Drop for Reclaim<S> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            *self.back.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Reclaim<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner() {
            Ok(s) => Pin::new(s).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Reclaim<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut().inner() {
            Ok(s) => Pin::new(s).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().inner() {
            Ok(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner() {
            Ok(s) => Pin::new(s).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner() {
            Ok(s) => Pin::new(s).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_slots_are_counted_and_released() {
        let table = Arc::new(PerAddress::default());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let first = table.enter(a, 2).expect("first");
        let second = table.enter(a, 2).expect("second");
        assert!(table.enter(a, 2).is_none(), "a third from the same address");
        let other = table.enter(b, 2).expect("another address has its own count");
        drop(first);
        let again = table.enter(a, 2).expect("a slot freed");
        drop((second, again, other));
        assert!(table.open.lock().expect("lock").is_empty(), "addresses leave with their last connection");
    }

    #[test]
    fn header_bytes_count_every_line() {
        let headers = crate::verify::header_map(&[("host", "x"), ("x-a", "1"), ("x-a", "22")]);
        assert_eq!(header_bytes(&headers), (4 + 1 + 4) + (3 + 1 + 4) + (3 + 2 + 4));
    }
}
