//! What 一网通办 keeps: the shared registers (people, births, enterprises), the access log of
//! those registers, versioned decision models, applications with their history, decision
//! records, certificates and the departments' signing keys — and [`ServiceStore`], the part of
//! the store that reads and writes them.
//!
//! Flexible parts (a register's further facts, a form, a decision's inputs and trace, a
//! certificate's signed body) are JSON text: the API crate owns their shape; the store keeps
//! them whole, so a decision can be replayed from exactly what was decided on.

use async_trait::async_trait;

use crate::StoreError;

/// A person in the population register (人口库).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The citizen identity number (GB 11643), the register's key.
    pub id: String,
    /// Name.
    pub name: String,
    /// `male` or `female`.
    pub gender: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Mobile number; a resident account with this login is this person (real-name login).
    pub phone: Option<String>,
    /// The community of the household registration (户籍), a unit code.
    pub community: String,
    /// The household (户) the person belongs to.
    pub household: String,
    /// Further facts as a JSON object (hukou since, pension, insurance …).
    pub facts: String,
    /// Whether the record is generated demo data.
    pub demo: bool,
}

/// A registered birth (出生登记).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Birth {
    /// Its id.
    pub id: String,
    /// The child's name.
    pub child_name: String,
    /// The child's identity number once one is given.
    pub child_id: Option<String>,
    /// The mother's identity number.
    pub mother: String,
    /// The father's identity number, if known.
    pub father: Option<String>,
    /// Day of birth, `YYYY-MM-DD`.
    pub born_on: String,
    /// Where.
    pub hospital: String,
    /// When the register learned of it (Unix ms): triggers look at births registered since.
    pub registered_at: i64,
    /// Whether it is generated demo data.
    pub demo: bool,
}

/// An enterprise in the legal-entity register (法人库).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    /// The unified social credit code (GB 32100), the key.
    pub uscc: String,
    /// Name.
    pub name: String,
    /// The legal representative's identity number.
    pub legal_rep: String,
    /// The community of its registered address.
    pub community: String,
    /// Registration date, `YYYY-MM-DD`.
    pub registered_on: String,
    /// Credit standing: `good`, `warning` or `bad` (信用状况).
    pub credit: String,
    /// Further facts as a JSON object (business scope, kind …).
    pub facts: String,
    /// Whether it is generated demo data.
    pub demo: bool,
}

/// One read of a register on someone's behalf, with its purpose (access logged per purpose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterAccess {
    /// When (Unix ms).
    pub at: i64,
    /// The account that caused it (`system` for a trigger).
    pub account: String,
    /// Why: `application:<id>`, `offer:<item>`, `lookup:<reason>`.
    pub purpose: String,
    /// Which register: `population`, `births`, `enterprises`, `licences`.
    pub register: String,
    /// Whose record.
    pub subject: String,
    /// Which facts were read, comma-separated.
    pub fields: String,
}

/// A stored version of an item's decision model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    /// The item.
    pub item: String,
    /// 1, 2, …; the highest is in force.
    pub version: i64,
    /// The JDM document.
    pub model: String,
    /// Who saved it (an account id, or `catalogue` for the shipped one).
    pub author: String,
    /// When (Unix ms).
    pub created_at: i64,
}

/// An application (办件) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    /// Its id.
    pub id: String,
    /// The item.
    pub item: String,
    /// The department deciding it.
    pub department: String,
    /// `instant`, `proactive` or `standard`.
    pub mode: String,
    /// The state's wire name.
    pub state: String,
    /// Between a submission and the rules' decision.
    pub deciding: bool,
    /// The applicant's identity number.
    pub person: String,
    /// The enterprise applying, for enterprise items.
    pub enterprise: Option<String>,
    /// The account that applied or was offered it, if the person has one.
    pub account: Option<String>,
    /// The form as JSON (only fields asked on the form).
    pub form: String,
    /// The key that makes an offer once per qualifying event.
    pub offer_key: Option<String>,
    /// The bundle (一件事) it belongs to, if any.
    pub bundle: Option<String>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last changed (Unix ms).
    pub updated_at: i64,
    /// The promised deadline, once submitted (Unix ms).
    pub due_at: Option<i64>,
    /// The latest decision record.
    pub decision: Option<String>,
    /// The certificate issued.
    pub certificate: Option<String>,
    /// The applicant's rating (1 very dissatisfied … 5 very satisfied).
    pub rating: Option<i32>,
    /// Incremented by every update; an update names the version it read.
    pub version: i64,
    /// Whether its promised deadline passed while it waited for a decision (marked once).
    pub overdue: bool,
    /// The department that countersigns it after the first approves (会签), if its item needs one.
    pub countersign: Option<String>,
    /// The reviewer it was delegated to (委托), if any: an account id.
    pub assignee: Option<String>,
}

/// A line of an application's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationStep {
    /// When (Unix ms).
    pub at: i64,
    /// Who (an account id, or `system`).
    pub actor: String,
    /// In which role (`applicant`, `reviewer`, `system`).
    pub role: String,
    /// The command's wire name (`submit`, `decide`, …).
    pub action: String,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Reasons, what to correct.
    pub note: Option<String>,
}

/// The record of one evaluation of a decision model: enough to audit and replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    /// Its id.
    pub id: String,
    /// The application decided.
    pub application: String,
    /// The item.
    pub item: String,
    /// The model version evaluated.
    pub model_version: i64,
    /// Every input, as JSON.
    pub inputs: String,
    /// The model's output, as JSON.
    pub output: String,
    /// The trace of every node, row and cell, as JSON.
    pub trace: String,
    /// The failing rules' reasons, as a JSON array; empty means approved.
    pub failures: String,
    /// Whether every rule passed.
    pub approved: bool,
    /// When (Unix ms).
    pub at: i64,
}

/// An electronic certificate or licence (电子证照).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Its id (printed in the QR code's verify link).
    pub id: String,
    /// The item that issued it.
    pub item: String,
    /// The certificate's Chinese name.
    pub name: String,
    /// Whose: an identity number or a credit code.
    pub holder: String,
    /// The holder's name.
    pub holder_name: String,
    /// The issuing department.
    pub department: String,
    /// The application it came from.
    pub application: Option<String>,
    /// Issued (Unix ms).
    pub issued_at: i64,
    /// Valid until (`YYYY-MM-DD`), if it expires.
    pub expires_on: Option<String>,
    /// Revoked (Unix ms), if it was.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// The signed body: canonical JSON.
    pub body: String,
    /// The Ed25519 signature of `body`, base64.
    pub signature: String,
    /// The signing key's id.
    pub key_id: String,
}

/// A department's signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// The department.
    pub department: String,
    /// The key's id (a hash of the public key).
    pub key_id: String,
    /// The public key, base64.
    pub public_key: String,
    /// The secret key, base64. Kept in the database so every node signs with the same key; a
    /// deployment that holds keys in an HSM replaces this (see docs/services.md).
    pub secret_key: String,
    /// Created (Unix ms).
    pub created_at: i64,
}

/// A key enterprise and its "五个一" service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEnterprise {
    /// The enterprise's credit code.
    pub uscc: String,
    /// 挂点区领导: the district leader it is assigned to.
    pub leader: String,
    /// 牵头部门: the lead department's code.
    pub lead_department: String,
    /// 牵头责任人: the lead official.
    pub lead_official: String,
    /// 服务专班: the service team.
    pub team: String,
    /// 街道联络员: the street contact.
    pub street_contact: String,
    /// The street whose contact serves it (its staff see it).
    pub street: String,
    /// Last changed (Unix ms).
    pub updated_at: i64,
}

/// What the desk did for one key enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskLine {
    /// The enterprise.
    pub uscc: String,
    /// Problems raised.
    pub problems: i64,
    /// Of them closed.
    pub closed: i64,
    /// Closed and not rated unresolved (解决).
    pub solved: i64,
    /// Ever overdue.
    pub overdue: i64,
    /// Rated by the enterprise.
    pub rated: i64,
    /// Rated fairly satisfied or better.
    pub satisfied: i64,
}

/// Which applications to list. The API builds it from the caller (one place).
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// Only those of this account (a resident sees their own).
    pub account: Option<String>,
    /// Only those of this person (a resident's register identity, for offers made before an account).
    pub person: Option<String>,
    /// Only those decided or countersigned by these departments (a reviewer); `None` means every
    /// department.
    pub departments: Option<Vec<String>>,
    /// Only in this state.
    pub state: Option<String>,
    /// Only of this item.
    pub item: Option<String>,
    /// Only of this bundle.
    pub bundle: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// An update of an application, written with its history line (and decision or certificate)
/// in one transaction.
#[derive(Debug, Clone)]
pub struct ApplicationUpdate {
    /// Which application.
    pub id: String,
    /// The version the caller read; another writer in between makes the update fail with a conflict.
    pub expected_version: i64,
    /// The new state.
    pub state: String,
    /// Whether it now waits for the rules.
    pub deciding: bool,
    /// A new form, if the applicant corrected it.
    pub form: Option<String>,
    /// The enterprise, once known (a bundle's business licence registered it).
    pub enterprise: Option<String>,
    /// The reviewer it is delegated to: `Some(id)` sets it, `Some("")` clears it, `None` keeps it.
    pub assignee: Option<String>,
    /// A new deadline, if the clock (re)started.
    pub due_at: Option<i64>,
    /// The rating, if given.
    pub rating: Option<i32>,
    /// The history line.
    pub step: ApplicationStep,
    /// A decision record to store and point to.
    pub decision: Option<DecisionRecord>,
    /// A certificate to store and point to.
    pub certificate: Option<Certificate>,
}

/// The part of the store that 一网通办 uses. Reached through [`crate::Store::services`].
#[async_trait]
pub trait ServiceStore: Send + Sync {
    // --- Registers. ---

    /// Adds or replaces people.
    async fn put_people(&self, people: &[Person]) -> Result<(), StoreError>;

    /// Adds or replaces enterprises.
    async fn put_enterprises(&self, enterprises: &[Enterprise]) -> Result<(), StoreError>;

    /// Adds births (one already known by id is left as it is).
    async fn put_births(&self, births: &[Birth]) -> Result<(), StoreError>;

    /// How many people the register holds.
    async fn count_people(&self) -> Result<u64, StoreError>;

    /// A person by identity number.
    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError>;

    /// The person with this mobile number.
    async fn person_by_phone(&self, phone: &str) -> Result<Option<Person>, StoreError>;

    /// People born between two dates (`YYYY-MM-DD`, both inclusive), for birthday triggers.
    async fn people_born_between(&self, from: &str, to: &str) -> Result<Vec<Person>, StoreError>;

    /// An enterprise by credit code.
    async fn enterprise(&self, uscc: &str) -> Result<Option<Enterprise>, StoreError>;

    /// The enterprises whose legal representative is this person.
    async fn enterprises_of(&self, person: &str) -> Result<Vec<Enterprise>, StoreError>;

    /// Births registered at or after a time (Unix ms), oldest first.
    async fn births_since(&self, since: i64) -> Result<Vec<Birth>, StoreError>;

    /// Births where this person is a parent, newest first.
    async fn births_of_parent(&self, person: &str) -> Result<Vec<Birth>, StoreError>;

    /// The enabled resident account whose login is this mobile number (real-name login), so an
    /// offer can be sent to the person's inbox.
    async fn account_of_phone(&self, phone: &str) -> Result<Option<String>, StoreError>;

    /// Appends to the register access log.
    async fn log_access(&self, entries: &[RegisterAccess]) -> Result<(), StoreError>;

    /// The access log of one subject, newest first.
    async fn register_access(
        &self,
        subject: &str,
        limit: u32,
    ) -> Result<Vec<RegisterAccess>, StoreError>;

    // --- Decision models. ---

    /// Stores a new version of an item's model and returns its number.
    async fn put_model(
        &self,
        item: &str,
        model: &str,
        author: &str,
        at: i64,
    ) -> Result<i64, StoreError>;

    /// One version, or the one in force (the highest) when `version` is `None`.
    async fn model(
        &self,
        item: &str,
        version: Option<i64>,
    ) -> Result<Option<ModelVersion>, StoreError>;

    /// Every version of an item's model, newest first.
    async fn model_versions(&self, item: &str) -> Result<Vec<ModelVersion>, StoreError>;

    // --- Applications. ---

    /// Stores a new application with its first history line. Returns `false`, storing nothing,
    /// when its offer key is already taken (the person was offered this already).
    async fn create_application(
        &self,
        application: &ApplicationRecord,
        step: &ApplicationStep,
    ) -> Result<bool, StoreError>;

    /// Whether an offer with this key was made already.
    async fn offer_exists(&self, offer_key: &str) -> Result<bool, StoreError>;

    /// One application.
    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError>;

    /// Applications, newest first.
    async fn applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;

    /// Applies an update (see [`ApplicationUpdate`]) and returns the application as stored.
    /// A stale `expected_version` is [`StoreError::Conflict`].
    async fn update_application(
        &self,
        update: &ApplicationUpdate,
    ) -> Result<ApplicationRecord, StoreError>;

    /// The earliest promised deadline of an application waiting for a decision (pending or under
    /// review) and not yet marked overdue, so the scheduler can sleep until then.
    async fn next_application_due(&self) -> Result<Option<i64>, StoreError>;

    /// Applications waiting for a decision whose deadline is at or before `now`, not yet marked.
    async fn applications_overdue(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;

    /// Applications left waiting for the rules since before `before` (their node stopped between
    /// the submission and the decision), oldest first.
    async fn applications_deciding(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;

    /// Marks an application overdue with its history line; `false` if it was marked already (by
    /// another node), so the notice goes out once.
    async fn mark_overdue(&self, id: &str, step: &ApplicationStep) -> Result<bool, StoreError>;

    /// An application's history, oldest first.
    async fn application_history(&self, id: &str) -> Result<Vec<ApplicationStep>, StoreError>;

    /// A decision record.
    async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError>;

    /// Every decision record of an application, oldest first.
    async fn decisions_of(&self, application: &str) -> Result<Vec<DecisionRecord>, StoreError>;

    // --- The enterprise service desk. ---

    /// Adds or replaces a key enterprise's service.
    async fn put_key_enterprise(&self, k: &KeyEnterprise) -> Result<(), StoreError>;

    /// Every key enterprise.
    async fn key_enterprises(&self) -> Result<Vec<KeyEnterprise>, StoreError>;

    /// Records that a case is a key enterprise's problem.
    async fn add_desk_problem(
        &self,
        case_id: &str,
        uscc: &str,
        at: i64,
        by: &str,
    ) -> Result<(), StoreError>;

    /// The case ids of a key enterprise's problems, newest first.
    async fn desk_problems(&self, uscc: &str) -> Result<Vec<String>, StoreError>;

    /// Per key enterprise: problems, closed, solved, overdue, rated, satisfied (from the cases).
    async fn desk_report(&self) -> Result<Vec<DeskLine>, StoreError>;

    // --- Certificates and keys. ---

    /// A certificate.
    async fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError>;

    /// The certificates a holder has, newest first (revoked ones included).
    async fn certificates_of(&self, holder: &str) -> Result<Vec<Certificate>, StoreError>;

    /// Certificates of an item issued at or after a time (Unix ms), for "licence granted" triggers.
    async fn certificates_issued(
        &self,
        item: &str,
        since: i64,
    ) -> Result<Vec<Certificate>, StoreError>;

    /// Unrevoked certificates of an item ending between two dates (`YYYY-MM-DD`, inclusive), for
    /// "licence expiring" triggers.
    async fn certificates_expiring(
        &self,
        item: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Certificate>, StoreError>;

    /// Revokes a certificate; `false` if it did not exist or was revoked already.
    async fn revoke_certificate(&self, id: &str, at: i64, reason: &str)
    -> Result<bool, StoreError>;

    /// The department's signing key.
    async fn signing_key(&self, department: &str) -> Result<Option<SigningKey>, StoreError>;

    /// Stores a department's key unless it has one, and returns the one it has (so two nodes
    /// creating a key at once end up with the same).
    async fn ensure_signing_key(&self, key: &SigningKey) -> Result<SigningKey, StoreError>;
}
