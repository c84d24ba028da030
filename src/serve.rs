//! The one place long-lived tasks are wired: store, ingress and admin
//! listeners, dispatcher, janitor and the SIGHUP reloader, with an ordered,
//! bounded shutdown: stop accepting → stop claiming → wait for running
//! handlers → flush → return.

use crate::admin::Admin;
use crate::config::{self, Config, SharedSources};
use crate::dispatch::Dispatcher;
use crate::http::{self, Limits, Listener};
use crate::ingress::guard::Guards;
use crate::ingress::Ingress;
use crate::janitor::Janitor;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::store::Store;
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
    };
    let ingress = Arc::new(Ingress {
        sources: sources.clone(),
        metrics: metrics.clone(),
        store: store.clone(),
        queue: queue.clone(),
        max_body: config.server.max_body,
        read_timeout: config.server.read_timeout,
        guards: guards.clone(),
        feed: feed.clone(),
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
        alerts: config.alerts.clone(),
        concurrency: config.dispatch.concurrency,
        output_tail: config.dispatch.output_tail,
        inherit_env: config.dispatch.inherit_env.clone(),
        admin_token: config.admin.as_ref().and_then(|a| a.token.clone()),
        feed,
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
    background.spawn(janitor.run(shutdown.child_token()));
    tokio::spawn(reload_on_hangup(config, Live { sources, guards }, queue, hangup, shutdown.child_token()));
    let handler = move |req, peer| ingress.clone().handle(req, peer);
    http::serve(listeners.ingress, handler, limits(), shutdown).await;
    tracing::info!("ingress closed; waiting for running handlers");
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    if let Err(e) = dispatching.await {
        tracing::error!(error = %e, "dispatcher task failed");
    }
    if let Err(e) = store.sync().await {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("stopped");
}

/// What a reload swaps: sources with their routes, and the guards built
/// from them.
struct Live {
    sources: SharedSources,
    guards: Arc<ArcSwap<Guards>>,
}

/// SIGHUP: load the config file again and swap in its sources and routes.
/// Listen addresses, storage and admin settings need a restart. A config
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
