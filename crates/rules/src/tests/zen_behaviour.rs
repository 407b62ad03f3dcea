//! Pins the zen-expression behaviour that approval rules depend on, so an upgrade that
//! changes it fails here first: how unary cells treat `null`, missing fields and wrong
//! types, and how to write "not equal" and "is null".

use serde_json::{Value, json};

use super::{chain, model, run, table};

/// Whether a one-cell table with `cell` matches `value`, and whether the cell errored.
fn judge(cell: &str, value: Value) -> (bool, bool) {
    let node = table(
        "t",
        "collect",
        &[("c", "v")],
        &[("o", "hit")],
        json!([{"_id": "r", "c": cell, "o": "true"}]),
    );
    let mut node = node;
    node["content"]["outputPath"] = json!("hits");
    let evaluation = run(&model(&chain(vec![node])), &json!({"v": value}));
    let cell = &evaluation.trace[1].rows[0].cells[0];
    (cell.result, cell.error.is_some())
}

#[test]
fn unary_cells_against_null_and_wrong_types() {
    // (cell, value, matched, errored)
    let cases: Vec<(&str, Value, bool, bool)> = vec![
        // Ordering comparisons on null or text are errors, so they never match.
        ("< 80", json!(79), true, false),
        ("< 80", Value::Null, false, true),
        ("< 80", json!("79"), false, true),
        ("[1..10]", Value::Null, false, true),
        // "is null": a bare `null` (or `== null`).
        ("null", Value::Null, true, false),
        ("== null", Value::Null, true, false),
        ("null", json!(0), false, false),
        // "missing or too small": null first; the list stops at the first match.
        ("null, < 80", Value::Null, true, false),
        ("null, < 80", json!(79), true, false),
        ("null, < 80", json!(81), false, false),
        ("< 80, null", Value::Null, false, true),
        // "not equal": `!=` and `not in` match null as well.
        ("!= 'good'", json!("good"), false, false),
        ("!= 'good'", json!("poor"), true, false),
        ("!= 'good'", Value::Null, true, false),
        ("not in ['good', 'excellent']", Value::Null, true, false),
        // `not(...)` is boolean negation, not "not equal": on a string it is an error.
        ("not('good')", json!("poor"), false, true),
        // Booleans: `false` does not match null, `!= true` does.
        ("false", Value::Null, false, false),
        ("!= true", Value::Null, true, false),
        ("!= true", json!(false), true, false),
        // Lists of values are OR-ed equality.
        ("'a', 'b'", json!("b"), true, false),
        ("'a', 'b'", Value::Null, false, false),
    ];
    for (cell, value, matched, errored) in cases {
        assert_eq!(
            judge(cell, value.clone()),
            (matched, errored),
            "cell {cell:?} with {value}"
        );
    }
}

#[test]
fn missing_fields_read_as_null() {
    let node = table(
        "t",
        "first",
        &[("c", "deep.path.here")],
        &[("o", "found")],
        json!([{"_id": "r", "c": "null", "o": "true"}]),
    );
    let evaluation = run(&model(&chain(vec![node])), &json!({"deep": {"path": 3}}));
    assert_eq!(evaluation.output, json!({"found": true}));
    assert_eq!(evaluation.trace[1].rows[0].cells[0].value, Value::Null);
}

#[test]
fn unary_cells_can_compare_with_other_input_fields() {
    let node = table(
        "t",
        "first",
        &[("c", "income")],
        &[("o", "ok")],
        json!([{"_id": "r", "c": "<= limits.income", "o": "true"}]),
    );
    let model = model(&chain(vec![node]));
    assert_eq!(
        run(&model, &json!({"income": 100, "limits": {"income": 200}})).output,
        json!({"ok": true})
    );
    assert_eq!(
        run(&model, &json!({"income": 300, "limits": {"income": 200}})).output,
        json!({})
    );
}
