//! Unit tests: the two real-world fixtures in `tests/data/`, model validation, evaluation
//! semantics, and the zen behaviours callers rely on (how `null` meets unary tests).
//! Shared helpers for building small JDM documents live here.

mod fixtures;
mod semantics;
mod validation;
mod zen_behaviour;

use serde_json::{Value, json};

use crate::{Evaluation, Model, RuleError};

/// Parses a model that the test expects to be valid.
fn model(document: &Value) -> Model {
    match Model::parse(&document.to_string()) {
        Ok(model) => model,
        Err(error) => panic!("model should parse: {error}"),
    }
}

/// Parses a model that the test expects to be refused, returning why.
fn refused(document: &Value) -> RuleError {
    match Model::parse(&document.to_string()) {
        Ok(_) => panic!("model should be refused: {document}"),
        Err(error) => error,
    }
}

/// Evaluates, expecting success.
fn run(model: &Model, input: &Value) -> Evaluation {
    match model.evaluate(input) {
        Ok(evaluation) => evaluation,
        Err(error) => panic!("evaluation should succeed: {error}"),
    }
}

/// A JDM document `in -> nodes[0] -> nodes[1] -> ... -> out`.
fn chain(nodes: Vec<Value>) -> Value {
    let mut all = vec![json!({"id": "in", "type": "inputNode", "name": "输入"})];
    all.extend(nodes);
    all.push(json!({"id": "out", "type": "outputNode", "name": "输出"}));
    let edges: Vec<Value> = all
        .windows(2)
        .enumerate()
        .map(|(index, pair)| {
            json!({"id": format!("e{index}"), "sourceId": pair[0]["id"], "targetId": pair[1]["id"]})
        })
        .collect();
    json!({"contentType": "application/vnd.gorules.decision", "nodes": all, "edges": edges})
}

/// A decision-table node. `inputs` and `outputs` are `(id, field)` pairs (the name is the
/// id upper-cased); `rules` are rows keyed by column id, `_id` included.
fn table(
    id: &str,
    hit_policy: &str,
    inputs: &[(&str, &str)],
    outputs: &[(&str, &str)],
    rules: Value,
) -> Value {
    let column =
        |(id, field): &(&str, &str)| json!({"id": id, "name": id.to_uppercase(), "field": field});
    json!({
        "id": id,
        "type": "decisionTableNode",
        "name": format!("table {id}"),
        "content": {
            "hitPolicy": hit_policy,
            "inputs": inputs.iter().map(column).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(column).collect::<Vec<_>>(),
            "rules": rules,
        }
    })
}

/// An expression node from `(key, value)` lines.
fn expressions(id: &str, lines: &[(&str, &str)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(index, (key, value))| json!({"id": format!("x{index}"), "key": key, "value": value}))
        .collect();
    json!({"id": id, "type": "expressionNode", "name": format!("expressions {id}"), "content": {"expressions": lines}})
}
