//! The service's own binary in a child process, for what only a real process shows: its
//! logs, its exit.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pieces_connector::auth::JwtKeys;

use super::{Backend, SECRET};

pub struct ServiceProcess {
    pub api: String,
    child: Reaped,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _backend: Backend,
}

/// The service's process, killed if a test ends (or panics) without stopping it: a failed
/// test leaves no service running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl ServiceProcess {
    /// Starts the binary on `backend` with `env` added, and waits until it is ready.
    pub async fn start(backend: &Backend, env: &[(&str, &str)]) -> Self {
        let (api, metrics, health) = (free_port(), free_port(), free_port());
        // Another build may be measured in its place (an earlier release, say).
        let binary = std::env::var("PIECES_TEST_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_pieces-connector").to_owned());
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("JWT_SECRET_KEY", SECRET)
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("API_PORT", api.to_string())
            .env("METRICS_PORT", metrics.to_string())
            .env("HEALTH_PORT", health.to_string())
            .env("LOG_FORMAT", "json")
            .env("DATABASE_URL", backend.database_url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(redis) = backend.redis_url() {
            command.env("REDIS_URL", redis);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the service binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for mut pipe in pipes {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut all) = output.lock() {
                        all.extend_from_slice(&chunk[..n]);
                    }
                }
            }));
        }
        let ready = format!("http://127.0.0.1:{health}/health/ready");
        let http = reqwest::Client::new();
        let up = super::eventually(Duration::from_secs(15), || async {
            http.get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(up, "the service did not become ready");
        Self {
            api: format!("http://127.0.0.1:{api}"),
            child: Reaped(child),
            output,
            readers,
            _backend: backend.clone(),
        }
    }

    /// The process's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_of(self.child.0.id())
    }

    /// Reads the process's resident memory, in KiB, from anywhere.
    pub fn rss_probe(&self) -> impl Fn() -> u64 + Send + 'static {
        let pid = self.child.0.id();
        move || rss_of(pid)
    }

    pub fn token(&self, user: &str) -> String {
        JwtKeys::new(SECRET.as_bytes(), None, None).mint(user, 3600)
    }

    /// Kills the process at once (SIGKILL), as a node failure would, and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// Sends SIGTERM, waits for the exit and returns everything the process printed.
    pub async fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status();
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.0.wait();
            for reader in self.readers {
                let _ = reader.join();
            }
            status
        })
        .await
        .expect("waited");
        assert!(
            status.is_ok_and(|s| s.success()),
            "the service exits 0 on SIGTERM"
        );
        let output = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        String::from_utf8_lossy(&output).into_owned()
    }
}
