//! The command line (SPEC §2): parses arguments, loads config, and maps every
//! outcome to an exit code — 0 ok, 1 runtime error, 2 usage or config error.
//! Prints one-line reasons, never secrets.

mod banner;
mod client;
mod init;
mod operator;
mod send;
mod sse;

use crate::config::admin::AdminListen;
use crate::config::{self, Config};
use crate::store::{Store, StoreError};
use clap::{Parser, Subcommand, ValueEnum};
use client::Client;
use operator::Op;
use send::SendError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "hookd",
    version,
    about = "Inbound webhook receiver: verify, dedup, store durably, run handlers",
    after_help = EXAMPLES
)]
struct Cli {
    /// Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Machine-readable output: exactly one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Lists print ids only, one per line; other commands print nothing on success (for scripts).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
EXAMPLES:
  hookd serve --config /etc/hookd/config.toml
  hookd check-config                       # the effective config, warnings, a summary
  hookd send --source stripe --type invoice.paid
  hookd events list --status dead --type 'invoice.*'
  hookd events show evt_1NG8Du2eZvKYlo2C   # a hookd id or the sender's id
  hookd events retry 01HZ...               # after fixing the handler
  hookd dlq replay --all --source stripe --dry-run
  hookd dlq list -q | xargs hookd dlq replay
  hookd tail --source github
  hookd completions bash > /etc/bash_completion.d/hookd";

const INIT_EXAMPLES: &str = "\
EXAMPLES:
  hookd init --dir /etc/hookd --source github --source stripe
  hookd init --dir ./hookd --from-webhook /etc/webhook/hooks.json   # see docs/migrating-from-webhook.md";

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
    /// Inspect and replay events (through the running daemon's admin API).
    #[command(subcommand)]
    Events(EventsCmd),
    /// The dead-letter queue: list, replay, purge.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// Routes and their flow state; pause and resume them.
    #[command(subcommand)]
    Routes(RoutesCmd),
    /// Counts per source and status, queue depth, DLQ size.
    Stats,
    /// Follow what happens: arrivals, attempts, dead deliveries (/v1/tail).
    Tail {
        /// Only this source's.
        #[arg(long)]
        source: Option<String>,
        /// Event type (a glob: "invoice.*").
        #[arg(long = "type")]
        ty: Option<String>,
    },
    /// Sign a test event with the source's secret and POST it to the receiver.
    ///
    /// The body is a realistic sample of what the source's sender posts for
    /// that type (its field names and nesting; fresh ids and times), e.g.
    /// stripe invoice.paid, github push or pull_request.opened, slack
    /// app_mention or a slash command (/deploy), twilio an incoming SMS.
    /// Only this source's secret is read.
    Send {
        /// The source (its kind and secret) to sign for.
        #[arg(long)]
        source: String,
        /// Event type of the sample (default: the kind's most common one;
        /// a type without a sample of its own gets the kind's generic event).
        #[arg(long = "type")]
        ty: Option<String>,
        /// Send this file as the body instead of a sample event.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Where to POST (default: this config's listen address, /webhooks/SOURCE).
        #[arg(long)]
        url: Option<String>,
    },
    /// The stopped store: verify it, or export every readable event.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Write a starter config.toml (that check-config accepts), an example handler and placeholder secrets.
    #[command(after_help = INIT_EXAMPLES)]
    Init {
        /// A source of this kind (repeat for more; default: stripe).
        #[arg(long = "source", value_name = "KIND")]
        sources: Vec<String>,
        /// Convert an adnanh/webhook hooks file (JSON or YAML) instead; what does not convert is listed on stderr.
        #[arg(long, value_name = "HOOKS_FILE", conflicts_with = "sources")]
        from_webhook: Option<PathBuf>,
        /// Where to write (default: the working directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Print the version.
    Version,
    /// Print a completion script: `hookd completions bash > /usr/share/bash-completion/completions/hookd`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages (hookd.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Man {
        /// The directory to write into.
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Verify the log and the index of the stopped store; non-zero exit on damage.
    Check,
    /// Every event and body that can be read, as JSON lines on stdout.
    Export,
}

#[derive(Subcommand)]
enum EventsCmd {
    /// Events, newest first.
    List {
        /// Only this source's.
        #[arg(long)]
        source: Option<String>,
        /// Only events in this state.
        #[arg(long, value_parser = ["pending", "retrying", "delivered", "dead", "unrouted"])]
        status: Option<String>,
        /// Event type (a glob: "invoice.*").
        #[arg(long = "type")]
        ty: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = limit_arg)]
        limit: usize,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One event with its deliveries and every attempt (ID: hookd's or the sender's).
    Show {
        /// A hookd id or the sender's event id.
        id: String,
        /// The source, when a sender's id is in several.
        #[arg(long)]
        source: Option<String>,
        /// Print the stored body instead.
        #[arg(long)]
        body: bool,
    },
    /// Deliver again: new attempts, same event id.
    Replay {
        /// A hookd id or the sender's event id.
        id: String,
        /// The source, when a sender's id is in several.
        #[arg(long)]
        source: Option<String>,
    },
    /// Start pending and retrying deliveries now.
    Retry {
        /// A hookd id or the sender's event id.
        id: String,
        /// The source, when a sender's id is in several.
        #[arg(long)]
        source: Option<String>,
    },
}

#[derive(Subcommand)]
enum RoutesCmd {
    /// Every route: state (running, paused, breaker_open), waiting, due and running deliveries.
    #[command(
        after_help = "EXAMPLES:\n  hookd routes list\n  hookd routes list --json | jq '.items[] | select(.state != \"running\")'"
    )]
    List,
    /// Stop starting attempts of a route (running ones finish); survives restarts.
    #[command(after_help = "EXAMPLES:\n  hookd routes pause stripe ledger")]
    Pause {
        /// The route's source.
        source: String,
        /// The route's name (unnamed routes are named by index: 0, 1, …).
        route: String,
    },
    /// Start a paused route's deliveries again.
    #[command(after_help = "EXAMPLES:\n  hookd routes resume stripe ledger")]
    Resume {
        /// The route's source.
        source: String,
        /// The route's name.
        route: String,
    },
}

#[derive(Subcommand)]
enum DlqCmd {
    /// Dead deliveries, newest first.
    List {
        /// Only this source's.
        #[arg(long)]
        source: Option<String>,
        /// Event type (a glob: "invoice.*").
        #[arg(long = "type")]
        ty: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = limit_arg)]
        limit: usize,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Replay dead deliveries: of the given events, or --all (optionally filtered).
    Replay {
        /// Events (hookd ids) whose dead deliveries to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every dead delivery (narrowed by --source and --type).
        #[arg(long)]
        all: bool,
        /// With --all: only this source's.
        #[arg(long, requires = "all")]
        source: Option<String>,
        /// With --all: only this event type (a glob).
        #[arg(long = "type", requires = "all")]
        ty: Option<String>,
        /// Change nothing; say how many would be replayed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove dead events: the given ones, or those dead for longer than --older-than.
    Purge {
        /// Dead events (hookd ids) to remove.
        #[arg(required_unless_present = "older_than", conflicts_with = "older_than")]
        ids: Vec<String>,
        /// Those dead for longer than this ("7d", "12h").
        #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
        older_than: Option<String>,
        /// Change nothing; say how many would be purged.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Version => version(cli.json),
        Command::Init { sources, dir, from_webhook: None } => init(dir, sources, cli.quiet, cli.json),
        Command::Init { dir, from_webhook: Some(file), .. } => init_from_webhook(dir, file, &cli),
        Command::Completions { shell } => completions(*shell),
        Command::Man { dir } => man(dir),
        Command::Store(cmd) => store_cmd(&cli, cmd),
        Command::CheckConfig => check_config(&cli),
        Command::Serve => serve(&cli),
        Command::Send { source, ty, file, url } => send(&cli, source, ty.as_deref(), file.as_deref(), url.as_deref()),
        Command::Events(_) | Command::Dlq(_) | Command::Routes(_) | Command::Stats | Command::Tail { .. } => {
            admin(&cli)
        }
    }
}

/// `--limit`: 1 to 1000, checked before the daemon is asked (exit 2).
fn limit_arg(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=1000) => Ok(n),
        _ => Err("a number from 1 to 1000".to_string()),
    }
}

/// A duration flag, checked before anything is asked of the daemon (a
/// usage error, exit 2).
fn duration_arg(s: &str) -> Result<String, String> {
    humantime::parse_duration(s).map(|_| s.to_string()).map_err(|e| format!("{e} (a duration like \"7d\" or \"12h\")"))
}

fn init(dir: &Path, sources: &[String], quiet: bool, json: bool) -> ExitCode {
    let written = match init::run(dir, sources) {
        Ok(written) => written,
        Err(e) => return init_failed(e),
    };
    if json {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        let config = dir.join("config.toml").display().to_string();
        println!("{}", serde_json::json!({"config": config, "written": files}));
    } else if !quiet {
        for path in &written {
            println!("wrote {}", path.display());
        }
        let config = dir.join("config.toml");
        println!("next: put each sender's signing secret in {}/secrets/, then", dir.display());
        println!("  hookd check-config --config {}", config.display());
        println!("  hookd serve --config {}", config.display());
        println!("  hookd send --config {} --source NAME   # a signed sample event", config.display());
    }
    ExitCode::SUCCESS
}

/// Usage errors (a bad kind, an unreadable hooks file) exit 2, the rest 1.
fn init_failed(e: init::InitError) -> ExitCode {
    let (why, code) = match e {
        init::InitError::Usage(why) => (why, 2),
        init::InitError::Failed(why) => (why, 1),
    };
    eprintln!("hookd: {why}");
    ExitCode::from(code)
}

/// The notes go to stderr whatever the output: they are what to do next.
fn init_from_webhook(dir: &Path, file: &Path, cli: &Cli) -> ExitCode {
    let done = match init::from_webhook::run(dir, file) {
        Ok(done) => done,
        Err(e) => return init_failed(e),
    };
    if !done.notes.is_empty() {
        eprintln!("hookd: not converted ({}; each is also a comment in config.toml):", done.notes.len());
        for note in &done.notes {
            eprintln!("  {}: {}: {}", note.hook, note.field, note.why);
        }
    }
    if cli.json {
        println!("{}", converted_json(&done));
    } else if !cli.quiet {
        print_converted(dir, &done);
    }
    ExitCode::SUCCESS
}

fn print_converted(dir: &Path, done: &init::from_webhook::Converted) {
    for path in &done.written {
        println!("wrote {}", path.display());
    }
    let config = dir.join("config.toml");
    if done.written.iter().any(|p| p.parent().is_some_and(|d| d.ends_with("secrets"))) {
        println!(
            "the hooks file's secrets are in {} now: remove them from it once hookd serves",
            dir.join("secrets").display()
        );
    }
    println!("next: hookd check-config --config {}", config.display());
    println!("  hookd serve --config {}", config.display());
    println!("and point each sender at its new URL:");
    for (source, hook) in &done.sources {
        println!("  /hooks/{hook} -> POST http://HOST:PORT/webhooks/{source}");
    }
}

fn converted_json(done: &init::from_webhook::Converted) -> serde_json::Value {
    use serde_json::json;
    let sources: Vec<_> = done
        .sources
        .iter()
        .map(|(source, hook)| json!({"source": source, "hook": hook, "path": format!("/webhooks/{source}")}))
        .collect();
    let notes: Vec<_> = done.notes.iter().map(|n| json!({"hook": n.hook, "field": n.field, "why": n.why})).collect();
    let written: Vec<_> = done.written.iter().map(|p| p.display().to_string()).collect();
    json!({"written": written, "sources": sources, "not_converted": notes})
}

/// A completion script for `shell`, generated from the same definitions
/// the parser uses (packaging/ ships the generated files; a test keeps
/// them equal).
fn completions(shell: Shell) -> ExitCode {
    use clap::CommandFactory;
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "hookd", &mut out);
    print_bytes(&out)
}

fn man(dir: &Path) -> ExitCode {
    use clap::CommandFactory;
    match clap_mangen::generate_to(Cli::command(), dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookd: writing man pages into {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_bytes(out: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookd: writing stdout: {e}");
            ExitCode::from(1)
        }
    }
}

/// The operator subcommands, as calls to the running daemon's admin API.
fn admin(cli: &Cli) -> ExitCode {
    let admin = config::locate(cli.config.as_deref()).and_then(|p| config::load_admin(&p));
    let admin = match admin {
        Ok(a) => a,
        Err(errors) => {
            errors.0.iter().for_each(|e| eprintln!("{e}"));
            return ExitCode::from(2);
        }
    };
    let Some(admin) = &admin else {
        eprintln!("admin.listen: not set; the events/dlq/stats commands talk to the daemon's admin API");
        return ExitCode::from(2);
    };
    let op = match &cli.command {
        Command::Events(EventsCmd::List { source, status, ty, limit, cursor }) => Op::EventsList {
            source: source.clone(),
            status: status.clone(),
            ty: ty.clone(),
            limit: *limit,
            cursor: cursor.clone(),
        },
        Command::Events(EventsCmd::Show { id, source, body }) => {
            Op::EventsShow { id: id.clone(), source: source.clone(), body: *body }
        }
        Command::Events(EventsCmd::Replay { id, source }) => {
            Op::EventsReplay { id: id.clone(), source: source.clone() }
        }
        Command::Events(EventsCmd::Retry { id, source }) => Op::EventsRetry { id: id.clone(), source: source.clone() },
        Command::Tail { source, ty } => Op::Tail { source: source.clone(), ty: ty.clone() },
        Command::Dlq(DlqCmd::List { source, ty, limit, cursor }) => {
            Op::DlqList { source: source.clone(), ty: ty.clone(), limit: *limit, cursor: cursor.clone() }
        }
        Command::Dlq(DlqCmd::Replay { ids, all, source, ty, dry_run }) => {
            Op::DlqReplay { ids: ids.clone(), all: *all, source: source.clone(), ty: ty.clone(), dry_run: *dry_run }
        }
        Command::Dlq(DlqCmd::Purge { ids, older_than, dry_run }) => {
            Op::DlqPurge { ids: ids.clone(), older_than: older_than.clone(), dry_run: *dry_run }
        }
        Command::Routes(RoutesCmd::List) => Op::RoutesList,
        Command::Routes(RoutesCmd::Pause { source, route }) => {
            Op::RoutePause { source: source.clone(), route: route.clone(), pause: true }
        }
        Command::Routes(RoutesCmd::Resume { source, route }) => {
            Op::RoutePause { source: source.clone(), route: route.clone(), pause: false }
        }
        _ => Op::Stats,
    };
    let client = Client::new(admin);
    match block_on(operator::run(&client, op, cli.json, operator::Style::detect(cli.quiet))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e @ client::ClientError::Usage(_))) => {
            eprintln!("hookd: {e}");
            ExitCode::from(2)
        }
        Ok(Err(e)) => fail(e.to_string()),
        Err(code) => code,
    }
}

fn send(cli: &Cli, source: &str, ty: Option<&str>, file: Option<&Path>, url: Option<&str>) -> ExitCode {
    let sending = match config::locate(cli.config.as_deref()).and_then(|p| config::load_for_send(&p, source)) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    match block_on(send::run(&sending, ty, file, url, cli.json)) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(SendError::Usage(why))) => {
            eprintln!("hookd: {why}");
            ExitCode::from(2)
        }
        Ok(Err(SendError::Failed(why))) => fail(why),
        Err(code) => code,
    }
}

/// Run a client future on a small runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, ExitCode> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => Err(fail(format!("cannot start the runtime: {e}"))),
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

/// `hookd store check|export`: open the stopped store's files directly.
fn store_cmd(cli: &Cli, cmd: &StoreCmd) -> ExitCode {
    let storage = match config::locate(cli.config.as_deref()).and_then(|p| config::load_storage(&p)) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let path = storage.path;
    let refused = |e: StoreError| match e {
        StoreError::InUse(_) => taken(format!("{e}: stop it first (the store commands read the files directly)")),
        e => taken(format!("{}: {e}", path.display())),
    };
    match cmd {
        StoreCmd::Check => match crate::store::inspect::check(&path) {
            Ok(report) => {
                if cli.json {
                    println!("{}", serde_json::to_string(&report).unwrap_or_default());
                } else {
                    for n in &report.notes {
                        println!("note: {n}");
                    }
                    for p in &report.problems {
                        println!("problem: {p}");
                    }
                    println!(
                        "{}: {} segments, {} records, {} events in the log, {} in the index",
                        path.display(),
                        report.segments,
                        report.records,
                        report.events_in_log,
                        report.events_in_index
                    );
                }
                match report.problems.len() {
                    0 => {
                        eprintln!("store check: ok");
                        ExitCode::SUCCESS
                    }
                    n => {
                        eprintln!("store check: {n} problems (docs/reliability.md, \"When the store is damaged\")");
                        ExitCode::from(1)
                    }
                }
            }
            Err(e) => refused(e),
        },
        StoreCmd::Export => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = crate::store::inspect::export(&path, |e| {
                serde_json::to_writer(&mut out, &e).map_err(std::io::Error::other)?;
                out.write_all(b"\n")
            });
            let flushed = out.flush();
            match (written, flushed) {
                (Ok(n), Ok(())) => {
                    eprintln!("store export: {n} events");
                    ExitCode::SUCCESS
                }
                (Err(e), _) => refused(e),
                (_, Err(e)) => taken(format!("writing the export: {e}")),
            }
        }
    }
}

fn check_config(cli: &Cli) -> ExitCode {
    let config = match load(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cli.json {
        // Exactly one JSON document on stdout; warnings and the summary stay on stderr.
        match serde_json::to_string_pretty(&config.effective()) {
            Ok(doc) => println!("{doc}"),
            Err(e) => return fail(format!("could not print the config as JSON: {e}")),
        }
    } else {
        print!("{}", config.redacted_toml());
    }
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("{}", config.summary());
    ExitCode::SUCCESS
}

fn serve(cli: &Cli) -> ExitCode {
    let config = match load(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Flushes the log lines still queued when serve returns.
    let _log = init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let origin = banner::origin(cli.config.as_deref());
    runtime.block_on(serve_async(config, origin))
}

async fn serve_async(config: Config, origin: &str) -> ExitCode {
    // The port first: a bind error leaves nothing behind (no data dir
    // created) and is said once.
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(l) => l,
        Err(e) => return taken(format!("server.listen: cannot bind {}: {e}", config.server.listen)),
    };
    let path = config.storage.path.clone();
    let store = match Store::open_with(&path, &config.storage_options()) {
        Ok((s, opened)) => {
            if opened.replayed > 0 || opened.rebuilt.is_some() {
                let rebuilt = opened.rebuilt.as_ref().map(|p| p.display().to_string());
                tracing::info!(replayed = opened.replayed, ?rebuilt, "the index was brought up to the log");
            }
            s
        }
        Err(e @ StoreError::InUse(_)) => return taken(e.to_string()),
        Err(e @ StoreError::Damaged(_)) => return damaged(format!("storage.path {}: {e}", path.display())),
        Err(e) => return fail(format!("storage.path: cannot open {}: {e}", path.display())),
    };
    if let Some(AdminListen::Unix(sock)) = config.admin.as_ref().map(|a| &a.listen) {
        if socket_answers(sock).await {
            return taken(format!("admin socket {} is in use by another hookd", sock.display()));
        }
    }
    let admin = match &config.admin {
        Some(a) => match bind_admin(&a.listen).await {
            Ok(l) => Some(l),
            Err(e) => return taken(format!("admin.listen: cannot bind {}: {e}", a.listen)),
        },
        None => None,
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let shutdown = CancellationToken::new();
    let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install the SIGHUP handler: {e}")),
    };
    let tls = match crate::serve::tls(&config, &shutdown) {
        Ok(tls) => tls,
        Err(e) => return fail(e),
    };
    tokio::spawn(on_signal(shutdown.clone()));
    banner::log(&config, origin, &addr);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %addr, scheme, sources = config.sources.len(), "ingress listening");
    tokio::spawn(crate::notify::watchdog());
    crate::notify::ready(&addr);
    let listeners = crate::serve::Listeners { ingress: listener, admin, tls };
    // Generations: a store that sled's sticky I/O error broke is reopened.
    let served = match crate::recover::Bound::keep(listeners) {
        Ok(bound) => crate::recover::run(config, store, bound, hangup, shutdown).await,
        Err(e) => Err(e),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("cannot serve: {e}")),
    }
}

/// Something accepts connections on the unix socket at `path` (a running
/// hookd; one too slow to accept within a second counts as running).
async fn socket_answers(path: &Path) -> bool {
    let connect = tokio::net::UnixStream::connect(path);
    !matches!(tokio::time::timeout(std::time::Duration::from_secs(1), connect).await, Ok(Err(_)))
}

/// Bind the admin listener: TCP, or a unix socket (a stale socket file —
/// nothing answered on it, see `socket_answers` — is replaced, anything
/// else at the path is left alone; the socket is made owner-only, which is
/// its access control).
async fn bind_admin(listen: &AdminListen) -> std::io::Result<crate::http::Listener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let listener = match listen {
        AdminListen::Tcp(addr) => crate::http::Listener::Tcp(tokio::net::TcpListener::bind(addr).await?),
        AdminListen::Unix(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            match std::fs::symlink_metadata(path) {
                Ok(m) if !m.file_type().is_socket() => {
                    return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it exists and is not a socket"))
                }
                Ok(_) => std::fs::remove_file(path)?,
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
            let l = tokio::net::UnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            crate::http::Listener::Unix(l)
        }
    };
    let shown = match &listener {
        crate::http::Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        crate::http::Listener::Unix(_) => listen.to_string(),
    };
    tracing::info!(addr = %shown, "admin listening");
    Ok(listener)
}

/// SIGTERM or SIGINT: begin the ordered shutdown (SIGHUP is the reloader's,
/// see `serve`). The handlers are installed when this is called, not when
/// the future first runs: a signal in between would otherwise kill hookd
/// unflushed.
fn on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        let (Ok(mut term), Ok(mut int)) = signals else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        crate::notify::stopping();
        shutdown.cancel();
    }
}

/// A refusal to start — another hookd has the data dir or the admin
/// socket, a port is taken: one line on stderr, exit 1 (not logged as
/// well, unlike `fail`, since the log is stderr too).
fn taken(reason: String) -> ExitCode {
    eprintln!("hookd: {reason}");
    ExitCode::from(1)
}

/// The store lost or cannot read acknowledged data: exit 3, which the unit
/// lists in `RestartPreventExitStatus` (restarting cannot fix it).
fn damaged(reason: String) -> ExitCode {
    eprintln!("hookd: {reason}");
    ExitCode::from(3)
}

/// Lines the log writer's queue holds before a request waits for it.
const LOG_QUEUE_LINES: usize = 8_192;

fn fail(reason: String) -> ExitCode {
    tracing::error!("{reason}");
    eprintln!("hookd: {reason}");
    ExitCode::from(1)
}

/// Log lines go to stderr from a writer thread (a request never waits on
/// the terminal or journald); the queue blocks rather than drop lines. It
/// holds 8,192 lines (the crate's default of 128,000 preallocates 4 MB of
/// slots, a tenth of hookd's memory; 8,192 is ~0.4 s of `info` lines at
/// 10k acks/s).
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level =
        std::env::var("HOOKD_LOG").ok().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let filter = Targets::new().with_target("hookd", level).with_default(LevelFilter::WARN);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("hookd-log")
        .finish(std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(fmt.with_ansi(false)).init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).init(),
    }
    guard
}
