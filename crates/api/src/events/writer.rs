//! Group commit for intake. Every new case goes through one writer task per node: it takes the
//! reports waiting at that moment (up to [`MAX_BATCH`]) and stores them in one transaction, then
//! answers each. Under light load a batch is one report and nothing waits; under heavy load one
//! commit carries many, which is what lets a single-writer SQLite file take thousands of reports
//! a second. A report is answered only after its transaction committed, so a 2xx still means
//! durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wanxiang_store::{CaseCreated, NewCase, Store, StoreError};

use crate::{AppError, AppState};

/// Most reports in one transaction.
const MAX_BATCH: usize = 256;
/// Reports waiting for the writer before submitters wait for room.
const QUEUE: usize = 4096;

/// One report waiting to be written.
struct Job {
    /// The case and what goes with it.
    case: NewCase,
    /// Whether its notifications also go to the webhook outbox.
    outbox: bool,
    /// Where the answer goes.
    reply: oneshot::Sender<Result<CaseCreated, StoreError>>,
}

/// The handle to a node's intake writer.
#[derive(Debug, Clone)]
pub struct IntakeWriter {
    /// Submissions to the writer task.
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("case", &self.case.record.id)
            .finish()
    }
}

impl IntakeWriter {
    /// Starts the writer task on the current runtime.
    fn spawn(store: Arc<dyn Store>) -> IntakeWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        IntakeWriter { tx }
    }
}

/// Stores a new case through the node's writer (started on first use).
pub(crate) async fn write(state: &AppState, case: NewCase) -> Result<CaseCreated, AppError> {
    let writer = state
        .intake
        .get_or_init(|| IntakeWriter::spawn(state.store.clone()));
    let (reply, answer) = oneshot::channel();
    let job = Job {
        case,
        outbox: state.hub.webhook.is_some(),
        reply,
    };
    let gone = || AppError::Unavailable("写入队列已停止 / the intake writer stopped".into());
    writer.tx.send(job).await.map_err(|_| gone())?;
    Ok(answer.await.map_err(|_| gone())??)
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        metrics::histogram!("wanxiang_intake_batch_size").record(jobs.len() as f64);
        // One transaction per run of jobs with the same outbox setting (in practice: all).
        while !jobs.is_empty() {
            let outbox = jobs[0].outbox;
            let n = jobs.iter().take_while(|j| j.outbox == outbox).count();
            let group: Vec<Job> = jobs.drain(..n).collect();
            commit(store.as_ref(), group, outbox).await;
        }
    }
}

async fn commit(store: &dyn Store, group: Vec<Job>, outbox: bool) {
    let (cases, replies): (Vec<NewCase>, Vec<_>) =
        group.into_iter().map(|j| (j.case, j.reply)).unzip();
    match store.create_cases(&cases, outbox).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) if cases.len() == 1 => {
            let _ = replies.into_iter().next().map(|reply| reply.send(Err(e)));
        }
        Err(e) => {
            // One bad report must not fail the others: write them one by one.
            tracing::warn!(error = %e, batch = cases.len(), "batch commit failed; retrying one by one");
            for (case, reply) in cases.into_iter().zip(replies) {
                let result = store
                    .create_cases(std::slice::from_ref(&case), outbox)
                    .await
                    .and_then(|mut r| {
                        r.pop()
                            .ok_or_else(|| StoreError::Database("empty answer".into()))
                    });
                let _ = reply.send(result);
            }
        }
    }
}
