//! Decision models for instant approval (秒批) of government services.
//!
//! A model is a [GoRules JDM](https://gorules.io/docs/rules-engine/json-decision-model)
//! document (JSON Decision Model), as drawn in the open-source JDM editor, restricted to a
//! small, auditable subset and evaluated with the `zen-expression` language (not
//! `zen-engine`, which embeds a JavaScript runtime).
//!
//! # Architecture invariant
//!
//! This crate is pure computation: JSON text in, [`Model`]; JSON value in, [`Evaluation`]
//! out. It deliberately knows nothing about where models or applications come from or go:
//! no I/O of any kind (files, network, HTTP, databases, environment variables), no storage,
//! no clock, and no scripting. Expressions that would read the machine's clock, time zone or
//! randomness (`d()`, `date()`, date methods, `rand()`) are refused when the model is parsed,
//! so the same input always yields the same decision and a stored trace can be replayed.
//! Callers pass "today" (or a computed age) in the input.
//!
//! # Supported subset
//!
//! * `inputNode` (exactly one) emits the input document; `outputNode` (exactly one) emits
//!   the decision.
//! * `decisionTableNode` with `hitPolicy` `first` or `collect`. Each input column has a
//!   `field`, a dotted path into the node's input (`applicant.age`; a missing path reads as
//!   `null`). Input cells are zen *unary* expressions where `$` is that value (`< 80`,
//!   `'a', 'b'`, `[1..10]`, `!= 'good'`, `null`); a blank cell matches anything. Output
//!   cells are ordinary expressions over the node input, written at the output column's
//!   dotted `field`. `first` yields the first matching row's object (nothing, `{}`, when no
//!   row matches); `collect` yields the array of every matching row's object and must set
//!   `outputPath`. `outputPath` places the result at a dotted path; `passThrough: true`
//!   deep-merges the result over the node's input.
//! * `expressionNode`: `expressions` of `{key, value}`, evaluated in order over the node
//!   input, each written at its dotted `key`; earlier results are visible as `$.key`.
//!   `outputPath` and `passThrough` as for tables.
//! * Every other node type (`functionNode`, `decisionNode`, `switchNode`, `customNode`,
//!   anything unknown) is refused with [`RuleError::ForbiddenNode`], as is JDM's loop mode.
//!
//! Nodes run in topological order (ties in document order). A node's input is the deep
//! merge of its predecessors' outputs in edge order: objects merge key by key, later
//! predecessors win, anything else is replaced. The graph must have no cycles, and every
//! node must be reachable from the input node and reach the output node. Size limits:
//! [`MAX_DOCUMENT_BYTES`], [`MAX_NODES`], [`MAX_ROWS`], [`MAX_COLUMNS`], [`MAX_EXPRESSIONS`],
//! [`MAX_EXPRESSION_BYTES`], [`MAX_NESTING`], [`MAX_PATH_SEGMENTS`], [`MAX_VALUE_DEPTH`].
//!
//! # Convention for approval rules
//!
//! Write the rules as a **`collect` table of refusal reasons** with `outputPath: "failures"`.
//! Each row is one reason to refuse; its output columns are `rule` (a stable code such as
//! `'age'`) and `reason` (plain language, Chinese then English). An application is approved
//! when `failures` is `[]`, and the reasons can be shown to the applicant as they are.
//! Output cells are expressions, so texts are quoted: `"..."` (escaped as `\"` in JSON)
//! when the English contains an apostrophe, otherwise `'...'` reads more easily.
//!
//! **Missing data must not pass silently.** In zen a comparison on `null` (or on the wrong
//! type) is an evaluation error, and this crate, like zen-engine, treats a failing cell as
//! "no match". So `< 80` does *not* match a missing age. Either add a row whose cell is
//! `null` (matches exactly `null`/missing), or write the cell as `null, < 80` (the list is
//! tried left to right and stops at the first match, so `null` must come first). Equality
//! cells are safe: `!= 'good'` and `!= true` match `null` too (`not('good')` is boolean
//! negation in zen, an error on text; use `!=` or `not in [...]`). [`Evaluation::has_cell_errors`]
//! tells a caller that some cell could not be judged. See `tests/data/` for two examples.
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use wanxiang_rules::Model;
//!
//! let jdm = json!({
//!     "nodes": [
//!         {"id": "in", "type": "inputNode", "name": "申请"},
//!         {"id": "rules", "type": "decisionTableNode", "name": "不予批准的情形", "content": {
//!             "hitPolicy": "collect", "outputPath": "failures",
//!             "inputs": [{"id": "age", "name": "年龄", "field": "applicant.age"}],
//!             "outputs": [{"id": "rule", "name": "规则", "field": "rule"}],
//!             "rules": [
//!                 {"_id": "too_young", "age": "< 80", "rule": "'age'"},
//!                 {"_id": "age_missing", "age": "null", "rule": "'age_missing'"}
//!             ]
//!         }},
//!         {"id": "out", "type": "outputNode", "name": "决定"}
//!     ],
//!     "edges": [
//!         {"id": "e1", "sourceId": "in", "targetId": "rules"},
//!         {"id": "e2", "sourceId": "rules", "targetId": "out"}
//!     ]
//! });
//! let model = Model::parse(&jdm.to_string())?;
//! assert_eq!(model.input_fields(), ["applicant.age"]);
//!
//! let decision = model.evaluate(&json!({"applicant": {"age": 79}}))?;
//! assert_eq!(decision.output, json!({"failures": [{"rule": "age"}]}));
//! let decision = model.evaluate(&json!({"applicant": {}}))?;
//! assert_eq!(decision.output, json!({"failures": [{"rule": "age_missing"}]}));
//! # Ok::<(), wanxiang_rules::RuleError>(())
//! ```

#![warn(missing_docs)]

mod document;
mod error;
mod evaluate;
mod guard;
mod model;
mod paths;
mod trace;

#[cfg(test)]
mod tests;

pub use error::RuleError;
pub use model::{
    MAX_COLUMNS, MAX_DOCUMENT_BYTES, MAX_EXPRESSION_BYTES, MAX_EXPRESSIONS, MAX_NESTING, MAX_NODES,
    MAX_PATH_SEGMENTS, MAX_ROWS, MAX_VALUE_DEPTH, Model,
};
pub use trace::{CellTrace, Evaluation, NodeTrace, RowTrace};

/// Compile-time proof that a parsed model can be shared across threads (it holds zen's
/// compiled bytecode, which is `Arc`-based).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
};
