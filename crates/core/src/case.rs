//! The case lifecycle (案卷流转) as a pure state machine, in the manner of `rumqttc`'s protocol
//! state: [`step`] takes a case, a command and the time, and returns the new case, the
//! transition to append to the case's history, and the effects for the edge to carry out (start
//! or pause a clock, notify someone). It does no I/O.
//!
//! The loop follows the digital-urban-management standard — 信息收集 → 案卷建立 → 任务派遣 →
//! 任务处理 → 处理反馈 → 核实结案 → 综合评价 — with Shenzhen's rule that an unsatisfied rating sends
//! the case back for redo, plus returns to the dispatcher, rework after a failed check, suspension,
//! reassignment, extensions approved by a supervisor, and urging (督办).

use std::fmt;

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// 上报: taken in, not yet accepted as a case.
    Reported,
    /// 立案: accepted as a case, waiting to be dispatched (also after a return).
    Registered,
    /// 不予立案: refused, with a reason. Final.
    Rejected,
    /// 派遣: sent to a responsible unit, waiting for it to accept.
    Dispatched,
    /// 签收: accepted by the responsible unit.
    Accepted,
    /// 处置中: being handled (also after rework or redo).
    InProgress,
    /// 办结: the handler reports it done, waiting for verification.
    Handled,
    /// 结案: verified and closed; may still be rated.
    Closed,
    /// 挂起: suspended with a reason; resumes where it was.
    Suspended,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 9] = [
        Stage::Reported,
        Stage::Registered,
        Stage::Rejected,
        Stage::Dispatched,
        Stage::Accepted,
        Stage::InProgress,
        Stage::Handled,
        Stage::Closed,
        Stage::Suspended,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reported => "reported",
            Stage::Registered => "registered",
            Stage::Rejected => "rejected",
            Stage::Dispatched => "dispatched",
            Stage::Accepted => "accepted",
            Stage::InProgress => "in_progress",
            Stage::Handled => "handled",
            Stage::Closed => "closed",
            Stage::Suspended => "suspended",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Stage::Reported => "上报",
            Stage::Registered => "立案",
            Stage::Rejected => "不予立案",
            Stage::Dispatched => "派遣",
            Stage::Accepted => "签收",
            Stage::InProgress => "处置中",
            Stage::Handled => "办结",
            Stage::Closed => "结案",
            Stage::Suspended => "挂起",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the case is still being worked on (its clocks run and it can be urged).
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Rejected | Stage::Closed)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The five levels of 好差评 (GB/T 39735-2020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Satisfaction {
    /// 非常满意.
    VerySatisfied,
    /// 满意.
    Satisfied,
    /// 基本满意.
    FairlySatisfied,
    /// 不满意.
    Unsatisfied,
    /// 非常不满意.
    VeryUnsatisfied,
}

impl Satisfaction {
    /// Every level, best first.
    pub const ALL: [Satisfaction; 5] = [
        Satisfaction::VerySatisfied,
        Satisfaction::Satisfied,
        Satisfaction::FairlySatisfied,
        Satisfaction::Unsatisfied,
        Satisfaction::VeryUnsatisfied,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "very_satisfied",
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::FairlySatisfied => "fairly_satisfied",
            Satisfaction::Unsatisfied => "unsatisfied",
            Satisfaction::VeryUnsatisfied => "very_unsatisfied",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Satisfaction> {
        Satisfaction::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the rating sends the case back for redo.
    pub fn demands_redo(self) -> bool {
        matches!(
            self,
            Satisfaction::Unsatisfied | Satisfaction::VeryUnsatisfied
        )
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "非常满意",
            Satisfaction::Satisfied => "满意",
            Satisfaction::FairlySatisfied => "基本满意",
            Satisfaction::Unsatisfied => "不满意",
            Satisfaction::VeryUnsatisfied => "非常不满意",
        }
    }
}

/// What someone asks of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// 立案.
    Register,
    /// 不予立案, with a reason.
    Reject {
        /// Why.
        reason: String,
    },
    /// 派遣 to an organisation (its key: a unit code, a department code or `entity:<id>`).
    Dispatch {
        /// The responsible organisation.
        to: String,
    },
    /// 签收.
    Accept,
    /// 退回 to the dispatcher, with a reason ("not ours").
    Return {
        /// Why.
        reason: String,
    },
    /// Start handling (处置中).
    Start,
    /// 办结: the handler reports it done.
    Handle {
        /// What was done.
        note: String,
    },
    /// 核查: an inspector or the reporter checks the result.
    Verify {
        /// Passed (close) or failed (rework).
        pass: bool,
        /// What was found.
        note: String,
    },
    /// 评价 by the reporter.
    Rate {
        /// The level.
        level: Satisfaction,
        /// The reporter's answer to "was the problem solved?" (解决率 counts it), if given.
        resolved: Option<bool>,
    },
    /// 挂起, with a reason.
    Suspend {
        /// Why.
        reason: String,
    },
    /// Resume a suspended case.
    Resume,
    /// Send an open, dispatched case to another organisation.
    Reassign {
        /// The new responsible organisation.
        to: String,
    },
    /// 延期 request by the handler.
    RequestExtension {
        /// The requested new due time (Unix ms).
        until: i64,
        /// Why.
        reason: String,
    },
    /// A supervisor's decision on the pending extension.
    DecideExtension {
        /// Approve or refuse.
        approve: bool,
    },
    /// 督办: a supervisor urges the case on.
    Urge {
        /// The message.
        note: String,
    },
    /// 处置进展: the handler reports progress (with photos) while the work goes on; the stage
    /// stays, the reporter is told.
    Progress {
        /// What has been done so far.
        note: String,
    },
}

/// The kind of a [`Command`], for listings of what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandKind {
    /// [`Command::Register`].
    Register,
    /// [`Command::Reject`].
    Reject,
    /// [`Command::Dispatch`].
    Dispatch,
    /// [`Command::Accept`].
    Accept,
    /// [`Command::Return`].
    Return,
    /// [`Command::Start`].
    Start,
    /// [`Command::Handle`].
    Handle,
    /// [`Command::Verify`].
    Verify,
    /// [`Command::Rate`].
    Rate,
    /// [`Command::Suspend`].
    Suspend,
    /// [`Command::Resume`].
    Resume,
    /// [`Command::Reassign`].
    Reassign,
    /// [`Command::RequestExtension`].
    RequestExtension,
    /// [`Command::DecideExtension`].
    DecideExtension,
    /// [`Command::Urge`].
    Urge,
    /// [`Command::Progress`].
    Progress,
}

impl CommandKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Register => "register",
            CommandKind::Reject => "reject",
            CommandKind::Dispatch => "dispatch",
            CommandKind::Accept => "accept",
            CommandKind::Return => "return",
            CommandKind::Start => "start",
            CommandKind::Handle => "handle",
            CommandKind::Verify => "verify",
            CommandKind::Rate => "rate",
            CommandKind::Suspend => "suspend",
            CommandKind::Resume => "resume",
            CommandKind::Reassign => "reassign",
            CommandKind::RequestExtension => "request_extension",
            CommandKind::DecideExtension => "decide_extension",
            CommandKind::Urge => "urge",
            CommandKind::Progress => "progress",
        }
    }
}

impl CommandKind {
    /// Every kind.
    pub const ALL: [CommandKind; 16] = [
        CommandKind::Register,
        CommandKind::Reject,
        CommandKind::Dispatch,
        CommandKind::Accept,
        CommandKind::Return,
        CommandKind::Start,
        CommandKind::Handle,
        CommandKind::Verify,
        CommandKind::Rate,
        CommandKind::Suspend,
        CommandKind::Resume,
        CommandKind::Reassign,
        CommandKind::RequestExtension,
        CommandKind::DecideExtension,
        CommandKind::Urge,
        CommandKind::Progress,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<CommandKind> {
        CommandKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Command {
    /// Its kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            Command::Register => CommandKind::Register,
            Command::Reject { .. } => CommandKind::Reject,
            Command::Dispatch { .. } => CommandKind::Dispatch,
            Command::Accept => CommandKind::Accept,
            Command::Return { .. } => CommandKind::Return,
            Command::Start => CommandKind::Start,
            Command::Handle { .. } => CommandKind::Handle,
            Command::Verify { .. } => CommandKind::Verify,
            Command::Rate { .. } => CommandKind::Rate,
            Command::Suspend { .. } => CommandKind::Suspend,
            Command::Resume => CommandKind::Resume,
            Command::Reassign { .. } => CommandKind::Reassign,
            Command::RequestExtension { .. } => CommandKind::RequestExtension,
            Command::DecideExtension { .. } => CommandKind::DecideExtension,
            Command::Urge { .. } => CommandKind::Urge,
            Command::Progress { .. } => CommandKind::Progress,
        }
    }
}

/// A requested extension awaiting a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExtension {
    /// The requested due time (Unix ms).
    pub until: i64,
    /// Why.
    pub reason: String,
}

/// The state of a case, as far as its lifecycle is concerned. Everything here can be recomputed
/// by replaying the case's history through [`step`]: the history is the source of truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Where it is.
    pub stage: Stage,
    /// The responsible organisation, once dispatched.
    pub assignee: Option<String>,
    /// Where a suspended case resumes.
    pub suspended_from: Option<Stage>,
    /// The reporter's rating of the latest closing, if given.
    pub rating: Option<Satisfaction>,
    /// With the rating: did the reporter say the problem was solved? (解决率)
    pub resolved: Option<bool>,
    /// When a suspended case was paused (Unix ms): the time since is given back on resume.
    pub suspended_at: Option<i64>,
    /// How often verification failed (返工).
    pub reworks: u32,
    /// How often an unsatisfied rating sent it back (重办).
    pub redos: u32,
    /// How often the responsible unit returned it (退回).
    pub returns: u32,
    /// An extension awaiting decision.
    pub pending_extension: Option<PendingExtension>,
    /// Extensions granted (延期).
    pub extensions: u32,
}

impl Case {
    /// A newly reported case.
    pub fn reported() -> Case {
        Case {
            stage: Stage::Reported,
            assignee: None,
            suspended_from: None,
            rating: None,
            resolved: None,
            suspended_at: None,
            reworks: 0,
            redos: 0,
            returns: 0,
            pending_extension: None,
            extensions: 0,
        }
    }
}

/// One line of a case's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The stage before.
    pub from: Stage,
    /// The stage after (equal to `from` for urging, ratings that close, extension steps).
    pub to: Stage,
    /// What was done.
    pub command: CommandKind,
    /// The reason, note or target, in words.
    pub note: String,
    /// When (Unix ms).
    pub at: i64,
}

/// What the edge must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A stage with a time limit began: start its clock now.
    StartClock(Stage),
    /// The case left all timed stages (closed, rejected): stop the clock.
    StopClock,
    /// Suspension: pause the clock.
    PauseClock,
    /// Resumption: continue the paused clock, giving back the time since it was paused (Unix ms).
    ResumeClock {
        /// When the clock was paused.
        paused_at: i64,
    },
    /// An approved extension moves the current due time.
    ExtendDeadline(i64),
    /// Tell someone.
    Notify(Notice),
}

/// Who hears about a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The responsible organisation (new work, urging, verification failed, redo).
    Assignee(String),
    /// The dispatchers (a return, a new case to dispatch).
    Dispatchers,
    /// The supervisors (an extension to decide).
    Supervisors,
    /// The reporter (progress on their report).
    Reporter,
}

/// A command the case's stage does not allow; the API answers 409 with `allowed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command} is not allowed while the case is {stage}")]
pub struct Illegal {
    /// The stage the case is in.
    pub stage: Stage,
    /// What was attempted (wire name).
    pub command: &'static str,
    /// What the stage allows.
    pub allowed: Vec<CommandKind>,
    /// Why, when the command kind is allowed but its content is not (an empty reason, say).
    pub detail: Option<String>,
}

/// The commands a case allows now.
pub fn allowed(case: &Case) -> Vec<CommandKind> {
    use CommandKind::*;
    let mut kinds: Vec<CommandKind> = match case.stage {
        Stage::Reported => vec![Register, Reject],
        Stage::Registered => vec![Dispatch],
        Stage::Rejected => vec![],
        Stage::Dispatched => vec![Accept, Return, Reassign],
        Stage::Accepted => vec![Start, Return, Reassign],
        Stage::InProgress => vec![Handle, Progress, Reassign],
        Stage::Handled => vec![Verify],
        Stage::Closed if case.rating.is_none() => vec![Rate],
        Stage::Closed => vec![],
        Stage::Suspended => vec![Resume],
    };
    if matches!(
        case.stage,
        Stage::Dispatched | Stage::Accepted | Stage::InProgress | Stage::Registered
    ) {
        kinds.push(Suspend);
    }
    if matches!(
        case.stage,
        Stage::Dispatched | Stage::Accepted | Stage::InProgress
    ) {
        kinds.push(if case.pending_extension.is_some() {
            DecideExtension
        } else {
            RequestExtension
        });
    }
    if case.stage.is_open() {
        kinds.push(Urge);
    }
    kinds.sort();
    kinds
}

fn required(text: &str, what: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(())
    }
}

/// Applies a command at time `now`.
pub fn step(
    case: &Case,
    command: &Command,
    now: i64,
) -> Result<(Case, Transition, Vec<Effect>), Illegal> {
    let kind = command.kind();
    let illegal = |detail: Option<String>| Illegal {
        stage: case.stage,
        command: kind.as_str(),
        allowed: allowed(case),
        detail,
    };
    if !allowed(case).contains(&kind) {
        return Err(illegal(None));
    }
    let mut next = case.clone();
    let mut effects = Vec::new();
    let note: String;
    let to = |next: &mut Case, stage: Stage| next.stage = stage;
    match command {
        Command::Register => {
            to(&mut next, Stage::Registered);
            note = String::new();
            effects.push(Effect::StartClock(Stage::Registered));
            effects.push(Effect::Notify(Notice::Dispatchers));
        }
        Command::Reject { reason } => {
            required(reason, "the reason").map_err(|d| illegal(Some(d)))?;
            to(&mut next, Stage::Rejected);
            note = reason.clone();
            effects.push(Effect::StopClock);
            effects.push(Effect::Notify(Notice::Reporter));
        }
        Command::Dispatch { to: org } | Command::Reassign { to: org } => {
            required(org, "the responsible organisation").map_err(|d| illegal(Some(d)))?;
            if matches!(command, Command::Reassign { .. })
                && case.assignee.as_deref() == Some(org.as_str())
            {
                return Err(illegal(Some(format!("the case is already with {org}"))));
            }
            to(&mut next, Stage::Dispatched);
            next.assignee = Some(org.clone());
            next.pending_extension = None;
            note = org.clone();
            effects.push(Effect::StartClock(Stage::Dispatched));
            effects.push(Effect::Notify(Notice::Assignee(org.clone())));
        }
        Command::Accept => {
            to(&mut next, Stage::Accepted);
            note = String::new();
            effects.push(Effect::StartClock(Stage::Accepted));
        }
        Command::Return { reason } => {
            required(reason, "the reason").map_err(|d| illegal(Some(d)))?;
            to(&mut next, Stage::Registered);
            next.assignee = None;
            next.returns += 1;
            next.pending_extension = None;
            note = reason.clone();
            effects.push(Effect::StartClock(Stage::Registered));
            effects.push(Effect::Notify(Notice::Dispatchers));
        }
        Command::Start => {
            to(&mut next, Stage::InProgress);
            note = String::new();
            effects.push(Effect::StartClock(Stage::InProgress));
            effects.push(Effect::Notify(Notice::Reporter));
        }
        Command::Handle { note: n } => {
            required(n, "the note").map_err(|d| illegal(Some(d)))?;
            to(&mut next, Stage::Handled);
            next.pending_extension = None;
            note = n.clone();
            effects.push(Effect::StartClock(Stage::Handled));
            effects.push(Effect::Notify(Notice::Reporter));
        }
        Command::Verify { pass, note: n } => {
            if *pass {
                to(&mut next, Stage::Closed);
                next.rating = None;
                next.resolved = None;
                effects.push(Effect::StopClock);
                effects.push(Effect::Notify(Notice::Reporter));
            } else {
                required(n, "the finding").map_err(|d| illegal(Some(d)))?;
                to(&mut next, Stage::InProgress);
                next.reworks += 1;
                effects.push(Effect::StartClock(Stage::InProgress));
                effects.push(Effect::Notify(Notice::Assignee(
                    case.assignee.clone().unwrap_or_default(),
                )));
            }
            note = n.clone();
        }
        Command::Rate { level, resolved } => {
            next.rating = Some(*level);
            next.resolved = *resolved;
            note = match resolved {
                Some(true) => format!("{}，已解决", level.name_zh()),
                Some(false) => format!("{}，未解决", level.name_zh()),
                None => level.name_zh().to_owned(),
            };
            if level.demands_redo() {
                // Shenzhen's rule: an unsatisfied reporter sends the case back to its handler.
                to(&mut next, Stage::InProgress);
                next.redos += 1;
                next.rating = None;
                next.resolved = None;
                effects.push(Effect::StartClock(Stage::InProgress));
                effects.push(Effect::Notify(Notice::Assignee(
                    case.assignee.clone().unwrap_or_default(),
                )));
            }
        }
        Command::Suspend { reason } => {
            required(reason, "the reason").map_err(|d| illegal(Some(d)))?;
            next.suspended_from = Some(case.stage);
            next.suspended_at = Some(now);
            to(&mut next, Stage::Suspended);
            note = reason.clone();
            effects.push(Effect::PauseClock);
        }
        Command::Resume => {
            let back = case.suspended_from.unwrap_or(Stage::Registered);
            to(&mut next, back);
            next.suspended_from = None;
            next.suspended_at = None;
            note = String::new();
            effects.push(Effect::ResumeClock {
                paused_at: case.suspended_at.unwrap_or(now),
            });
        }
        Command::RequestExtension { until, reason } => {
            required(reason, "the reason").map_err(|d| illegal(Some(d)))?;
            if *until <= now {
                return Err(illegal(Some(
                    "the new due time must lie in the future".into(),
                )));
            }
            next.pending_extension = Some(PendingExtension {
                until: *until,
                reason: reason.clone(),
            });
            note = reason.clone();
            effects.push(Effect::Notify(Notice::Supervisors));
        }
        Command::DecideExtension { approve } => {
            let pending = case
                .pending_extension
                .clone()
                .expect("allowed only when pending");
            next.pending_extension = None;
            if *approve {
                next.extensions += 1;
                effects.push(Effect::ExtendDeadline(pending.until));
                note = "approved".into();
            } else {
                note = "refused".into();
            }
            effects.push(Effect::Notify(Notice::Assignee(
                case.assignee.clone().unwrap_or_default(),
            )));
        }
        Command::Progress { note: n } => {
            required(n, "the progress note").map_err(|d| illegal(Some(d)))?;
            note = n.clone();
            effects.push(Effect::Notify(Notice::Reporter));
        }
        Command::Urge { note: n } => {
            required(n, "the message").map_err(|d| illegal(Some(d)))?;
            note = n.clone();
            effects.push(Effect::Notify(match &case.assignee {
                Some(a) => Notice::Assignee(a.clone()),
                None => Notice::Dispatchers,
            }));
        }
    }
    let transition = Transition {
        from: case.stage,
        to: next.stage,
        command: kind,
        note,
        at: now,
    };
    Ok((next, transition, effects))
}

/// How a report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The resident's phone page or app.
    ResidentApp,
    /// The 12345 hotline.
    Hotline12345,
    /// A grid inspector in the field.
    Inspector,
    /// A sensor alarm.
    Sensor,
    /// Video AI detection.
    VideoAi,
    /// An Open311 GeoReport client.
    Open311,
    /// A batch import.
    Import,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 7] = [
        Channel::ResidentApp,
        Channel::Hotline12345,
        Channel::Inspector,
        Channel::Sensor,
        Channel::VideoAi,
        Channel::Open311,
        Channel::Import,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::ResidentApp => "resident_app",
            Channel::Hotline12345 => "hotline_12345",
            Channel::Inspector => "inspector",
            Channel::Sensor => "sensor",
            Channel::VideoAi => "video_ai",
            Channel::Open311 => "open311",
            Channel::Import => "import",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A case as stored: where and what, the lifecycle state, and the current due time.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    /// Stable id (a UUID).
    pub id: String,
    /// How it arrived.
    pub channel: Channel,
    /// The sender's own id (a 12345 work-order number); with the channel, it makes a repeated
    /// submission idempotent.
    pub external_id: Option<String>,
    /// The minor category's code, once known.
    pub category: Option<String>,
    /// What the reporter wrote.
    pub description: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// The finest unit holding the place (usually a grid); decides which staff see the case.
    pub area: crate::unit::UnitCode,
    /// The reporting account, if the report came from one.
    pub reporter: Option<String>,
    /// The reporter's contact, kept private to staff.
    pub reporter_contact: Option<String>,
    /// Urgency, from the category.
    pub priority: crate::category::Priority,
    /// Where it is in its lifecycle (including the responsible organisation).
    pub lifecycle: Case,
    /// When the current stage falls due (Unix ms), if it has a limit.
    pub due_at: Option<i64>,
    /// Why it went where it went, in words.
    pub explanation: String,
    /// Warnings and escalation of the current stage's clock.
    pub supervision: Supervision,
    /// Grows with every change; writes check it so two concurrent changes cannot both apply.
    pub version: i64,
    /// Reported (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

/// Supervision (监管) of a case's current stage: a yellow warning before its due time, then red —
/// overdue — and escalation one level up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervision {
    /// When to warn (Unix ms): four fifths of the way from the stage's start to its due time.
    pub warn_at: Option<i64>,
    /// Whether the warning was given for this stage.
    pub warned: bool,
    /// Whether this stage went past its due time.
    pub overdue: bool,
    /// The organisation the case was escalated to (its supervisors were notified).
    pub escalated_to: Option<String>,
}

impl Supervision {
    /// A fresh clock for a stage that started at `start` and falls due at `due`.
    pub fn for_stage(start: i64, due: Option<i64>) -> Supervision {
        Supervision {
            warn_at: due.map(|d| start + (d - start).max(0) * 4 / 5),
            ..Supervision::default()
        }
    }
}

/// What supervision must do to a case at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// 黄色预警: the due time is near; warn the handler.
    Yellow,
    /// 红色: the due time passed; the case is overdue and escalates to this organisation.
    Red {
        /// The organisation one level up.
        escalate_to: String,
    },
}

/// The organisation one level above a responsible one: community → street → district; a
/// department or an entity answers to the district.
pub fn one_level_up(assignee: &str, area: &crate::unit::UnitCode) -> String {
    use crate::unit::{Level, UnitCode};
    let district = || {
        UnitCode::parse(&area.as_str()[..6])
            .expect("area codes start with a district")
            .to_string()
    };
    match UnitCode::parse(assignee) {
        Ok(code) => match code.level() {
            Level::Community | Level::Grid => {
                let mut up = code.parent().expect("communities have streets");
                while up.level() > Level::Street {
                    up = up.parent().expect("has parent");
                }
                up.to_string()
            }
            Level::Street | Level::District => district(),
        },
        Err(_) => district(),
    }
}

/// What supervision must do now, if anything. Suspended and finished cases have no running clock.
pub fn alarm(c: &CaseRecord, now: i64) -> Option<Alarm> {
    let stage = c.lifecycle.stage;
    if !stage.is_open() || stage == Stage::Suspended {
        return None;
    }
    let s = &c.supervision;
    if !s.overdue && c.due_at.is_some_and(|d| d <= now) {
        let from = c
            .lifecycle
            .assignee
            .clone()
            .unwrap_or_else(|| c.area.to_string());
        return Some(Alarm::Red {
            escalate_to: one_level_up(&from, &c.area),
        });
    }
    if !s.warned && !s.overdue && s.warn_at.is_some_and(|w| w <= now) {
        return Some(Alarm::Yellow);
    }
    None
}

/// One line of a case's history, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// 1-based position in the case's history.
    pub seq: i64,
    /// When (Unix ms).
    pub at: i64,
    /// The acting account, if any.
    pub actor_id: Option<String>,
    /// Who, with role and unit, in words (`guiyuan.handler (handler, 440303001000)`).
    pub actor: String,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// `report` for the intake, else a command's wire name.
    pub command: String,
    /// Reason, note or target.
    pub note: String,
}

/// Replays a history of commands from a new report; the history is the source of truth, and
/// this is how a case's state is rebuilt from it.
pub fn replay<'a>(commands: impl IntoIterator<Item = (&'a Command, i64)>) -> Result<Case, Illegal> {
    let mut case = Case::reported();
    for (command, at) in commands {
        case = step(&case, command, at)?.0;
    }
    Ok(case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;

    fn run(commands: &[Command]) -> Result<(Case, Vec<String>), Illegal> {
        let mut case = Case::reported();
        let mut log = Vec::new();
        for (i, c) in commands.iter().enumerate() {
            let (next, t, _) = step(&case, c, i as i64)?;
            log.push(format!("{}→{}", t.from, t.to));
            case = next;
        }
        Ok((case, log))
    }

    fn s(x: &str) -> String {
        x.to_owned()
    }

    #[test]
    fn the_closed_loop() {
        let (case, log) = run(&[
            Register,
            Dispatch {
                to: s("440303001001"),
            },
            Accept,
            Start,
            Handle {
                note: s("已疏通")
            },
            Verify {
                pass: true,
                note: s("现场核实"),
            },
            Rate {
                level: Satisfaction::Satisfied,
                resolved: None,
            },
        ])
        .unwrap();
        assert_eq!(
            log,
            [
                "reported→registered",
                "registered→dispatched",
                "dispatched→accepted",
                "accepted→in_progress",
                "in_progress→handled",
                "handled→closed",
                "closed→closed"
            ]
        );
        assert_eq!(
            (case.stage, case.rating),
            (Stage::Closed, Some(Satisfaction::Satisfied))
        );
        assert_eq!(
            allowed(&case),
            [],
            "a rated closed case allows nothing more"
        );
    }

    #[test]
    fn returns_rework_and_redo_go_back_and_are_counted() {
        let (case, log) = run(&[
            Register,
            Dispatch { to: s("440303D02") },
            Return {
                reason: s("不属于水务职责"),
            },
            Dispatch { to: s("440303001") },
            Accept,
            Start,
            Handle { note: s("done") },
            Verify {
                pass: false,
                note: s("仍有积水"),
            },
            Handle {
                note: s("done again"),
            },
            Verify {
                pass: true,
                note: s("ok"),
            },
            Rate {
                level: Satisfaction::VeryUnsatisfied,
                resolved: None,
            },
            Handle {
                note: s("third time"),
            },
            Verify {
                pass: true,
                note: s("ok"),
            },
        ])
        .unwrap();
        assert_eq!(log[2], "dispatched→registered");
        assert_eq!(log[7], "handled→in_progress");
        assert_eq!(log[10], "closed→in_progress");
        assert_eq!((case.returns, case.reworks, case.redos), (1, 1, 1));
        assert_eq!(
            (case.stage, case.rating, case.assignee.as_deref()),
            (Stage::Closed, None, Some("440303001"))
        );
        assert_eq!(
            allowed(&case),
            [CommandKind::Rate],
            "the redone case can be rated again"
        );
    }

    #[test]
    fn illegal_commands_name_what_is_allowed() {
        let cases: &[(&[Command], Command, &[CommandKind])] = &[
            (
                &[],
                Accept,
                &[
                    CommandKind::Register,
                    CommandKind::Reject,
                    CommandKind::Urge,
                ],
            ),
            (
                &[Register],
                Handle { note: s("x") },
                &[
                    CommandKind::Dispatch,
                    CommandKind::Suspend,
                    CommandKind::Urge,
                ],
            ),
            (
                &[Reject {
                    reason: s("重复")
                }],
                Register,
                &[],
            ),
        ];
        for (before, command, expect) in cases {
            let (case, _) = run(before).unwrap();
            let err = step(&case, command, 100).unwrap_err();
            assert_eq!(err.allowed, *expect, "{command:?} after {before:?}");
            assert!(err.detail.is_none());
        }
        // Allowed kinds with bad content are refused with a reason.
        let err = step(&Case::reported(), &Reject { reason: s("  ") }, 0).unwrap_err();
        assert_eq!(err.detail.as_deref(), Some("the reason must not be empty"));
    }

    #[test]
    fn progress_notes_keep_the_stage_and_tell_the_reporter() {
        let (case, _) = run(&[Register, Dispatch { to: s("u") }, Accept, Start]).unwrap();
        let (after, t, effects) = step(
            &case,
            &Progress {
                note: s("已清理一半"),
            },
            10,
        )
        .unwrap();
        assert_eq!(
            (after.stage, t.note.as_str(), effects),
            (
                Stage::InProgress,
                "已清理一半",
                vec![Effect::Notify(Notice::Reporter)]
            )
        );
        assert!(step(&case, &Progress { note: s(" ") }, 10).is_err());
        let (accepted, _) = run(&[Register, Dispatch { to: s("u") }, Accept]).unwrap();
        assert!(
            step(&accepted, &Progress { note: s("x") }, 10).is_err(),
            "progress comes once the work has started"
        );
    }

    #[test]
    fn suspension_pauses_and_resumes_where_it_was() {
        let (case, _) = run(&[Register, Dispatch { to: s("u") }, Accept, Start]).unwrap();
        let (suspended, _, effects) = step(
            &case,
            &Suspend {
                reason: s("等待业主"),
            },
            10,
        )
        .unwrap();
        assert_eq!(
            (suspended.stage, effects),
            (Stage::Suspended, vec![Effect::PauseClock])
        );
        assert_eq!(
            allowed(&suspended),
            [CommandKind::Resume, CommandKind::Urge]
        );
        let (resumed, _, effects) = step(&suspended, &Resume, 20).unwrap();
        assert_eq!(
            (resumed.stage, effects),
            (
                Stage::InProgress,
                vec![Effect::ResumeClock { paused_at: 10 }]
            )
        );
        assert_eq!(
            (resumed.suspended_at, suspended.suspended_at),
            (None, Some(10))
        );
    }

    #[test]
    fn extensions_need_a_future_time_and_a_decision() {
        let (case, _) = run(&[Register, Dispatch { to: s("u") }, Accept]).unwrap();
        let err = step(
            &case,
            &RequestExtension {
                until: 5,
                reason: s("材料未到"),
            },
            10,
        )
        .unwrap_err();
        assert!(err.detail.is_some());
        let (pending, _, effects) = step(
            &case,
            &RequestExtension {
                until: 99,
                reason: s("材料未到"),
            },
            10,
        )
        .unwrap();
        assert_eq!(effects, [Effect::Notify(Notice::Supervisors)]);
        assert!(allowed(&pending).contains(&CommandKind::DecideExtension));
        assert!(!allowed(&pending).contains(&CommandKind::RequestExtension));
        let (granted, _, effects) = step(&pending, &DecideExtension { approve: true }, 11).unwrap();
        assert_eq!(effects[0], Effect::ExtendDeadline(99));
        assert_eq!((granted.extensions, granted.pending_extension), (1, None));
    }

    #[test]
    fn escalation_goes_one_level_up() {
        let area = crate::unit::UnitCode::parse("440303001001003").unwrap();
        let cases = [
            ("440303001001", "440303001000"),
            ("440303001000", "440303000000"),
            ("440303D02", "440303000000"),
            ("entity:demo-wuye", "440303000000"),
        ];
        for (from, to) in cases {
            assert_eq!(one_level_up(from, &area), to, "{from}");
        }
        assert_eq!(
            Supervision::for_stage(1_000, Some(6_000)).warn_at,
            Some(5_000)
        );
    }

    #[test]
    fn urging_reaches_the_assignee_and_replay_rebuilds_state() {
        let commands = [
            Register,
            Dispatch { to: s("440303002") },
            Urge {
                note: s("请尽快处理"),
            },
        ];
        let (case, _) = run(&commands).unwrap();
        let (_, t, effects) = step(&case, &Urge { note: s("再催") }, 9).unwrap();
        assert_eq!((t.from, t.to), (Stage::Dispatched, Stage::Dispatched));
        assert_eq!(effects, [Effect::Notify(Notice::Assignee(s("440303002")))]);
        let replayed = replay(commands.iter().zip(0..).map(|(c, t)| (c, t as i64))).unwrap();
        assert_eq!(replayed, case);
        let err = step(&case, &Reassign { to: s("440303002") }, 9).unwrap_err();
        assert_eq!(
            err.detail.as_deref(),
            Some("the case is already with 440303002")
        );
    }
}
