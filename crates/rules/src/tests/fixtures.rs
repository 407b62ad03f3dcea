//! The fixtures in `tests/data/`: real approval rules written as collect tables of refusal
//! reasons. Each case lists an application and the refusal codes it must get, in row order.

use serde_json::{Value, json};

use super::run;
use crate::Model;

const ELDERLY_ALLOWANCE: &str = include_str!("../../tests/data/elderly_allowance.json");
const FOOD_LICENCE: &str = include_str!("../../tests/data/food_licence.json");

/// The `rule` codes of `output.failures`, in order.
fn failure_codes(output: &Value) -> Vec<String> {
    output["failures"]
        .as_array()
        .map(|failures| {
            failures
                .iter()
                .map(|f| f["rule"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_else(|| panic!("output has no failures array: {output}"))
}

fn parse(text: &str) -> Model {
    match Model::parse(text) {
        Ok(model) => model,
        Err(error) => panic!("fixture should parse: {error}"),
    }
}

#[test]
fn elderly_allowance_cases() {
    let model = parse(ELDERLY_ALLOWANCE);
    let resident = |age: Value| json!({"applicant": {"age": age, "hukou_in_district": true, "already_receiving": false}});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "81-year-old resident, not yet receiving",
            resident(json!(81)),
            vec![],
        ),
        ("exactly 80 passes", resident(json!(80)), vec![]),
        ("79 is too young", resident(json!(79)), vec!["age"]),
        (
            "missing age is refused, not passed",
            resident(Value::Null),
            vec!["age_missing"],
        ),
        (
            "age absent altogether",
            json!({"applicant": {"hukou_in_district": true, "already_receiving": false}}),
            vec!["age_missing"],
        ),
        (
            "not a district resident and already receiving",
            json!({"applicant": {"age": 90, "hukou_in_district": false, "already_receiving": true}}),
            vec!["hukou", "already_receiving"],
        ),
        (
            "an empty application fails every rule",
            json!({}),
            vec!["age_missing", "hukou", "already_receiving"],
        ),
    ];
    for (name, input, expected) in cases {
        let evaluation = run(&model, &input);
        assert_eq!(failure_codes(&evaluation.output), expected, "case: {name}");
    }
}

#[test]
fn elderly_allowance_output_is_failures_with_plain_reasons() {
    let model = parse(ELDERLY_ALLOWANCE);
    let evaluation = run(
        &model,
        &json!({"applicant": {"age": 79, "hukou_in_district": true, "already_receiving": false}}),
    );
    assert_eq!(
        evaluation.output,
        json!({"failures": [{"rule": "age", "reason": "申请人须年满80周岁 / the applicant must be 80 or older"}]})
    );
    assert_eq!(
        model.input_fields(),
        vec![
            "applicant.age",
            "applicant.already_receiving",
            "applicant.hukou_in_district"
        ]
    );
}

#[test]
fn elderly_allowance_trace_shows_why_a_missing_age_did_not_match_the_age_row() {
    let model = parse(ELDERLY_ALLOWANCE);
    let evaluation = run(
        &model,
        &json!({"applicant": {"hukou_in_district": true, "already_receiving": false}}),
    );
    assert!(
        evaluation.has_cell_errors(),
        "`< 80` on null must be reported"
    );
    let table = &evaluation.trace[1];
    let age_row = &table.rows[0];
    assert_eq!((age_row.id.as_str(), age_row.matched), ("age", false));
    let age_cell = &age_row.cells[0];
    assert_eq!(age_cell.value, Value::Null);
    assert!(!age_cell.result);
    assert!(age_cell.error.is_some(), "cell: {age_cell:?}");
}

#[test]
fn food_licence_cases() {
    let model = parse(FOOD_LICENCE);
    let good = json!({
        "enterprise": {"credit": "good", "has_business_licence": true},
        "form": {"premises_area": 35.5, "health_certificates": 3}
    });
    let with = |path: &str, value: Value| {
        let mut input = good.clone();
        let (section, field) = path.split_once('.').unwrap_or(("", path));
        input[section][field] = value;
        input
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("a compliant enterprise", good.clone(), vec![]),
        (
            "bad credit",
            with("enterprise.credit", json!("poor")),
            vec!["credit"],
        ),
        (
            "credit unknown",
            with("enterprise.credit", Value::Null),
            vec!["credit"],
        ),
        (
            "no business licence",
            with("enterprise.has_business_licence", json!(false)),
            vec!["business_licence"],
        ),
        (
            "licence unknown",
            with("enterprise.has_business_licence", Value::Null),
            vec!["business_licence"],
        ),
        (
            "premises too small",
            with("form.premises_area", json!(19.9)),
            vec!["premises_area"],
        ),
        (
            "exactly 20 m² is enough",
            with("form.premises_area", json!(20)),
            vec![],
        ),
        (
            "premises area missing",
            with("form.premises_area", Value::Null),
            vec!["premises_area"],
        ),
        (
            "no health certificate",
            with("form.health_certificates", json!(0)),
            vec!["health_certificates"],
        ),
        (
            "health certificates missing",
            with("form.health_certificates", Value::Null),
            vec!["health_certificates"],
        ),
        (
            "nothing supplied",
            json!({}),
            vec![
                "credit",
                "business_licence",
                "premises_area",
                "health_certificates",
            ],
        ),
    ];
    for (name, input, expected) in cases {
        let evaluation = run(&model, &input);
        assert_eq!(failure_codes(&evaluation.output), expected, "case: {name}");
        assert_eq!(
            evaluation.output["approved"],
            json!(expected.is_empty()),
            "case: {name}"
        );
        assert!(
            !evaluation.has_cell_errors(),
            "`null, < n` never errors; case: {name}"
        );
    }
}
