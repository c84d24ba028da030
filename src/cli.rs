//! The command line (SPEC §2): parses arguments, loads config, and maps every
//! outcome to an exit code — 0 ok, 1 runtime error, 2 usage or config error.
//! Prints one-line reasons, never secrets.

use crate::config::{self, Config};
use crate::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "hookd", version, about = "Inbound webhook receiver: verify, dedup, store durably, run handlers")]
struct Cli {
    /// Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the receiver and the dispatcher.
    Serve,
    /// Validate and print the effective config (secrets redacted).
    CheckConfig,
    /// Print the version.
    Version,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => version(cli.json),
        Command::CheckConfig => check_config(&cli),
        Command::Serve => serve(&cli),
    }
}

fn version(json: bool) -> ExitCode {
    let v = env!("CARGO_PKG_VERSION");
    if json {
        println!("{}", serde_json::json!({ "version": v }));
    } else {
        println!("hookd {v}");
    }
    ExitCode::SUCCESS
}

fn load(cli: &Cli) -> Result<Config, ExitCode> {
    config::locate(cli.config.as_deref()).and_then(|p| config::load(&p)).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("{e}");
        }
        ExitCode::from(2)
    })
}

fn check_config(cli: &Cli) -> ExitCode {
    let config = match load(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    print!("{}", config.redacted_toml());
    ExitCode::SUCCESS
}

fn serve(cli: &Cli) -> ExitCode {
    let config = match load(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(serve_async(config))
}

async fn serve_async(config: Config) -> ExitCode {
    let path = config.storage.path.clone();
    let store = match Store::open(&path, config.storage.cache_capacity) {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(format!("storage.path: cannot open {}: {e}", path.display())),
    };
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("server.listen: cannot bind {}: {e}", config.server.listen)),
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    tracing::info!(addr = %addr, sources = config.sources.len(), "ingress listening");
    tokio::spawn(crate::notify::watchdog());
    crate::notify::ready(&addr);
    crate::serve::run(config, store, listener, shutdown).await;
    ExitCode::SUCCESS
}

/// SIGTERM or SIGINT: begin the ordered shutdown. SIGHUP (systemd's
/// ExecReload) must not kill the daemon: until reload exists it is logged.
/// The handlers are installed when this is called, not when the future first
/// runs: a signal in between would otherwise kill hookd outright.
fn on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()));
    async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = signals else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => break tracing::info!("SIGINT: shutting down"),
                _ = hup.recv() => tracing::warn!("SIGHUP: reload is not in this version yet; restart hookd to apply config changes"),
            }
        }
        crate::notify::stopping();
        shutdown.cancel();
    }
}

fn fail(reason: String) -> ExitCode {
    tracing::error!("{reason}");
    eprintln!("hookd: {reason}");
    ExitCode::from(1)
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level =
        std::env::var("HOOKD_LOG").ok().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let filter = Targets::new().with_target("hookd", level).with_default(LevelFilter::WARN);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(fmt.with_ansi(false)).init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).init(),
    }
}
