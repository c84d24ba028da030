//! The HTTP-callback target: a tiny hyper server on a loopback port that
//! answers 204 to everything and counts requests and distinct
//! `webhook-id`s (a redelivery shows as requests > distinct).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;

#[derive(Default)]
pub struct Sink {
    pub requests: AtomicU64,
    ids: Mutex<HashSet<String>>,
    last: Mutex<Option<Instant>>,
}

impl Sink {
    pub fn distinct(&self) -> usize {
        self.ids.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// When the latest request arrived.
    pub fn last(&self) -> Option<Instant> {
        self.last.lock().ok().and_then(|l| *l)
    }

    fn record(&self, id: Option<String>) {
        if let (Some(id), Ok(mut ids)) = (id, self.ids.lock()) {
            ids.insert(id);
        }
        if let Ok(mut l) = self.last.lock() {
            *l = Some(Instant::now());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Start the sink; returns its URL. It runs until the process ends.
pub async fn start(sink: Arc<Sink>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
    let url = format!("http://{}/sink", listener.local_addr().expect("sink addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let sink = sink.clone();
                async move {
                    let id = req.headers().get("webhook-id").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let _ = req.into_body().collect().await;
                    sink.record(id);
                    let mut resp = Response::new(Empty::<Bytes>::new());
                    *resp.status_mut() = http::StatusCode::NO_CONTENT;
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    url
}
