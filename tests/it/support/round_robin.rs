//! A TCP proxy that sends each new connection to the next of several servers in turn, as a
//! Kubernetes Service spreads connections over replicas.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

pub struct RoundRobin {
    pub url: String,
    /// Connections sent to each server, in order.
    pub served: Arc<Vec<AtomicUsize>>,
}

impl RoundRobin {
    /// Spreads connections over `targets` (host:port) from a port of its own.
    pub async fn start(targets: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(targets.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = served.clone();
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut client, _)) = listener.accept().await {
                let index = next % targets.len();
                next += 1;
                counts[index].fetch_add(1, Ordering::SeqCst);
                let target = targets[index].clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { url, served }
    }

    pub fn counts(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .collect()
    }
}
