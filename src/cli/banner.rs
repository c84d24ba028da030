//! The startup banner: one block of INFO lines saying what this `serve`
//! runs — version, the config file and where it was found, the data dir,
//! each source's URL and routes, the admin listener. Never a secret: it
//! names things, it does not print values from the config's secret keys.

use crate::config::Config;
use crate::route::Handler;
use std::path::Path;

/// Where `config::locate` found the file, in the words of its rule.
pub fn origin(flag: Option<&Path>) -> &'static str {
    match (flag, std::env::var_os("HOOKD_CONFIG")) {
        (Some(_), _) => "--config",
        (None, Some(_)) => "$HOOKD_CONFIG",
        (None, None) if Path::new("config.toml").is_file() => "./config.toml in the working directory",
        (None, None) => "the system default",
    }
}

/// Log the banner; `addr` is the ingress address actually bound.
pub fn log(config: &Config, origin: &str, addr: &str) {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    tracing::info!(
        version = %env!("CARGO_PKG_VERSION"),
        config = %absolute(&config.path).display(),
        found_by = %origin,
        data = %config.storage.path.display(),
        "hookd starting"
    );
    if config.sources.is_empty() {
        tracing::info!("no sources: every webhook is answered 404");
    }
    for (name, source) in &config.sources {
        let routes: Vec<String> = source
            .routes
            .iter()
            .map(|r| {
                let target = match &r.handler {
                    Handler::Command { argv } => argv.first().cloned().unwrap_or_default(),
                    Handler::Callback { url, .. } => url.clone(),
                    Handler::Nats(target) => target.describe(),
                };
                format!("{} [{}] -> {target}", r.name, r.events.join(", "))
            })
            .collect();
        let routes = if routes.is_empty() { "none (stored as unrouted)".to_string() } else { routes.join("; ") };
        tracing::info!(
            source = %name,
            kind = %source.kind.name(),
            url = %format!("http://{addr}/webhooks/{name}"),
            %routes,
            "source"
        );
    }
    match &config.admin {
        Some(a) => tracing::info!(listen = %a.listen, "admin API"),
        None => {
            tracing::info!("no admin API ([admin] listen is not set): the events, dlq and stats commands will not work")
        }
    }
    // Last, after the store opened and the sockets bound: a refusal to
    // start stays one line.
    for w in &config.warnings {
        tracing::warn!(problem = %w, "configuration warning");
    }
}
