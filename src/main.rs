use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pieces_connector::allocator::SplitBySize;
use pieces_connector::config::{Settings, LIVE_PATH};
use pieces_connector::model::NewToken;
use pieces_connector::store::{backup, DatabaseUrl};

#[global_allocator]
static GLOBAL: SplitBySize = SplitBySize;

/// Code snippets, workflow context and AI assistance for developers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Print a bearer token for a user: a platform JWT signed with JWT_SECRET_KEY, or with
    /// --scopes a personal access token stored in DATABASE_URL.
    Token {
        /// The user id the token carries (`sub` and `user_id`).
        #[arg(long)]
        user: String,
        /// Lifetime of a JWT in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: u64,
        /// Make a personal access token with these scopes (comma-separated: snippets:read,
        /// snippets:write, context:read, context:write, ai).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// The personal token's name.
        #[arg(long, default_value = "command line")]
        name: String,
        /// The personal token's lifetime in days (1-365).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Exit 0 when the local liveness probe answers 200 (for container health checks).
    Healthcheck,
    /// Copy the embedded store (DATABASE_URL, a sqlite: URL) to FILE, consistent as of one
    /// moment, while the service runs or not; the copy is checked before it gets its name.
    Backup {
        /// Where the copy goes; it must not exist yet.
        file: PathBuf,
    },
    /// Put the backup FILE in place of the embedded store. Refused while a service (or any
    /// process) has the store open; the store it replaces is kept beside it, renamed.
    Restore {
        /// A backup taken with `backup` (or by BACKUP_INTERVAL_MINUTES).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    pieces_connector::allocator::tune();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            // Docker reserves exit code 2 for health checks; any failure there is 1.
            let healthcheck = matches!(cli.command, Some(Command::Healthcheck));
            return if healthcheck {
                ExitCode::FAILURE
            } else {
                ExitCode::from(2)
            };
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Token {
            user,
            scopes: Some(scopes),
            name,
            days,
            ..
        } => personal_token(&settings, &user, name, scopes, days),
        Command::Token { user, ttl_secs, .. } => token(&settings, &user, ttl_secs),
        Command::Healthcheck => healthcheck(&settings),
        Command::Backup { file } => copy_store(&settings, &file, Copy::Backup),
        Command::Restore { file } => copy_store(&settings, &file, Copy::Restore),
    }
}

enum Copy {
    Backup,
    Restore,
}

/// Takes a backup of the embedded store, or puts one back; a line saying what was copied.
fn copy_store(settings: &Settings, file: &Path, copy: Copy) -> ExitCode {
    let DatabaseUrl::Sqlite(url) = &settings.database_url else {
        eprintln!(
            "DATABASE_URL: names PostgreSQL; back it up with its own tools (pg_dump, or the \
             platform's operator): see README, \"Backups\""
        );
        return ExitCode::from(2);
    };
    let runtime = match runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let done = runtime.block_on(async {
        match copy {
            Copy::Backup => backup::backup(url, file).await,
            Copy::Restore => backup::restore(url, file).await,
        }
    });
    match done {
        Ok(copied) => {
            let verb = match copy {
                Copy::Backup => "backed up",
                Copy::Restore => "restored",
            };
            println!(
                "{verb} {} snippets ({:.1} MiB) to {} in {:.1} s",
                copied.snippets,
                copied.bytes as f64 / (1024.0 * 1024.0),
                copied.path.display(),
                copied.seconds
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    one_thread_for_the_embedding_model();
    pieces_connector::telemetry::init(&settings);
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(pieces_connector::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The local embedding model's matrix products use as many threads as `RAYON_NUM_THREADS`
/// says, by default one per core: a backlog of embeddings would take every core from the
/// requests. One thread keeps its work on the (low-priority) thread that asks for it. Set
/// before any other thread exists, so no one reads the environment meanwhile.
fn one_thread_for_the_embedding_model() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// The async runtime `builder` makes, or the exit code for a machine that cannot give one.
fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

fn token(settings: &Settings, user: &str, ttl_secs: u64) -> ExitCode {
    if settings.jwt_secret_key.is_none() {
        eprintln!("JWT_SECRET_KEY: not set; a token needs the secret the service verifies with");
        return ExitCode::from(2);
    }
    match pieces_connector::jwt_keys(settings) {
        Ok((keys, _)) => {
            println!("{}", keys.mint(user, ttl_secs));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Stores a personal access token and prints its secret (shown this once).
fn personal_token(
    settings: &Settings,
    user: &str,
    name: String,
    scopes: Vec<String>,
    days: u32,
) -> ExitCode {
    let runtime = match runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let request = NewToken {
        name,
        scopes,
        expires_in_days: Some(days),
        workspaces: None,
    };
    match runtime.block_on(pieces_connector::mint_personal_token(
        settings, user, request,
    )) {
        Ok(created) => {
            println!("{}", created.token);
            eprintln!(
                "personal access token {} for {user}, scopes {}, expires {}",
                created.id,
                created.scopes.join(","),
                created.expires_at.to_rfc3339()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// A plain HTTP/1.0 GET, so the container image needs no curl or shell.
fn healthcheck(settings: &Settings) -> ExitCode {
    let addr = SocketAddr::from(([127, 0, 0, 1], settings.health_port));
    let probe = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET {LIVE_PATH} HTTP/1.0\r\nHost: localhost\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("liveness probe did not answer 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("liveness probe failed: {e}");
            ExitCode::FAILURE
        }
    }
}
