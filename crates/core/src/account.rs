//! Accounts, social entities, departments and audit entries: the people and organisations of the
//! four-level user system, as plain data.
//!
//! Times are Unix milliseconds (`i64`), passed in by the caller; the core reads no clock.

use crate::jurisdiction::{DeptCode, Org, Role};
use crate::unit::UnitCode;

/// An account as the platform knows it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id (a UUID).
    pub id: String,
    /// Login name: lower-case letters, digits and `._-@+`, or a phone number or e-mail address.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// The organisation the account belongs to.
    pub org: Org,
    /// What the account may do, sorted and without repeats.
    pub roles: Vec<Role>,
    /// Disabled accounts cannot log in and their sessions and tokens stop working.
    pub disabled: bool,
    /// True while the account still has the published demo password. Outside demo mode the
    /// server refuses to start while any account has it.
    pub demo_password: bool,
    /// When it was created (Unix ms).
    pub created_at: i64,
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Id to give it.
    pub id: String,
    /// Validated login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Organisation.
    pub org: Org,
    /// Roles, sorted and without repeats.
    pub roles: Vec<Role>,
    /// The argon2id hash of the password (PHC string).
    pub password_hash: String,
    /// Whether the password is the published demo password.
    pub demo_password: bool,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// Why a username or password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The username has characters or a length we do not accept.
    #[error(
        "用户名须为 3-64 位小写字母、数字或 ._-@+ / a username is 3-64 lower-case letters, digits or ._-@+"
    )]
    BadUsername,
    /// A resident must register with a phone number or an e-mail address.
    #[error(
        "居民请用手机号或电子邮箱注册 / residents register with a mainland mobile number or an e-mail address"
    )]
    NotPhoneOrEmail,
    /// The password is too short or too long.
    #[error("密码长度须为 8-128 个字符 / a password has 8 to 128 characters")]
    BadPassword,
}

/// Normalises and checks a username.
pub fn parse_username(text: &str) -> Result<String, CredentialError> {
    let u = text.trim().to_lowercase();
    let ok = (3..=64).contains(&u.chars().count())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@+".contains(c));
    if ok {
        Ok(u)
    } else {
        Err(CredentialError::BadUsername)
    }
}

/// Checks that a resident's username is a mainland mobile number or an e-mail address.
pub fn parse_resident_login(text: &str) -> Result<String, CredentialError> {
    let u = parse_username(text).map_err(|_| CredentialError::NotPhoneOrEmail)?;
    let phone = u.len() == 11 && u.starts_with('1') && u.bytes().all(|b| b.is_ascii_digit());
    let email = match u.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    };
    if phone || email {
        Ok(u)
    } else {
        Err(CredentialError::NotPhoneOrEmail)
    }
}

/// Checks a new password's length (characters, not bytes).
pub fn check_password(password: &str) -> Result<(), CredentialError> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(CredentialError::BadPassword)
    }
}

/// Kinds of social entity (多元社会主体).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// 企业: an enterprise, e.g. a contracted cleaning company.
    Enterprise,
    /// 物业服务企业: a property management company.
    PropertyManager,
    /// 志愿服务队: a volunteer team.
    VolunteerTeam,
    /// 社会组织: another social organisation.
    SocialOrganisation,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [EntityKind; 4] = [
        EntityKind::Enterprise,
        EntityKind::PropertyManager,
        EntityKind::VolunteerTeam,
        EntityKind::SocialOrganisation,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Enterprise => "enterprise",
            EntityKind::PropertyManager => "property_manager",
            EntityKind::VolunteerTeam => "volunteer_team",
            EntityKind::SocialOrganisation => "social_organisation",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A registered social entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Stable id (a UUID).
    pub id: String,
    /// Registered name.
    pub name: String,
    /// What kind of body it is.
    pub kind: EntityKind,
    /// The unit it is registered under; that unit's admins (and those above) manage it.
    pub unit: UnitCode,
    /// The units it may be assigned work in.
    pub service_area: Vec<UnitCode>,
    /// Creation time (Unix ms).
    pub created_at: i64,
}

/// A district department (职能部门), the target of the responsibility list (权责清单).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Code such as `440303D01`.
    pub code: DeptCode,
    /// Name such as `区城市管理和综合执法局`.
    pub name: String,
}

/// One line of the audit log: a security-relevant action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When (Unix ms).
    pub at: i64,
    /// The acting account, or `None` for an internal job or an unknown user.
    pub actor_id: Option<String>,
    /// The acting username, or `system` / the name tried at a failed login.
    pub actor_name: String,
    /// What happened: `login`, `login_failed`, `logout`, `account_created`, `account_updated`,
    /// `password_changed`, `token_created`, `token_revoked`, `entity_registered`, `system_scope` …
    pub action: String,
    /// What it happened to (an account id, an entity id …).
    pub target: Option<String>,
    /// Details in words; never a password or token.
    pub detail: String,
    /// The unit whose subtree the action belongs to; admins of it see the entry.
    pub area: UnitCode,
    /// The organisation key the action belongs to.
    pub org: String,
    /// The client address, when the action came over HTTP.
    pub client: Option<String>,
}
