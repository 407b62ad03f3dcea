//! What `Model::parse` refuses, and that each refusal names the node (and cell) at fault.

use serde_json::{Value, json};

use super::{chain, expressions, model, refused, table};
use crate::{MAX_DOCUMENT_BYTES, MAX_NODES, MAX_ROWS, Model, RuleError};

/// A one-row first-hit table reading `a` and writing `b`, valid on its own.
fn small_table(id: &str) -> Value {
    table(
        id,
        "first",
        &[("ci", "a")],
        &[("co", "b")],
        json!([{"_id": "r1", "ci": "> 1", "co": "1"}]),
    )
}

/// The message of an `Invalid` error and the node it names.
fn invalid(error: RuleError) -> (Option<String>, String) {
    match error {
        RuleError::Invalid { node, message } => (node, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn scripting_and_sub_decision_nodes_are_forbidden() {
    for kind in [
        "functionNode",
        "decisionNode",
        "switchNode",
        "customNode",
        "somethingNew",
    ] {
        let document = chain(vec![json!({
            "id": "n1", "type": kind, "name": "x", "content": {"source": "export const handler = () => ({})"}
        })]);
        assert_eq!(
            refused(&document),
            RuleError::ForbiddenNode {
                id: "n1".into(),
                kind: kind.into()
            },
            "node type {kind}"
        );
    }
    let message = RuleError::ForbiddenNode {
        id: "n1".into(),
        kind: "functionNode".into(),
    }
    .to_string();
    assert!(
        message.starts_with("不允许节点类型 functionNode（节点 n1）"),
        "{message}"
    );
    assert!(
        message.contains("node type functionNode (node n1) is not allowed in approval rules"),
        "{message}"
    );
}

#[test]
fn cycles_are_refused() {
    let mut document = chain(vec![small_table("t1"), small_table("t2")]);
    document["edges"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("edges"))
        .push(json!({"id": "back", "sourceId": "t2", "targetId": "t1"}));
    let (node, message) = invalid(refused(&document));
    assert!(matches!(node.as_deref(), Some("t1" | "t2")), "{node:?}");
    assert!(message.contains("the graph has a cycle"), "{message}");

    let mut self_loop = chain(vec![small_table("t1")]);
    self_loop["edges"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("edges"))
        .push(json!({"id": "self", "sourceId": "t1", "targetId": "t1"}));
    assert_eq!(invalid(refused(&self_loop)).0.as_deref(), Some("t1"));
}

#[test]
fn bad_expressions_are_refused_with_node_and_cell_named() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "input cell",
            table(
                "t1",
                "first",
                &[("age", "a")],
                &[("co", "b")],
                json!([{"_id": "r1", "age": "< < 3", "co": "1"}]),
            ),
            "row r1, column age",
            "< < 3",
        ),
        (
            "output cell",
            table(
                "t1",
                "first",
                &[("ci", "a")],
                &[("out", "b")],
                json!([{"_id": "r1", "ci": "1", "out": "1 +"}]),
            ),
            "row r1, column out",
            "1 +",
        ),
        (
            "expression node",
            expressions("t1", &[("total", "a +* b")]),
            "expression total",
            "a +* b",
        ),
    ];
    for (name, node, expected_location, expected_expression) in cases {
        match refused(&chain(vec![node])) {
            RuleError::Expression {
                node,
                location,
                expression,
                message,
            } => {
                assert_eq!(node, "t1", "{name}");
                assert_eq!(location, expected_location, "{name}");
                assert_eq!(expression, expected_expression, "{name}");
                assert!(!message.is_empty(), "{name}");
            }
            other => panic!("{name}: expected Expression, got {other:?}"),
        }
    }
}

#[test]
fn clock_and_random_functions_are_refused() {
    for source in [
        "d()",
        "date('now')",
        "d('2024-01-01').isToday()",
        "rand(10)",
        "year(birth)",
        "[1, d()]",
    ] {
        match refused(&chain(vec![expressions("x", &[("v", source)])])) {
            RuleError::Expression { message, .. } => {
                assert!(message.contains("not allowed"), "{source}: {message}");
            }
            other => panic!("{source}: expected Expression, got {other:?}"),
        }
    }
    match refused(&chain(vec![table(
        "t",
        "first",
        &[("c", "a")],
        &[],
        json!([{"_id": "r", "c": "< date('now')"}]),
    )])) {
        RuleError::Expression { location, .. } => assert_eq!(location, "row r, column c"),
        other => panic!("expected Expression, got {other:?}"),
    }
    // Durations are constants, not the clock.
    model(&chain(vec![expressions(
        "x",
        &[("seconds", "duration('1h')")],
    )]));
}

#[test]
fn structural_mistakes_are_refused() {
    let two_inputs = {
        let mut document = chain(vec![]);
        document["nodes"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("nodes"))
            .push(json!({"id": "in2", "type": "inputNode", "name": "second"}));
        document
    };
    let dangling = {
        let mut document = chain(vec![small_table("t1")]);
        document["nodes"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("nodes"))
            .push(small_table("lonely"));
        document["edges"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("edges"))
            .push(json!({"id": "x", "sourceId": "in", "targetId": "lonely"}));
        document
    };
    let unreachable = {
        let mut document = chain(vec![small_table("t1")]);
        document["nodes"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("nodes"))
            .push(small_table("orphan"));
        document["edges"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("edges"))
            .push(json!({"id": "x", "sourceId": "orphan", "targetId": "out"}));
        document
    };
    let unknown_edge = {
        let mut document = chain(vec![]);
        document["edges"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("edges"))
            .push(json!({"id": "x", "sourceId": "in", "targetId": "ghost"}));
        document
    };
    let no_output = json!({"nodes": [{"id": "in", "type": "inputNode", "name": "i"}], "edges": []});
    let collect_without_path = table(
        "t1",
        "collect",
        &[("ci", "a")],
        &[("co", "b")],
        json!([{"_id": "r1", "ci": "1", "co": "1"}]),
    );
    let unknown_policy = table(
        "t1",
        "unique",
        &[("ci", "a")],
        &[("co", "b")],
        json!([{"_id": "r1", "ci": "1", "co": "1"}]),
    );
    let duplicate_columns = table(
        "t1",
        "first",
        &[("c", "a")],
        &[("c", "b")],
        json!([{"_id": "r1", "c": "1"}]),
    );
    let duplicate_rows = table(
        "t1",
        "first",
        &[("ci", "a")],
        &[("co", "b")],
        json!([{"_id": "r1", "ci": "1", "co": "1"}, {"_id": "r1", "ci": "2", "co": "2"}]),
    );
    let row_without_id = table(
        "t1",
        "first",
        &[("ci", "a")],
        &[("co", "b")],
        json!([{"ci": "1", "co": "1"}]),
    );
    let field_is_an_expression =
        table("t1", "first", &[("ci", "a + 1")], &[("co", "b")], json!([]));
    let mut looping = small_table("t1");
    looping["content"]["executionMode"] = json!("loop");
    looping["content"]["inputField"] = json!("items");

    let cases: Vec<(&str, Value, Option<&str>, &str)> = vec![
        (
            "two input nodes",
            two_inputs,
            Some("in2"),
            "exactly one input node",
        ),
        ("no output node", no_output, None, "no output node"),
        (
            "dangling node",
            dangling,
            Some("lonely"),
            "never reaches the output node",
        ),
        (
            "unreachable node",
            unreachable,
            Some("orphan"),
            "cannot be reached from the input node",
        ),
        (
            "edge to a missing node",
            unknown_edge,
            None,
            "node ghost, which does not exist",
        ),
        (
            "collect without outputPath",
            chain(vec![collect_without_path]),
            Some("t1"),
            "must set outputPath",
        ),
        (
            "unknown hit policy",
            chain(vec![unknown_policy]),
            Some("t1"),
            "unknown hit policy `unique`",
        ),
        (
            "duplicate column id",
            chain(vec![duplicate_columns]),
            Some("t1"),
            "duplicate column id `c`",
        ),
        (
            "duplicate row id",
            chain(vec![duplicate_rows]),
            Some("t1"),
            "duplicate row _id `r1`",
        ),
        (
            "row without _id",
            chain(vec![row_without_id]),
            Some("t1"),
            "row number 1 has no _id",
        ),
        (
            "field that is not a path",
            chain(vec![field_is_an_expression]),
            Some("t1"),
            "not a dotted path",
        ),
        (
            "loop mode",
            chain(vec![looping]),
            Some("t1"),
            "loop execution",
        ),
    ];
    for (name, document, expected_node, expected_text) in cases {
        let (node, message) = invalid(refused(&document));
        assert_eq!(node.as_deref(), expected_node, "{name}");
        assert!(message.contains(expected_text), "{name}: {message}");
        assert!(
            message.contains("/ "),
            "{name}: message must be Chinese / English: {message}"
        );
    }
}

#[test]
fn malformed_json_is_a_json_error() {
    for text in [
        "",
        "{",
        "[]",
        r#"{"nodes": "no"}"#,
        r#"{"nodes": [{"type": "inputNode"}]}"#,
    ] {
        assert!(
            matches!(Model::parse(text), Err(RuleError::Json(_))),
            "{text:?}"
        );
    }
}

#[test]
fn size_limits_are_enforced() {
    let huge = format!(
        "{{\"nodes\": [], \"padding\": \"{}\"}}",
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    assert!(matches!(Model::parse(&huge), Err(RuleError::TooLarge(_))));

    let many_nodes: Vec<Value> = (0..MAX_NODES)
        .map(|i| small_table(&format!("t{i}")))
        .collect();
    assert!(matches!(
        refused(&chain(many_nodes)),
        RuleError::TooLarge(_)
    ));

    let rows: Vec<Value> = (0..=MAX_ROWS)
        .map(|i| json!({"_id": format!("r{i}"), "ci": "1", "co": "1"}))
        .collect();
    let long_table = table(
        "t1",
        "first",
        &[("ci", "a")],
        &[("co", "b")],
        Value::Array(rows),
    );
    assert!(matches!(
        refused(&chain(vec![long_table])),
        RuleError::TooLarge(_)
    ));

    let columns: Vec<(String, String)> = (0..=crate::MAX_COLUMNS)
        .map(|i| (format!("c{i}"), format!("f{i}")))
        .collect();
    let columns: Vec<(&str, &str)> = columns
        .iter()
        .map(|(id, field)| (id.as_str(), field.as_str()))
        .collect();
    let wide_table = table("t1", "first", &columns, &[], json!([]));
    assert!(matches!(
        refused(&chain(vec![wide_table])),
        RuleError::TooLarge(_)
    ));
}

#[test]
fn expressions_are_bounded_in_length_and_nesting() {
    let deep = format!(
        "{}1{}",
        "[".repeat(crate::MAX_NESTING + 1),
        "]".repeat(crate::MAX_NESTING + 1)
    );
    let long = format!("'{}'", "x".repeat(crate::MAX_EXPRESSION_BYTES));
    for (name, source) in [("nesting", deep), ("length", long)] {
        match refused(&chain(vec![expressions("x", &[("v", &source)])])) {
            RuleError::TooLarge(message) => {
                assert!(
                    message.contains("node x, expression v"),
                    "{name}: {message}"
                )
            }
            other => panic!("{name}: expected TooLarge, got {other:?}"),
        }
    }
    // Brackets inside strings are text, not nesting.
    let brackets_in_text = format!("'{}'", "(".repeat(crate::MAX_NESTING + 1));
    model(&chain(vec![expressions("x", &[("v", &brackets_in_text)])]));

    let long_path = vec!["a"; crate::MAX_PATH_SEGMENTS + 1].join(".");
    let (node, message) = invalid(refused(&chain(vec![expressions(
        "x",
        &[(&long_path, "1")],
    )])));
    assert_eq!(node.as_deref(), Some("x"));
    assert!(message.contains("at most"), "{message}");
}
