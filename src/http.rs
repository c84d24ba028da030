//! The accept loop shared by every listener (TCP or unix socket): HTTP/1.1 only, a timer so the
//! header read timeout really fires, a cap on open connections, and a
//! graceful watcher per connection for a bounded shutdown. Knows nothing of
//! webhooks.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub type HttpResponse = Response<Full<Bytes>>;

pub struct Limits {
    /// Request headers must arrive within this; also closes idle keep-alives.
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain: Duration,
}

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
pub async fn serve<H, F>(listener: impl Into<Listener>, handler: H, limits: Limits, shutdown: CancellationToken)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let listener = listener.into();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = shutdown.cancelled() => break,
        };
        let conn = Conn { builder: &builder, graceful: &graceful, permit };
        match accepted {
            Ok(Accepted::Tcp(stream, peer)) => {
                // Answers are small and latency is the point: no Nagle.
                let _ = stream.set_nodelay(true);
                conn.spawn(stream, peer, handler.clone())
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
    Tcp(TcpStream, SocketAddr),
    Unix(UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// One accepted connection about to be served.
struct Conn<'a> {
    builder: &'a hyper::server::conn::http1::Builder,
    graceful: &'a GracefulShutdown,
    permit: OwnedSemaphorePermit,
}

impl Conn<'_> {
    fn spawn<S, H, F>(self, stream: S, peer: SocketAddr, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = HttpResponse> + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req| {
            let fut = handler(req, peer);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let conn = self.graceful.watch(self.builder.serve_connection(TokioIo::new(stream), service));
        let permit = self.permit;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
}
