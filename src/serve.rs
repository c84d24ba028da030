//! The one place long-lived tasks are wired: store, ingress listener and
//! dispatcher, with an ordered, bounded shutdown: stop accepting → stop
//! claiming → wait for running handlers → flush → return.

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::http::{self, Limits};
use crate::ingress::guard::Guards;
use crate::ingress::Ingress;
use crate::queue::Queue;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish at shutdown.
pub const REQUEST_DRAIN: Duration = Duration::from_secs(10);
/// How long running handlers may take to finish at shutdown.
pub const HANDLER_GRACE: Duration = Duration::from_secs(20);

/// Run until `shutdown` is cancelled, then shut down in order.
pub async fn run(config: Config, store: Arc<Store>, listener: TcpListener, shutdown: CancellationToken) {
    let sources = Arc::new(config.sources.clone());
    let queue = Queue::default();
    let ingress = Arc::new(Ingress {
        sources: sources.clone(),
        store: store.clone(),
        queue: queue.clone(),
        max_body: config.server.max_body,
        read_timeout: config.server.read_timeout,
        guards: Guards::new(&sources, config.server.trusted_proxies.clone()),
    });
    let limits = Limits {
        header_timeout: config.server.read_timeout,
        max_connections: config.server.max_connections,
        drain: REQUEST_DRAIN,
    };
    let handler = move |req, peer| ingress.clone().handle(req, peer);
    let dispatcher =
        Dispatcher::new(store.clone(), queue, sources, config.dispatch.concurrency, config.dispatch.output_tail);
    let stop_claiming = shutdown.child_token();
    let dispatching = tokio::spawn(dispatcher.run(stop_claiming, HANDLER_GRACE));
    http::serve(listener, handler, limits, shutdown).await;
    tracing::info!("ingress closed; waiting for running handlers");
    if let Err(e) = dispatching.await {
        tracing::error!(error = %e, "dispatcher task failed");
    }
    if let Err(e) = store.sync().await {
        tracing::error!(error = %e, "final flush failed");
    }
    tracing::info!("stopped");
}
