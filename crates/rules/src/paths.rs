//! Dotted paths and deep merge over `serde_json::Value`: how table columns read their field,
//! how results are written to `field` / `key` / `outputPath`, and how the outputs of several
//! predecessor nodes become one node's input.

use serde_json::{Map, Value};

use crate::model::MAX_PATH_SEGMENTS;

/// A validated dotted path such as `applicant.age`, kept as its segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path {
    /// The path as the model author wrote it (trimmed), for traces and `input_fields`.
    pub(crate) text: String,
    /// The non-empty segments between the dots, so lookups do not re-split on every evaluation.
    pub(crate) segments: Vec<String>,
}

impl Path {
    /// Parses a dotted path; `None` when it is empty, has an empty segment (`a..b`, `.a`),
    /// has more than [`MAX_PATH_SEGMENTS`] segments, or uses characters that would make it
    /// an expression rather than a path (whitespace, brackets, quotes).
    pub(crate) fn parse(text: &str) -> Option<Path> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        let valid = segments.len() <= MAX_PATH_SEGMENTS
            && segments.iter().all(|segment| {
                !segment.is_empty()
                    && segment.chars().all(|c| {
                        !c.is_whitespace() && !matches!(c, '[' | ']' | '(' | ')' | '\'' | '"' | '`')
                    })
            });
        valid.then(|| Path {
            text: text.to_owned(),
            segments,
        })
    }

    /// The value at this path, or `None` when any segment is missing or crosses a non-object.
    pub(crate) fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments
            .iter()
            .try_fold(root, |current, segment| current.as_object()?.get(segment))
    }

    /// Writes `value` at this path inside `root`, creating intermediate objects and replacing
    /// any non-object that stands in the way (a later write wins, as in a merge).
    pub(crate) fn set(&self, root: &mut Value, value: Value) {
        let mut current = root;
        for segment in &self.segments {
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            let Value::Object(map) = current else {
                return;
            };
            current = map.entry(segment.clone()).or_insert(Value::Null);
        }
        *current = value;
    }
}

/// Deep-merges `source` into `target`: objects are merged key by key (recursively), and
/// anything else (arrays included) is replaced by `source`.
pub(crate) fn merge(target: &mut Value, source: Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        target.insert(key, value);
                    }
                }
            }
        }
        (target, source) => *target = source,
    }
}

/// How deeply `value` nests (a scalar is 0, `{"a": 1}` is 1), measured without recursion
/// so that a pathological value cannot exhaust the stack while being measured.
pub(crate) fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0)];
    while let Some((value, level)) = pending.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, level + 1))),
            Value::Object(map) => pending.extend(map.values().map(|item| (item, level + 1))),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_accept_dotted_names_and_reject_expressions() {
        let cases = [
            ("applicant.age", Some(vec!["applicant", "age"])),
            ("  failures ", Some(vec!["failures"])),
            ("申请人.年龄", Some(vec!["申请人", "年龄"])),
            ("", None),
            ("a..b", None),
            (".a", None),
            ("a.", None),
            ("a b", None),
            ("items[0]", None),
            ("len(x)", None),
            ("failures[]", None),
        ];
        for (text, expected) in cases {
            let parsed = Path::parse(text).map(|p| p.segments);
            let expected = expected.map(|s| s.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(parsed, expected, "path {text:?}");
        }
    }

    #[test]
    fn paths_have_a_segment_limit() {
        let longest = vec!["a"; MAX_PATH_SEGMENTS].join(".");
        assert!(Path::parse(&longest).is_some());
        assert!(Path::parse(&format!("{longest}.a")).is_none());
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": 1})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": []}], "c": 2})), 3);
    }

    #[test]
    fn get_follows_objects_only() {
        let doc = json!({"a": {"b": 1, "list": [1]}, "n": 3});
        let get = |p: &str| Path::parse(p).and_then(|p| p.get(&doc).cloned());
        assert_eq!(get("a.b"), Some(json!(1)));
        assert_eq!(get("a.missing"), None);
        assert_eq!(get("n.deeper"), None);
        assert_eq!(get("a.list.0"), None);
    }

    #[test]
    fn set_creates_and_replaces_intermediates() {
        let mut doc = json!({"a": 1});
        let path = |p: &str| Path::parse(p).unwrap_or_else(|| panic!("test path {p}"));
        path("x.y.z").set(&mut doc, json!(true));
        path("a.b").set(&mut doc, json!("replaced a number"));
        assert_eq!(
            doc,
            json!({"a": {"b": "replaced a number"}, "x": {"y": {"z": true}}})
        );
    }

    #[test]
    fn merge_is_deep_for_objects_and_replaces_everything_else() {
        let mut target = json!({"a": {"x": 1, "y": 2}, "list": [1, 2], "keep": true});
        merge(
            &mut target,
            json!({"a": {"y": 3, "z": 4}, "list": [9], "new": null}),
        );
        assert_eq!(
            target,
            json!({"a": {"x": 1, "y": 3, "z": 4}, "list": [9], "keep": true, "new": null})
        );
        let mut scalar = json!(1);
        merge(&mut scalar, json!({"a": 1}));
        assert_eq!(scalar, json!({"a": 1}));
    }
}
