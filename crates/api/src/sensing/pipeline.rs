//! The telemetry pipeline: one task per node that owns every device's alarm-rule state. It takes
//! the telemetry waiting at that moment, judges each reading against the device's rules, and
//! commits readings, rule state and the alarm changes they caused in one transaction (group
//! commit) before it answers anyone — a PUBACK or a 2xx means durable. It also fires inactivity
//! alarms on time (it sleeps until the next device falls silent), applies operators' actions on
//! alarms in the same order as the readings, and asks the event hub to open a case for an alarm
//! at or above the configured level.
//!
//! Because the task alone changes a node's alarms, no two writers of one node race on an alarm
//! row; because rule state is committed with the readings that moved it, a restart resumes
//! exactly where the last acknowledged reading left it.
//!
//! On a store several nodes share (PostgreSQL), the broker hands a device's messages to any of
//! them, so the in-memory state is a cache: each batch first reloads the devices another node
//! moved on (their `state_version` differs), and its commit claims the versions it judged from
//! (see [`TelemetryBatch::claims`]). A claim that lost a race writes nothing; the devices it
//! names are reloaded and judged again in a later commit, and the rest commit at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use wanxiang_core::alarm::{
    AlarmStatus, Level, Rule, RuleState, Source, Transition, unattended_due, unattended_escalation,
};
use wanxiang_core::case::{HistoryEntry, Stage};
use wanxiang_core::category::Priority;
use wanxiang_store::{
    AlarmEvent, AlarmRecord, AlarmWrite, DeviceMark, Reading, StoreError, TelemetryBatch,
};

use super::payload::Parsed;
use super::{Live, Sensing};
use crate::AppState;

/// Most readings in one transaction.
const MAX_READINGS: usize = 8192;
/// A device's `last_seen` in the store is brought forward at most this often (ms) when nothing
/// else about it changes: with many devices each sending now and then, rewriting every device's
/// row on every message scattered writes over the whole table. (Inactivity is judged on the
/// pipeline's own clock, not on this column.)
const LAST_SEEN_EVERY_MS: i64 = 60_000;
/// How often the pipeline looks in the store for devices registered or changed on other nodes.
const REFRESH_MS: i64 = 30_000;
/// How far back before its last look each look reaches.
const REFRESH_MARGIN_MS: i64 = 10_000;
/// Jobs waiting before submitters wait for room.
const QUEUE: usize = 8192;

/// An operator's action on an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Seen; the alarm stays until its condition clears.
    Acknowledge,
    /// Cleared by hand; the rule starts afresh, so a condition that still holds raises a new
    /// alarm with its next reading.
    Clear,
}

/// Work for the pipeline.
pub(crate) enum Job {
    /// A device's good readings and its refused-value counts; answered once durable.
    Telemetry {
        /// The device.
        device: Arc<Live>,
        /// Its readings.
        readings: Vec<Parsed>,
        /// Refused values by reason.
        bad: Vec<(&'static str, i64)>,
        /// Answered with the number of new readings.
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// A device registered or changed (rules, disabled): judge with its new rules from now on.
    Device(Arc<Live>),
    /// An operator acts on an alarm.
    Operator {
        /// The alarm.
        alarm_id: String,
        /// Which action.
        action: Action,
        /// Who, in words.
        actor: String,
        /// Answered with the alarm after the change.
        done: oneshot::Sender<Result<AlarmRecord, StoreError>>,
    },
    /// The event hub opened (or found) a case for an alarm.
    CaseOpened {
        /// The alarm.
        alarm_id: String,
        /// The case.
        case_id: String,
    },
}

/// One device's evaluation.
struct Run {
    /// The device and its rules.
    live: Arc<Live>,
    /// Rule state, aligned with `live.rules`.
    states: Vec<RuleState>,
    /// The encoding of `states` last committed, so unchanged state is not rewritten.
    saved: String,
    /// When it was last heard from (arrival time, Unix ms): inactivity is measured from here.
    heard: i64,
    /// The `last_seen` last written to the store (reading time, Unix ms).
    seen_saved: i64,
    /// Its alarms not cleared, by rule code.
    alarms: HashMap<String, AlarmRecord>,
    /// When its next silence step falls due, if scheduled.
    due: Option<i64>,
    /// The store's `state_version` that `states` and `alarms` correspond to: on a store several
    /// nodes share, a commit claims it (see [`TelemetryBatch::claims`]).
    version: i64,
}

/// What a commit must do after it succeeded. Answers are by the job's index in its batch, so a
/// batch refused as stale can be judged again before anyone is answered.
#[derive(Default)]
struct Pending {
    /// Telemetry jobs to answer: (job index, readings).
    telemetry: Vec<(usize, usize)>,
    /// Operator jobs to answer with the alarm after the change.
    operators: Vec<(usize, AlarmRecord)>,
    /// Operator jobs to refuse, whatever becomes of the commit.
    refused: Vec<(usize, String)>,
    /// Alarms that need a case.
    cases: Vec<AlarmRecord>,
    /// Cases whose alarm escalated: (case id, the priority of its new level, why).
    raises: Vec<(String, Priority, String)>,
}

/// Where a job's answer goes.
enum Reply {
    /// Nobody waits.
    None,
    /// A telemetry submitter.
    Telemetry(oneshot::Sender<Result<u64, StoreError>>),
    /// An operator.
    Operator(oneshot::Sender<Result<AlarmRecord, StoreError>>),
}

/// A job without its answer channel: what can be judged again.
enum Work {
    Telemetry {
        device: Arc<Live>,
        readings: Vec<Parsed>,
        bad: Vec<(&'static str, i64)>,
    },
    Device(Arc<Live>),
    Operator {
        alarm_id: String,
        action: Action,
        actor: String,
    },
    CaseOpened {
        alarm_id: String,
        case_id: String,
    },
}

impl Job {
    fn split(self) -> (Work, Reply) {
        match self {
            Job::Telemetry {
                device,
                readings,
                bad,
                done,
            } => (
                Work::Telemetry {
                    device,
                    readings,
                    bad,
                },
                Reply::Telemetry(done),
            ),
            Job::Device(live) => (Work::Device(live), Reply::None),
            Job::Operator {
                alarm_id,
                action,
                actor,
                done,
            } => (
                Work::Operator {
                    alarm_id,
                    action,
                    actor,
                },
                Reply::Operator(done),
            ),
            Job::CaseOpened { alarm_id, case_id } => {
                (Work::CaseOpened { alarm_id, case_id }, Reply::None)
            }
        }
    }
}

/// Most commits tried for one batch while other nodes keep moving its devices' state on; the jobs
/// left after that hear that the store is busy (nothing of them is acknowledged, so it is sent
/// again).
const MAX_ATTEMPTS: usize = 64;

/// A judged batch: what to write, what to do once written, and how to undo it in memory.
struct Judged {
    batch: TelemetryBatch,
    pending: Pending,
    touched: Vec<String>,
    before: HashMap<String, Before>,
}

/// A device's evaluation before a batch: rule state, when heard, alarms.
type Before = (Vec<RuleState>, i64, HashMap<String, AlarmRecord>);

/// Starts the pipeline (once per node) and returns its queue.
pub(crate) fn sender(state: &AppState) -> mpsc::Sender<Job> {
    state
        .sensing
        .pipeline
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let st = state.clone();
            tokio::spawn(async move {
                let mut p = Pipeline {
                    refreshed_at: st.clock.now_ms(),
                    shared: st.store.records_changes(),
                    state: st,
                    runs: HashMap::new(),
                    silence: BTreeSet::new(),
                    alarm_device: HashMap::new(),
                };
                if let Err(e) = p.resume().await {
                    tracing::error!(error = %e, "the telemetry pipeline could not load its state");
                }
                p.run(rx).await;
            });
            tx
        })
        .clone()
}

struct Pipeline {
    state: AppState,
    /// Every device's evaluation, by id.
    runs: HashMap<String, Run>,
    /// (due, device id) for devices with a silence step scheduled.
    silence: BTreeSet<(i64, String)>,
    /// Which device each open alarm belongs to.
    alarm_device: HashMap<String, String>,
    /// When it last looked for devices changed on other nodes (node clock, Unix ms).
    refreshed_at: i64,
    /// Whether other nodes share the store (and may judge the same devices): then every batch
    /// first catches up with state they moved on, and claims the state it judged from.
    shared: bool,
}

impl Pipeline {
    fn sensing(&self) -> &Sensing {
        &self.state.sensing
    }

    /// Loads every device, its saved rule state and its open alarms; opens the cases that a
    /// crash may have left unopened.
    async fn resume(&mut self) -> Result<(), StoreError> {
        let store = self.state.store.clone();
        let resumes: HashMap<String, _> = store
            .device_resumes(None)
            .await?
            .into_iter()
            .map(|r| (r.device_id.clone(), r))
            .collect();
        let mut open: HashMap<String, Vec<AlarmRecord>> = HashMap::new();
        for a in store.open_alarms(None).await? {
            open.entry(a.device_id.clone()).or_default().push(a);
        }
        let lives = self.sensing().load_all(&self.state).await?;
        let mut orphans = Vec::new();
        let mut raises = Vec::new();
        for live in lives {
            let id = live.record.id.clone();
            let resume = resumes.get(&id);
            let mut run = self.new_run(live);
            if let Some(text) = resume.and_then(|r| r.rule_state.as_deref()) {
                run.states = decode_states(text, &run.live.rules);
                run.saved = text.to_owned();
            }
            run.version = resume.map_or(0, |r| r.state_version);
            run.heard = resume
                .and_then(|r| r.last_seen)
                .unwrap_or(run.heard)
                .max(run.heard);
            for a in open.remove(&id).unwrap_or_default() {
                if a.case_id.is_none() && a.level >= self.sensing().case_level {
                    orphans.push(a.clone());
                }
                if let Some(case_id) = &a.case_id {
                    raises.push((
                        case_id.clone(),
                        super::priority_for(a.peak),
                        format!("{}（{}）", a.title, a.device_name),
                    ));
                }
                self.alarm_device.insert(a.id.clone(), id.clone());
                run.alarms.insert(a.rule.clone(), a);
            }
            self.runs.insert(id.clone(), run);
            self.schedule(&id);
        }
        for a in orphans {
            self.open_case(a);
        }
        for (case_id, priority, why) in raises {
            self.raise_case(case_id, priority, why);
        }
        Ok(())
    }

    fn new_run(&self, live: Arc<Live>) -> Run {
        let n = live.rules.len();
        Run {
            heard: live.record.created_at,
            seen_saved: live.record.last_seen.unwrap_or(i64::MIN),
            live,
            states: vec![RuleState::default(); n],
            saved: String::new(),
            alarms: HashMap::new(),
            due: None,
            version: 0,
        }
    }

    /// Judges a device with its new form (registered, or its rules or disabled flag changed)
    /// from now on, keeping the state of the rules that did not change.
    fn replace(&mut self, live: Arc<Live>) {
        let id = live.record.id.clone();
        let mut run = self.new_run(live);
        if let Some(old) = self.runs.remove(&id) {
            run.heard = old.heard;
            run.alarms = old.alarms;
            run.seen_saved = old.seen_saved;
            for (i, rule) in run.live.rules.iter().enumerate() {
                if let Some(j) = old.live.rules.iter().position(|r| r == rule) {
                    run.states[i] = old.states[j].clone();
                }
            }
            run.due = old.due;
            run.version = old.version;
        }
        self.runs.insert(id.clone(), run);
        self.schedule(&id);
    }

    /// Takes in the devices registered or changed since the last look, on this node or another
    /// (through the shared store): a device registered elsewhere is judged — its inactivity
    /// timer running — before it ever sends here. Returns false if the store failed.
    async fn refresh(&mut self, now: i64) -> bool {
        // A margin for other nodes' clocks and for writes that committed late.
        let since = self.refreshed_at.saturating_sub(REFRESH_MARGIN_MS);
        let scope = wanxiang_core::Scope::system("sensing: devices changed on any node");
        let mut after = None;
        loop {
            let page = match self
                .state
                .store
                .devices(
                    &scope,
                    &wanxiang_store::DeviceFilter {
                        after: after.clone(),
                        changed_since: Some(since),
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "could not look for changed devices");
                    return false;
                }
            };
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for record in page {
                let known = self.runs.get(&record.id).map(|r| &r.live.record);
                if known.is_some_and(|k| {
                    k.rules == record.rules
                        && k.disabled == record.disabled
                        && k.name == record.name
                }) {
                    continue;
                }
                match self.sensing().live_of(record) {
                    Ok(live) => {
                        self.sensing().remember(&live, None);
                        self.replace(live);
                    }
                    Err(e) => tracing::warn!(error = %e, "changed device skipped"),
                }
            }
        }
        self.refreshed_at = now;
        true
    }

    /// (Re)schedules a device's next silence step.
    fn schedule(&mut self, id: &str) {
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        if let Some(old) = run.due.take() {
            self.silence.remove(&(old, id.to_owned()));
        }
        if run.live.record.disabled {
            return;
        }
        let after = self.state.sensing.unattended_ms;
        let silence = run
            .live
            .rules
            .iter()
            .zip(&run.states)
            .filter_map(|(rule, st)| rule.next_silence_due(st, run.heard));
        let unattended = run
            .alarms
            .values()
            .filter_map(|a| unattended_due(a.status, a.level, a.updated_at, after));
        let due = silence.chain(unattended).min();
        if let Some(due) = due {
            run.due = Some(due);
            self.silence.insert((due, id.to_owned()));
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut ticks = self.state.clock.ticks();
        loop {
            let now = self.state.clock.now_ms();
            if now - self.refreshed_at >= REFRESH_MS && !self.refresh(now).await {
                // The store is failing: look again later, not at once.
                self.refreshed_at = now;
            }
            let next_due = self
                .silence
                .first()
                .map(|(t, _)| *t)
                .into_iter()
                .chain([self.refreshed_at + REFRESH_MS])
                .min();
            if next_due.is_some_and(|t| t <= now) {
                if !self.timer_pass(now).await {
                    // The store is failing: do not spin on it.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                continue;
            }
            let wait = next_due.map_or(std::time::Duration::from_secs(3600), |t| {
                std::time::Duration::from_millis((t - now).max(1) as u64)
            });
            let ticked = async {
                match ticks.as_mut() {
                    Some(rx) => {
                        if rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                job = rx.recv() => {
                    let Some(job) = job else { return };
                    let mut jobs = vec![job];
                    let mut readings = jobs_readings(&jobs);
                    while readings < MAX_READINGS {
                        match rx.try_recv() {
                            Ok(job) => {
                                readings += jobs_readings(std::slice::from_ref(&job));
                                jobs.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    self.handle(jobs).await;
                }
                _ = tokio::time::sleep(wait) => {}
                _ = ticked => {}
            }
        }
    }

    /// Runs the timers of every device due by `now` — silence (inactivity) rules, and alarms left
    /// unacknowledged too long — and commits what they changed; false if the store refused the
    /// commit (the state is as before, to try again).
    async fn timer_pass(&mut self, now: i64) -> bool {
        let due_by = |silence: &BTreeSet<(i64, String)>| -> Vec<String> {
            silence
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let mut due = due_by(&self.silence);
        if self.shared {
            // Another node may have heard from these devices, or fired their timers already.
            if !self.catch_up(&due, now).await {
                return false;
            }
            due = due_by(&self.silence);
        }
        let mut batch = TelemetryBatch::default();
        let mut pending = Pending::default();
        let mut touched = Vec::new();
        let mut before = HashMap::new();
        for id in due {
            let Some(run) = self.runs.get_mut(&id) else {
                continue;
            };
            before.insert(
                id.clone(),
                (run.states.clone(), run.heard, run.alarms.clone()),
            );
            let x = (now - run.heard) as f64 / 1000.0;
            let rules = run.live.rules.clone();
            for (i, rule) in rules.iter().enumerate() {
                if rule.source != Source::Silence {
                    continue;
                }
                if let Some(t) = rule.judge(&mut run.states[i], now, x) {
                    alarm_change(
                        self.state.sensing.case_level,
                        run,
                        rule,
                        t,
                        x,
                        now,
                        &mut batch,
                        &mut pending,
                    );
                }
            }
            let after = self.state.sensing.unattended_ms;
            let mut codes: Vec<String> = run.alarms.keys().cloned().collect();
            codes.sort_unstable();
            for code in codes {
                unattended_change(
                    self.state.sensing.case_level,
                    run,
                    &code,
                    after,
                    now,
                    &mut batch,
                    &mut pending,
                );
            }
            touched.push(id);
        }
        self.add_states(&touched, HashMap::new(), &mut batch);
        let judged = Judged {
            batch,
            pending,
            touched,
            before,
        };
        match self.write(judged).await {
            Ok(_) => true,
            // Judged again, from the state the other node left, on the next pass.
            Err(StoreError::Stale(ids)) => self.catch_up(&ids, now).await,
            Err(_) => false,
        }
    }

    /// On a store other nodes share: brings the devices whose state another node moved on (their
    /// `state_version` differs from this node's) up to what the store holds — rule state, open
    /// alarms, when last heard — and reschedules their timers. False if the store failed.
    async fn catch_up(&mut self, ids: &[String], now: i64) -> bool {
        if !self.shared || ids.is_empty() {
            return true;
        }
        let store = self.state.store.clone();
        let resumes = match store.device_resumes(Some(ids)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not read devices' rule state");
                return false;
            }
        };
        let mut moved = Vec::new();
        for r in resumes {
            let Some(run) = self.runs.get_mut(&r.device_id) else {
                continue;
            };
            if r.state_version == run.version {
                continue;
            }
            run.states = match r.rule_state.as_deref() {
                Some(text) => decode_states(text, &run.live.rules),
                None => vec![RuleState::default(); run.live.rules.len()],
            };
            run.saved = r.rule_state.unwrap_or_default();
            run.version = r.state_version;
            if let Some(t) = r.last_seen {
                // A reading time, from the device's clock: never later than now.
                run.heard = run.heard.max(t.min(now));
                run.seen_saved = run.seen_saved.max(t);
            }
            moved.push(r.device_id);
        }
        if moved.is_empty() {
            return true;
        }
        let open = match store.open_alarms(Some(&moved)).await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "could not read devices' open alarms");
                // Judged from this state, the commit's claim would be refused anyway: look again.
                for id in &moved {
                    if let Some(run) = self.runs.get_mut(id) {
                        run.version = -1;
                    }
                }
                return false;
            }
        };
        for id in &moved {
            if let Some(run) = self.runs.get_mut(id) {
                for a in run.alarms.values() {
                    self.alarm_device.remove(&a.id);
                }
                run.alarms.clear();
            }
        }
        for a in open {
            if let Some(run) = self.runs.get_mut(&a.device_id) {
                self.alarm_device.insert(a.id.clone(), a.device_id.clone());
                run.alarms.insert(a.rule.clone(), a);
            }
        }
        for id in &moved {
            self.schedule(id);
        }
        metrics::counter!("wanxiang_sensing_state_catch_ups_total").increment(moved.len() as u64);
        true
    }

    /// The devices a batch's jobs judge or change, for [`Self::catch_up`]: an operator's alarm
    /// raised on another node is looked up in the store.
    async fn devices_of(&mut self, work: &[Work]) -> Vec<String> {
        let mut ids = Vec::new();
        for w in work {
            match w {
                Work::Telemetry { device, .. } => ids.push(device.record.id.clone()),
                Work::Operator { alarm_id, .. } | Work::CaseOpened { alarm_id, .. } => {
                    if let Some(d) = self.alarm_device.get(alarm_id) {
                        ids.push(d.clone());
                        continue;
                    }
                    let scope = wanxiang_core::Scope::system("sensing: an alarm of another node");
                    match self.state.store.alarm(&scope, alarm_id).await {
                        Ok(Some(a)) if a.status != AlarmStatus::Cleared => {
                            self.alarm_device.insert(a.id.clone(), a.device_id.clone());
                            ids.push(a.device_id);
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "could not look an alarm up"),
                    }
                }
                Work::Device(_) => {}
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    async fn handle(&mut self, jobs: Vec<Job>) {
        let (work, replies): (Vec<Work>, Vec<Reply>) = jobs.into_iter().map(Job::split).unzip();
        // Every device judged has an evaluation before anything is looked up.
        for w in &work {
            if let Work::Telemetry { device, .. } = w
                && !self.runs.contains_key(&device.record.id)
            {
                let run = self.new_run(device.clone());
                self.runs.insert(device.record.id.clone(), run);
            }
        }
        let mut ids = if self.shared {
            self.devices_of(&work).await
        } else {
            Vec::new()
        };
        // An operator acting on an alarm of a device registered on another node since this
        // node last looked: look now.
        if ids.iter().any(|id| !self.runs.contains_key(id)) {
            let now = self.state.clock.now_ms();
            self.refresh(now).await;
        }
        // What is still to commit, and what waits for a later commit because another node moved
        // its device on meanwhile. Each refused commit leaves at least one device for later and
        // each commit that goes through empties `todo`, so this ends.
        let mut todo: Vec<usize> = (0..work.len()).collect();
        let mut later: Vec<usize> = Vec::new();
        let mut done = Pending::default();
        let mut failed = None;
        let mut attempts = 0;
        while !todo.is_empty() {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                failed = Some(StoreError::Unavailable(
                    "其他节点持续更新这些设备 / other nodes kept changing these devices".into(),
                ));
                break;
            }
            let now = self.state.clock.now_ms();
            if !self.catch_up(&ids, now).await {
                failed = Some(StoreError::Unavailable(
                    "could not read devices' rule state".into(),
                ));
                break;
            }
            let judged = self.judge(&work, &todo, now);
            match self.write(judged).await {
                Ok(p) => {
                    done.telemetry.extend(p.telemetry);
                    done.operators.extend(p.operators);
                    done.refused.extend(p.refused);
                    todo = std::mem::take(&mut later);
                }
                Err(StoreError::Stale(mut stale)) => {
                    metrics::counter!("wanxiang_sensing_stale_batches_total").increment(1);
                    stale.sort_unstable();
                    let (wait, go): (Vec<usize>, Vec<usize>) = todo.iter().partition(|&&i| {
                        self.device_of(&work[i])
                            .is_some_and(|d| stale.binary_search_by(|s| s.as_str().cmp(d)).is_ok())
                    });
                    later.extend(wait);
                    todo = if go.is_empty() {
                        std::mem::take(&mut later)
                    } else {
                        go
                    };
                    ids = stale;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        answer(replies, done, failed);
    }

    /// The device a job judges or changes, if known here.
    fn device_of<'a>(&'a self, w: &'a Work) -> Option<&'a str> {
        match w {
            Work::Telemetry { device, .. } => Some(device.record.id.as_str()),
            Work::Operator { alarm_id, .. } | Work::CaseOpened { alarm_id, .. } => {
                self.alarm_device.get(alarm_id).map(String::as_str)
            }
            Work::Device(_) => None,
        }
    }

    /// Judges the batch's jobs `todo` (indices into `work`) from the devices' current evaluation.
    fn judge(&mut self, work: &[Work], todo: &[usize], now: i64) -> Judged {
        let mut batch = TelemetryBatch::default();
        let mut pending = Pending::default();
        let mut touched: Vec<String> = Vec::new();
        // One mark per device per batch, however many of its messages the batch holds.
        let mut marks: HashMap<String, DeviceMark> = HashMap::new();
        // Rule state before this batch, to restore if the commit fails.
        let mut before: HashMap<String, Before> = HashMap::new();
        for &index in todo {
            match &work[index] {
                Work::Device(live) => self.replace(live.clone()),
                Work::Telemetry {
                    device,
                    readings,
                    bad,
                } => {
                    let id = device.record.id.clone();
                    if !self.runs.contains_key(&id) {
                        let run = self.new_run(device.clone());
                        self.runs.insert(id.clone(), run);
                    }
                    let Some(run) = self.runs.get_mut(&id) else {
                        continue;
                    };
                    before
                        .entry(id.clone())
                        .or_insert_with(|| (run.states.clone(), run.heard, run.alarms.clone()));
                    let n = readings.len();
                    let mark = marks.entry(id.clone()).or_insert_with(|| DeviceMark {
                        device_id: id.clone(),
                        ..DeviceMark::default()
                    });
                    for (reason, count) in bad {
                        match mark.bad.iter_mut().find(|(r, _)| r == reason) {
                            Some((_, total)) => *total += count,
                            None => mark.bad.push(((*reason).to_owned(), *count)),
                        }
                    }
                    if n > 0 {
                        run.heard = run.heard.max(now);
                    }
                    for r in readings {
                        mark.last_seen = mark.last_seen.max(Some(r.ts));
                        judge(
                            self.state.sensing.case_level,
                            run,
                            r,
                            now,
                            &mut batch,
                            &mut pending,
                        );
                        batch.readings.push(Reading {
                            device_id: id.clone(),
                            ts: r.ts,
                            values: r.values.clone(),
                        });
                    }
                    pending.telemetry.push((index, n));
                    touched.push(id);
                }
                Work::Operator {
                    alarm_id,
                    action,
                    actor,
                } => {
                    let found = self
                        .alarm_device
                        .get(alarm_id)
                        .and_then(|d| self.runs.get_mut(d));
                    let rule_code = found.as_ref().and_then(|run| {
                        run.alarms
                            .values()
                            .find(|a| &a.id == alarm_id)
                            .map(|a| a.rule.clone())
                    });
                    let (Some(run), Some(rule_code)) = (found, rule_code) else {
                        pending.refused.push((
                            index,
                            "告警已解除或不存在 / the alarm is cleared or unknown".into(),
                        ));
                        continue;
                    };
                    let id = run.live.record.id.clone();
                    before
                        .entry(id.clone())
                        .or_insert_with(|| (run.states.clone(), run.heard, run.alarms.clone()));
                    let updated = operator_change(run, &rule_code, *action, actor, now, &mut batch);
                    pending.operators.push((index, updated));
                    touched.push(id);
                }
                Work::CaseOpened { alarm_id, case_id } => {
                    let Some(run) = self
                        .alarm_device
                        .get(alarm_id)
                        .and_then(|d| self.runs.get_mut(d))
                    else {
                        continue;
                    };
                    let id = run.live.record.id.clone();
                    before
                        .entry(id.clone())
                        .or_insert_with(|| (run.states.clone(), run.heard, run.alarms.clone()));
                    if let Some(a) = run.alarms.values_mut().find(|a| &a.id == alarm_id) {
                        a.case_id = Some(case_id.clone());
                        a.updated_at = now;
                        batch.alarms.push(AlarmWrite {
                            alarm: a.clone(),
                            event: AlarmEvent {
                                at: now,
                                action: "case_opened".into(),
                                level: a.level,
                                value: a.value,
                                actor: None,
                                note: format!("已立案 / case opened: {case_id}"),
                            },
                            case_note: None,
                        });
                        touched.push(id);
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        self.add_states(&touched, marks, &mut batch);
        Judged {
            batch,
            pending,
            touched,
            before,
        }
    }

    /// Puts the marks in the batch, with the rule state of each touched device whose state
    /// changed since its last commit (encoded once per device per batch).
    fn add_states(
        &self,
        touched: &[String],
        mut marks: HashMap<String, DeviceMark>,
        batch: &mut TelemetryBatch,
    ) {
        // A reading time within a minute (or a quarter of the type's timeout, if shorter) of the
        // stored one is not worth a row write on its own. On a shared store the claim rewrites
        // the row anyway, and other nodes' inactivity timers measure from it: always written.
        for mark in marks.values_mut() {
            if let Some(run) = self.runs.get(&mark.device_id)
                && !self.shared
                && mark.bad.is_empty()
                && mark.last_seen.is_some_and(|t| {
                    let every = LAST_SEEN_EVERY_MS.min(run.live.ty.timeout_secs * 250);
                    t < run.seen_saved.saturating_add(every)
                })
            {
                mark.last_seen = None;
            }
        }
        for id in touched {
            let Some(run) = self.runs.get(id) else {
                continue;
            };
            let encoded = encode_states(&run.states, &run.live.rules);
            if encoded != run.saved {
                marks
                    .entry(id.clone())
                    .or_insert_with(|| DeviceMark {
                        device_id: id.clone(),
                        ..DeviceMark::default()
                    })
                    .rule_state = Some(encoded);
            }
        }
        batch.marks.extend(
            marks
                .into_values()
                .filter(|m| m.last_seen.is_some() || !m.bad.is_empty() || m.rule_state.is_some()),
        );
    }

    /// Commits a judged batch (claiming, on a shared store, the state versions it was judged
    /// from) and carries out what follows from it; on failure, the evaluation is put back as it
    /// was before the batch and nothing follows.
    async fn write(&mut self, judged: Judged) -> Result<Pending, StoreError> {
        let Judged {
            mut batch,
            pending,
            touched,
            before,
        } = judged;
        if self.shared {
            batch.claims = touched
                .iter()
                .filter_map(|id| self.runs.get(id).map(|r| (id.clone(), r.version)))
                .collect();
        }
        let empty = batch.readings.is_empty() && batch.marks.is_empty() && batch.alarms.is_empty();
        let result = if empty {
            Ok(0)
        } else {
            self.state.store.write_telemetry(&batch).await
        };
        if let Err(e) = result {
            if !matches!(e, StoreError::Stale(_)) {
                tracing::warn!(error = %e, "telemetry commit failed; nothing acknowledged");
            }
            for (id, (states, heard, alarms)) in before {
                if let Some(run) = self.runs.get_mut(&id) {
                    run.states = states;
                    run.heard = heard;
                    run.alarms = alarms;
                }
            }
            return Err(e);
        }
        metrics::counter!("wanxiang_telemetry_readings_total")
            .increment(batch.readings.len() as u64);
        if !empty {
            for (id, _) in &batch.claims {
                if let Some(run) = self.runs.get_mut(id) {
                    run.version += 1;
                }
            }
        }
        for mark in &batch.marks {
            let Some(run) = self.runs.get_mut(&mark.device_id) else {
                continue;
            };
            if let Some(state) = &mark.rule_state {
                run.saved = state.clone();
            }
            if let Some(t) = mark.last_seen {
                run.seen_saved = run.seen_saved.max(t);
            }
        }
        for w in &batch.alarms {
            crate::bus::publish(
                &self.state,
                crate::events::Change::alarm(&w.alarm, &w.event.action, w.event.at),
            );
            if w.alarm.status == AlarmStatus::Cleared {
                self.alarm_device.remove(&w.alarm.id);
            } else {
                self.alarm_device
                    .insert(w.alarm.id.clone(), w.alarm.device_id.clone());
            }
        }
        for id in &touched {
            self.schedule(id);
        }
        for a in &pending.cases {
            self.open_case(a.clone());
        }
        for (case_id, priority, why) in &pending.raises {
            self.raise_case(case_id.clone(), *priority, why.clone());
        }
        Ok(pending)
    }

    /// Asks the event hub to raise a case's priority, off the pipeline's task. It is idempotent
    /// (never lowers, skips a case already as urgent), and repeated for every open alarm at start,
    /// so a crash before it ran is repaired.
    fn raise_case(&self, case_id: String, priority: Priority, why: String) {
        let state = self.state.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::events::raise_priority(&state, &case_id, priority, &why).await {
                tracing::warn!(case = %case_id, error = ?e, "could not raise the priority of an alarm's case");
            }
        });
    }

    /// Asks the event hub for a case for the alarm, off the pipeline's task; the case's id comes
    /// back as a job. The external id `alarm:{id}` makes a retry find the same case.
    fn open_case(&self, alarm: AlarmRecord) {
        let state = self.state.clone();
        let Some(run) = self.runs.get(&alarm.device_id) else {
            return;
        };
        let live = run.live.clone();
        tokio::spawn(async move {
            match super::open_alarm_case(&state, &live, &alarm).await {
                Ok(case_id) => {
                    let _ = sender(&state)
                        .send(Job::CaseOpened {
                            alarm_id: alarm.id.clone(),
                            case_id,
                        })
                        .await;
                }
                Err(e) => {
                    tracing::warn!(alarm = %alarm.id, error = ?e, "could not open a case for an alarm")
                }
            }
        });
    }
}

/// Answers a batch's submitters: with what the commits made of their jobs, and the rest with
/// the error that stopped them.
fn answer(replies: Vec<Reply>, done: Pending, failed: Option<StoreError>) {
    let mut replies: Vec<Option<Reply>> = replies.into_iter().map(Some).collect();
    for (i, n) in done.telemetry {
        if let Some(Reply::Telemetry(tx)) = replies[i].take() {
            let _ = tx.send(Ok(n as u64));
        }
    }
    for (i, alarm) in done.operators {
        if let Some(Reply::Operator(tx)) = replies[i].take() {
            let _ = tx.send(Ok(alarm));
        }
    }
    for (i, why) in done.refused {
        if let Some(Reply::Operator(tx)) = replies[i].take() {
            let _ = tx.send(Err(StoreError::Conflict(why)));
        }
    }
    let Some(e) = failed else { return };
    let why = e.to_string();
    let error = || StoreError::Unavailable(why.clone());
    for reply in replies.into_iter().flatten() {
        match reply {
            Reply::Telemetry(tx) => drop(tx.send(Err(error()))),
            Reply::Operator(tx) => drop(tx.send(Err(error()))),
            Reply::None => {}
        }
    }
}

fn jobs_readings(jobs: &[Job]) -> usize {
    jobs.iter()
        .map(|j| match j {
            Job::Telemetry { readings, .. } => readings.len().max(1),
            _ => 1,
        })
        .sum()
}

/// Judges one reading against every rule of the device.
fn judge(
    case_level: Level,
    run: &mut Run,
    r: &Parsed,
    now: i64,
    batch: &mut TelemetryBatch,
    pending: &mut Pending,
) {
    let rules = run.live.rules.clone();
    for (i, rule) in rules.iter().enumerate() {
        let change = match &rule.source {
            // Data arrived: a silence alarm clears, judged on the arrival clock.
            Source::Silence => {
                if run.states[i].active.is_some() {
                    run.states[i].last_ts = None;
                    rule.judge(&mut run.states[i], now, 0.0).map(|t| (t, 0.0))
                } else {
                    None
                }
            }
            Source::Value(key) | Source::Rate { key, .. } => {
                let Some(&(_, v)) = r.values.iter().find(|(k, _)| k == key) else {
                    continue;
                };
                rule.observe(&mut run.states[i], r.ts, v)
                    .and_then(|x| rule.judge(&mut run.states[i], r.ts, x).map(|t| (t, x)))
            }
        };
        if let Some((t, x)) = change {
            let at = match rule.source {
                Source::Silence => now,
                _ => r.ts,
            };
            alarm_change(case_level, run, rule, t, x, at, batch, pending);
        }
    }
}

/// Turns a rule's transition into the alarm's change, its history line and its case's note.
#[allow(clippy::too_many_arguments)]
fn alarm_change(
    case_level: Level,
    run: &mut Run,
    rule: &Rule,
    t: Transition,
    x: f64,
    at: i64,
    batch: &mut TelemetryBatch,
    pending: &mut Pending,
) {
    let d = &run.live.record;
    let ty = &run.live.ty;
    let unit = match &rule.source {
        Source::Value(k) => ty.measure(k).map(|m| m.unit.clone()).unwrap_or_default(),
        Source::Rate { key, per_secs, .. } => {
            let u = ty.measure(key).map(|m| m.unit.as_str()).unwrap_or("");
            let per = if *per_secs == 86_400 { "d" } else { "s" };
            format!("{u}/{per}")
        }
        Source::Silence => "s".into(),
    };
    let reading = format!("{} {x:.2}{unit}", rule.name_zh);
    let (alarm, action, note) = match t {
        Transition::Raised(level) => {
            let a = AlarmRecord {
                id: uuid::Uuid::now_v7().to_string(),
                device_id: d.id.clone(),
                device_name: d.name.clone(),
                type_code: d.type_code.clone(),
                rule: rule.code.clone(),
                title: format!("{} / {}", rule.name_zh, rule.name_en),
                level,
                peak: level,
                status: AlarmStatus::Active,
                value: x,
                lon: d.lon,
                lat: d.lat,
                area: d.area.clone(),
                org: d.org.clone(),
                case_id: None,
                raised_at: at,
                updated_at: at,
                cleared_at: None,
            };
            let note = format!("{}：{reading} / alarm raised", level.name_zh());
            (a, "raised", note)
        }
        Transition::Escalated { from, to } | Transition::Deescalated { from, to } => {
            let Some(a) = run.alarms.get(&rule.code) else {
                return;
            };
            let mut a = a.clone();
            let up = matches!(t, Transition::Escalated { .. });
            // An alarm escalated for being unattended keeps that level when its condition
            // strengthens less than that.
            a.level = if up { to.max(a.level) } else { to };
            a.peak = a.peak.max(to);
            a.value = x;
            a.updated_at = at;
            if up {
                // A stronger condition needs to be seen again.
                a.status = AlarmStatus::Active;
            }
            let word = if up {
                "升级 / escalated"
            } else {
                "降级 / de-escalated"
            };
            let note = format!(
                "告警{word}：{} → {}，{reading}",
                from.name_zh(),
                to.name_zh()
            );
            (a, t.as_str(), note)
        }
        Transition::Cleared { .. } => {
            let Some(a) = run.alarms.get(&rule.code) else {
                return;
            };
            let mut a = a.clone();
            a.status = AlarmStatus::Cleared;
            a.value = x;
            a.updated_at = at;
            a.cleared_at = Some(at);
            let note = format!(
                "告警解除，处置人员可办结 / alarm cleared; the case may be closed: {reading}"
            );
            (a, "cleared", note)
        }
    };
    let up = matches!(t, Transition::Raised(_) | Transition::Escalated { .. });
    push_change(case_level, run, alarm, action, note, up, batch, pending);
}

/// Records an alarm's change: its history line, its case's note, and, when it went up, the case
/// it now needs or the priority its case must rise to.
#[allow(clippy::too_many_arguments)]
fn push_change(
    case_level: Level,
    run: &mut Run,
    alarm: AlarmRecord,
    action: &str,
    note: String,
    up: bool,
    batch: &mut TelemetryBatch,
    pending: &mut Pending,
) {
    let at = alarm.updated_at;
    let case_note = alarm.case_id.as_ref().map(|_| case_line(&alarm, &note, at));
    let needs_case = up
        && alarm.case_id.is_none()
        && alarm.status != AlarmStatus::Cleared
        && alarm.level >= case_level;
    if alarm.status == AlarmStatus::Cleared {
        run.alarms.remove(&alarm.rule);
    } else {
        run.alarms.insert(alarm.rule.clone(), alarm.clone());
    }
    if needs_case {
        pending.cases.push(alarm.clone());
    }
    if let (true, Some(case_id)) = (up && action != "raised", &alarm.case_id) {
        pending.raises.push((
            case_id.clone(),
            super::priority_for(alarm.level),
            format!("{}（{}）{note}", alarm.title, alarm.device_name),
        ));
    }
    batch.alarms.push(AlarmWrite {
        event: AlarmEvent {
            at,
            action: action.into(),
            level: alarm.level,
            value: alarm.value,
            actor: None,
            note,
        },
        alarm,
        case_note,
    });
}

/// Escalates an alarm nobody acknowledged in time one level up (see
/// [`wanxiang_core::alarm::unattended_escalation`]).
fn unattended_change(
    case_level: Level,
    run: &mut Run,
    rule_code: &str,
    after_ms: i64,
    now: i64,
    batch: &mut TelemetryBatch,
    pending: &mut Pending,
) {
    let Some(a) = run.alarms.get(rule_code) else {
        return;
    };
    let Some(to) = unattended_escalation(a.status, a.level, a.updated_at, after_ms, now) else {
        return;
    };
    let mut a = a.clone();
    let from = a.level;
    a.level = to;
    a.peak = a.peak.max(to);
    a.updated_at = now;
    let minutes = after_ms / 60_000;
    let note = format!(
        "告警{minutes}分钟无人确认，自动升级：{} → {} / unacknowledged for {minutes} min, escalated {} → {}",
        from.name_zh(),
        to.name_zh(),
        from.as_str(),
        to.as_str()
    );
    push_change(case_level, run, a, "escalated", note, true, batch, pending);
}

/// A line for the alarm's case history; its stages are filled in by the store from the case.
fn case_line(alarm: &AlarmRecord, note: &str, at: i64) -> HistoryEntry {
    HistoryEntry {
        seq: 0,
        at,
        actor_id: None,
        actor: "物联感知 / sensing hub".into(),
        from: Stage::Reported,
        to: Stage::Reported,
        command: "alarm".into(),
        note: format!("{}（{}）{note}", alarm.title, alarm.device_name),
    }
}

/// Applies an operator's action to the alarm of `rule_code`.
fn operator_change(
    run: &mut Run,
    rule_code: &str,
    action: Action,
    actor: &str,
    now: i64,
    batch: &mut TelemetryBatch,
) -> AlarmRecord {
    let mut a = run.alarms[rule_code].clone();
    a.updated_at = now;
    let (word, note) = match action {
        Action::Acknowledge => {
            a.status = AlarmStatus::Acknowledged;
            ("acknowledged", format!("{actor} 确认告警 / acknowledged"))
        }
        Action::Clear => {
            a.status = AlarmStatus::Cleared;
            a.cleared_at = Some(now);
            if let Some(i) = run.live.rules.iter().position(|r| r.code == rule_code) {
                run.states[i] = RuleState::default();
            }
            run.alarms.remove(rule_code);
            ("cleared", format!("{actor} 手动解除告警 / cleared by hand"))
        }
    };
    let case_note = a.case_id.as_ref().map(|_| case_line(&a, &note, now));
    batch.alarms.push(AlarmWrite {
        alarm: a.clone(),
        event: AlarmEvent {
            at: now,
            action: word.into(),
            level: a.level,
            value: a.value,
            actor: Some(actor.to_owned()),
            note,
        },
        case_note,
    });
    if action == Action::Acknowledge {
        run.alarms.insert(rule_code.to_owned(), a.clone());
    }
    a
}

/// Encodes the rules' state as JSON by rule code; rules with nothing to remember are left out,
/// and the whole is empty when none has.
pub(crate) fn encode_states(states: &[RuleState], rules: &[Rule]) -> String {
    let mut map = serde_json::Map::new();
    for (rule, st) in rules.iter().zip(states) {
        let st = RuleState {
            last_ts: None,
            ..st.clone()
        };
        if st.is_empty() {
            continue;
        }
        map.insert(
            rule.code.clone(),
            json!({
                "active": st.active.map(|l| l.as_str()),
                "since": st.since,
                "hits": st.hits,
                "window": st.window.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
            }),
        );
    }
    if map.is_empty() {
        String::new()
    } else {
        Value::Object(map).to_string()
    }
}

/// Decodes what [`encode_states`] wrote; what cannot be read starts afresh.
pub(crate) fn decode_states(text: &str, rules: &[Rule]) -> Vec<RuleState> {
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    rules
        .iter()
        .map(|rule| {
            let Some(v) = parsed.get(&rule.code) else {
                return RuleState::default();
            };
            let mut st = RuleState {
                active: v["active"].as_str().and_then(Level::parse),
                ..RuleState::default()
            };
            for i in 0..4 {
                st.since[i] = v["since"][i].as_i64();
                if let Some(hits) = v["hits"][i].as_array() {
                    st.hits[i] = hits.iter().filter_map(Value::as_i64).collect();
                }
            }
            if let Some(w) = v["window"].as_array() {
                st.window = w
                    .iter()
                    .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
                    .collect();
            }
            st
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensing::types::{DEFAULT_DEVICE_TYPES, parse_types};

    #[test]
    fn rule_state_round_trips_and_empty_state_is_empty() {
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let rules = &types["slope"].rules;
        let mut states = vec![RuleState::default(); rules.len()];
        assert_eq!(encode_states(&states, rules), "");
        states[0].active = Some(Level::Yellow);
        states[0].since[1] = Some(42);
        states[0].window.push_back((1_000, 2.5));
        states[0].last_ts = Some(9);
        states[2].hits[0].push_back(7);
        let text = encode_states(&states, rules);
        let back = decode_states(&text, rules);
        states[0].last_ts = None;
        assert_eq!(back, states);
        // Unreadable state starts afresh rather than failing the start.
        assert_eq!(
            decode_states("garbage", rules),
            vec![RuleState::default(); rules.len()]
        );
    }
}
