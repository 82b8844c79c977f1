//! Group commit for SQLite creates. SQLite has one writer and each durable commit costs an
//! fsync, so creates that arrive together are written in one transaction: one fsync for the
//! lot. Each caller is answered only after that commit.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::sqlite::insert_created;
use super::StoreError;
use crate::model::Snippet;
use crate::outbox::NewEvent;

/// Most creates in one transaction.
const MAX_BATCH: usize = 256;

struct Job {
    user: String,
    snippet: Snippet,
    events: Vec<NewEvent>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

pub struct CreateBatcher {
    jobs: mpsc::Sender<Job>,
}

impl CreateBatcher {
    /// Starts the committing task; it ends when the batcher is dropped.
    pub fn spawn(writer: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(commit_loop(writer, queue));
        Self { jobs }
    }

    /// Stores a snippet and its events; returns once they are committed.
    pub async fn create(
        &self,
        user: &str,
        snippet: &Snippet,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let job = Job {
            user: user.to_owned(),
            snippet: snippet.clone(),
            events,
            done,
        };
        let closed = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        self.jobs.send(job).await.map_err(|_| closed())?;
        committed.await.map_err(|_| closed())?
    }
}

async fn commit_loop(writer: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&writer, &batch).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // One bad row must not fail its neighbours: retry each alone for its own answer.
            Err(_) if batch.len() > 1 => {
                for job in batch.drain(..) {
                    let result = commit(&writer, std::slice::from_ref(&job)).await;
                    let _ = job.done.send(result);
                }
            }
            Err(e) => {
                for job in batch.drain(..) {
                    let _ = job
                        .done
                        .send(Err(StoreError::Unavailable(sqlx::Error::Protocol(
                            e.to_string(),
                        ))));
                }
            }
        }
    }
}

async fn commit(writer: &SqlitePool, jobs: &[Job]) -> Result<(), StoreError> {
    let mut tx = writer.begin().await?;
    for job in jobs {
        insert_created(&mut tx, &job.user, &job.snippet, &job.events).await?;
    }
    tx.commit().await?;
    Ok(())
}
