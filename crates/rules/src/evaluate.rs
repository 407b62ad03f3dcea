//! Running a compiled [`Model`] against one input document: nodes in topological order,
//! predecessor outputs deep-merged into each node's input, tables and expression nodes
//! evaluated with zen's VM, and a full trace recorded on the way.

use serde_json::{Map, Value};
use zen_expression::Variable;
use zen_expression::scope::Scope;
use zen_expression::vm::VM;

use crate::error::RuleError;
use crate::model::{Expressions, HitPolicy, MAX_VALUE_DEPTH, Model, NodeKind, Table};
use crate::paths::{Path, depth, merge};
use crate::trace::{CellTrace, Evaluation, NodeTrace, RowTrace};

impl Model {
    /// Evaluates the model against an input document (a JSON object).
    ///
    /// Input cells that cannot be evaluated (a comparison on `null` or on the wrong type)
    /// do not match and are recorded in the trace with their error; output cells and
    /// expression nodes that fail stop the evaluation with [`RuleError::Evaluation`], since
    /// a result cannot be half computed.
    pub fn evaluate(&self, input: &Value) -> Result<Evaluation, RuleError> {
        let mut vm = VM::new();
        let mut outputs: Vec<Value> = Vec::with_capacity(self.nodes.len());
        let mut trace = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let (output, rows) = match &node.kind {
                NodeKind::Input => {
                    if !input.is_object() {
                        return Err(RuleError::Evaluation {
                            node: node.id.clone(),
                            message: "输入必须是 JSON 对象 / the input must be a JSON object"
                                .to_owned(),
                        });
                    }
                    if depth(input) > MAX_VALUE_DEPTH {
                        return Err(too_deep(&node.id, "input"));
                    }
                    // Refuse numbers zen cannot represent now, rather than let them turn into null.
                    to_variable(&node.id, input)?;
                    (input.clone(), Vec::new())
                }
                NodeKind::Output => (merged_input(&node.predecessors, &outputs), Vec::new()),
                NodeKind::Table(table) => table.evaluate(
                    &node.id,
                    merged_input(&node.predecessors, &outputs),
                    &mut vm,
                )?,
                NodeKind::Expressions(expressions) => {
                    let output = expressions.evaluate(
                        &node.id,
                        merged_input(&node.predecessors, &outputs),
                        &mut vm,
                    )?;
                    (output, Vec::new())
                }
            };
            trace.push(NodeTrace {
                id: node.id.clone(),
                name: node.name.clone(),
                kind: node.kind.jdm_type().to_owned(),
                output: output.clone(),
                rows,
            });
            outputs.push(output);
        }
        // Validation guarantees the output node is the last in topological order.
        let output = outputs.pop().unwrap_or(Value::Null);
        Ok(Evaluation { output, trace })
    }
}

/// A node's input: its predecessors' outputs deep-merged in edge order (later ones win).
fn merged_input(predecessors: &[usize], outputs: &[Value]) -> Value {
    let mut input = Value::Object(Map::new());
    for &predecessor in predecessors {
        if let Some(output) = outputs.get(predecessor) {
            merge(&mut input, output.clone());
        }
    }
    input
}

/// Converts a node input into zen's value type.
fn to_variable(node: &str, value: &Value) -> Result<Variable, RuleError> {
    Variable::try_from_value(value.clone()).map_err(|error| RuleError::Evaluation {
        node: node.to_owned(),
        message: format!("输入中的数值超出范围 / a number in the input is out of range: {error}"),
    })
}

/// Converts an expression result to JSON, refusing values nested deeper than
/// [`MAX_VALUE_DEPTH`] (which later nodes would otherwise nest further).
fn checked(node: &str, location: &str, value: Variable) -> Result<Value, RuleError> {
    let value = Value::from(value);
    if depth(&value) > MAX_VALUE_DEPTH {
        return Err(too_deep(node, location));
    }
    Ok(value)
}

/// The error for a value nested deeper than [`MAX_VALUE_DEPTH`].
fn too_deep(node: &str, what: &str) -> RuleError {
    RuleError::Evaluation {
        node: node.to_owned(),
        message: format!(
            "{what}：数据嵌套超过 {MAX_VALUE_DEPTH} 层 / {what}: the value nests deeper than {MAX_VALUE_DEPTH} levels"
        ),
    }
}

/// Places a node's result at its `outputPath` and merges it over the input for `passThrough`.
fn finish(
    input: Value,
    result: Option<Value>,
    output_path: Option<&Path>,
    pass_through: bool,
) -> Value {
    let placed = match (result, output_path) {
        (None, _) => Value::Object(Map::new()),
        (Some(result), None) => result,
        (Some(result), Some(path)) => {
            let mut placed = Value::Object(Map::new());
            path.set(&mut placed, result);
            placed
        }
    };
    if pass_through {
        let mut output = input;
        merge(&mut output, placed);
        output
    } else {
        placed
    }
}

impl Table {
    /// Evaluates every row (all cells, for a complete trace) and builds the table's output.
    fn evaluate(
        &self,
        node: &str,
        input: Value,
        vm: &mut VM,
    ) -> Result<(Value, Vec<RowTrace>), RuleError> {
        let environment = to_variable(node, &input)?;
        let values: Vec<Value> = self
            .inputs
            .iter()
            .map(|column| column.field.get(&input).cloned().unwrap_or(Value::Null))
            .collect();
        let dollars: Vec<Variable> = values.iter().map(Variable::from).collect();
        let mut cell_scope = Scope::new(environment.clone());
        let output_scope = Scope::new(environment);

        let mut results = Vec::new();
        let mut rows = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let mut cells = Vec::with_capacity(self.inputs.len());
            for (index, (column, cell)) in self.inputs.iter().zip(&row.inputs).enumerate() {
                let (expression, result, error) = match cell {
                    None => (String::new(), true, None),
                    Some(cell) => {
                        cell_scope.set_local(Variable::dollar_key(), dollars[index].clone());
                        match cell.compiled.evaluate_with_scope(&cell_scope, vm) {
                            Ok(result) => (cell.source.clone(), result, None),
                            Err(error) => (cell.source.clone(), false, Some(error.to_string())),
                        }
                    }
                };
                cells.push(CellTrace {
                    column: column.name.clone(),
                    field: column.field.text.clone(),
                    expression,
                    value: values[index].clone(),
                    result,
                    error,
                });
            }
            let matched = cells.iter().all(|cell| cell.result);
            let used = matched && (self.hit_policy == HitPolicy::Collect || results.is_empty());
            if used {
                let mut output = Value::Object(Map::new());
                for (column, cell) in self.outputs.iter().zip(&row.outputs) {
                    let Some(cell) = cell else { continue };
                    let value = cell
                        .compiled
                        .evaluate_with_scope(&output_scope, vm)
                        .map_err(|error| RuleError::Evaluation {
                            node: node.to_owned(),
                            message: format!(
                                "row {}, column {}: `{}`: {error}",
                                row.id, column.id, cell.source
                            ),
                        })?;
                    let location = format!("row {}, column {}", row.id, column.id);
                    column
                        .field
                        .set(&mut output, checked(node, &location, value)?);
                }
                results.push(output);
            }
            rows.push(RowTrace {
                id: row.id.clone(),
                description: row.description.clone(),
                matched,
                used,
                cells,
            });
        }

        let result = match self.hit_policy {
            HitPolicy::First => results.into_iter().next(),
            HitPolicy::Collect => Some(Value::Array(results)),
        };
        Ok((
            finish(input, result, self.output_path.as_ref(), self.pass_through),
            rows,
        ))
    }
}

impl Expressions {
    /// Evaluates the lines in order; each sees the node input as its environment and the
    /// results so far as `$` (so `total` can be reused as `$.total`).
    fn evaluate(&self, node: &str, input: Value, vm: &mut VM) -> Result<Value, RuleError> {
        let mut scope = Scope::new(to_variable(node, &input)?);
        let mut result = Value::Object(Map::new());
        for line in &self.lines {
            scope.set_local(Variable::dollar_key(), Variable::from(&result));
            let value = line
                .value
                .compiled
                .evaluate_with_scope(&scope, vm)
                .map_err(|error| RuleError::Evaluation {
                    node: node.to_owned(),
                    message: format!(
                        "expression {}: `{}`: {error}",
                        line.key.text, line.value.source
                    ),
                })?;
            let location = format!("expression {}", line.key.text);
            line.key.set(&mut result, checked(node, &location, value)?);
        }
        Ok(finish(
            input,
            Some(result),
            self.output_path.as_ref(),
            self.pass_through,
        ))
    }
}
