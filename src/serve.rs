//! The one place long-lived tasks are wired: store, ingress and admin
//! listeners, dispatcher, janitor and the SIGHUP reloader, with an ordered,
//! bounded shutdown: stop accepting → stop claiming → wait for running
//! handlers → flush → return.

use crate::admin::Admin;
use crate::config::tls::ServerTls;
use crate::config::{self, Config, SharedSources};
use crate::dispatch::Dispatcher;
use crate::http::{self, Limits, Listener};
use crate::ingress::guard::Guards;
use crate::ingress::Ingress;
use crate::janitor::Janitor;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::store::Store;
use crate::tls::acme;
use crate::tls::ingress::{Acceptor, Certs};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::Signal;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish at shutdown.
pub const REQUEST_DRAIN: Duration = Duration::from_secs(10);
/// How long running handlers may take to finish at shutdown.
pub const HANDLER_GRACE: Duration = Duration::from_secs(20);

/// The listeners `serve` answers on, bound by its caller.
pub struct Listeners {
    pub ingress: TcpListener,
    pub admin: Option<Listener>,
    /// TLS on `ingress` (`[server] tls`), kept across generations.
    pub tls: Option<Acceptor>,
}

/// The ingress TLS of `config`, for the whole process (not one
/// generation): the certificate files as loaded, or ACME — whose task,
/// obtaining and renewing the certificate, is spawned here and runs until
/// `shutdown`.
pub fn tls(config: &Config, shutdown: &CancellationToken) -> Result<Option<Acceptor>, String> {
    let (certs, acme) = match &config.server.tls {
        None => return Ok(None),
        Some(ServerTls::Files { key, .. }) => (Arc::new(Certs::with(key.clone())), None),
        Some(ServerTls::Acme(settings)) => {
            let placeholder = acme::placeholder(&settings.domains)
                .map_err(|e| format!("server.tls.acme: cannot make the placeholder certificate: {e}"))?;
            (Arc::new(Certs::pending(Some(placeholder))), Some(settings.clone()))
        }
    };
    let acceptor = Acceptor::new(certs.clone(), acme.is_some()).map_err(|e| format!("server.tls: {e}"))?;
    if let Some(settings) = acme {
        tokio::spawn(acme::run(settings, config.storage.path.clone(), certs, shutdown.child_token()));
    }
    Ok(Some(acceptor))
}

/// Run until `shutdown` is cancelled, then shut down in order.
pub async fn run(config: Config, store: Arc<Store>, listeners: Listeners, hangup: Signal, shutdown: CancellationToken) {
    let counting = store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = counting.recount() {
            tracing::error!(error = %e, "rebuilding the counts failed; stats stay partial");
        }
    });
    let sources: SharedSources = Arc::new(ArcSwap::from_pointee(config.sources.clone()));
    let queue = Queue::default();
    let flow = Arc::new(crate::flow::Flow::load(store.clone()));
    let guards = Arc::new(ArcSwap::from_pointee(Guards::new(
        &config.sources,
        config.server.trusted_proxies.clone(),
        config.server.unverified_rate_limit,
    )));
    let metrics = Arc::new(Metrics::default());
    let feed = crate::feed::Feed::default();
    let counter = metrics.clone();
    store.on_body_mismatch(move |source| counter.dedup_body_mismatch(source));
    let server = config.server.clone();
    let limits = move || Limits {
        header_timeout: server.read_timeout,
        max_header_bytes: server.max_header_bytes,
        max_connections: server.max_connections,
        max_per_address: server.max_connections_per_address,
        exempt: server.trusted_proxies.clone(),
        drain: REQUEST_DRAIN,
        tls: None,
    };
    let certs = listeners.tls.as_ref().map(|t| t.certs().clone());
    let replies = crate::dispatch::reply::Replies::default();
    let ingress = Arc::new(Ingress {
        replies: replies.clone(),
        sources: sources.clone(),
        metrics: metrics.clone(),
        store: store.clone(),
        queue: queue.clone(),
        max_body: config.server.max_body,
        read_timeout: config.server.read_timeout,
        guards: guards.clone(),
        feed: feed.clone(),
        tls: certs.clone(),
    });
    let admin = match (listeners.admin, &config.admin) {
        (Some(listener), Some(admin)) => {
            let token = admin.token.as_ref().map(|t| t.expose().to_vec());
            let api = Arc::new(Admin {
                store: store.clone(),
                queue: queue.clone(),
                metrics: metrics.clone(),
                sources: sources.clone(),
                token,
                read_timeout: config.server.read_timeout,
                feed: feed.clone(),
                sessions: Default::default(),
                shutdown: shutdown.clone(),
                output_tail: config.dispatch.output_tail,
                flow: flow.clone(),
            });
            let handler = move |req, peer| api.clone().handle(req, peer);
            Some(tokio::spawn(http::serve(listener, handler, limits(), shutdown.clone())))
        }
        _ => None,
    };
    let dispatcher = Dispatcher {
        store: store.clone(),
        queue: queue.clone(),
        sources: sources.clone(),
        metrics,
        flow,
        alerts: config.alerts.clone(),
        concurrency: config.dispatch.concurrency,
        output_tail: config.dispatch.output_tail,
        inherit_env: config.dispatch.inherit_env.clone(),
        admin_token: config.admin.as_ref().and_then(|a| a.token.clone()),
        feed,
        client: config.https.clone(),
        replies,
    };
    // The backlog's work runs below the acks' priority, handlers below that
    // (dispatch/background.rs).
    let background =
        crate::dispatch::background::handle(config.dispatch.nice).unwrap_or_else(tokio::runtime::Handle::current);
    let dispatching = background.spawn(dispatcher.run(shutdown.child_token(), HANDLER_GRACE));
    let janitor = Janitor {
        store: store.clone(),
        sources: sources.clone(),
        retain_delivered: config.storage.retain_delivered,
        retain_dead: config.storage.retain_dead,
        dedup_window: config.storage.dedup_window,
    };
    let janitoring = background.spawn(janitor.run(shutdown.child_token()));
    tokio::spawn(reload_on_hangup(config, Live { sources, guards, certs }, queue, hangup, shutdown.child_token()));
    let handler = move |req, peer| ingress.clone().handle(req, peer);
    let ingress_limits = Limits { tls: listeners.tls, ..limits() };
    http::serve(listeners.ingress, handler, ingress_limits, shutdown).await;
    tracing::info!("ingress closed; waiting for running handlers");
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    if let Err(e) = dispatching.await {
        tracing::error!(error = %e, "dispatcher task failed");
    }
    // The janitor holds the store too: until it has let go, the store is
    // not dropped, and its last checkpoint (so that the next start replays
    // nothing) would be skipped when the process ends. At nice 19 on busy
    // cores it can be the last to see the cancellation.
    if let Err(e) = janitoring.await {
        tracing::error!(error = %e, "janitor task failed");
    }
    if let Err(e) = store.sync().await {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("stopped");
}

/// What a reload swaps: sources with their routes, the guards built from
/// them, and the ingress certificate read from its files.
struct Live {
    sources: SharedSources,
    guards: Arc<ArcSwap<Guards>>,
    certs: Option<Arc<Certs>>,
}

/// SIGHUP: load the config file again and swap in its sources and routes,
/// and the ingress certificate from its files (loading checked them: a bad
/// file refuses the reload, so the old certificate stays). Listen
/// addresses, storage and admin settings, and a change of TLS mode, need a
/// restart. A config
/// with problems is refused, every problem logged, and the old one stays.
/// `hup` is installed by the caller before the listener is announced, so a
/// SIGHUP never finds hookd without a handler (its default kills).
async fn reload_on_hangup(config: Config, live: Live, queue: Queue, mut hup: Signal, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = hup.recv() => tracing::info!("SIGHUP: reloading {}", config.path.display()),
            _ = stop.cancelled() => return,
        }
        match config::load(&config.path) {
            Ok(new) => {
                if new.server.listen != config.server.listen || new.storage.path != config.storage.path {
                    tracing::warn!("server.listen and storage.path changes take effect at the next restart");
                }
                for w in &new.warnings {
                    tracing::warn!(problem = %w, "configuration warning");
                }
                let count = new.sources.len();
                live.guards.store(Arc::new(Guards::new(
                    &new.sources,
                    new.server.trusted_proxies.clone(),
                    new.server.unverified_rate_limit,
                )));
                reload_certificate(&config, &new, live.certs.as_deref());
                live.sources.store(Arc::new(new.sources));
                queue.wake();
                tracing::info!(sources = count, "configuration reloaded");
            }
            Err(problems) => {
                for p in &problems.0 {
                    tracing::error!(problem = %p, "reload refused; the running configuration stays");
                }
            }
        }
    }
}

/// Present the certificate files `new` read from now on (open connections
/// keep theirs).
fn reload_certificate(old: &Config, new: &Config, certs: Option<&Certs>) {
    match (&new.server.tls, certs) {
        (Some(ServerTls::Files { cert_file, key, .. }), Some(certs))
            if matches!(old.server.tls, Some(ServerTls::Files { .. })) =>
        {
            certs.set(key.clone());
            tracing::info!(cert_file = %cert_file.display(), "server.tls: certificate files re-read");
        }
        (None, None) | (Some(ServerTls::Acme(_)), Some(_)) => {}
        _ => tracing::warn!(
            "server.tls: a change between plain HTTP, certificate files and ACME takes effect at the next restart"
        ),
    }
}
