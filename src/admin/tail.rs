//! `GET /v1/tail`: the feed as a `text/event-stream` (`event: received`,
//! `attempt`, `dead`; `lagged` when this reader fell behind and skipped
//! some), filtered by `source=` and `type=` (a glob). Also the admin API's
//! response body, which is either whole or such a stream. A reader never
//! slows the feed: it reads the broadcast on its own task, and a stream
//! ends when its client goes or hookd shuts down.

use crate::feed::{Feed, Happening};
use bytes::Bytes;
use globset::GlobMatcher;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// A comment line this often keeps proxies from closing an idle stream and
/// finds clients that went away.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The admin API's response body: whole, or an event stream.
pub struct AdminBody(Inner);

enum Inner {
    Whole(Full<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl From<Full<Bytes>> for AdminBody {
    fn from(full: Full<Bytes>) -> Self {
        AdminBody(Inner::Whole(full))
    }
}

impl Body for AdminBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Inner::Whole(full) => Pin::new(full).poll_frame(cx),
            Inner::Stream(rx) => rx.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Whole(full) => full.is_end_stream(),
            Inner::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Whole(full) => full.size_hint(),
            Inner::Stream(_) => SizeHint::default(),
        }
    }
}

/// Which happenings a reader wants.
pub struct TailFilter {
    pub source: Option<String>,
    pub event_type: Option<GlobMatcher>,
}

impl TailFilter {
    fn keeps(&self, h: &Happening) -> bool {
        self.source.as_deref().is_none_or(|s| s == h.source())
            && self.event_type.as_ref().is_none_or(|g| g.is_match(h.event_type()))
    }
}

/// The stream's body: subscribed now, so nothing published after this call
/// is missed; fed by its own task until the client goes or `shutdown`.
pub fn stream(feed: &Feed, filter: TailFilter, shutdown: CancellationToken) -> AdminBody {
    let (tx, rx) = mpsc::channel(64);
    let news = feed.subscribe();
    tokio::spawn(forward(news, filter, tx, shutdown));
    AdminBody(Inner::Stream(rx))
}

async fn forward(
    mut news: broadcast::Receiver<std::sync::Arc<Happening>>,
    filter: TailFilter,
    tx: mpsc::Sender<Bytes>,
    shutdown: CancellationToken,
) {
    if tx.send(Bytes::from_static(b": hookd tail\nretry: 2000\n\n")).await.is_err() {
        return;
    }
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    loop {
        let chunk = tokio::select! {
            got = news.recv() => match got {
                Ok(h) if filter.keeps(&h) => frame(h.name(), &serde_json::to_value(&*h).unwrap_or_default()),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    frame("lagged", &serde_json::json!({"skipped": skipped}))
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = beat.tick() => Bytes::from_static(b": keep-alive\n\n"),
            _ = shutdown.cancelled() => return,
        };
        // A reader that does not read for this long is let go.
        match tokio::time::timeout(HEARTBEAT, tx.send(chunk)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// One SSE message: `event: NAME` and the JSON on one `data:` line (JSON
/// text has no raw newlines).
fn frame(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
