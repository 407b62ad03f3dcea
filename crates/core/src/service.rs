//! 一网通办: the service catalogue (事项) and the life of an application, as plain data and a pure
//! state machine.
//!
//! An item says who may apply, which data it needs — each field either asked on the form or taken
//! from a shared register, never both (State Council Decree 716: do not ask for what the
//! government holds) — its promised time limit and its mode: instant (秒批, decided by rules with
//! no human in the loop), proactive (无感申办: offered to the person when a register event makes
//! them eligible) or standard (manual review). [`step`] moves an application through its states
//! the way `case::step` moves a case: it takes the application, a command and the time, returns
//! the new state and the history line, and does no I/O. Evaluating the rules is the edge's job
//! (`wanxiang-rules`); the outcome comes back in as [`Command::Decide`].

use std::fmt;

/// How an item is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 秒批: the decision model decides at once; a failing rule sends it to manual review.
    Instant,
    /// 无感申办: offered by a trigger with a pre-filled application, then decided like an instant item.
    Proactive,
    /// 一般审批: a person reviews every application.
    Standard,
}

impl Mode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Instant => "instant",
            Mode::Proactive => "proactive",
            Mode::Standard => "standard",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Instant, Mode::Proactive, Mode::Standard]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Mode::Instant => "秒批",
            Mode::Proactive => "无感申办",
            Mode::Standard => "一般审批",
        }
    }

    /// Whether a decision model decides it (instant and proactive items).
    pub fn decided_by_rules(self) -> bool {
        !matches!(self, Mode::Standard)
    }
}

/// Who may apply for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicantKind {
    /// A natural person (自然人).
    Resident,
    /// An enterprise (法人), through its legal representative.
    Enterprise,
}

impl ApplicantKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicantKind::Resident => "resident",
            ApplicantKind::Enterprise => "enterprise",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ApplicantKind> {
        match s {
            "resident" => Some(ApplicantKind::Resident),
            "enterprise" => Some(ApplicantKind::Enterprise),
            _ => None,
        }
    }
}

/// An item's code in the manner of GB/T 39554.1's basic code: a two-digit item type, a five-digit
/// main item and a three-digit sub-item (`0100023001`). The demo catalogue's codes follow the
/// structure; they are not the official national codes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemCode(String);

impl ItemCode {
    /// Parses ten digits whose type is one of [`ItemCode::TYPES`].
    pub fn parse(text: &str) -> Option<ItemCode> {
        let t = text.trim();
        let ok = t.len() == 10
            && t.bytes().all(|b| b.is_ascii_digit())
            && ItemCode::TYPES.iter().any(|(code, _)| *code == &t[..2])
            && &t[2..7] != "00000";
        ok.then(|| ItemCode(t.to_owned()))
    }

    /// The item types (事项类型): the ten kinds of administrative power and public services.
    pub const TYPES: [(&'static str, &'static str); 11] = [
        ("01", "行政许可"),
        ("02", "行政处罚"),
        ("03", "行政强制"),
        ("04", "行政征收"),
        ("05", "行政给付"),
        ("06", "行政检查"),
        ("07", "行政确认"),
        ("08", "行政奖励"),
        ("09", "行政裁决"),
        ("10", "其他行政权力"),
        ("20", "公共服务"),
    ];

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Chinese name of its type.
    pub fn type_zh(&self) -> &'static str {
        ItemCode::TYPES
            .iter()
            .find(|(c, _)| *c == &self.0[..2])
            .map(|(_, n)| *n)
            .unwrap_or("")
    }
}

impl fmt::Display for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Asked on the form.
    Form,
    /// Taken from a shared register: the name of a register fact (`person.age`,
    /// `enterprise.credit`); the edge knows how to read each.
    Register(String),
}

/// What kind of value a form field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text (at most 500 characters).
    Text,
    /// A number.
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// Yes or no.
    Bool,
    /// One of the listed values.
    Choice(Vec<String>),
}

impl FieldKind {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Bool => "bool",
            FieldKind::Choice(_) => "choice",
        }
    }
}

/// One piece of data an item needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The key under which it reaches the decision model (`form.premises_area`, `applicant.age`).
    pub key: String,
    /// Label in Chinese.
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
    /// Its kind, for the form and for checking what the applicant typed.
    pub kind: FieldKind,
    /// Form or register.
    pub source: Source,
    /// Whether an application without it is incomplete (register fields are always gathered).
    pub required: bool,
}

/// What makes a proactive item offer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A person reaching this age (a 60th or 80th birthday).
    Birthday {
        /// The age in years.
        age: u32,
    },
    /// A birth registered: offered to the parents.
    Birth,
    /// A licence of this kind granted to an enterprise.
    LicenceGranted {
        /// The item code of the licence.
        item: String,
    },
    /// A licence of this kind expiring within the given days.
    LicenceExpiring {
        /// The item code of the licence.
        item: String,
        /// How many days ahead.
        days: u32,
    },
}

impl Trigger {
    /// The key that makes an offer unique: a person is offered an item once per qualifying event.
    pub fn offer_key(&self, item: &ItemCode, subject: &str, event: &str) -> String {
        let kind = match self {
            Trigger::Birthday { age } => format!("age{age}"),
            Trigger::Birth => "birth".into(),
            Trigger::LicenceGranted { .. } => "granted".into(),
            Trigger::LicenceExpiring { .. } => "expiring".into(),
        };
        format!("{item}:{subject}:{kind}:{event}")
    }
}

/// An item of the catalogue (事项).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its code.
    pub code: ItemCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The department that decides it and signs its certificates.
    pub department: crate::DeptCode,
    /// Legal basis (设定依据), as text.
    pub legal_basis: String,
    /// Who may apply.
    pub applicant: ApplicantKind,
    /// The data it needs.
    pub fields: Vec<Field>,
    /// Materials (申请材料) still needed beside the data; registers hold most.
    pub materials: Vec<String>,
    /// The promised time limit (承诺时限), in working days.
    pub time_limit_days: u32,
    /// How it is decided.
    pub mode: Mode,
    /// Whether it can be handled in any district (跨域通办).
    pub cross_region: bool,
    /// The certificate or licence it issues, if any (its Chinese name).
    pub certificate: Option<String>,
    /// What offers it without asking (proactive items).
    pub trigger: Option<Trigger>,
    /// 会签: a second department that must also approve it (standard items only).
    pub countersign: Option<crate::DeptCode>,
    /// Whether approving it registers a new enterprise in the legal-entity register (a business
    /// licence does), which later items of the same bundle then apply for.
    pub registers_enterprise: bool,
    /// Whether this item is demo content.
    pub demo: bool,
}

impl Item {
    /// The fields the form asks for (never one a register holds).
    pub fn form_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.source == Source::Form)
    }
}

/// Where an application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 草稿: being written, not yet submitted.
    Draft,
    /// 待确认: offered by a trigger, waiting for the person to confirm or decline.
    Offered,
    /// 已谢绝: the person declined the offer. Final.
    Declined,
    /// 待受理: waiting for a reviewer — a standard item, or an instant one whose rules did not all pass.
    Pending,
    /// 审查中: accepted (受理) and under review (审查).
    Review,
    /// 会签中: approved by its department, waiting for the countersigning department.
    Countersign,
    /// 补正: returned to the applicant for correction; the clock is paused.
    Correction,
    /// 已办结（准予）: approved; the certificate, if any, is issued. Final.
    Approved,
    /// 已办结（不予）: refused with reasons. Final.
    Refused,
    /// 已撤回: withdrawn by the applicant. Final.
    Withdrawn,
}

impl State {
    /// Every state.
    pub const ALL: [State; 10] = [
        State::Draft,
        State::Offered,
        State::Declined,
        State::Pending,
        State::Review,
        State::Countersign,
        State::Correction,
        State::Approved,
        State::Refused,
        State::Withdrawn,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Offered => "offered",
            State::Declined => "declined",
            State::Pending => "pending",
            State::Review => "review",
            State::Countersign => "countersign",
            State::Correction => "correction",
            State::Approved => "approved",
            State::Refused => "refused",
            State::Withdrawn => "withdrawn",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            State::Draft => "草稿",
            State::Offered => "待确认",
            State::Declined => "已谢绝",
            State::Pending => "待受理",
            State::Review => "审查中",
            State::Countersign => "会签中",
            State::Correction => "待补正",
            State::Approved => "已办结（准予）",
            State::Refused => "已办结（不予）",
            State::Withdrawn => "已撤回",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether nothing more can happen to it (except a rating).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Declined | State::Approved | State::Refused | State::Withdrawn
        )
    }
}

/// Who acts on an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The applicant (or the person an offer was made to).
    Applicant,
    /// A reviewer of the item's department.
    Reviewer,
    /// The platform itself: the rules, a trigger.
    System,
}

/// What can be done to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The applicant submits (a new application, or one back from correction or refused by the
    /// rules, with the form corrected); the edge evaluates the rules next.
    Submit,
    /// The rules' outcome for an instant or proactive item: all passed, or the plain-language
    /// reasons of those that did not.
    Decide {
        /// The failing rules' reasons; empty means approved.
        failures: Vec<String>,
    },
    /// The person confirms an offer with one action (the rules are evaluated next).
    Confirm,
    /// The person declines an offer.
    Decline,
    /// 受理: a reviewer takes it up.
    Accept,
    /// 补正: a reviewer returns it to the applicant for correction.
    ReturnForCorrection {
        /// What must be corrected.
        note: String,
    },
    /// 准予: a reviewer approves.
    Approve,
    /// 不予: a reviewer refuses, with reasons.
    Refuse {
        /// Why.
        reason: String,
    },
    /// The applicant withdraws.
    Withdraw,
    /// 委托: a reviewer delegates the application to a colleague of the deciding department.
    Delegate {
        /// The colleague's login name.
        to: String,
    },
    /// 好差评: the applicant rates a finished application, once.
    Rate {
        /// The five levels of 好差评.
        level: crate::case::Satisfaction,
        /// A comment, and what a bad rating set off.
        note: Option<String>,
    },
}

impl Command {
    /// The wire name of the command's kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Submit => "submit",
            Command::Decide { .. } => "decide",
            Command::Confirm => "confirm",
            Command::Decline => "decline",
            Command::Accept => "accept",
            Command::ReturnForCorrection { .. } => "return",
            Command::Approve => "approve",
            Command::Refuse { .. } => "refuse",
            Command::Withdraw => "withdraw",
            Command::Rate { .. } => "rate",
            Command::Delegate { .. } => "delegate",
        }
    }

    /// Who may give it.
    pub fn actor(&self) -> Actor {
        match self {
            Command::Submit
            | Command::Confirm
            | Command::Decline
            | Command::Withdraw
            | Command::Rate { .. } => Actor::Applicant,
            Command::Decide { .. } => Actor::System,
            Command::Accept
            | Command::Delegate { .. }
            | Command::ReturnForCorrection { .. }
            | Command::Approve
            | Command::Refuse { .. } => Actor::Reviewer,
        }
    }
}

/// The application as the state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Where it is.
    pub state: State,
    /// How the item is decided.
    pub mode: Mode,
    /// True between a submission (or confirmation) and the rules' decision: only `Decide` may follow.
    pub deciding: bool,
    /// Whether the applicant rated it already (once only).
    pub rated: bool,
    /// Whether its item needs a second department's countersignature after the first approves.
    pub countersign: bool,
}

/// A line of an application's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The command's wire name.
    pub action: &'static str,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// A note: the reasons of a refusal or of failing rules, what to correct.
    pub note: Option<String>,
}

/// A command not allowed in the application's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "「{command}」不能用于{state_zh}的申请 / {command} is not allowed when the application is {state}"
)]
pub struct Illegal {
    /// The command's wire name.
    pub command: &'static str,
    /// The state's wire name.
    pub state: &'static str,
    /// The state's Chinese name.
    pub state_zh: &'static str,
    /// What is allowed instead.
    pub allowed: Vec<&'static str>,
}

/// The commands the application allows now (as wire names), for the 409 answer and the UI.
pub fn allowed(app: &Application) -> Vec<&'static str> {
    if app.deciding {
        return vec!["decide"];
    }
    let rules = app.mode.decided_by_rules();
    match app.state {
        State::Draft => vec!["submit"],
        State::Offered => vec!["confirm", "decline"],
        State::Pending if rules => vec!["submit", "accept", "delegate", "withdraw"],
        State::Pending => vec!["accept", "delegate", "withdraw"],
        State::Review => vec!["return", "approve", "refuse", "delegate", "withdraw"],
        State::Countersign => vec!["approve", "refuse", "delegate", "withdraw"],
        State::Correction => vec!["submit", "withdraw"],
        State::Approved | State::Refused if !app.rated => vec!["rate"],
        State::Declined | State::Approved | State::Refused | State::Withdrawn => vec![],
    }
}

/// Applies a command. A new application starts as a [`draft`] (submitted next) or an [`offer`].
pub fn step(app: &Application, command: &Command) -> Result<(Application, Transition), Illegal> {
    let allowed_now = allowed(app);
    if !allowed_now.contains(&command.as_str()) {
        return Err(Illegal {
            command: command.as_str(),
            state: app.state.as_str(),
            state_zh: app.state.name_zh(),
            allowed: allowed_now,
        });
    }
    let mut next = app.clone();
    let mut note = None;
    match command {
        Command::Submit | Command::Confirm => {
            next.state = State::Pending;
            next.deciding = app.mode.decided_by_rules();
        }
        Command::Decide { failures } => {
            next.deciding = false;
            if failures.is_empty() {
                next.state = State::Approved;
            } else {
                next.state = State::Pending;
                note = Some(failures.join("；"));
            }
        }
        Command::Decline => next.state = State::Declined,
        Command::Accept => next.state = State::Review,
        Command::ReturnForCorrection { note: n } => {
            next.state = State::Correction;
            note = Some(n.clone());
        }
        Command::Approve if app.state == State::Review && app.countersign => {
            next.state = State::Countersign;
        }
        Command::Approve => next.state = State::Approved,
        Command::Refuse { reason } => {
            next.state = State::Refused;
            note = Some(reason.clone());
        }
        Command::Withdraw => next.state = State::Withdrawn,
        Command::Delegate { to } => note = Some(format!("委托 / delegated to {to}")),
        Command::Rate { level, note: n } => {
            next.rated = true;
            note = Some(match n {
                Some(n) => format!("{}：{n}", level.name_zh()),
                None => level.name_zh().to_owned(),
            });
        }
    }
    Ok((
        next.clone(),
        Transition {
            action: command.as_str(),
            from: app.state,
            to: next.state,
            note,
        },
    ))
}

/// A new application, before its first command: a submission starts from here.
pub fn draft(mode: Mode) -> Application {
    Application {
        state: State::Draft,
        mode,
        deciding: false,
        rated: false,
        countersign: false,
    }
}

/// A new offer made by a trigger.
pub fn offer(mode: Mode) -> Application {
    Application {
        state: State::Offered,
        mode,
        deciding: false,
        rated: false,
        countersign: false,
    }
}

/// The age in whole years on `today` of someone born on `birth` (a 29 February birthday counts
/// on 1 March in common years).
pub fn age_on(birth: chrono::NaiveDate, today: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: Application, commands: &[Command]) -> String {
        let mut app = start;
        let mut out = Vec::new();
        for c in commands {
            match step(&app, c) {
                Ok((next, t)) => {
                    out.push(format!(
                        "{} {}→{}",
                        t.action,
                        t.from.as_str(),
                        t.to.as_str()
                    ));
                    app = next;
                }
                Err(e) => out.push(format!("{} refused ({:?})", e.command, e.allowed)),
            }
        }
        out.join("; ")
    }

    #[test]
    fn an_instant_item_that_passes_is_approved_at_once() {
        let got = run(
            draft(Mode::Instant),
            &[Command::Submit, Command::Decide { failures: vec![] }],
        );
        assert_eq!(got, "submit draft→pending; decide pending→approved");
    }

    #[test]
    fn failing_rules_go_to_review_and_a_correction_can_pass() {
        let got = run(
            draft(Mode::Instant),
            &[
                Command::Submit,
                Command::Decide {
                    failures: vec!["面积不足".into()],
                },
                Command::Submit,
                Command::Decide { failures: vec![] },
            ],
        );
        assert_eq!(
            got,
            "submit draft→pending; decide pending→pending; submit pending→pending; decide pending→approved"
        );
    }

    #[test]
    fn only_the_decision_may_follow_a_submission() {
        let got = run(draft(Mode::Instant), &[Command::Submit, Command::Accept]);
        assert_eq!(got, "submit draft→pending; accept refused ([\"decide\"])");
    }

    #[test]
    fn an_offer_is_confirmed_with_one_action_or_declined() {
        let confirmed = run(
            offer(Mode::Proactive),
            &[Command::Confirm, Command::Decide { failures: vec![] }],
        );
        assert_eq!(
            confirmed,
            "confirm offered→pending; decide pending→approved"
        );
        let declined = run(
            offer(Mode::Proactive),
            &[Command::Decline, Command::Confirm],
        );
        assert_eq!(declined, "decline offered→declined; confirm refused ([])");
    }

    #[test]
    fn manual_review_with_correction() {
        let got = run(
            draft(Mode::Standard),
            &[
                Command::Submit,
                Command::Accept,
                Command::ReturnForCorrection {
                    note: "补充照片".into(),
                },
                Command::Submit,
                Command::Accept,
                Command::Refuse {
                    reason: "不符合条件".into(),
                },
                Command::Withdraw,
            ],
        );
        assert_eq!(
            got,
            "submit draft→pending; accept pending→review; return review→correction; submit correction→pending; accept pending→review; refuse review→refused; withdraw refused ([\"rate\"])"
        );
    }

    #[test]
    fn a_standard_pending_application_cannot_be_resubmitted() {
        let got = run(draft(Mode::Standard), &[Command::Submit, Command::Submit]);
        assert_eq!(
            got,
            "submit draft→pending; submit refused ([\"accept\", \"delegate\", \"withdraw\"])"
        );
    }

    #[test]
    fn a_finished_application_is_rated_once() {
        let rate = || Command::Rate {
            level: crate::case::Satisfaction::Unsatisfied,
            note: Some("太慢".into()),
        };
        let got = run(
            draft(Mode::Standard),
            &[
                rate(),
                Command::Submit,
                Command::Accept,
                Command::Approve,
                rate(),
                rate(),
            ],
        );
        assert_eq!(
            got,
            "rate refused ([\"submit\"]); submit draft→pending; accept pending→review; approve review→approved; rate approved→approved; rate refused ([])"
        );
    }

    #[test]
    fn a_countersigned_item_needs_both_departments() {
        let mut app = draft(Mode::Standard);
        app.countersign = true;
        let got = run(
            app.clone(),
            &[
                Command::Submit,
                Command::Accept,
                Command::Approve,
                Command::Approve,
            ],
        );
        assert_eq!(
            got,
            "submit draft→pending; accept pending→review; approve review→countersign; approve countersign→approved"
        );
        let refused = run(
            app,
            &[
                Command::Submit,
                Command::Accept,
                Command::Approve,
                Command::Refuse {
                    reason: "不同意".into(),
                },
            ],
        );
        assert!(refused.ends_with("refuse countersign→refused"), "{refused}");
    }

    #[test]
    fn item_codes() {
        assert!(ItemCode::parse("0500023001").is_some());
        assert_eq!(
            ItemCode::parse("0100001000").map(|c| c.type_zh()),
            Some("行政许可")
        );
        assert!(ItemCode::parse("9900001000").is_none());
        assert!(ItemCode::parse("0100000001").is_none());
        assert!(ItemCode::parse("01000010").is_none());
    }

    #[test]
    fn ages() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(age_on(d("1946-11-30"), d("2026-11-30")), 80);
        assert_eq!(age_on(d("1946-12-01"), d("2026-11-30")), 79);
        assert_eq!(age_on(d("1948-02-29"), d("2028-02-28")), 79);
        assert_eq!(age_on(d("1948-02-29"), d("2028-02-29")), 80);
    }
}
