//! Group commit for creates. A durable commit costs a WAL flush and, on PostgreSQL, round trips
//! for BEGIN and COMMIT, so creates that arrive together are written in one transaction: one
//! flush for the lot. Each caller is answered only after that commit.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use crate::model::{Change, EventPlan, Recorded, Snippet};

/// A snippet to insert, with the events that ride in its transaction.
pub struct Create {
    pub user: String,
    pub snippet: Snippet,
    pub recorded: Recorded,
}

/// Writes creates to one database.
#[async_trait]
pub trait BatchWriter: Send + Sync + 'static {
    /// Inserts every create in one transaction: all of them or none.
    async fn write_batch(&self, creates: &[Create]) -> Result<(), StoreError>;
}

struct Job {
    create: Create,
    done: oneshot::Sender<Result<(), StoreError>>,
}

pub struct CreateBatcher {
    jobs: mpsc::Sender<Job>,
}

impl CreateBatcher {
    /// Starts the committing task, which writes up to `max_batch` creates per transaction; it
    /// ends when the batcher is dropped.
    pub fn spawn(writer: impl BatchWriter, max_batch: usize) -> Self {
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(commit_loop(writer, queue, max_batch));
        Self { jobs }
    }

    /// Stores a new snippet and the events `plan` owes for it; returns once they are committed.
    pub async fn create(
        &self,
        user: &str,
        snippet: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let create = Create {
            user: user.to_owned(),
            snippet: snippet.clone(),
            recorded: plan.for_snippet(user, snippet, Change::Created, snippet.created_at),
        };
        let closed = || StoreError::Unavailable("the store is shutting down".to_owned());
        self.jobs
            .send(Job { create, done })
            .await
            .map_err(|_| closed())?;
        committed.await.map_err(|_| closed())?
    }
}

async fn commit_loop(writer: impl BatchWriter, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let (creates, waiters): (Vec<Create>, Vec<_>) =
            jobs.drain(..).map(|job| (job.create, job.done)).unzip();
        match writer.write_batch(&creates).await {
            Ok(()) => {
                for done in waiters {
                    let _ = done.send(Ok(()));
                }
            }
            // The database refused a row: it must not fail its neighbours, so each is retried
            // alone for its own answer.
            Err(e) if e.is_refusal() && creates.len() > 1 => {
                for (create, done) in creates.iter().zip(waiters) {
                    let _ = done.send(writer.write_batch(std::slice::from_ref(create)).await);
                }
            }
            // The database is out of reach: retrying row by row would only multiply the wait.
            Err(e) => fail_all(waiters, e),
        }
    }
}

/// Answers every waiter with `error`.
fn fail_all(waiters: Vec<oneshot::Sender<Result<(), StoreError>>>, error: StoreError) {
    for done in waiters {
        let _ = done.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    fn create(id: &str) -> Create {
        let now = crate::model::now();
        Create {
            user: "u".to_owned(),
            snippet: Snippet {
                id: id.to_owned(),
                title: format!("title {id}"),
                code: "fn f() {}".to_owned(),
                language: "rust".to_owned(),
                tags: Vec::new(),
                metadata: Default::default(),
                description: None,
                created_at: now,
                updated_at: now,
            },
            recorded: Recorded::default(),
        }
    }

    #[tokio::test]
    async fn a_refused_row_fails_alone_and_its_batch_neighbours_are_stored() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .unwrap();
        let (jobs, queue) = mpsc::channel(8);
        let mut answers = Vec::new();
        // The second repeats the first's id, so the database refuses the batch as a whole.
        for id in ["a", "a", "c"] {
            let (done, answer) = oneshot::channel();
            jobs.send(Job {
                create: create(id),
                done,
            })
            .await
            .unwrap();
            answers.push(answer);
        }
        drop(jobs);
        commit_loop(pool.clone(), queue, 8).await;

        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Conflict(_))),
            "{results:?}"
        );
        assert!(results[2].is_ok(), "{results:?}");
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM snippets")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, 2);
    }
}
