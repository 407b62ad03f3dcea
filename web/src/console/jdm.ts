// Reading and editing a decision model: a GoRules JDM document as crates/rules accepts it. The
// console edits only the decision tables' rows (their cells and output texts); every other part of
// the document (nodes, edges, positions, columns, unknown keys) is kept as it came.
//
// Cells are zen expressions. An input cell is a unary test on its column's value (`null, < 80`,
// `!= true`; blank matches anything); an output cell is an expression, so a text is a quoted
// string literal. zen's string literals have no escapes: `"…"` ends at the next `"` and `'…'` at
// the next `'`, and what lies between is the text as it is.

/** A column of a decision table: `field` (inputs: the dotted path read; outputs: where the value goes). */
export interface JdmColumn {
  id: string;
  name?: string;
  field?: string;
  [key: string]: unknown;
}

/** A row: `_id`, `_description`, and one expression per column id. */
export interface JdmRow {
  _id: string;
  _description?: string;
  [column: string]: unknown;
}

export interface JdmTable {
  hitPolicy?: string;
  outputPath?: string;
  inputs: JdmColumn[];
  outputs: JdmColumn[];
  rules: JdmRow[];
  [key: string]: unknown;
}

export interface JdmNode {
  id: string;
  type: string;
  name?: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface JdmDocument {
  nodes: JdmNode[];
  edges?: unknown[];
  [key: string]: unknown;
}

/** A decision table of the document, with its node. */
export interface TableOf {
  node: JdmNode;
  table: JdmTable;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The document, when it has the shape of a JDM graph (a list of nodes); null otherwise. */
export function asDocument(v: unknown): JdmDocument | null {
  if (!isObject(v) || !Array.isArray(v.nodes) || !v.nodes.every((n) => isObject(n) && typeof n.type === 'string')) return null;
  return v as JdmDocument;
}

/** The document's decision tables, in document order (a node whose content is not a table is left out). */
export function tablesOf(doc: JdmDocument): TableOf[] {
  const out: TableOf[] = [];
  for (const node of doc.nodes) {
    if (node.type !== 'decisionTableNode' || !isObject(node.content)) continue;
    const c = node.content;
    if (!Array.isArray(c.inputs) || !Array.isArray(c.outputs) || !Array.isArray(c.rules)) continue;
    out.push({ node, table: c as JdmTable });
  }
  return out;
}

/** The nodes that are neither input, output nor decision table (expression nodes), which the console shows but does not edit. */
export function otherNodes(doc: JdmDocument): JdmNode[] {
  return doc.nodes.filter((n) => !['inputNode', 'outputNode', 'decisionTableNode'].includes(n.type));
}

/** A cell's expression (blank for a missing or non-text cell). */
export function cell(row: JdmRow, column: string): string {
  const v = row[column];
  return typeof v === 'string' ? v : '';
}

/** The text of an output expression that is a single string literal (`"age"`, `'age'`); null for any other expression. */
export function literalText(expr: string): string | null {
  const s = expr.trim();
  if (s.length < 2) return null;
  const q = s[0];
  if ((q !== '"' && q !== "'") || s[s.length - 1] !== q) return null;
  const inner = s.slice(1, -1);
  return inner.includes(q) ? null : inner;
}

/**
 * A text as a zen expression that yields exactly it: `"text"` (the same as JSON.stringify for
 * ordinary text, which is what the shipped models hold), `'text'` when the text has a double
 * quote, and for a text with both kinds of quote, double-quoted pieces joined by `'"'`. Line breaks
 * and other control characters become spaces (a reason is one line).
 */
export function zenString(text: string): string {
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  if (!s.includes('"')) return `"${s}"`;
  if (!s.includes("'")) return `'${s}'`;
  return s
    .split('"')
    .map((part) => `"${part}"`)
    .join(` + '"' + `);
}

/** The column of the table's outputs written at `field` (`rule`, `reason`), if any. */
export function outputAt(table: JdmTable, field: string): JdmColumn | undefined {
  return table.outputs.find((o) => o.field === field);
}

/** A row id not used in any of the document's tables: `rule_<n>`, the smallest free n from the row count on. */
export function freshRowId(doc: JdmDocument): string {
  const used = new Set(tablesOf(doc).flatMap(({ table }) => table.rules.map((r) => r._id)));
  let n = tablesOf(doc).reduce((a, { table }) => a + table.rules.length, 0) + 1;
  while (used.has(`rule_${n}`)) n++;
  return `rule_${n}`;
}

/** Whether the table follows the convention of crates/rules: a `collect` table of refusal reasons at `failures`. */
export function isRefusalTable(table: JdmTable): boolean {
  return table.hitPolicy === 'collect' && table.outputPath === 'failures';
}
