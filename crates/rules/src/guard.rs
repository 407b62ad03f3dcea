//! Compiling expressions, and refusing the few zen functions that would make a decision
//! depend on something other than the model and its input: the machine's clock and time
//! zone (`d()`, `date()`, `time()`, the old date helpers, date methods such as `isToday()`)
//! and randomness (`rand()`). A caller that needs "today" passes it in the input, so the same
//! application always gets the same decision and a stored trace replays exactly.
//!
//! The check reads the compiled bytecode, so it sees every call however it is nested.
//! Before compiling, the source's length and bracket nesting are bounded, since zen's
//! compiler and VM recurse and a hostile model must not be able to exhaust the stack.

use zen_expression::compiler::Opcode;
use zen_expression::expression::{Standard, Unary};
use zen_expression::functions::{DeprecatedFunction, FunctionKind, InternalFunction};
use zen_expression::{Expression, Isolate};

use crate::model::{MAX_EXPRESSION_BYTES, MAX_NESTING};

/// Why an expression was not compiled.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Longer or more deeply nested than the limits allow (becomes `RuleError::TooLarge`).
    Size(String),
    /// Does not compile, or calls a forbidden function (becomes `RuleError::Expression`).
    Expression(String),
}

/// Checks the source against [`MAX_EXPRESSION_BYTES`] and [`MAX_NESTING`].
fn check_size(source: &str) -> Result<(), Refusal> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(Refusal::Size(format!(
            "表达式 {} 字节，上限 {MAX_EXPRESSION_BYTES} / expression is {} bytes, limit {MAX_EXPRESSION_BYTES}",
            source.len(),
            source.len()
        )));
    }
    let nesting = nesting(source);
    if nesting > MAX_NESTING {
        return Err(Refusal::Size(format!(
            "表达式括号嵌套 {nesting} 层，上限 {MAX_NESTING} / expression nests brackets {nesting} deep, limit {MAX_NESTING}"
        )));
    }
    Ok(())
}

/// The deepest nesting of `(`, `[` and `{` in `source`, ignoring quoted strings (so a
/// reason text may contain brackets). Template strings are not skipped: their `${` counts.
fn nesting(source: &str) -> usize {
    let mut deepest = 0;
    let mut depth: usize = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        if let Some(open) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == open {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Compiles a unary (input-cell) expression and checks it is deterministic.
pub(crate) fn compile_unary(
    isolate: &mut Isolate,
    source: &str,
) -> Result<Expression<Unary>, Refusal> {
    check_size(source)?;
    let compiled = isolate
        .compile_unary(source)
        .map_err(|error| Refusal::Expression(error.to_string()))?;
    check_deterministic(compiled.bytecode()).map_err(Refusal::Expression)?;
    Ok(compiled)
}

/// Compiles a standard expression and checks it is deterministic.
pub(crate) fn compile_standard(
    isolate: &mut Isolate,
    source: &str,
) -> Result<Expression<Standard>, Refusal> {
    check_size(source)?;
    let compiled = isolate
        .compile_standard(source)
        .map_err(|error| Refusal::Expression(error.to_string()))?;
    check_deterministic(compiled.bytecode()).map_err(Refusal::Expression)?;
    Ok(compiled)
}

/// Fails with a bilingual message naming the first forbidden call in `bytecode`.
fn check_deterministic(bytecode: &[Opcode]) -> Result<(), String> {
    match bytecode.iter().find_map(forbidden) {
        None => Ok(()),
        Some(name) => Err(format!(
            "不允许使用 {name}：它读取系统时钟、时区或随机数，审批结果将无法复现；日期请作为输入字段传入 / \
             {name} is not allowed: it reads the system clock, time zone or randomness, so the decision \
             could not be reproduced; pass dates in the input instead"
        )),
    }
}

/// The user-facing name of the call made by `opcode`, if that call is forbidden.
fn forbidden(opcode: &Opcode) -> Option<String> {
    match opcode {
        Opcode::CallFunction { kind, .. } => match kind {
            FunctionKind::Internal(InternalFunction::Date) => Some("d()".to_owned()),
            FunctionKind::Internal(InternalFunction::Rand) => Some("rand()".to_owned()),
            // `duration('1h')` is plain arithmetic on a constant.
            FunctionKind::Deprecated(DeprecatedFunction::Duration) => None,
            // `date()`, `time()`, `year()`, `dayOfWeek()` ... all parse or format dates in the
            // machine's time zone, and `date('now')` reads the clock.
            FunctionKind::Deprecated(function) => Some(format!("{function}()")),
            _ => None,
        },
        // Every method zen has is a date method (`isToday()`, `add()`, `format()` ...).
        Opcode::CallMethod { kind, .. } => Some(format!("date method {kind:?}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        let cases = [
            ("1", 0),
            ("len(xs) > 0", 1),
            ("map(xs, {a: [#]})", 3),
            ("'(((' + \"[[[\" + 'it\\'s ('", 0),
            ("`${a}`", 1),
        ];
        for (source, expected) in cases {
            assert_eq!(nesting(source), expected, "{source}");
        }
    }
}
