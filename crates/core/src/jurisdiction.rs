//! Who may see what: organisations, roles, and the [`Scope`] every store read and write takes.
//!
//! The four levels of users are the district (区), streets (街道), communities (社区) and the many
//! social entities (多元社会主体). Departments (职能部门) sit at district level beside the streets.
//! A [`Scope`] is computed once from an account and then decides every question of visibility, so
//! that the rule lives in one place and the stores only translate it into SQL.

use std::fmt;

use crate::unit::{Level, UnitCode};

/// A role an account holds. Roles say what an account may *do*; its organisation says *where*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Manages accounts, entities and settings within its unit.
    Admin,
    /// 分拨员: routes events the rules could not.
    Dispatcher,
    /// 处置人员: handles the work given to its unit, department or entity.
    Handler,
    /// 督办: chases overdue work.
    Supervisor,
    /// 网格员: finds and verifies problems in the field.
    Inspector,
    /// Reads the one screen; changes nothing.
    Leader,
    /// Runs devices and sensors.
    Operator,
    /// A resident: reports problems and applies for services, sees only their own.
    Resident,
    /// A member of a social entity (company, property manager, volunteer team).
    EntityMember,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::Dispatcher,
        Role::Handler,
        Role::Supervisor,
        Role::Inspector,
        Role::Leader,
        Role::Operator,
        Role::Resident,
        Role::EntityMember,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Handler => "handler",
            Role::Supervisor => "supervisor",
            Role::Inspector => "inspector",
            Role::Leader => "leader",
            Role::Operator => "operator",
            Role::Resident => "resident",
            Role::EntityMember => "entity_member",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Dispatcher => "分拨员",
            Role::Handler => "处置人员",
            Role::Supervisor => "督办",
            Role::Inspector => "网格员",
            Role::Leader => "领导",
            Role::Operator => "设备运维",
            Role::Resident => "居民",
            Role::EntityMember => "社会主体成员",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A department's code: the district's six digits, `D`, and two digits (`440303D01`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeptCode(String);

impl DeptCode {
    /// Parses `440303D01`.
    pub fn parse(text: &str) -> Option<DeptCode> {
        let t = text.trim();
        let b = t.as_bytes();
        let ok = b.len() == 9
            && b[..6].iter().all(u8::is_ascii_digit)
            && &t[..6] != "000000"
            && (b[6] == b'D' || b[6] == b'd')
            && b[7..].iter().all(u8::is_ascii_digit)
            && &t[7..] != "00";
        ok.then(|| DeptCode(t.to_ascii_uppercase()))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The district the department belongs to.
    pub fn district(&self) -> UnitCode {
        UnitCode::parse(&self.0[..6]).expect("six valid digits")
    }
}

impl fmt::Display for DeptCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The organisation an account belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Org {
    /// A district, street or community office (or, for residents, the district they live in).
    Unit(UnitCode),
    /// A district department.
    Department(DeptCode),
    /// A social entity, registered under `unit`.
    Entity {
        /// The entity's id.
        id: String,
        /// The unit it is registered under; its admins manage it.
        unit: UnitCode,
    },
}

impl Org {
    /// The unit whose subtree governs this organisation: admins of that unit or above manage it.
    pub fn area(&self) -> UnitCode {
        match self {
            Org::Unit(u) => u.clone(),
            Org::Department(d) => d.district(),
            Org::Entity { unit, .. } => unit.clone(),
        }
    }

    /// The organisation's key as stored: a unit code, a department code, or `entity:<id>`.
    pub fn key(&self) -> String {
        match self {
            Org::Unit(u) => u.to_string(),
            Org::Department(d) => d.to_string(),
            Org::Entity { id, .. } => format!("entity:{id}"),
        }
    }
}

/// What a caller may see and touch. Computed from the account by [`Scope::of`]; stores filter
/// by it in their queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Internal jobs (demo seeding, schedulers). Never given to a request; every use is audited.
    System {
        /// Why the job needs to see everything, for the audit log.
        reason: String,
    },
    /// Staff of a district, street or community: everything in that unit's subtree.
    Subtree(UnitCode),
    /// A department: what is assigned to it.
    Department(DeptCode),
    /// Members of a social entity: what is assigned to the entity.
    Entity(String),
    /// A resident: their own records only.
    Own(String),
}

/// The filter a store applies for a scope, in terms of the columns every scoped table has:
/// `area_code` (the unit whose subtree governs the record), `org` (the owning organisation's key)
/// and `owner` (the account that owns it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeFilter {
    /// No restriction (system scope).
    All,
    /// `area_code LIKE '<prefix>%'`.
    AreaPrefix(String),
    /// `org = '<key>'`.
    Org(String),
    /// `owner = '<account id>'`.
    Owner(String),
}

impl Scope {
    /// The scope of an account: residents see their own records; entity members and department
    /// staff their organisation's; unit staff their unit's subtree.
    pub fn of(account_id: &str, org: &Org, roles: &[Role]) -> Scope {
        let staff = roles.iter().any(|r| !matches!(r, Role::Resident));
        match org {
            _ if !staff => Scope::Own(account_id.to_owned()),
            Org::Unit(u) => Scope::Subtree(u.clone()),
            Org::Department(d) => Scope::Department(d.clone()),
            Org::Entity { id, .. } => Scope::Entity(id.clone()),
        }
    }

    /// An explicit system scope for an internal job.
    pub fn system(reason: impl Into<String>) -> Scope {
        Scope::System {
            reason: reason.into(),
        }
    }

    /// The store filter for this scope.
    pub fn filter(&self) -> ScopeFilter {
        match self {
            Scope::System { .. } => ScopeFilter::All,
            Scope::Subtree(u) => ScopeFilter::AreaPrefix(prefix(u).to_owned()),
            Scope::Department(d) => ScopeFilter::Org(d.to_string()),
            Scope::Entity(id) => ScopeFilter::Org(format!("entity:{id}")),
            Scope::Own(account) => ScopeFilter::Owner(account.clone()),
        }
    }

    /// Whether a record with these columns is inside the scope; the same rule as [`Scope::filter`],
    /// for checks on records already in hand.
    pub fn admits(&self, area: &UnitCode, org: &str, owner: Option<&str>) -> bool {
        match self.filter() {
            ScopeFilter::All => true,
            ScopeFilter::AreaPrefix(p) => area.as_str().starts_with(&p),
            ScopeFilter::Org(key) => org == key,
            ScopeFilter::Owner(id) => owner == Some(id.as_str()),
        }
    }

    /// Whether an admin with this scope may manage (create accounts in, register entities under)
    /// an organisation: only within its own subtree, never above or beside it.
    pub fn manages(&self, org: &Org) -> bool {
        match self {
            Scope::System { .. } => true,
            Scope::Subtree(root) => match org {
                Org::Department(_) => root.level() == Level::District && root.encloses(&org.area()),
                _ => root.encloses(&org.area()),
            },
            Scope::Department(d) => matches!(org, Org::Department(o) if o == d),
            Scope::Entity(id) => matches!(org, Org::Entity { id: o, .. } if o == id),
            Scope::Own(_) => false,
        }
    }

    /// Short text for logs and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            Scope::System { reason } => format!("system ({reason})"),
            Scope::Subtree(u) => format!("unit {u}"),
            Scope::Department(d) => format!("department {d}"),
            Scope::Entity(id) => format!("entity {id}"),
            Scope::Own(a) => format!("own records of {a}"),
        }
    }
}

/// The significant digits of a unit code: every code in its subtree starts with them.
pub fn prefix(code: &UnitCode) -> &str {
    let s = code.as_str();
    match code.level() {
        Level::District => &s[..6],
        Level::Street => &s[..9],
        Level::Community | Level::Grid => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> UnitCode {
        UnitCode::parse(s).unwrap()
    }

    #[test]
    fn scopes_follow_org_and_roles() {
        let street = Org::Unit(code("440303001"));
        assert_eq!(
            Scope::of("a", &street, &[Role::Handler]),
            Scope::Subtree(code("440303001"))
        );
        assert_eq!(
            Scope::of("a", &street, &[Role::Resident]),
            Scope::Own("a".into())
        );
        let dept = Org::Department(DeptCode::parse("440303D01").unwrap());
        assert_eq!(
            Scope::of("a", &dept, &[Role::Handler]).filter(),
            ScopeFilter::Org("440303D01".into())
        );
        let ent = Org::Entity {
            id: "e1".into(),
            unit: code("440303001"),
        };
        assert_eq!(
            Scope::of("a", &ent, &[Role::EntityMember]).filter(),
            ScopeFilter::Org("entity:e1".into())
        );
        assert_eq!(
            Scope::Subtree(code("440303001")).filter(),
            ScopeFilter::AreaPrefix("440303001".into())
        );
    }

    #[test]
    fn admins_manage_down_never_up_or_beside() {
        let street = Scope::Subtree(code("440303001"));
        let cases: &[(Org, bool)] = &[
            (Org::Unit(code("440303001")), true),
            (Org::Unit(code("440303001001")), true),
            (Org::Unit(code("440303002")), false),
            (Org::Unit(code("440303")), false),
            (
                Org::Department(DeptCode::parse("440303D01").unwrap()),
                false,
            ),
            (
                Org::Entity {
                    id: "e".into(),
                    unit: code("440303001002"),
                },
                true,
            ),
            (
                Org::Entity {
                    id: "e".into(),
                    unit: code("440303002001"),
                },
                false,
            ),
        ];
        for (org, expect) in cases {
            assert_eq!(street.manages(org), *expect, "{org:?}");
        }
        let district = Scope::Subtree(code("440303"));
        assert!(district.manages(&Org::Department(DeptCode::parse("440303D01").unwrap())));
        assert!(!district.manages(&Org::Unit(code("440304"))));
        assert!(!Scope::Own("r".into()).manages(&Org::Unit(code("440303001001"))));
    }

    #[test]
    fn admits_matches_filter() {
        let s = Scope::Subtree(code("440303001"));
        assert!(s.admits(&code("440303001001"), "x", None));
        assert!(!s.admits(&code("440303002001"), "x", None));
        assert!(Scope::Own("me".into()).admits(&code("440303"), "x", Some("me")));
        assert!(!Scope::Own("me".into()).admits(&code("440303"), "x", Some("you")));
    }

    #[test]
    fn department_codes() {
        assert_eq!(DeptCode::parse("440303d07").unwrap().as_str(), "440303D07");
        assert_eq!(
            DeptCode::parse("440303D07").unwrap().district(),
            code("440303")
        );
        for bad in [
            "440303D00",
            "440303X01",
            "44030D01",
            "000000D01",
            "440303D1",
        ] {
            assert!(DeptCode::parse(bad).is_none(), "{bad}");
        }
    }
}
