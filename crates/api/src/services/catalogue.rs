//! The service catalogue file: its TOML shape, parsed into the core's [`Item`]s and bundles with
//! every item checked — register fields name facts the registers can supply, form fields are
//! under `form.`, instant and proactive items carry a decision model that parses, refuses
//! scripting, and reads only the item's own fields. A bad catalogue stops the start.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use wanxiang_core::DeptCode;
use wanxiang_core::service::{
    ApplicantKind, Field, FieldKind, Item, ItemCode, Mode, Source, Trigger,
};
use wanxiang_rules::Model;

use super::registers;

/// The catalogue shipped with Wanxiang (DEMO content; see the file's header).
pub const SHIPPED: &str = include_str!("../../../core/data/services/catalogue.toml");

macro_rules! model {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../core/data/services/models/", $name)),
        )
    };
}

/// The shipped decision models, by file name.
pub const SHIPPED_MODELS: [(&str, &str); 14] = [
    model!("elderly_allowance.json"),
    model!("senior_card.json"),
    model!("birth_certificate.json"),
    model!("newborn_hukou.json"),
    model!("newborn_insurance.json"),
    model!("social_security_card.json"),
    model!("food_licence.json"),
    model!("individual_business.json"),
    model!("signboard.json"),
    model!("public_hygiene.json"),
    model!("residence_permit.json"),
    model!("maternity_allowance.json"),
    model!("food_licence_renewal.json"),
    model!("seal_registration.json"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    /// Whether the catalogue is demo content (the shipped one says so).
    #[serde(default)]
    demo: bool,
    item: Vec<ItemSpec>,
    #[serde(default)]
    bundle: Vec<BundleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemSpec {
    code: String,
    name_zh: String,
    name_en: String,
    department: String,
    legal_basis: String,
    applicant: String,
    mode: String,
    time_limit_days: u32,
    #[serde(default)]
    cross_region: bool,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    trigger: Option<TriggerSpec>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    materials: Vec<String>,
    #[serde(default)]
    registers_enterprise: bool,
    #[serde(default)]
    countersign: Option<String>,
    fields: Vec<FieldSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerSpec {
    #[serde(default)]
    birthday: Option<u32>,
    #[serde(default)]
    birth: Option<bool>,
    #[serde(default)]
    granted: Option<String>,
    #[serde(default)]
    expiring: Option<String>,
    #[serde(default)]
    days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    key: String,
    zh: String,
    en: String,
    kind: KindSpec,
    source: String,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum KindSpec {
    Simple(String),
    Choice { choice: Vec<String> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleSpec {
    code: String,
    name_zh: String,
    name_en: String,
    items: Vec<String>,
}

/// A life-event bundle (一件事一次办).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its code (`birth`).
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The member items, in order.
    pub items: Vec<ItemCode>,
}

/// An item with its shipped decision model.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The item.
    pub item: Item,
    /// The model shipped for it (stored as version 1 when none is stored yet).
    pub shipped_model: Option<String>,
}

/// The parsed catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Items by code.
    pub items: BTreeMap<String, Entry>,
    /// Bundles by code.
    pub bundles: BTreeMap<String, Bundle>,
}

impl Catalogue {
    /// The shipped catalogue. Panics only if the shipped file is broken, which a test forbids.
    pub fn shipped() -> Catalogue {
        Catalogue::parse(SHIPPED, |name| {
            SHIPPED_MODELS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_owned())
        })
        .expect("the shipped catalogue is valid")
    }

    /// Parses a catalogue; `models` gives the text of a model file by name.
    pub fn parse(text: &str, models: impl Fn(&str) -> Option<String>) -> Result<Catalogue, String> {
        let file: CatalogueFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut catalogue = Catalogue::default();
        for spec in file.item {
            let code = spec.code.clone();
            let entry =
                parse_item(spec, &models, file.demo).map_err(|e| format!("item {code}: {e}"))?;
            if catalogue.items.insert(code.clone(), entry).is_some() {
                return Err(format!("item {code} appears twice"));
            }
        }
        for b in file.bundle {
            let mut items = Vec::new();
            for code in &b.items {
                if !catalogue.items.contains_key(code) {
                    return Err(format!("bundle {}: unknown item {code}", b.code));
                }
                items.push(ItemCode::parse(code).expect("checked with the item"));
            }
            if items.len() < 2 {
                return Err(format!("bundle {}: a bundle has two items or more", b.code));
            }
            catalogue.bundles.insert(
                b.code.clone(),
                Bundle {
                    code: b.code,
                    name_zh: b.name_zh,
                    name_en: b.name_en,
                    items,
                },
            );
        }
        Ok(catalogue)
    }

    /// An item.
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.items.get(code).map(|e| &e.item)
    }
}

fn parse_item(
    spec: ItemSpec,
    models: &impl Fn(&str) -> Option<String>,
    demo: bool,
) -> Result<Entry, String> {
    let code = ItemCode::parse(&spec.code).ok_or("bad code (ten digits, a known type)")?;
    let department = DeptCode::parse(&spec.department).ok_or("bad department code")?;
    let applicant =
        ApplicantKind::parse(&spec.applicant).ok_or("applicant is resident or enterprise")?;
    let mode = Mode::parse(&spec.mode).ok_or("mode is instant, proactive or standard")?;
    let mut keys = HashSet::new();
    let mut fields = Vec::new();
    for f in spec.fields {
        if !keys.insert(f.key.clone()) {
            return Err(format!("field {} appears twice", f.key));
        }
        let kind = match f.kind {
            KindSpec::Simple(k) => match k.as_str() {
                "text" => FieldKind::Text,
                "number" => FieldKind::Number,
                "date" => FieldKind::Date,
                "bool" => FieldKind::Bool,
                other => return Err(format!("field {}: unknown kind {other}", f.key)),
            },
            KindSpec::Choice { choice } if !choice.is_empty() => FieldKind::Choice(choice),
            KindSpec::Choice { .. } => return Err(format!("field {}: empty choice", f.key)),
        };
        let source = if f.source == "form" {
            if !f.key.starts_with("form.") {
                return Err(format!("form field {} must be under form.", f.key));
            }
            Source::Form
        } else {
            if f.key.starts_with("form.") {
                return Err(format!("register field {} may not be under form.", f.key));
            }
            if !registers::FACTS.iter().any(|(name, _)| *name == f.source) {
                return Err(format!("field {}: no register holds {}", f.key, f.source));
            }
            if applicant == ApplicantKind::Resident && f.source.starts_with("enterprise.") {
                return Err(format!(
                    "field {}: a resident item cannot read an enterprise",
                    f.key
                ));
            }
            Source::Register(f.source)
        };
        fields.push(Field {
            key: f.key,
            label_zh: f.zh,
            label_en: f.en,
            kind,
            source,
            required: f.required,
        });
    }
    let trigger = match spec.trigger {
        None => None,
        Some(TriggerSpec {
            birthday: Some(age),
            ..
        }) => Some(Trigger::Birthday { age }),
        Some(TriggerSpec {
            birth: Some(true), ..
        }) => Some(Trigger::Birth),
        Some(TriggerSpec {
            granted: Some(item),
            ..
        }) => Some(Trigger::LicenceGranted { item }),
        Some(TriggerSpec {
            expiring: Some(item),
            days,
            ..
        }) => Some(Trigger::LicenceExpiring {
            item,
            days: days.unwrap_or(30),
        }),
        Some(_) => return Err("a trigger is birthday, birth, granted or expiring".into()),
    };
    if spec.registers_enterprise
        && !["form.business_name", "form.business_scope"]
            .iter()
            .all(|k| fields.iter().any(|f| f.key == *k))
    {
        return Err(
            "an item that registers an enterprise asks form.business_name and form.business_scope"
                .into(),
        );
    }
    let countersign = match &spec.countersign {
        None => None,
        Some(code) => {
            let d = DeptCode::parse(code).ok_or("countersign is a department code")?;
            if mode != Mode::Standard || d == department {
                return Err(
                    "countersign is another department, on a standard (manually reviewed) item"
                        .into(),
                );
            }
            Some(d)
        }
    };
    if (mode == Mode::Proactive) != trigger.is_some() {
        return Err("a proactive item has a trigger, and only a proactive item".into());
    }
    let shipped_model = match (&spec.model, mode.decided_by_rules()) {
        (Some(name), true) => {
            let text = models(name).ok_or_else(|| format!("model file {name} not found"))?;
            check_model(&text, &fields).map_err(|e| format!("model {name}: {e}"))?;
            Some(text)
        }
        (None, true) => return Err("an instant or proactive item needs a model".into()),
        (Some(_), false) => return Err("a standard item has no model".into()),
        (None, false) => None,
    };
    Ok(Entry {
        item: Item {
            code,
            name_zh: spec.name_zh,
            name_en: spec.name_en,
            department,
            legal_basis: spec.legal_basis,
            applicant,
            fields,
            materials: spec.materials,
            time_limit_days: spec.time_limit_days,
            mode,
            cross_region: spec.cross_region,
            certificate: spec.certificate,
            trigger,
            registers_enterprise: spec.registers_enterprise,
            countersign,
            demo,
        },
        shipped_model,
    })
}

/// Parses a decision model and checks that its tables read only the item's fields; returns it.
pub fn check_model(text: &str, fields: &[Field]) -> Result<Model, String> {
    let model = Model::parse(text).map_err(|e| e.to_string())?;
    for path in model.input_fields() {
        if !fields.iter().any(|f| f.key == path) {
            return Err(format!(
                "规则读取了事项没有的数据 {path} / the rules read {path}, which the item does not have"
            ));
        }
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_parses_and_has_at_least_twenty_items() {
        let c = Catalogue::shipped();
        assert!(c.items.len() >= 20, "{} items", c.items.len());
        for mode in [Mode::Instant, Mode::Proactive, Mode::Standard] {
            assert!(c.items.values().any(|e| e.item.mode == mode), "{mode:?}");
        }
        assert!(c.bundles.contains_key("birth"));
        // Every shipped model file is used by an item.
        for (name, _) in SHIPPED_MODELS {
            assert!(
                SHIPPED.contains(&format!("model = \"{name}\"")),
                "{name} unused"
            );
        }
    }

    fn one(item: &str) -> Result<Catalogue, String> {
        Catalogue::parse(&format!("[[item]]\n{item}"), |_| None)
    }

    #[test]
    fn bad_items_are_refused_with_a_reason() {
        let base = r#"code = "0100099001"
name_zh = "x"
name_en = "x"
department = "440303D01"
legal_basis = "x"
applicant = "resident"
time_limit_days = 1
"#;
        let cases = [
            (
                "mode = \"standard\"\nfields = [{ key = \"applicant.age\", zh = \"a\", en = \"a\", kind = \"number\", source = \"person.shoe_size\" }]",
                "no register holds person.shoe_size",
            ),
            (
                "mode = \"standard\"\nfields = [{ key = \"age\", zh = \"a\", en = \"a\", kind = \"number\", source = \"form\" }]",
                "must be under form.",
            ),
            ("mode = \"instant\"\nfields = []", "needs a model"),
            ("mode = \"proactive\"\nfields = []", "has a trigger"),
            (
                "mode = \"standard\"\nfields = [{ key = \"e.credit\", zh = \"a\", en = \"a\", kind = \"text\", source = \"enterprise.credit\" }]",
                "cannot read an enterprise",
            ),
        ];
        for (rest, want) in cases {
            let err = one(&format!("{base}{rest}")).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }
}
