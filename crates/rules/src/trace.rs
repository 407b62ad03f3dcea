//! What an evaluation returns: the decision ([`Evaluation::output`]) and the trace that
//! explains it, node by node, row by row, cell by cell. These types are plain data with
//! serde derives so a caller can store the trace next to the application it decided.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of evaluating a [`crate::Model`] against one input document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The output node's result: the decision document (for refusal-reason tables, an
    /// object whose `outputPath` array is empty when the application passes).
    pub output: Value,
    /// One entry per node in evaluation order (input node first, output node last), so the
    /// decision can be explained and audited later.
    pub trace: Vec<NodeTrace>,
}

impl Evaluation {
    /// Whether any table cell failed to evaluate (for example `< 80` on a missing or
    /// textual value). Such cells count as "no match", so a caller that must not decide on
    /// incomplete data should send these applications to a person instead.
    pub fn has_cell_errors(&self) -> bool {
        self.trace
            .iter()
            .flat_map(|node| &node.rows)
            .flat_map(|row| &row.cells)
            .any(|cell| cell.error.is_some())
    }
}

/// What one node did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTrace {
    /// The node's JDM id, to find it in the editor.
    pub id: String,
    /// The node's JDM name, for people reading the trace.
    pub name: String,
    /// The node's JDM type (`inputNode`, `decisionTableNode`, `expressionNode`, `outputNode`).
    pub kind: String,
    /// The node's output (after `outputPath` and `passThrough`).
    pub output: Value,
    /// For decision tables, every row with every cell; empty for other nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<RowTrace>,
}

/// How one decision-table row was judged. Every row is evaluated, even after a first-hit
/// table has found its row, so the trace shows why each rule did or did not apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowTrace {
    /// The row's `_id`.
    pub id: String,
    /// The row's `_description`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether every input cell of the row matched.
    pub matched: bool,
    /// Whether the row's outputs went into the result: every matching row of a collect
    /// table, only the first matching row of a first-hit table.
    pub used: bool,
    /// One entry per input column, in column order, including empty (match-anything) cells.
    pub cells: Vec<CellTrace>,
}

/// How one input cell was judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellTrace {
    /// The column's name (its header), for people.
    pub column: String,
    /// The dotted path the column reads, for programs.
    pub field: String,
    /// The unary expression in the cell; empty for a cell that matches anything.
    pub expression: String,
    /// The value of `$`: what was found at `field` (`null` when the path is missing).
    pub value: Value,
    /// Whether the cell matched.
    pub result: bool,
    /// Why the cell could not be evaluated (then `result` is false), e.g. comparing `null`
    /// with `< 80`. Kept so "no match because of missing data" is visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
