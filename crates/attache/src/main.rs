//! The `attache` binary: parse the command line, load the configuration,
//! install logging, run the app until SIGTERM/SIGINT. Nothing else lives
//! here.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use attache_config::{Config, Flags, LogFormat, ProcessEnv};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "attache",
    version,
    about = "A polyglot sidecar: Redis, password hashing and image resizing over a Unix socket"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sidecar.
    Run {
        /// TOML config file; ATTACHE_* variables and flags override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Unix socket path (server.socket).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Admin listener: 127.0.0.1:9464, unix:/path or off (admin.listen).
        #[arg(long)]
        admin: Option<String>,
    },
    /// PostgreSQL helpers.
    Postgres {
        #[command(subcommand)]
        command: PostgresCommand,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum PostgresCommand {
    /// Create the outbox table (postgres.outbox.table) if it is missing,
    /// in the database of postgres.url (ATTACHE_POSTGRES_URL).
    OutboxInit {
        /// TOML config file; ATTACHE_* variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print the table's definition instead of creating it.
        #[arg(long)]
        print: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the full default configuration, documented.
    Default,
    /// Validate a config file; errors name the field.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Version => {
            println!("attache {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Postgres { command: PostgresCommand::OutboxInit { config, print } } => outbox_init(config, print),
        Command::Config { command: ConfigCommand::Default } => {
            print!("{}", attache_config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Config { command: ConfigCommand::Check { file } } => match Config::check_file(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attache: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config, socket, admin } => run(config, Flags { socket, admin }),
    }
}

fn run(file: Option<PathBuf>, flags: Flags) -> ExitCode {
    let loaded = match Config::load(file.as_deref(), &ProcessEnv, &flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("attache: {e}");
            return ExitCode::FAILURE;
        }
    };
    install_logging(&loaded.config.log);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    // The API's connections and the ambassadors' network I/O run on
    // `server.io_threads` workers (one by default, chosen by measurement:
    // see ARCHITECTURE.md); CPU-heavy work has pools of its own.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = loaded.config.server.io_threads() {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().thread_name("attache-io").build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attache: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let app = match attache_app::App::build(loaded.config).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        match app.run(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn outbox_init(file: Option<PathBuf>, print: bool) -> ExitCode {
    let config = match Config::load(file.as_deref(), &ProcessEnv, &Flags::default()) {
        Ok(loaded) => loaded.config.postgres,
        Err(e) => {
            eprintln!("attache: {e}");
            return ExitCode::FAILURE;
        }
    };
    if print {
        print!("{}", config.outbox.schema());
        return ExitCode::SUCCESS;
    }
    if config.url.is_none() {
        eprintln!("attache: set postgres.url (ATTACHE_POSTGRES_URL) to create the outbox table, or use --print");
        return ExitCode::FAILURE;
    }
    let table = config.outbox.table.clone();
    let created =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(
            |runtime| runtime.block_on(async move { attache_postgres::Service::new(config)?.outbox_init().await }),
        );
    match created {
        Ok(()) => {
            println!("{table}: ready");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("attache: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers; stop attache with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
    shutdown.cancel();
}

fn install_logging(log: &attache_config::Log) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level).unwrap_or_else(|e| {
        eprintln!("attache: log.level {:?} is not a valid filter ({e}); using info", log.level);
        tracing_subscriber::EnvFilter::new("info")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match log.format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}
