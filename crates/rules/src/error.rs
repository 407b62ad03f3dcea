//! The one error type of this crate, [`RuleError`]: everything that can be wrong with a
//! decision model (found once, by [`crate::Model::parse`]) or with one evaluation.

/// Why a decision model was refused, or why an evaluation could not finish.
///
/// Messages are Chinese first, then English, so they can be shown to the clerk who
/// maintains the rules as well as logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The document is not JSON, or its top level is not shaped like a JDM document
    /// (`nodes` / `edges` arrays of objects with `id`, `type`, ...). Holds serde's message.
    #[error(
        "JDM 文档不是合法的 JSON 或结构不对：{0} / the JDM document is not valid JSON or is not shaped like JDM: {0}"
    )]
    Json(String),

    /// A node type outside the approved subset: scripting (`functionNode`), sub-decisions
    /// (`decisionNode`), branching (`switchNode`), plug-ins (`customNode`) or an unknown type.
    /// Approval rules must stay readable and side-effect free, so these are never run.
    #[error(
        "不允许节点类型 {kind}（节点 {id}）：审批规则只能使用输入、输出、决策表和表达式节点 / node type {kind} (node {id}) is not allowed in approval rules: only input, output, decision table and expression nodes are"
    )]
    ForbiddenNode {
        /// The offending node's id, so an editor can highlight it.
        id: String,
        /// The node's JDM `type`, as written in the document.
        kind: String,
    },

    /// The model is structurally wrong: graph shape, missing or duplicated ids, unknown hit
    /// policy, bad paths, unsupported JDM options. `message` is already bilingual.
    #[error("{message}")]
    Invalid {
        /// The node at fault, when the problem belongs to one node (`None` for the graph as a whole).
        node: Option<String>,
        /// What is wrong, Chinese first, then English.
        message: String,
    },

    /// An expression that does not compile, or that uses a function approval rules may not
    /// use (reading the clock or randomness would make a decision unreproducible).
    #[error(
        "表达式无效（节点 {node}，{location}）：`{expression}`：{message} / invalid expression `{expression}` in node {node} ({location}): {message}"
    )]
    Expression {
        /// The node holding the expression.
        node: String,
        /// Where in the node: `row <id>, column <id>` for table cells, `expression <id>` for
        /// expression nodes, so the author can find the cell.
        location: String,
        /// The expression text as written.
        expression: String,
        /// The compiler's message, or why the expression is forbidden.
        message: String,
    },

    /// A size limit was exceeded (document bytes, nodes, rows, columns, expressions); these
    /// keep parsing and evaluation cheap enough to run on every application.
    #[error("决策模型超出大小限制：{0} / the decision model exceeds a size limit: {0}")]
    TooLarge(String),

    /// Evaluation could not produce a result: the input is not an object, or an output
    /// expression failed (for example arithmetic on a missing value). Input cells that fail
    /// do not raise this; they simply do not match and the failure is kept in the trace.
    #[error("求值失败（节点 {node}）：{message} / evaluation failed in node {node}: {message}")]
    Evaluation {
        /// The node being evaluated.
        node: String,
        /// What failed, including the row and column for table cells.
        message: String,
    },
}

impl RuleError {
    /// An [`RuleError::Invalid`] about one node, with the node named in both languages.
    pub(crate) fn invalid_node(node: &str, zh: &str, en: &str) -> RuleError {
        RuleError::Invalid {
            node: Some(node.to_owned()),
            message: format!("{zh}（节点 {node}）/ {en} (node {node})"),
        }
    }

    /// An [`RuleError::Invalid`] about the graph as a whole.
    pub(crate) fn invalid_graph(zh: &str, en: &str) -> RuleError {
        RuleError::Invalid {
            node: None,
            message: format!("{zh} / {en}"),
        }
    }
}
