//! The shared registers as the decision models see them: the named facts a catalogue field may
//! take instead of asking the applicant (Decree 716), how each is read from the population,
//! birth, legal-entity and licence registers, and the access log written for every read, with
//! its purpose.

use serde_json::{Map, Value, json};
use wanxiang_core::service::{Item, Source, age_on};
use wanxiang_store::StoreError;
use wanxiang_store::services::{
    Birth, Certificate, Enterprise, Person, RegisterAccess, ServiceStore,
};

/// The facts the registers can supply: the name a catalogue field's `source` uses, and what it is.
pub const FACTS: [(&str, &str); 19] = [
    ("person.name", "姓名（人口库） / name (population register)"),
    (
        "person.age",
        "周岁年龄（人口库，按出生日期计算） / age in whole years (population register, from the date of birth)",
    ),
    (
        "person.gender",
        "性别（人口库） / gender (population register)",
    ),
    (
        "person.hukou_in_district",
        "户籍在本区（人口库） / household registered in the district (population register)",
    ),
    (
        "person.hukou_years",
        "本区户籍年数（人口库） / years registered in the district (population register)",
    ),
    (
        "person.receives_elderly_allowance",
        "正在领取高龄津贴（民政） / already receiving the elderly allowance (civil affairs)",
    ),
    (
        "person.has_social_security_card",
        "持有社保卡及金融账户（人社） / holds a social security card with a bank account (human resources)",
    ),
    (
        "person.holds_senior_card",
        "持有老年人优待证（电子证照库） / holds the senior citizen's card (licence register)",
    ),
    (
        "person.insured",
        "参加职工社会保险（人社） / covered by employee social insurance (human resources)",
    ),
    (
        "person.credit_restricted",
        "列入失信被执行人名单（信用） / listed as a dishonest judgment debtor (credit)",
    ),
    (
        "enterprise.name",
        "企业名称（法人库） / name (legal-entity register)",
    ),
    (
        "enterprise.credit",
        "信用状况 good/warning/bad（信用） / credit standing (credit register)",
    ),
    (
        "enterprise.has_business_licence",
        "持有有效营业执照（法人库、电子证照库） / holds a valid business licence",
    ),
    (
        "enterprise.scope_catering",
        "经营范围含餐饮服务（法人库） / business scope includes catering (legal-entity register)",
    ),
    (
        "enterprise.holds_food_licence",
        "持有有效食品经营许可证（电子证照库） / holds a valid food business licence (licence register)",
    ),
    (
        "birth.registered",
        "医院已登记新生儿出生（出生登记） / a birth registered by the hospital (birth register)",
    ),
    (
        "birth.applicant_is_parent",
        "申请人是新生儿的父亲或母亲（出生登记） / the applicant is the child's parent (birth register)",
    ),
    (
        "birth.days_since",
        "新生儿出生天数（出生登记） / days since the birth (birth register)",
    ),
    (
        "birth.child_name",
        "新生儿姓名（出生登记） / the child's name (birth register)",
    ),
];

/// Item codes whose certificates are facts of their own.
const SENIOR_CARD: &str = "2000002001";
const FOOD_LICENCE: &str = "0100007001";
const BUSINESS_LICENCE: &str = "0100008001";

/// Who an application is about, as read from the registers.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The applicant.
    pub person: Person,
    /// The enterprise applying, for enterprise items.
    pub enterprise: Option<Enterprise>,
}

/// What gathering found: the model's input document (register facts and the form), and the
/// register reads to log.
#[derive(Debug)]
pub struct Gathered {
    /// `{ "applicant": {…}, "enterprise": {…}, "birth": {…}, "form": {…} }`.
    pub inputs: Value,
    /// One entry per register read.
    pub accesses: Vec<RegisterAccess>,
}

fn fact_bool(facts: &Value, key: &str) -> bool {
    facts.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn valid_now(c: &Certificate, today: chrono::NaiveDate) -> bool {
    c.revoked_at.is_none()
        && c.expires_on
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .is_none_or(|until| until >= today)
}

/// The newest birth this person is a parent of.
pub async fn latest_birth(
    store: &dyn ServiceStore,
    person: &str,
) -> Result<Option<Birth>, StoreError> {
    Ok(store.births_of_parent(person).await?.into_iter().next())
}

/// Sets `value` at a dotted path of an object.
pub fn put_path(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut here = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            here.insert(part.to_owned(), value);
            return;
        }
        let next = here
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        here = next.as_object_mut().expect("made an object");
    }
}

/// Who reads the registers, why and when: what the access log records.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The account that caused the read (`system` for a trigger).
    pub account: &'a str,
    /// Why (`application:<id>`, `offer:<item>`).
    pub purpose: &'a str,
    /// When (Unix ms); "today" for ages and day counts is its day in China Standard Time.
    pub at: i64,
}

/// Reads every register fact the item needs for this subject, puts the form beside them, and
/// lists the reads for the access log.
pub async fn gather(
    store: &dyn ServiceStore,
    item: &Item,
    subject: &Subject,
    form: &Map<String, Value>,
    reader: Reader<'_>,
) -> Result<Gathered, StoreError> {
    let today = super::today(reader.at);
    let person = &subject.person;
    let person_facts: Value = serde_json::from_str(&person.facts).unwrap_or(Value::Null);
    let mut root = Map::new();
    let mut read: Vec<(&'static str, String, Vec<String>)> = Vec::new();
    let mut note = |register: &'static str, subject: &str, fact: &str| match read
        .iter_mut()
        .find(|(r, s, _)| *r == register && s == subject)
    {
        Some((_, _, fields)) => fields.push(fact_name(fact).to_owned()),
        None => read.push((
            register,
            subject.to_owned(),
            vec![fact_name(fact).to_owned()],
        )),
    };
    let mut person_certificates: Option<Vec<Certificate>> = None;
    let mut enterprise_certificates: Option<Vec<Certificate>> = None;
    let mut birth: Option<Option<Birth>> = None;
    for field in &item.fields {
        let Source::Register(fact) = &field.source else {
            continue;
        };
        let value = match fact.as_str() {
            "person.name" => json!(person.name),
            "person.age" => chrono::NaiveDate::parse_from_str(&person.birth_date, "%Y-%m-%d")
                .map(|b| json!(age_on(b, today)))
                .unwrap_or(Value::Null),
            "person.gender" => json!(person.gender),
            "person.hukou_in_district" => json!(person.community.starts_with("440303")),
            "person.hukou_years" => person_facts
                .get("hukou_since")
                .and_then(Value::as_str)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .map(|since| json!(age_on(since, today)))
                .unwrap_or(Value::Null),
            "person.receives_elderly_allowance" => {
                json!(fact_bool(&person_facts, "elderly_allowance"))
            }
            "person.has_social_security_card" => {
                json!(fact_bool(&person_facts, "social_security_card"))
            }
            "person.insured" => json!(fact_bool(&person_facts, "insured")),
            "person.credit_restricted" => json!(fact_bool(&person_facts, "credit_restricted")),
            "person.holds_senior_card" => {
                if person_certificates.is_none() {
                    person_certificates = Some(store.certificates_of(&person.id).await?);
                }
                let held = person_certificates.as_deref().unwrap_or_default();
                json!(
                    held.iter()
                        .any(|c| c.item == SENIOR_CARD && valid_now(c, today))
                )
            }
            f if f.starts_with("enterprise.") => {
                let Some(e) = &subject.enterprise else {
                    root.entry("enterprise")
                        .or_insert_with(|| Value::Object(Map::new()));
                    put_path(&mut root, &field.key, Value::Null);
                    continue;
                };
                let facts: Value = serde_json::from_str(&e.facts).unwrap_or(Value::Null);
                if (f == "enterprise.holds_food_licence" || f == "enterprise.has_business_licence")
                    && enterprise_certificates.is_none()
                {
                    enterprise_certificates = Some(store.certificates_of(&e.uscc).await?);
                }
                let held = enterprise_certificates.as_deref().unwrap_or_default();
                let v = match f {
                    "enterprise.name" => json!(e.name),
                    "enterprise.credit" => json!(e.credit),
                    "enterprise.has_business_licence" => json!(
                        fact_bool(&facts, "business_licence")
                            || held
                                .iter()
                                .any(|c| c.item == BUSINESS_LICENCE && valid_now(c, today))
                    ),
                    "enterprise.scope_catering" => json!(
                        facts
                            .get("scope")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.contains("餐饮"))
                    ),
                    "enterprise.holds_food_licence" => json!(
                        held.iter()
                            .any(|c| c.item == FOOD_LICENCE && valid_now(c, today))
                    ),
                    _ => Value::Null,
                };
                let register = if f.ends_with("licence") {
                    "licences"
                } else {
                    "enterprises"
                };
                note(register, &e.uscc, f);
                put_path(&mut root, &field.key, v);
                continue;
            }
            f if f.starts_with("birth.") => {
                if birth.is_none() {
                    birth = Some(latest_birth(store, &person.id).await?);
                }
                let b = birth.as_ref().and_then(Option::as_ref);
                let v = match (f, b) {
                    ("birth.registered", b) => json!(b.is_some()),
                    ("birth.applicant_is_parent", Some(b)) => json!(
                        b.mother == person.id || b.father.as_deref() == Some(person.id.as_str())
                    ),
                    ("birth.applicant_is_parent", None) => json!(false),
                    ("birth.child_name", Some(b)) => json!(b.child_name),
                    ("birth.days_since", Some(b)) => {
                        chrono::NaiveDate::parse_from_str(&b.born_on, "%Y-%m-%d")
                            .map(|d| json!((today - d).num_days()))
                            .unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                };
                note("births", &person.id, f);
                put_path(&mut root, &field.key, v);
                continue;
            }
            _ => Value::Null,
        };
        let register = if fact == "person.holds_senior_card" {
            "licences"
        } else {
            "population"
        };
        note(register, &person.id, fact);
        put_path(&mut root, &field.key, value);
    }
    for (key, value) in form {
        put_path(&mut root, &format!("form.{key}"), value.clone());
    }
    let accesses = read
        .into_iter()
        .map(|(register, subject, fields)| RegisterAccess {
            at: reader.at,
            account: reader.account.to_owned(),
            purpose: reader.purpose.to_owned(),
            register: register.to_owned(),
            subject,
            fields: fields.join(","),
        })
        .collect();
    Ok(Gathered {
        inputs: Value::Object(root),
        accesses,
    })
}

/// The part of a fact's name after the register (`person.age` → `age`).
fn fact_name(fact: &str) -> &str {
    fact.split_once('.').map(|(_, n)| n).unwrap_or(fact)
}
