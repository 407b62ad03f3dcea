//! DEMO CONTENT: generated registers for the demo district — residents, births and
//! enterprises with valid but made-up identity numbers and credit codes (every record carries
//! `demo = true` and every name the mark 演示 in the UI), plus the people behind the demo
//! resident accounts, placed so the demo's stories happen: a resident whose 80th birthday was a
//! few days ago, a mother whose child was born two days ago, a restaurant owner.
//!
//! Generated once, on the first start with an empty population register, from a fixed seed, so
//! the demo is the same on every machine and restarts never move anyone's birthday.

use wanxiang_core::identity::{CreditCode, ResidentId};
use wanxiang_store::StoreError;
use wanxiang_store::services::{Birth, Enterprise, Person, ServiceStore};

/// How many generated residents.
const RESIDENTS: usize = 600;
/// How many generated enterprises.
const ENTERPRISES: usize = 120;

/// A small deterministic generator (xorshift64*), so the demo is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const SURNAMES: [&str; 24] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "郑", "梁", "谢", "宋", "邓",
];
const GIVEN: [&str; 32] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "志强", "婷",
    "晓东", "海燕", "子涵",
];
const TRADES: [(&str, &str); 6] = [
    ("餐饮店", "餐饮服务；预包装食品销售"),
    ("便利店", "预包装食品销售；日用百货"),
    ("美发店", "美容美发服务"),
    ("科技有限公司", "软件开发；信息技术咨询"),
    ("贸易有限公司", "国内贸易；进出口业务"),
    ("装饰工程有限公司", "建筑装饰工程施工"),
];

/// The people behind the demo resident accounts (phone = login), with their stories.
struct Named {
    phone: &'static str,
    name: &'static str,
    /// Age in days at generation (so an 80th birthday can be "three days ago").
    age_days: i64,
    male: bool,
    facts: &'static str,
}

const NAMED: [Named; 5] = [
    Named {
        phone: "13800138000",
        name: "张三",
        age_days: 41 * 365 + 100,
        male: true,
        facts: r#"{"hukou_since":"2010-03-01","social_security_card":true,"insured":true}"#,
    },
    Named {
        phone: "13800138001",
        name: "李四",
        age_days: 29 * 365 + 40,
        male: false,
        facts: r#"{"hukou_since":"2019-07-15","social_security_card":true,"insured":true}"#,
    },
    // 80 years and three days: her 80th birthday was three days before the demo first started.
    Named {
        phone: "13800138002",
        name: "王秀英",
        age_days: -3,
        male: false,
        facts: r#"{"hukou_since":"1985-06-01","social_security_card":true,"insured":false,"elderly_allowance":false}"#,
    },
    Named {
        phone: "13800138003",
        name: "陈静",
        age_days: 31 * 365 + 200,
        male: false,
        facts: r#"{"hukou_since":"2016-09-01","social_security_card":true,"insured":true}"#,
    },
    Named {
        phone: "13800138004",
        name: "刘强",
        age_days: 45 * 365 + 10,
        male: true,
        facts: r#"{"hukou_since":"2008-01-20","social_security_card":true,"insured":true}"#,
    },
];

/// The demo restaurant's name (its owner is 刘强, 13800138004).
pub const RESTAURANT: &str = "深圳市罗湖区刘记餐饮店（演示）";

/// The demo restaurant's credit code.
pub fn restaurant_code() -> String {
    credit_code("MA5DEMK01")
}

fn credit_code(body: &str) -> String {
    CreditCode::compose('9', '2', "440303", body)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

/// The generated registers, for a district whose communities are `communities`, generated on
/// `today`.
pub fn generate(
    communities: &[String],
    today: chrono::NaiveDate,
    now: i64,
) -> (Vec<Person>, Vec<Enterprise>, Vec<Birth>) {
    let mut rng = Rng(0x5EED_1057_0303_2021);
    let community = |rng: &mut Rng| {
        if communities.is_empty() {
            "440303001001".to_owned()
        } else {
            communities[rng.below(communities.len())].clone()
        }
    };
    let mut people = Vec::new();
    let mut sequence: u16 = 100;
    let mut id_for = |born: chrono::NaiveDate, male: bool| {
        sequence = if sequence >= 998 { 100 } else { sequence + 2 };
        ResidentId::compose("440303", born, sequence, male)
            .map(|id| id.to_string())
            .unwrap_or_default()
    };
    for n in &NAMED {
        let born = if n.age_days < 0 {
            today
                .checked_sub_months(chrono::Months::new(12 * 80))
                .unwrap_or(today)
                + chrono::Duration::days(n.age_days)
        } else {
            today - chrono::Duration::days(n.age_days)
        };
        let c = community(&mut rng);
        people.push(Person {
            id: id_for(born, n.male),
            name: n.name.into(),
            gender: if n.male { "male" } else { "female" }.into(),
            birth_date: born.to_string(),
            phone: Some(n.phone.into()),
            household: format!("H{}", &c[6..]),
            community: c,
            facts: n.facts.into(),
            demo: true,
        });
    }
    for i in 0..RESIDENTS {
        let male = rng.below(2) == 0;
        let age_days = 365 + rng.below(90 * 365) as i64;
        let born = today - chrono::Duration::days(age_days);
        let name = format!("{}{}", rng.pick(&SURNAMES), rng.pick(&GIVEN));
        let c = community(&mut rng);
        // Most are registered in the district; some live here with a household elsewhere.
        let community = if rng.below(10) == 0 {
            format!("440304{}", &c[6..])
        } else {
            c.clone()
        };
        let facts = serde_json::json!({
            "hukou_since": (born + chrono::Duration::days(rng.below(age_days as usize) as i64)).to_string(),
            "social_security_card": rng.below(10) < 8,
            "insured": age_days < 60 * 365 && rng.below(10) < 7,
            "elderly_allowance": age_days >= 80 * 365 && rng.below(3) > 0,
            "credit_restricted": rng.below(50) == 0,
        });
        people.push(Person {
            id: id_for(born, male),
            name,
            gender: if male { "male" } else { "female" }.into(),
            birth_date: born.to_string(),
            phone: None,
            household: format!("H{}{i:04}", &c[6..]),
            community,
            facts: facts.to_string(),
            demo: true,
        });
    }
    let mut enterprises = vec![Enterprise {
        uscc: restaurant_code(),
        name: RESTAURANT.into(),
        legal_rep: people[4].id.clone(),
        community: people[4].community.clone(),
        registered_on: (today - chrono::Duration::days(400)).to_string(),
        credit: "good".into(),
        facts:
            r#"{"scope":"餐饮服务；预包装食品销售","business_licence":true,"kind":"个体工商户"}"#
                .into(),
        demo: true,
    }];
    for i in 0..ENTERPRISES {
        let owner = &people[NAMED.len() + rng.below(RESIDENTS)];
        let (trade, scope) = TRADES[rng.below(TRADES.len())];
        let credit = match rng.below(20) {
            0 => "bad",
            1 | 2 => "warning",
            _ => "good",
        };
        enterprises.push(Enterprise {
            uscc: credit_code(&format!("MA5D{i:05}")),
            name: format!("深圳市罗湖区{}{trade}（演示）", &owner.name),
            legal_rep: owner.id.clone(),
            community: community(&mut rng),
            registered_on: (today - chrono::Duration::days(30 + rng.below(3000) as i64))
                .to_string(),
            credit: credit.into(),
            facts: serde_json::json!({"scope": scope, "business_licence": rng.below(10) > 0})
                .to_string(),
            demo: true,
        });
    }
    // 陈静's child, born two days ago; and a few other recent births.
    let mut births = vec![Birth {
        id: "demo-birth-0001".into(),
        child_name: "陈小雨".into(),
        child_id: None,
        mother: people[3].id.clone(),
        father: None,
        born_on: (today - chrono::Duration::days(2)).to_string(),
        hospital: "罗湖区人民医院（演示）".into(),
        registered_at: now - 86_400_000,
        demo: true,
    }];
    let mothers: Vec<&Person> = people[NAMED.len()..]
        .iter()
        .filter(|p| {
            p.gender == "female"
                && chrono::NaiveDate::parse_from_str(&p.birth_date, "%Y-%m-%d")
                    .is_ok_and(|b| (22..=40).contains(&wanxiang_core::service::age_on(b, today)))
        })
        .take(12)
        .collect();
    for (i, mother) in mothers.iter().enumerate() {
        let days = 5 + rng.below(80) as i64;
        births.push(Birth {
            id: format!("demo-birth-{:04}", i + 2),
            child_name: format!("{}宝宝", mother.name.chars().next().unwrap_or('小')),
            child_id: None,
            mother: mother.id.clone(),
            father: None,
            born_on: (today - chrono::Duration::days(days)).to_string(),
            hospital: "罗湖区妇幼保健院（演示）".into(),
            registered_at: now - (days - 1) * 86_400_000,
            demo: true,
        });
    }
    (people, enterprises, births)
}

/// Seeds the generated registers if the population register is empty; returns how many people
/// were added.
pub async fn seed(
    store: &dyn ServiceStore,
    communities: &[String],
    now: i64,
) -> Result<usize, StoreError> {
    if store.count_people().await? > 0 {
        return Ok(0);
    }
    let (people, enterprises, births) = generate(communities, super::today(now), now);
    store.put_people(&people).await?;
    store.put_enterprises(&enterprises).await?;
    store.put_births(&births).await?;
    Ok(people.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_registers_are_valid_and_tell_the_demo_stories() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let (people, enterprises, births) =
            generate(&["440303001001".into(), "440303002003".into()], today, 0);
        assert_eq!(people.len(), RESIDENTS + NAMED.len());
        let mut ids = std::collections::HashSet::new();
        for p in &people {
            let id = ResidentId::parse(&p.id).expect("valid identity number");
            assert_eq!(id.birth_date().to_string(), p.birth_date);
            assert!(ids.insert(p.id.clone()), "duplicate {}", p.id);
        }
        for e in &enterprises {
            CreditCode::parse(&e.uscc).expect("valid credit code");
        }
        assert_eq!(enterprises[0].uscc, restaurant_code());
        let wang = &people[2];
        let born = chrono::NaiveDate::parse_from_str(&wang.birth_date, "%Y-%m-%d").unwrap();
        assert_eq!(wanxiang_core::service::age_on(born, today), 80);
        assert_eq!(
            wanxiang_core::service::age_on(born, today - chrono::Duration::days(4)),
            79
        );
        assert_eq!(births[0].mother, people[3].id);
        assert!(births.len() > 5);
        // The same every time.
        let again = generate(&["440303001001".into(), "440303002003".into()], today, 0);
        assert_eq!(again.0, people);
    }
}
