//! Group commit. A durable commit costs a WAL flush and, on PostgreSQL, round trips for BEGIN
//! and COMMIT, and on PostgreSQL each change also holds its user's stream position locked until
//! its commit. So writes that arrive together (creates; events without a row, such as context
//! updates) are written in one transaction: one flush and one lock for the lot. Each caller is
//! answered only after that commit.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use pieces_model::{Change, EventPlan, Recorded, Snippet};

/// A snippet to insert, with the events that ride in its transaction.
pub struct Create {
    pub user: String,
    pub snippet: Snippet,
    /// The user who creates it (its first version's author).
    pub created_by: Option<String>,
    pub recorded: Recorded,
}

/// Writes batches of `T` to one database.
#[async_trait]
pub trait BatchWriter<T>: Send + Sync + 'static {
    /// Writes every item in one transaction: all of them or none.
    async fn write_batch(&self, items: &[T]) -> Result<(), StoreError>;
}

struct Job<T> {
    item: T,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Collects the writes of concurrent callers into transactions of up to a batch each.
pub struct Batcher<T> {
    jobs: mpsc::Sender<Job<T>>,
}

/// Creates, committed together.
pub type CreateBatcher = Batcher<Create>;

impl<T: Send + Sync + 'static> Batcher<T> {
    /// Starts the committing task, which writes up to `max_batch` items per transaction; it
    /// ends when the batcher is dropped.
    pub fn spawn(writer: impl BatchWriter<T>, max_batch: usize) -> Self {
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(commit_loop(writer, queue, max_batch));
        Self { jobs }
    }

    /// Writes `item` with whatever else is waiting; returns once it is committed.
    pub async fn write(&self, item: T) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let closed = || StoreError::Unavailable("the store is shutting down".to_owned());
        self.jobs
            .send(Job { item, done })
            .await
            .map_err(|_| closed())?;
        committed.await.map_err(|_| closed())?
    }
}

impl CreateBatcher {
    /// Stores a new snippet and the events `plan` owes for it; returns once they are committed.
    pub async fn create(
        &self,
        user: &str,
        snippet: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError> {
        self.write(Create {
            user: user.to_owned(),
            snippet: snippet.clone(),
            created_by: plan.actor.as_ref().map(|a| a.user_id.clone()),
            recorded: plan.for_snippet(user, snippet, Change::Created, snippet.created_at),
        })
        .await
    }
}

async fn commit_loop<T>(
    writer: impl BatchWriter<T>,
    mut queue: mpsc::Receiver<Job<T>>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let (items, waiters): (Vec<T>, Vec<_>) =
            jobs.drain(..).map(|job| (job.item, job.done)).unzip();
        match writer.write_batch(&items).await {
            Ok(()) => {
                for done in waiters {
                    let _ = done.send(Ok(()));
                }
            }
            // The database refused a row: it must not fail its neighbours, so each is retried
            // alone for its own answer.
            Err(e) if e.is_refusal() && items.len() > 1 => {
                for (item, done) in items.iter().zip(waiters) {
                    let _ = done.send(writer.write_batch(std::slice::from_ref(item)).await);
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
        let now = pieces_model::now();
        Create {
            user: "u".to_owned(),
            created_by: Some("u".to_owned()),
            snippet: Snippet {
                version: 1,
                id: id.to_owned(),
                workspace: "personal".to_owned(),
                title: format!("title {id}"),
                code: "fn f() {}".to_owned(),
                language: "rust".to_owned(),
                tags: Vec::new(),
                metadata: Default::default(),
                description: None,
                created_at: now,
                updated_at: now,
                files: Vec::new(),
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
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .unwrap();
        let (jobs, queue) = mpsc::channel(8);
        let mut answers = Vec::new();
        // The second repeats the first's id, so the database refuses the batch as a whole.
        for id in ["a", "a", "c"] {
            let (done, answer) = oneshot::channel();
            jobs.send(Job {
                item: create(id),
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
