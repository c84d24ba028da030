//! The `nats` route target (SPEC §5): one attempt publishes the raw body to
//! NATS JetStream with `Nats-Msg-Id: <source>:<event_id>` and the `Hookd-*`
//! headers, and is delivered only when the stream's publish ack came back
//! (a duplicate ack counts). Connections are shared per server list,
//! credentials and TLS settings, and reconnect by themselves. Must never
//! call an attempt delivered without an ack, log a token or credentials,
//! or outlive the route's `timeout`.

pub mod subject;

use crate::config::secret::Secret;
use crate::tls::client::ClientTls;
use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::{jetstream, ConnectOptions, HeaderMap, ServerAddr};
use bytes::Bytes;
use rustls::ClientConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subject::Subject;
use tokio::sync::OnceCell;

/// How long one connect (TCP, TLS, the server's INFO) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The JetStream context's own ack wait; an attempt gives up sooner, at the
/// route's `timeout`.
const ACK_WAIT: Duration = Duration::from_secs(120);
/// Reconnects back off from 100 ms to this.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Error texts are cut to this many characters.
const REASON_MAX: usize = 300;

/// A route's `nats = { … }`, validated.
#[derive(Debug, Clone)]
pub struct NatsTarget {
    pub server: Server,
    pub subject: Subject,
}

impl NatsTarget {
    /// Its servers and subject template, for people (URLs hold no
    /// credentials: those are refused at load).
    pub fn describe(&self) -> String {
        format!("{} {}", self.server.urls.join(","), self.subject.text)
    }
}

/// Where and how to connect: what identifies a shared connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `url`'s comma-separated servers, each `nats://` or `tls://`.
    pub urls: Vec<String>,
    pub auth: Auth,
    /// TLS, whenever the connection speaks it: the system's roots plus
    /// `[tls] ca_file` and the route's CA files, and its client
    /// certificate (`config/tls.rs`, shared with callbacks).
    pub tls: ClientTls,
    /// `tls://`, a CA file or a client certificate: no plain connection.
    pub require_tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `token_file`'s text.
    Token(Secret),
    /// `credentials_file`'s text: a user JWT and its nkey seed.
    Credentials(Secret),
}

/// One publish, as the dispatcher hands it over.
pub struct Publish {
    pub subject: String,
    pub body: Bytes,
    /// `<source>:<event_id>`: JetStream drops a second copy within its
    /// duplicate window.
    pub msg_id: String,
    pub hookd_id: String,
    pub source: String,
    pub event_type: String,
    pub attempt: u32,
    pub content_type: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsOutcome {
    /// The stream acked it; `duplicate`: it already held this msg id.
    Delivered { stream: String, sequence: u64, duplicate: bool },
    /// No ack (no stream, a timeout, no connection, a refusal): try again
    /// with the same msg id.
    Retry { reason: String },
}

/// The connections in use, one per [`Server`], opened on first use.
#[derive(Clone, Default)]
pub struct Pool {
    conns: Arc<Mutex<Vec<(Server, Shared)>>>,
}

/// One server's connection, once it is open.
type Shared = Arc<OnceCell<jetstream::Context>>;

impl Pool {
    /// Forget the connections of servers no route names any more (after
    /// a reload); each closes once the last attempt using it is done.
    pub fn retain(&self, in_use: impl Fn(&Server) -> bool) {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).retain(|(s, _)| in_use(s));
    }

    /// Whether `server` has a connection (or one being opened).
    pub fn knows(&self, server: &Server) -> bool {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|(s, _)| s == server)
    }

    /// The server's connection: opened once (callers wait for the one
    /// connect in progress); a failed connect is tried again next time.
    async fn context(&self, server: &Server) -> Result<jetstream::Context, String> {
        let cell = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            match conns.iter().find(|(s, _)| s == server) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    conns.push((server.clone(), cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| connect(server)).await.cloned()
    }
}

/// Publish `msg` and wait for its ack, all within `msg.timeout`.
pub async fn publish(pool: &Pool, target: &NatsTarget, msg: Publish) -> NatsOutcome {
    let timeout = msg.timeout;
    match tokio::time::timeout(timeout, publish_acked(pool, &target.server, msg)).await {
        Err(_) => NatsOutcome::Retry { reason: format!("no ack within {}", humantime::format_duration(timeout)) },
        Ok(Err(reason)) => NatsOutcome::Retry { reason: cut(reason) },
        Ok(Ok(ack)) => NatsOutcome::Delivered { stream: ack.stream, sequence: ack.sequence, duplicate: ack.duplicate },
    }
}

async fn publish_acked(pool: &Pool, server: &Server, msg: Publish) -> Result<jetstream::publish::PublishAck, String> {
    let js = pool.context(server).await?;
    // While the client reconnects, a publish would wait in its buffer and
    // go out later: say so now, and retry with backoff instead.
    if js.client().connection_state() != State::Connected {
        return Err("not connected to NATS (reconnecting)".into());
    }
    let subject = msg.subject.clone();
    let pending = js.publish_with_headers(msg.subject.clone(), headers(&msg), msg.body).await;
    let ack = match pending {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    ack.map_err(|e| match e.kind() {
        PublishErrorKind::StreamNotFound => format!("no JetStream stream takes subject {subject:?}"),
        PublishErrorKind::TimedOut => "no ack from JetStream in time".into(),
        PublishErrorKind::BrokenPipe => "the connection was lost before the ack".into(),
        _ => format!("publish to {subject:?} failed: {e}"),
    })
}

/// SPEC §5's headers. Values are cut at control characters, which the
/// NATS header block cannot carry.
fn headers(msg: &Publish) -> HeaderMap {
    let clean = |v: &str| v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", clean(&msg.msg_id));
    h.insert("Hookd-Id", msg.hookd_id.as_str());
    h.insert("Hookd-Source", clean(&msg.source));
    h.insert("Hookd-Event-Type", clean(&msg.event_type));
    h.insert("Hookd-Attempt", msg.attempt.to_string());
    h.insert("Content-Type", clean(&msg.content_type));
    h
}

async fn connect(server: &Server) -> Result<jetstream::Context, String> {
    let addrs = server
        .urls
        .iter()
        .map(|u| u.parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad NATS url: {e}"))?;
    let options = match &server.auth {
        Auth::None => ConnectOptions::new(),
        Auth::Token(token) => ConnectOptions::with_token(String::from_utf8_lossy(token.expose()).into_owned()),
        Auth::Credentials(creds) => ConnectOptions::with_credentials(&String::from_utf8_lossy(creds.expose()))
            .map_err(|_| "credentials_file is not a NATS credentials file".to_string())?,
    };
    let servers = server.urls.join(",");
    let options = options
        .tls_client_config(ClientConfig::clone(&server.tls.config))
        .require_tls(server.require_tls)
        .name(concat!("hookd/", env!("CARGO_PKG_VERSION")))
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        .reconnect_delay_callback(|n| {
            Duration::from_millis(100u64.saturating_mul(1 << n.min(5))).min(MAX_RECONNECT_DELAY)
        })
        .event_callback(move |event| log_event(servers.clone(), event));
    let client = options.connect(addrs).await.map_err(|e| {
        let why = crate::tls::client::failure(&e).unwrap_or_else(|| e.to_string());
        cut(format!("cannot connect to NATS: {why}"))
    })?;
    tracing::info!(servers = %server.urls.join(","), "connected to NATS");
    Ok(jetstream::ContextBuilder::new().timeout(ACK_WAIT).build(client))
}

/// The connection's ups and downs, logged with its servers (never its
/// credentials).
async fn log_event(servers: String, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!(%servers, "NATS connection up"),
        async_nats::Event::Disconnected => tracing::warn!(%servers, "NATS connection lost; reconnecting"),
        other => tracing::warn!(%servers, event = %other, "NATS connection event"),
    }
}

fn cut(text: String) -> String {
    text.chars().take(REASON_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_spec_named_and_carry_no_control_characters() {
        let msg = Publish {
            subject: "s".into(),
            body: Bytes::from_static(b"{}"),
            msg_id: "stripe:evt_1".into(),
            hookd_id: "01JABC".into(),
            source: "stripe".into(),
            event_type: "invoice.paid\r\nX-Evil: 1".into(),
            attempt: 7,
            content_type: "application/json".into(),
            timeout: Duration::from_secs(1),
        };
        let h = headers(&msg);
        let get = |k: &str| h.get(k).map(|v| v.as_str().to_string());
        assert_eq!(get("Nats-Msg-Id").as_deref(), Some("stripe:evt_1"));
        assert_eq!(get("Hookd-Id").as_deref(), Some("01JABC"));
        assert_eq!(get("Hookd-Source").as_deref(), Some("stripe"));
        assert_eq!(get("Hookd-Event-Type").as_deref(), Some("invoice.paid  X-Evil: 1"));
        assert_eq!(get("Hookd-Attempt").as_deref(), Some("7"));
        assert_eq!(get("Content-Type").as_deref(), Some("application/json"));
        assert_eq!(get("X-Evil"), None);
    }
}
