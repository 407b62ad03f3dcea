//! Evaluation semantics on small models: hit policies, expression nodes, `outputPath`,
//! `passThrough`, merging of several predecessors, and the trace.

use serde_json::{Value, json};

use super::{chain, expressions, model, run, table};
use crate::{CellTrace, Evaluation, RuleError};

/// A first-hit table grading `score` into `grade.letter` (+ `grade.points`).
fn grading_table() -> Value {
    table(
        "grade",
        "first",
        &[("score", "score")],
        &[("letter", "grade.letter"), ("points", "grade.points")],
        json!([
            {"_id": "a", "_description": "top band", "score": ">= 90", "letter": "'A'", "points": "score / 10"},
            {"_id": "b", "score": "[75..90)", "letter": "'B'", "points": "score / 10"},
            {"_id": "c", "score": ">= 60", "letter": "'C'", "points": ""}
        ]),
    )
}

#[test]
fn first_hit_table_returns_the_first_matching_row() {
    let model = model(&chain(vec![grading_table()]));
    let cases = [
        (json!(95), json!({"grade": {"letter": "A", "points": 9.5}})),
        (json!(80), json!({"grade": {"letter": "B", "points": 8}})),
        (json!(90), json!({"grade": {"letter": "A", "points": 9}})),
        (json!(60), json!({"grade": {"letter": "C"}})),
        (json!(10), json!({})),
        (Value::Null, json!({})),
    ];
    for (score, expected) in cases {
        assert_eq!(
            run(&model, &json!({"score": score})).output,
            expected,
            "score {score}"
        );
    }
}

#[test]
fn first_hit_table_with_output_path_and_no_match_writes_nothing() {
    let mut node = grading_table();
    node["content"]["outputPath"] = json!("result");
    let model = model(&chain(vec![node]));
    assert_eq!(
        run(&model, &json!({"score": 99})).output["result"]["grade"]["letter"],
        json!("A")
    );
    assert_eq!(run(&model, &json!({"score": 1})).output, json!({}));
}

#[test]
fn expression_node_writes_dotted_keys_and_sees_earlier_results_as_dollar() {
    let node = expressions(
        "calc",
        &[
            ("household.size", "len(members)"),
            ("household.income", "sum(map(members, #.income))"),
            ("per_person", "$.household.income / $.household.size"),
            (
                "label",
                "applicant.name + '（' + string($.household.size) + ' 人）'",
            ),
        ],
    );
    let model = model(&chain(vec![node]));
    let input =
        json!({"applicant": {"name": "张三"}, "members": [{"income": 3000}, {"income": 1000}]});
    assert_eq!(
        run(&model, &input).output,
        json!({"household": {"size": 2, "income": 4000}, "per_person": 2000, "label": "张三（2 人）"})
    );
}

#[test]
fn pass_through_merges_the_result_over_the_input() {
    let mut node = expressions("calc", &[("applicant.adult", "applicant.age >= 18")]);
    let input = json!({"applicant": {"age": 30, "name": "李四"}, "form": {"x": 1}});

    let without = model(&chain(vec![node.clone()]));
    assert_eq!(
        run(&without, &input).output,
        json!({"applicant": {"adult": true}})
    );

    node["content"]["passThrough"] = json!(true);
    let with = model(&chain(vec![node.clone()]));
    assert_eq!(
        run(&with, &input).output,
        json!({"applicant": {"age": 30, "name": "李四", "adult": true}, "form": {"x": 1}})
    );

    node["content"]["outputPath"] = json!("computed");
    let with_path = model(&chain(vec![node]));
    let output = run(&with_path, &input).output;
    assert_eq!(output["computed"], json!({"applicant": {"adult": true}}));
    assert_eq!(output["form"], json!({"x": 1}));
}

#[test]
fn outputs_of_two_tables_are_deep_merged_into_the_output() {
    let age = table(
        "age_check",
        "collect",
        &[("age", "age")],
        &[("rule", "rule")],
        json!([{"_id": "young", "age": "< 18", "rule": "'age'"}]),
    );
    let mut age = age;
    age["content"]["outputPath"] = json!("checks.age");
    let income = table(
        "income_check",
        "first",
        &[("income", "income")],
        &[("band", "checks.income.band"), ("shared", "shared")],
        json!([
            {"_id": "low", "income": "< 3000", "band": "'low'", "shared": "'from income'"},
            {"_id": "high", "income": "", "band": "'high'", "shared": "'from income'"}
        ]),
    );
    let document = json!({
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "in"},
            age,
            income,
            {"id": "out", "type": "outputNode", "name": "out"}
        ],
        "edges": [
            {"id": "1", "sourceId": "in", "targetId": "age_check"},
            {"id": "2", "sourceId": "in", "targetId": "income_check"},
            {"id": "3", "sourceId": "age_check", "targetId": "out"},
            {"id": "4", "sourceId": "income_check", "targetId": "out"}
        ]
    });
    let model = model(&document);
    assert_eq!(model.input_fields(), vec!["age", "income"]);
    let evaluation = run(&model, &json!({"age": 16, "income": 2000}));
    assert_eq!(
        evaluation.output,
        json!({"checks": {"age": [{"rule": "age"}], "income": {"band": "low"}}, "shared": "from income"})
    );
    let order: Vec<&str> = evaluation
        .trace
        .iter()
        .map(|node| node.id.as_str())
        .collect();
    assert_eq!(order, ["in", "age_check", "income_check", "out"]);
}

#[test]
fn later_predecessors_win_conflicts_in_edge_order() {
    let first = expressions("first", &[("x", "'first'"), ("only_first", "1")]);
    let second = expressions("second", &[("x", "'second'")]);
    let document = |edges: Value| {
        json!({
            "nodes": [
                {"id": "in", "type": "inputNode", "name": "in"},
                first, second,
                {"id": "out", "type": "outputNode", "name": "out"}
            ],
            "edges": edges
        })
    };
    let forward = model(&document(json!([
        {"id": "1", "sourceId": "in", "targetId": "first"},
        {"id": "2", "sourceId": "in", "targetId": "second"},
        {"id": "3", "sourceId": "first", "targetId": "out"},
        {"id": "4", "sourceId": "second", "targetId": "out"}
    ])));
    assert_eq!(
        run(&forward, &json!({})).output,
        json!({"x": "second", "only_first": 1})
    );
    let reversed = model(&document(json!([
        {"id": "1", "sourceId": "in", "targetId": "first"},
        {"id": "2", "sourceId": "in", "targetId": "second"},
        {"id": "4", "sourceId": "second", "targetId": "out"},
        {"id": "3", "sourceId": "first", "targetId": "out"}
    ])));
    assert_eq!(
        run(&reversed, &json!({})).output,
        json!({"x": "first", "only_first": 1})
    );
}

#[test]
fn trace_lists_every_row_and_every_cell() {
    let node = table(
        "t",
        "first",
        &[("kind", "applicant.kind"), ("age", "applicant.age")],
        &[("out", "result")],
        json!([
            {"_id": "r1", "_description": "student", "kind": "'student'", "age": "< 30", "out": "'student'"},
            {"_id": "r2", "kind": "", "age": ">= 18", "out": "'adult'"},
            {"_id": "r3", "kind": "'worker'", "out": "'worker'"}
        ]),
    );
    let model = model(&chain(vec![node]));
    let evaluation = run(&model, &json!({"applicant": {"kind": "worker", "age": 40}}));
    assert_eq!(evaluation.output, json!({"result": "adult"}));

    let kinds: Vec<&str> = evaluation
        .trace
        .iter()
        .map(|node| node.kind.as_str())
        .collect();
    assert_eq!(kinds, ["inputNode", "decisionTableNode", "outputNode"]);
    let rows = &evaluation.trace[1].rows;
    let summary: Vec<(&str, bool, bool, usize)> = rows
        .iter()
        .map(|row| (row.id.as_str(), row.matched, row.used, row.cells.len()))
        .collect();
    // r1 fails on its first cell, yet its second cell is still evaluated and traced;
    // r3 matches too but a first-hit table only uses r2.
    assert_eq!(
        summary,
        [
            ("r1", false, false, 2),
            ("r2", true, true, 2),
            ("r3", true, false, 2)
        ]
    );
    assert_eq!(rows[0].description.as_deref(), Some("student"));

    let cell =
        |column: &str, field: &str, expression: &str, value: Value, result: bool| CellTrace {
            column: column.into(),
            field: field.into(),
            expression: expression.into(),
            value,
            result,
            error: None,
        };
    assert_eq!(
        rows[0].cells,
        [
            cell(
                "KIND",
                "applicant.kind",
                "'student'",
                json!("worker"),
                false
            ),
            cell("AGE", "applicant.age", "< 30", json!(40), false),
        ]
    );
    assert_eq!(
        rows[1].cells[0],
        cell("KIND", "applicant.kind", "", json!("worker"), true)
    );
    assert_eq!(
        rows[2].cells[1],
        cell("AGE", "applicant.age", "", json!(40), true)
    );
}

#[test]
fn trace_round_trips_through_json() {
    let model = model(&chain(vec![grading_table()]));
    let evaluation = run(&model, &json!({"score": "not a number"}));
    assert!(evaluation.has_cell_errors());
    let stored = serde_json::to_string(&evaluation).unwrap_or_else(|e| panic!("serialise: {e}"));
    let restored: Evaluation =
        serde_json::from_str(&stored).unwrap_or_else(|e| panic!("deserialise: {e}"));
    assert_eq!(restored, evaluation);
}

#[test]
fn failing_output_expressions_stop_evaluation_with_the_node_named() {
    let node = table(
        "t",
        "first",
        &[("c", "a")],
        &[("o", "b")],
        json!([{"_id": "r1", "c": "", "o": "missing + 1"}]),
    );
    let model = model(&chain(vec![node]));
    match model.evaluate(&json!({"a": 1})) {
        Err(RuleError::Evaluation { node, message }) => {
            assert_eq!(node, "t");
            assert!(message.contains("row r1, column o"), "{message}");
        }
        other => panic!("expected Evaluation error, got {other:?}"),
    }
}

#[test]
fn input_must_be_an_object_of_representable_numbers() {
    let model = model(&chain(vec![grading_table()]));
    for input in [
        json!([1, 2]),
        json!("text"),
        Value::Null,
        json!({"score": 1e40}),
    ] {
        match model.evaluate(&input) {
            Err(RuleError::Evaluation { node, .. }) => assert_eq!(node, "in", "{input}"),
            other => panic!("{input}: expected Evaluation error, got {other:?}"),
        }
    }
}

#[test]
fn a_model_is_shared_across_threads() {
    let model = std::sync::Arc::new(model(&chain(vec![grading_table()])));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let model = std::sync::Arc::clone(&model);
            std::thread::spawn(move || {
                model
                    .evaluate(&json!({"score": 70 + i * 10}))
                    .map(|e| e.output)
            })
        })
        .collect();
    let letters: Vec<Value> = handles
        .into_iter()
        .map(|handle| match handle.join() {
            Ok(Ok(output)) => output["grade"]["letter"].clone(),
            other => panic!("thread failed: {other:?}"),
        })
        .collect();
    assert_eq!(letters, [json!("C"), json!("B"), json!("A"), json!("A")]);
}

#[test]
fn values_nested_too_deeply_are_refused_instead_of_exhausting_the_stack() {
    let model = model(&chain(vec![grading_table()]));
    let mut deep = json!(1);
    for _ in 0..=crate::MAX_VALUE_DEPTH {
        deep = json!([deep]);
    }
    match model.evaluate(&json!({"score": 1, "deep": deep})) {
        Err(RuleError::Evaluation { node, message }) => {
            assert_eq!(node, "in");
            assert!(message.contains("deeper than"), "{message}");
        }
        other => panic!("expected Evaluation error, got {other:?}"),
    }

    // Each line may nest at most MAX_NESTING brackets, but lines can build on each other.
    let wrap = |inner: String| format!("{}{inner}{}", "[".repeat(30), "]".repeat(30));
    let mut lines = vec![("k0".to_owned(), wrap("1".to_owned()))];
    for i in 1..10 {
        lines.push((format!("k{i}"), wrap(format!("$.k{}", i - 1))));
    }
    let lines: Vec<(&str, &str)> = lines
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let builder = super::model(&chain(vec![expressions("grow", &lines)]));
    match builder.evaluate(&json!({})) {
        Err(RuleError::Evaluation { node, message }) => {
            assert_eq!(node, "grow");
            assert!(message.contains("expression k4"), "{message}");
        }
        other => panic!("expected Evaluation error, got {other:?}"),
    }
}
