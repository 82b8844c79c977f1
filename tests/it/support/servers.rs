//! Private Redis and PostgreSQL servers that a test may stop and start again, so outages are
//! real without disturbing the machine's shared servers or other tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_port(port: u16, up: bool) {
    for _ in 0..200 {
        let open = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok();
        if open == up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "port {port} did not become {}",
        if up { "open" } else { "closed" }
    );
}

fn missing(test: &str, what: &str) -> bool {
    if std::env::var("PIECES_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true") {
        panic!("{test}: {what} is required (PIECES_TEST_REQUIRE_SERVICES=1) but not installed");
    }
    eprintln!("SKIPPED {test}: {what} is not installed");
    true
}

/// A redis-server of the test's own, on a free port, keeping nothing on disk.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start(test: &str) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
            && missing(test, "redis-server")
        {
            return None;
        }
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.resume().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server, as an outage would.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for_port(self.port, false).await;
    }

    /// Starts it again on the same port (empty, as Redis without persistence comes back).
    pub async fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_for_port(self.port, true).await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster of the test's own, made with initdb in a temporary directory.
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    dir: TempDir,
}

impl PgServer {
    pub async fn start(test: &str) -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|mut versions| versions.next())
            .and_then(|v| v.ok())
            .map(|v| v.path().join("bin"))
            .filter(|b| b.join("initdb").exists());
        let Some(bin) = bin else {
            missing(test, "PostgreSQL server binaries (initdb)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        // PostgreSQL refuses to run as root; the cluster then belongs to `postgres`.
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));
        let server = Self {
            port: free_port(),
            bin,
            dir,
        };
        server.resume().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the server at once, as a crash or a failover would.
    pub async fn stop(&self) {
        run(as_postgres(&self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-w", "stop", "-D"])
            .arg(self.data()));
        wait_for_port(self.port, false).await;
    }

    pub async fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(as_postgres(&self.bin.join("pg_ctl"))
            .args(["-w", "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "start", "-D"])
            .arg(self.data()));
        wait_for_port(self.port, true).await;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "stop", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
