//! [`Model`]: reading a JDM document, checking it against the approved subset, and compiling
//! every expression once. Evaluation lives in `evaluate.rs`; this file decides what a valid
//! model is.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use serde_json::Value;
use zen_expression::expression::{Standard, Unary};
use zen_expression::{Expression, Isolate};

use crate::document::{RawColumn, RawDocument, RawExpressions, RawNode, RawTable};
use crate::error::RuleError;
use crate::guard::{self, Refusal};
use crate::paths::Path;

/// Largest accepted JDM document, in bytes of JSON text (1 MiB). Real approval models are a
/// few kilobytes; the cap keeps a bad upload from costing much before it is refused.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Most nodes in one model.
pub const MAX_NODES: usize = 200;
/// Most rows in one decision table.
pub const MAX_ROWS: usize = 2000;
/// Most columns (inputs and outputs together) in one decision table.
pub const MAX_COLUMNS: usize = 100;
/// Most lines in one expression node.
pub const MAX_EXPRESSIONS: usize = 500;
/// Longest single expression (a cell or an expression-node value), in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest bracket nesting (`(`, `[`, `{`) inside one expression. zen compiles and
/// evaluates recursively, so this (with [`MAX_VALUE_DEPTH`]) keeps a hostile model from
/// exhausting the stack; real rules nest a few levels.
pub const MAX_NESTING: usize = 32;
/// Most segments in a dotted path (`field`, `key`, `outputPath`).
pub const MAX_PATH_SEGMENTS: usize = 32;
/// Deepest JSON value accepted as input or produced by an expression (serde_json's own
/// parser stops at 128 too).
pub const MAX_VALUE_DEPTH: usize = 128;

const INPUT_NODE: &str = "inputNode";
const OUTPUT_NODE: &str = "outputNode";
const TABLE_NODE: &str = "decisionTableNode";
const EXPRESSION_NODE: &str = "expressionNode";

/// A validated decision model with every expression compiled, ready to evaluate many times.
///
/// It is immutable, `Send` and `Sync`: one `Model` per published rule set can be shared by
/// all request handlers.
#[derive(Clone, Debug)]
pub struct Model {
    /// Nodes in evaluation (topological) order; the input node is first, the output node last.
    pub(crate) nodes: Vec<CompiledNode>,
}

/// One node, ready to run.
#[derive(Clone, Debug)]
pub(crate) struct CompiledNode {
    /// The JDM id, reported in traces and errors.
    pub(crate) id: String,
    /// The JDM name, reported in traces so people recognise the node.
    pub(crate) name: String,
    /// Positions (in [`Model::nodes`]) of the nodes feeding this one, in edge order, which is
    /// the order their outputs are merged in.
    pub(crate) predecessors: Vec<usize>,
    /// What the node does.
    pub(crate) kind: NodeKind,
}

/// The four node types of the approved subset.
#[derive(Clone, Debug)]
pub(crate) enum NodeKind {
    /// Emits the evaluation input.
    Input,
    /// Emits the merge of its predecessors: the decision.
    Output,
    /// A decision table.
    Table(Table),
    /// An expression node.
    Expressions(Expressions),
}

impl NodeKind {
    /// The JDM `type` string, reported in traces.
    pub(crate) fn jdm_type(&self) -> &'static str {
        match self {
            NodeKind::Input => INPUT_NODE,
            NodeKind::Output => OUTPUT_NODE,
            NodeKind::Table(_) => TABLE_NODE,
            NodeKind::Expressions(_) => EXPRESSION_NODE,
        }
    }
}

/// How a decision table turns matching rows into a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HitPolicy {
    /// The first matching row's outputs.
    First,
    /// An array of every matching row's outputs, in row order.
    Collect,
}

/// A compiled decision table.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    /// First or collect.
    pub(crate) hit_policy: HitPolicy,
    /// Condition columns, in the order cells are evaluated and traced.
    pub(crate) inputs: Vec<Column>,
    /// Result columns.
    pub(crate) outputs: Vec<Column>,
    /// Rows in document order.
    pub(crate) rows: Vec<Row>,
    /// Where the result is placed (required for collect tables).
    pub(crate) output_path: Option<Path>,
    /// Whether the node's input is merged under its result.
    pub(crate) pass_through: bool,
}

/// A decision-table column.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    /// The column id (the key of its cells in each row), for error locations.
    pub(crate) id: String,
    /// The header, shown in traces.
    pub(crate) name: String,
    /// Path read (input columns) or written (output columns).
    pub(crate) field: Path,
}

/// A compiled table row.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// The row's `_id`, shown in traces.
    pub(crate) id: String,
    /// The row's `_description`: for refusal tables, a note for the rule's maintainers.
    pub(crate) description: Option<String>,
    /// One entry per input column; `None` for an empty cell, which matches anything.
    pub(crate) inputs: Vec<Option<Cell<Unary>>>,
    /// One entry per output column; `None` for an empty cell, which writes nothing.
    pub(crate) outputs: Vec<Option<Cell<Standard>>>,
}

/// One compiled expression with its source, kept for traces and error messages.
#[derive(Clone, Debug)]
pub(crate) struct Cell<Kind> {
    /// The expression as written (trimmed).
    pub(crate) source: String,
    /// Its bytecode, compiled once at parse time.
    pub(crate) compiled: Expression<Kind>,
}

/// A compiled expression node.
#[derive(Clone, Debug)]
pub(crate) struct Expressions {
    /// The lines, in order: each may read earlier results through `$`.
    pub(crate) lines: Vec<Line>,
    /// Where the result is placed.
    pub(crate) output_path: Option<Path>,
    /// Whether the node's input is merged under its result.
    pub(crate) pass_through: bool,
}

/// One `key = value` line of an expression node.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    /// Path the value is written to.
    pub(crate) key: Path,
    /// The value expression.
    pub(crate) value: Cell<Standard>,
}

impl Model {
    /// Parses and validates a JDM document; compiles every expression once.
    ///
    /// Refuses anything outside the approved subset (see the crate documentation) with a
    /// [`RuleError`] naming the node, and, for expressions, the row and column.
    pub fn parse(json: &str) -> Result<Model, RuleError> {
        if json.len() > MAX_DOCUMENT_BYTES {
            return Err(RuleError::TooLarge(format!(
                "文档 {} 字节，上限 {MAX_DOCUMENT_BYTES} / document is {} bytes, limit {MAX_DOCUMENT_BYTES}",
                json.len(),
                json.len()
            )));
        }
        let document: RawDocument =
            serde_json::from_str(json).map_err(|error| RuleError::Json(error.to_string()))?;
        if document.nodes.len() > MAX_NODES {
            return Err(RuleError::TooLarge(format!(
                "{} 个节点，上限 {MAX_NODES} / {} nodes, limit {MAX_NODES}",
                document.nodes.len(),
                document.nodes.len()
            )));
        }
        for node in &document.nodes {
            if ![INPUT_NODE, OUTPUT_NODE, TABLE_NODE, EXPRESSION_NODE].contains(&node.kind.as_str())
            {
                return Err(RuleError::ForbiddenNode {
                    id: node.id.clone(),
                    kind: node.kind.clone(),
                });
            }
        }
        let graph = Graph::build(&document)?;

        let mut isolate = Isolate::new();
        let mut nodes = Vec::with_capacity(graph.order.len());
        for &index in &graph.order {
            let raw = &document.nodes[index];
            let kind = match raw.kind.as_str() {
                INPUT_NODE => NodeKind::Input,
                OUTPUT_NODE => NodeKind::Output,
                TABLE_NODE => NodeKind::Table(compile_table(raw, &mut isolate)?),
                _ => NodeKind::Expressions(compile_expressions(raw, &mut isolate)?),
            };
            let predecessors = graph.predecessors[index]
                .iter()
                .map(|&source| graph.position[source])
                .collect();
            nodes.push(CompiledNode {
                id: raw.id.clone(),
                name: raw.name.clone(),
                predecessors,
                kind,
            });
        }
        Ok(Model { nodes })
    }

    /// The dotted input paths that decision-table input columns read (sorted,
    /// deduplicated), so a caller can check them against the fields it can supply.
    ///
    /// Paths read by output cells and expression nodes are not listed: those compute
    /// results; the conditions of a decision are in the tables.
    pub fn input_fields(&self) -> Vec<String> {
        let fields: BTreeSet<&str> = self
            .nodes
            .iter()
            .filter_map(|node| match &node.kind {
                NodeKind::Table(table) => Some(table),
                _ => None,
            })
            .flat_map(|table| table.inputs.iter().map(|column| column.field.text.as_str()))
            .collect();
        fields.into_iter().map(str::to_owned).collect()
    }
}

/// The checked graph: edges resolved to indices, an evaluation order, and reachability.
struct Graph {
    /// For each node (document index), the document indices of its predecessors in edge order.
    predecessors: Vec<Vec<usize>>,
    /// Document indices in evaluation order.
    order: Vec<usize>,
    /// For each document index, its position in `order`.
    position: Vec<usize>,
}

impl Graph {
    /// Checks ids, the single input and output, edges, acyclicity and reachability.
    fn build(document: &RawDocument) -> Result<Graph, RuleError> {
        let nodes = &document.nodes;
        let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            if node.id.trim().is_empty() {
                return Err(RuleError::invalid_graph(
                    &format!("第 {} 个节点没有 id", index + 1),
                    &format!("node number {} has no id", index + 1),
                ));
            }
            if index_of.insert(node.id.as_str(), index).is_some() {
                return Err(RuleError::invalid_node(
                    &node.id,
                    "节点 id 重复",
                    "duplicate node id",
                ));
            }
        }
        let input = single_node(nodes, INPUT_NODE, "输入节点", "input node")?;
        let output = single_node(nodes, OUTPUT_NODE, "输出节点", "output node")?;

        let mut predecessors = vec![Vec::new(); nodes.len()];
        let mut successors = vec![Vec::new(); nodes.len()];
        for edge in &document.edges {
            let endpoint = |id: &str| {
                index_of.get(id).copied().ok_or_else(|| {
                    RuleError::invalid_graph(
                        &format!("连线指向不存在的节点 {id}"),
                        &format!("an edge refers to node {id}, which does not exist"),
                    )
                })
            };
            let source = endpoint(&edge.source_id)?;
            let target = endpoint(&edge.target_id)?;
            predecessors[target].push(source);
            successors[source].push(target);
        }
        if !predecessors[input].is_empty() {
            return Err(RuleError::invalid_node(
                &nodes[input].id,
                "输入节点不能有入边",
                "the input node cannot have incoming edges",
            ));
        }
        if !successors[output].is_empty() {
            return Err(RuleError::invalid_node(
                &nodes[output].id,
                "输出节点不能有出边",
                "the output node cannot have outgoing edges",
            ));
        }

        let order = topological_order(&predecessors, &successors).map_err(|index| {
            RuleError::invalid_node(&nodes[index].id, "图中存在环", "the graph has a cycle")
        })?;

        let from_input = reachable(input, &successors);
        let to_output = reachable(output, &predecessors);
        for (index, node) in nodes.iter().enumerate() {
            if !from_input[index] {
                return Err(RuleError::invalid_node(
                    &node.id,
                    "节点无法从输入节点到达",
                    "the node cannot be reached from the input node",
                ));
            }
            if !to_output[index] {
                return Err(RuleError::invalid_node(
                    &node.id,
                    "节点的结果到不了输出节点",
                    "the node's result never reaches the output node",
                ));
            }
        }

        let mut position = vec![0; nodes.len()];
        for (at, &index) in order.iter().enumerate() {
            position[index] = at;
        }
        Ok(Graph {
            predecessors,
            order,
            position,
        })
    }
}

/// The index of the only node of type `kind`, or an error if there are none or several.
fn single_node(nodes: &[RawNode], kind: &str, zh: &str, en: &str) -> Result<usize, RuleError> {
    let mut found = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.kind == kind);
    match (found.next(), found.next()) {
        (Some((index, _)), None) => Ok(index),
        (None, _) => Err(RuleError::invalid_graph(
            &format!("缺少{zh}（{kind}）"),
            &format!("the model has no {en} ({kind})"),
        )),
        (Some(_), Some((_, second))) => Err(RuleError::invalid_node(
            &second.id,
            &format!("只能有一个{zh}"),
            &format!("a model has exactly one {en}"),
        )),
    }
}

/// Kahn's algorithm, taking ready nodes in document order so evaluation order is stable.
/// On a cycle, returns a node on (or between) cycles.
fn topological_order(
    predecessors: &[Vec<usize>],
    successors: &[Vec<usize>],
) -> Result<Vec<usize>, usize> {
    let mut waiting: Vec<usize> = predecessors.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(waiting.len());
    while let Some(index) = ready.pop_first() {
        order.push(index);
        for &next in &successors[index] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() == waiting.len() {
        return Ok(order);
    }
    // Drop the nodes that merely hang below a cycle, so the one named is on the loop or
    // between two loops, not just downstream of one.
    let mut left: HashSet<usize> = (0..waiting.len()).filter(|&i| waiting[i] > 0).collect();
    loop {
        let sinks: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| successors[i].iter().all(|next| !left.contains(next)))
            .collect();
        if sinks.is_empty() {
            break;
        }
        for sink in sinks {
            left.remove(&sink);
        }
    }
    Err(left.into_iter().min().unwrap_or_default())
}

/// Which nodes can be reached from `start` following `links`.
fn reachable(start: usize, links: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; links.len()];
    seen[start] = true;
    let mut queue = VecDeque::from([start]);
    while let Some(index) = queue.pop_front() {
        for &next in &links[index] {
            if !seen[next] {
                seen[next] = true;
                queue.push_back(next);
            }
        }
    }
    seen
}

/// Deserialises a node's `content` into its typed shape.
fn content<T: serde::de::DeserializeOwned>(node: &RawNode) -> Result<T, RuleError> {
    let content = node.content.clone().unwrap_or(Value::Null);
    serde_json::from_value(content).map_err(|error| {
        RuleError::invalid_node(
            &node.id,
            &format!("节点内容结构不对：{error}"),
            &format!("the node's content is malformed: {error}"),
        )
    })
}

/// Refuses JDM's loop mode, which this subset does not implement.
fn check_single_mode(
    node: &RawNode,
    input_field: Option<&str>,
    mode: Option<&str>,
) -> Result<(), RuleError> {
    let looping = input_field.is_some_and(|field| !field.trim().is_empty())
        || mode.is_some_and(|mode| !mode.is_empty() && mode != "single");
    if looping {
        return Err(RuleError::invalid_node(
            &node.id,
            "不支持循环执行模式（inputField / executionMode: loop）",
            "loop execution (inputField / executionMode: loop) is not supported",
        ));
    }
    Ok(())
}

/// Parses an optional `outputPath`; blank counts as absent, as in the JDM editor.
fn output_path(node: &RawNode, text: Option<&str>) -> Result<Option<Path>, RuleError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Path::parse(text).map(Some).ok_or_else(|| {
            RuleError::invalid_node(
                &node.id,
                &format!("outputPath「{text}」不是点分路径（最多 {MAX_PATH_SEGMENTS} 段）"),
                &format!("outputPath `{text}` is not a dotted path (at most {MAX_PATH_SEGMENTS} segments)"),
            )
        }),
    }
}

/// Checks and compiles a `decisionTableNode`.
fn compile_table(node: &RawNode, isolate: &mut Isolate) -> Result<Table, RuleError> {
    let raw: RawTable = content(node)?;
    check_single_mode(
        node,
        raw.input_field.as_deref(),
        raw.execution_mode.as_deref(),
    )?;
    let hit_policy = match raw.hit_policy.as_str() {
        "first" => HitPolicy::First,
        "collect" => HitPolicy::Collect,
        other => {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("未知的命中策略「{other}」，只支持 first 和 collect"),
                &format!("unknown hit policy `{other}`: only first and collect are supported"),
            ));
        }
    };
    let columns = raw.inputs.len() + raw.outputs.len();
    if columns > MAX_COLUMNS {
        return Err(RuleError::TooLarge(format!(
            "节点 {id} 有 {columns} 列，上限 {MAX_COLUMNS} / node {id} has {columns} columns, limit {MAX_COLUMNS}",
            id = node.id
        )));
    }
    if raw.rules.len() > MAX_ROWS {
        return Err(RuleError::TooLarge(format!(
            "节点 {id} 有 {rows} 行，上限 {MAX_ROWS} / node {id} has {rows} rows, limit {MAX_ROWS}",
            id = node.id,
            rows = raw.rules.len()
        )));
    }

    let mut ids = HashSet::new();
    for column in raw.inputs.iter().chain(&raw.outputs) {
        if column.id.trim().is_empty() || column.id.starts_with('_') {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("列 id「{}」无效：不能为空，也不能以 _ 开头", column.id),
                &format!(
                    "column id `{}` is invalid: it must be non-empty and not start with _",
                    column.id
                ),
            ));
        }
        if !ids.insert(column.id.as_str()) {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("列 id「{}」重复", column.id),
                &format!("duplicate column id `{}`", column.id),
            ));
        }
    }
    let inputs = columns_of(node, &raw.inputs, "输入", "input")?;
    let outputs = columns_of(node, &raw.outputs, "输出", "output")?;
    let mut written = HashSet::new();
    for column in &outputs {
        if !written.insert(column.field.text.as_str()) {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("两个输出列写同一个字段「{}」", column.field.text),
                &format!(
                    "two output columns write the same field `{}`",
                    column.field.text
                ),
            ));
        }
    }
    let output_path = output_path(node, raw.output_path.as_deref())?;
    if hit_policy == HitPolicy::Collect && output_path.is_none() {
        return Err(RuleError::invalid_node(
            &node.id,
            "collect 决策表必须设置 outputPath",
            "a collect decision table must set outputPath",
        ));
    }

    let mut row_ids = HashSet::new();
    let mut rows = Vec::with_capacity(raw.rules.len());
    for (number, rule) in raw.rules.iter().enumerate() {
        let id = match rule.get("_id") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
            _ => {
                return Err(RuleError::invalid_node(
                    &node.id,
                    &format!("第 {} 行缺少 _id", number + 1),
                    &format!("row number {} has no _id", number + 1),
                ));
            }
        };
        if !row_ids.insert(id.clone()) {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("行 _id「{id}」重复"),
                &format!("duplicate row _id `{id}`"),
            ));
        }
        let description = match rule.get("_description") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()).filter(|text| !text.trim().is_empty()),
            Some(_) => {
                return Err(RuleError::invalid_node(
                    &node.id,
                    &format!("行「{id}」的 _description 必须是字符串"),
                    &format!("row `{id}`: _description must be a string"),
                ));
            }
        };
        let mut row = Row {
            id,
            description,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        for column in &inputs {
            let source = cell_source(node, &row.id, column, rule)?;
            let cell = source
                .map(|source| {
                    guard::compile_unary(isolate, &source)
                        .map(|compiled| Cell {
                            source: source.clone(),
                            compiled,
                        })
                        .map_err(|refusal| cell_error(node, &row.id, column, &source, refusal))
                })
                .transpose()?;
            row.inputs.push(cell);
        }
        for column in &outputs {
            let source = cell_source(node, &row.id, column, rule)?;
            let cell = source
                .map(|source| {
                    guard::compile_standard(isolate, &source)
                        .map(|compiled| Cell {
                            source: source.clone(),
                            compiled,
                        })
                        .map_err(|refusal| cell_error(node, &row.id, column, &source, refusal))
                })
                .transpose()?;
            row.outputs.push(cell);
        }
        rows.push(row);
    }
    Ok(Table {
        hit_policy,
        inputs,
        outputs,
        rows,
        output_path,
        pass_through: raw.pass_through,
    })
}

/// Validates the columns of one side of a table (each needs a dotted `field`).
fn columns_of(
    node: &RawNode,
    raw: &[RawColumn],
    zh: &str,
    en: &str,
) -> Result<Vec<Column>, RuleError> {
    raw.iter()
        .map(|column| {
            let text = column.field.as_deref().unwrap_or("");
            let field = Path::parse(text).ok_or_else(|| {
                RuleError::invalid_node(
                    &node.id,
                    &format!("{zh}列「{}」的 field「{text}」不是点分路径（如 applicant.age，最多 {MAX_PATH_SEGMENTS} 段）", column.id),
                    &format!("{en} column `{}`: field `{text}` is not a dotted path (like applicant.age, at most {MAX_PATH_SEGMENTS} segments)", column.id),
                )
            })?;
            Ok(Column { id: column.id.clone(), name: column.name.clone(), field })
        })
        .collect()
}

/// The trimmed text of a cell, `None` when it is missing, null or blank.
fn cell_source(
    node: &RawNode,
    row: &str,
    column: &Column,
    rule: &serde_json::Map<String, Value>,
) -> Result<Option<String>, RuleError> {
    match rule.get(&column.id) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
        Some(_) => Err(RuleError::invalid_node(
            &node.id,
            &format!("行「{row}」列「{}」的单元格必须是字符串", column.id),
            &format!(
                "row `{row}`, column `{}`: a cell must be a string",
                column.id
            ),
        )),
    }
}

/// The error for a table cell that does not compile, is forbidden or is too large.
fn cell_error(
    node: &RawNode,
    row: &str,
    column: &Column,
    source: &str,
    refusal: Refusal,
) -> RuleError {
    expression_error(
        node,
        format!("row {row}, column {}", column.id),
        source,
        refusal,
    )
}

/// Turns a compile refusal into the public error, keeping where the expression is.
fn expression_error(node: &RawNode, location: String, source: &str, refusal: Refusal) -> RuleError {
    match refusal {
        Refusal::Size(limit) => RuleError::TooLarge(format!(
            "节点 {id}，{location}：{limit} / node {id}, {location}: {limit}",
            id = node.id
        )),
        Refusal::Expression(message) => RuleError::Expression {
            node: node.id.clone(),
            location,
            expression: source.to_owned(),
            message,
        },
    }
}

/// Checks and compiles an `expressionNode`.
fn compile_expressions(node: &RawNode, isolate: &mut Isolate) -> Result<Expressions, RuleError> {
    let raw: RawExpressions = content(node)?;
    check_single_mode(
        node,
        raw.input_field.as_deref(),
        raw.execution_mode.as_deref(),
    )?;
    if raw.expressions.len() > MAX_EXPRESSIONS {
        return Err(RuleError::TooLarge(format!(
            "节点 {id} 有 {count} 个表达式，上限 {MAX_EXPRESSIONS} / node {id} has {count} expressions, limit {MAX_EXPRESSIONS}",
            id = node.id,
            count = raw.expressions.len()
        )));
    }
    let mut keys = HashSet::new();
    let mut lines = Vec::with_capacity(raw.expressions.len());
    for expression in &raw.expressions {
        let key = Path::parse(&expression.key).ok_or_else(|| {
            RuleError::invalid_node(
                &node.id,
                &format!("表达式的 key「{}」不是点分路径（最多 {MAX_PATH_SEGMENTS} 段）", expression.key),
                &format!("expression key `{}` is not a dotted path (at most {MAX_PATH_SEGMENTS} segments)", expression.key),
            )
        })?;
        if !keys.insert(key.text.clone()) {
            return Err(RuleError::invalid_node(
                &node.id,
                &format!("表达式的 key「{}」重复", key.text),
                &format!("duplicate expression key `{}`", key.text),
            ));
        }
        let source = expression.value.trim().to_owned();
        let compiled = guard::compile_standard(isolate, &source).map_err(|refusal| {
            expression_error(node, format!("expression {}", key.text), &source, refusal)
        })?;
        lines.push(Line {
            key,
            value: Cell { source, compiled },
        });
    }
    Ok(Expressions {
        lines,
        output_path: output_path(node, raw.output_path.as_deref())?,
        pass_through: raw.pass_through,
    })
}
