//! Group commit for intake. Every new report goes through one writer per node: it takes the
//! reports waiting at that moment (up to [`MAX_BATCH`]), looks once for the open cases they may
//! repeat (one query for the whole batch), decides for each whether it opens a case or joins one
//! — an open case found, or a case opened earlier in the same batch or in a batch still being
//! committed, so two reports of the same thing arriving together make one case — and stores them
//! all in one transaction, then answers each. Planning and committing are two tasks in a
//! pipeline: the next batch's search runs while the last one commits. Under light load a batch is one report and nothing waits; under heavy load one commit
//! carries many, which is what lets a single-writer SQLite file take thousands of reports a
//! second. A report is answered only after its transaction committed: a 2xx means durable.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wanxiang_core::Scope;
use wanxiang_core::case::CaseRecord;
use wanxiang_store::{CaseCreated, CaseMark, CaseParts, IntakeWrite, NewCase, Store, StoreError};

use super::duplicates::{Probe, link_of};
use crate::{AppError, AppState};

/// Most reports in one transaction.
const MAX_BATCH: usize = 256;
/// Reports waiting for the writer before submitters wait for room.
const QUEUE: usize = 4096;

/// What became of a report.
#[derive(Debug)]
pub(crate) enum Written {
    /// A new case: the one submitted, handed back.
    New(Box<NewCase>),
    /// Its channel and external id were seen before: that case's id.
    Existing(String),
    /// It repeats an open case and was linked to it.
    Linked {
        /// The case it joined: as the batch's transaction left it, or (without `parts`) as read
        /// after it.
        case: Box<CaseRecord>,
        /// The case's history, attachments, linked reports and alarms, as the transaction left
        /// them.
        parts: Option<Box<CaseParts>>,
        /// The linked report's id.
        report_id: String,
        /// Metres from the case.
        distance_m: f64,
    },
}

/// One report waiting to be written.
struct Job {
    /// The case it opens unless it repeats one.
    case: NewCase,
    /// How to look for the case it may repeat; `None`: it never links.
    probe: Option<Probe>,
    /// Whether its notifications also go to the webhook outbox.
    outbox: bool,
    /// Where the answer goes.
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("case", &self.case.record.id)
            .finish()
    }
}

/// The handle to a node's intake writer.
#[derive(Debug, Clone)]
pub struct IntakeWriter {
    /// Submissions to the writer task.
    tx: mpsc::Sender<Job>,
}

impl IntakeWriter {
    /// Starts the writer task on the current runtime.
    fn spawn(store: Arc<dyn Store>) -> IntakeWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        IntakeWriter { tx }
    }
}

/// Stores a new case through the node's writer (started on first use), or links it to the open
/// case it repeats when `probe` finds one.
pub(crate) async fn write(
    state: &AppState,
    case: NewCase,
    probe: Option<Probe>,
) -> Result<Written, AppError> {
    let writer = state
        .intake
        .get_or_init(|| IntakeWriter::spawn(state.store.clone()));
    let (reply, answer) = oneshot::channel();
    let job = Job {
        case,
        probe,
        outbox: state.hub.webhook.is_some(),
        reply,
    };
    let gone = || AppError::Unavailable("写入队列已停止 / the intake writer stopped".into());
    writer.tx.send(job).await.map_err(|_| gone())?;
    Ok(answer.await.map_err(|_| gone())??)
}

/// Batches planned ahead of the one committing. The planner (duplicate search and plan) of one
/// batch runs while the batch before it commits; more would only hold answers back.
const AHEAD: usize = 1;

/// A batch planned and waiting for its commit.
struct Planned {
    /// Its place in the order of batches.
    seq: u64,
    writes: Vec<IntakeWrite>,
    replies: Vec<oneshot::Sender<Result<Written, StoreError>>>,
    outbox: bool,
}

/// What the planner and the committer share: how far the commits got, and which failed.
#[derive(Debug, Default)]
struct Progress {
    /// The last batch whose commit finished (with or without success).
    committed: std::sync::atomic::AtomicU64,
    /// Batches whose commit failed: the cases they would have opened must not be joined.
    failed: std::sync::Mutex<Vec<u64>>,
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>) {
    use std::sync::atomic::Ordering;
    let progress = Arc::new(Progress::default());
    let (commit_tx, commit_rx) = mpsc::channel::<Planned>(AHEAD);
    tokio::spawn(committer(store.clone(), commit_rx, progress.clone()));
    // The cases opened by batches planned but perhaps not yet committed (so not yet found by a
    // search of the store), by batch: a report of the same thing in the next batch joins them.
    let mut opened: std::collections::VecDeque<(u64, Vec<CaseMark>)> = Default::default();
    let mut seq = 0u64;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        // A batch is gathered only once the committer has room for it (it has just taken the
        // batch before): it is planned while that one commits, and holds every report that
        // arrived until then. Gathering as soon as the last batch was handed over instead made
        // batches a commit older and smaller (more commits, each rewriting the same pages).
        let Ok(room) = commit_tx.reserve().await else {
            return;
        };
        if jobs.is_empty() && rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            return;
        }
        // One transaction per run of jobs with the same outbox setting (in practice: all).
        let outbox = jobs[0].outbox;
        let n = jobs.iter().take_while(|j| j.outbox == outbox).count();
        let group: Vec<Job> = jobs.drain(..n).collect();
        metrics::histogram!("wanxiang_intake_batch_size").record(group.len() as f64);
        // A search that starts after a commit finished sees its cases.
        let failed = std::mem::take(&mut *progress.failed.lock().expect("not poisoned"));
        opened.retain(|(s, _)| !failed.contains(s));
        let done = progress.committed.load(Ordering::SeqCst);
        while opened.front().is_some_and(|(s, _)| *s <= done) {
            opened.pop_front();
        }
        seq += 1;
        let Some(planned) = plan_group(store.as_ref(), group, outbox, seq, &opened).await else {
            continue;
        };
        // A case with an external id may turn out to exist already (a resent work order):
        // only those without one are sure to be created, and can be joined before it is known.
        let new: Vec<CaseMark> = planned
            .writes
            .iter()
            .filter_map(|w| match w {
                IntakeWrite::Case(c) if c.record.external_id.is_none() => Some((&c.record).into()),
                _ => None,
            })
            .collect();
        if !new.is_empty() {
            opened.push_back((seq, new));
        }
        room.send(planned);
    }
}

/// Looks for the open cases a group's reports may repeat and plans it; `None` if the search
/// failed (everyone in the group has been told).
async fn plan_group(
    store: &dyn Store,
    group: Vec<Job>,
    outbox: bool,
    seq: u64,
    opened: &std::collections::VecDeque<(u64, Vec<CaseMark>)>,
) -> Option<Planned> {
    let boxes: Vec<_> = group
        .iter()
        .filter_map(|j| {
            j.probe
                .as_ref()
                .map(|p| p.boxes(j.case.record.lon, j.case.record.lat))
        })
        .flatten()
        .collect();
    let found = if boxes.is_empty() {
        Ok(Vec::new())
    } else {
        store.cases_near_any(&boxes).await
    };
    let (cases, replies): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|j| ((j.case, j.probe), j.reply))
        .unzip();
    let mut found = match found {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "duplicate search failed; the batch is refused");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(e.to_string())));
            }
            return None;
        }
    };
    if !boxes.is_empty() {
        // Cases of earlier batches whose commit may not have finished when the search began.
        for c in opened.iter().flat_map(|(_, cases)| cases) {
            if !found.iter().any(|f| f.id == c.id) {
                found.push(c.clone());
            }
        }
    }
    let writes = plan(cases, &found);
    Some(Planned {
        seq,
        writes,
        replies,
        outbox,
    })
}

/// Commits planned batches in order and answers each report once its batch is durable.
async fn committer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Planned>,
    progress: Arc<Progress>,
) {
    use std::sync::atomic::Ordering;
    while let Some(p) = rx.recv().await {
        let seq = p.seq;
        if !commit(store.as_ref(), p).await {
            progress.failed.lock().expect("not poisoned").push(seq);
        }
        progress.committed.store(seq, Ordering::SeqCst);
    }
}

/// Decides, in order, which jobs open cases and which join one (a link names the case it joins
/// and how far it is). A report may join a case opened earlier in the batch.
fn plan(cases: Vec<(NewCase, Option<Probe>)>, found: &[CaseMark]) -> Vec<IntakeWrite> {
    let mut writes: Vec<IntakeWrite> = Vec::with_capacity(cases.len());
    // The cases this batch opens so far.
    let mut opened: Vec<CaseMark> = Vec::new();
    for (case, probe) in cases {
        let r = &case.record;
        let link = probe.as_ref().and_then(|p| {
            p.choose(r.lon, r.lat, found.iter().chain(&opened))
                .map(|(primary, d)| link_of(&case, primary, d))
        });
        match link {
            Some(link) => writes.push(IntakeWrite::Link(link)),
            None => {
                opened.push(r.into());
                writes.push(IntakeWrite::Case(case));
            }
        }
    }
    writes
}

/// The case a committed link joined, read after the commit (for a store that did not answer
/// with it).
async fn joined_case(store: &dyn Store, id: &str) -> Result<CaseRecord, StoreError> {
    let scope = Scope::system("intake: the case a duplicate report joined");
    store
        .case(&scope, id)
        .await?
        .ok_or_else(|| StoreError::Database(format!("the joined case {id} is gone")))
}

/// Commits one planned batch and answers it; false if a write of it failed.
async fn commit(store: &dyn Store, p: Planned) -> bool {
    let Planned {
        writes,
        replies,
        outbox,
        ..
    } = p;
    let mut joined: HashMap<String, (CaseRecord, CaseParts)> = HashMap::new();
    let results = match store.write_intake(&writes, outbox).await {
        Ok(w) => {
            joined.extend(w.joined.into_iter().map(|(c, p)| (c.id.clone(), (c, p))));
            w.created.into_iter().map(Ok).collect::<Vec<_>>()
        }
        Err(e) if writes.len() == 1 => vec![Err(e)],
        Err(e) => {
            // One bad report must not fail the others: write them one by one.
            tracing::warn!(error = %e, batch = writes.len(), "batch commit failed; retrying one by one");
            let mut each = Vec::with_capacity(writes.len());
            for w in &writes {
                each.push(
                    match store.write_intake(std::slice::from_ref(w), outbox).await {
                        Ok(mut done) => {
                            // A later link's read is the newer: it replaces an earlier one's.
                            joined.extend(
                                done.joined.into_iter().map(|(c, p)| (c.id.clone(), (c, p))),
                            );
                            done.created
                                .pop()
                                .ok_or_else(|| StoreError::Database("empty answer".into()))
                        }
                        Err(e) => Err(e),
                    },
                );
            }
            each
        }
    };
    let all_written = results.iter().all(Result::is_ok);
    // How many of the batch's links joined each case: the last one takes the case read back,
    // the others a copy (most cases are joined by one report of a batch: no copy at all).
    let mut links: HashMap<String, usize> = HashMap::new();
    for w in &writes {
        if let IntakeWrite::Link(l) = w {
            *links.entry(l.report.case_id.clone()).or_default() += 1;
        }
    }
    for ((reply, write), result) in replies.into_iter().zip(writes).zip(results) {
        let answer = match (result, write) {
            (Err(e), _) => Err(e),
            (Ok(CaseCreated::Existing(id)), _) => Ok(Written::Existing(id)),
            (Ok(CaseCreated::New), IntakeWrite::Link(link)) => {
                // The case as the commit left it, with its parts; read after the commit if the
                // store did not answer with it.
                let id = &link.report.case_id;
                let left = links.get_mut(id).map(|n| {
                    *n -= 1;
                    *n
                });
                let read = match left {
                    Some(0) => joined.remove(id),
                    _ => joined.get(id).cloned(),
                };
                let case = match read {
                    Some((c, p)) => Ok((c, Some(Box::new(p)))),
                    None => joined_case(store, id).await.map(|c| (c, None)),
                };
                case.map(|(case, parts)| Written::Linked {
                    case: Box::new(case),
                    parts,
                    report_id: link.report.id,
                    distance_m: link.report.distance_m,
                })
            }
            (Ok(CaseCreated::New), IntakeWrite::Case(case)) => Ok(Written::New(Box::new(case))),
        };
        let _ = reply.send(answer);
    }
    all_written
}
