//! The JDM document as it is written on disk (serde shapes only, no checks): what
//! [`crate::Model::parse`] reads before validating and compiling. Unknown keys — `position`,
//! `contentType`, editor metadata — are ignored, so documents straight from the GoRules
//! editor load unchanged.

use serde::Deserialize;
use serde_json::{Map, Value};

/// The whole JDM document.
#[derive(Debug, Deserialize)]
pub(crate) struct RawDocument {
    /// Every node of the graph, in document order (the order ties are broken in).
    pub(crate) nodes: Vec<RawNode>,
    /// The graph's edges; their order is the order predecessor outputs are merged in.
    #[serde(default)]
    pub(crate) edges: Vec<RawEdge>,
}

/// One node, with its type-specific `content` left as JSON until its type is known.
#[derive(Debug, Deserialize)]
pub(crate) struct RawNode {
    /// Unique id, referenced by edges and reported in errors and traces.
    pub(crate) id: String,
    /// The JDM node type (`inputNode`, `decisionTableNode`, ...).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Human name shown in the editor and in traces.
    #[serde(default)]
    pub(crate) name: String,
    /// Type-specific content; absent for input and output nodes.
    #[serde(default)]
    pub(crate) content: Option<Value>,
}

/// One edge; handles (used by switch nodes) are ignored since switch nodes are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEdge {
    /// Node the data comes from.
    pub(crate) source_id: String,
    /// Node the data goes to.
    pub(crate) target_id: String,
}

/// Content of a `decisionTableNode`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawTable {
    /// `first` or `collect`; kept as text so an unknown policy gets a clear message.
    pub(crate) hit_policy: String,
    /// Condition columns.
    pub(crate) inputs: Vec<RawColumn>,
    /// Result columns.
    pub(crate) outputs: Vec<RawColumn>,
    /// Rows: objects keyed by column id, plus `_id` and optional `_description`.
    pub(crate) rules: Vec<Map<String, Value>>,
    /// Where the table's result is placed in the node output.
    #[serde(default)]
    pub(crate) output_path: Option<String>,
    /// Whether the node's input flows through to its output.
    #[serde(default)]
    pub(crate) pass_through: bool,
    /// JDM's "loop over an array" source; not supported, refused when set.
    #[serde(default)]
    pub(crate) input_field: Option<String>,
    /// JDM's `single` / `loop`; only `single` is supported.
    #[serde(default)]
    pub(crate) execution_mode: Option<String>,
}

/// A decision-table column (input or output).
#[derive(Debug, Deserialize)]
pub(crate) struct RawColumn {
    /// Key of this column's cell in every row.
    pub(crate) id: String,
    /// Header shown to people (and in traces).
    #[serde(default)]
    pub(crate) name: String,
    /// Dotted path read (input) or written (output).
    #[serde(default)]
    pub(crate) field: Option<String>,
}

/// Content of an `expressionNode`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawExpressions {
    /// The `key = value` lines, evaluated in order.
    pub(crate) expressions: Vec<RawExpression>,
    /// Where the node's result is placed in its output.
    #[serde(default)]
    pub(crate) output_path: Option<String>,
    /// Whether the node's input flows through to its output.
    #[serde(default)]
    pub(crate) pass_through: bool,
    /// JDM's loop source; not supported, refused when set.
    #[serde(default)]
    pub(crate) input_field: Option<String>,
    /// JDM's `single` / `loop`; only `single` is supported.
    #[serde(default)]
    pub(crate) execution_mode: Option<String>,
}

/// One line of an expression node.
#[derive(Debug, Deserialize)]
pub(crate) struct RawExpression {
    /// Dotted path the value is written to.
    pub(crate) key: String,
    /// Standard expression producing the value.
    pub(crate) value: String,
}
