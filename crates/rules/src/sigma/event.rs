//! How a Sigma field name reaches into an event's JSON: dotted names, keys that hold dots, arrays
//! on the way, and the text form of a value. Read-only over the event; never allocates for
//! strings, numbers or booleans.
//!
//! A field name is looked up in an object first as one whole key (`"a.b"`, as flattened logs and
//! pySigma's field names have it), then split at each of its dots in turn, shortest head first
//! (`a` then `b`; `a.b` then `c`, …): every way the name can be read is tried, and the field
//! matches when any value so reached does. An array met on the way (or at the end) stands for
//! each of its elements: `requestParameters.ipPermissions.items.ipRanges.items.cidrIp` reaches
//! every `cidrIp` of every item.

use serde_json::Value;
use std::fmt::Write as _;

/// Calls `f` on each value `path` reaches in `node`, arrays flattened, until `f` says stop
/// (returns `true`); returns whether it did.
pub(crate) fn any_leaf<'v>(
    node: &'v Value,
    path: &str,
    f: &mut impl FnMut(&'v Value) -> bool,
) -> bool {
    match node {
        Value::Object(map) => {
            if let Some(v) = map.get(path) {
                if flatten(v, f) {
                    return true;
                }
            }
            for (i, _) in path.match_indices('.') {
                if let Some(v) = map.get(&path[..i]) {
                    if any_leaf(v, &path[i + 1..], f) {
                        return true;
                    }
                }
            }
            false
        }
        Value::Array(items) => items.iter().any(|item| any_leaf(item, path, f)),
        _ => false,
    }
}

/// Calls `f` on `v`, or on each element of `v` when it is an array (recursively).
fn flatten<'v>(v: &'v Value, f: &mut impl FnMut(&'v Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|item| flatten(item, f)),
        other => f(other),
    }
}

/// Whether `path` names anything in `node` (a null, an empty array or an object included).
pub(crate) fn exists(node: &Value, path: &str) -> bool {
    match node {
        Value::Object(map) => {
            map.contains_key(path)
                || path.match_indices('.').any(|(i, _)| {
                    map.get(&path[..i])
                        .is_some_and(|v| exists(v, &path[i + 1..]))
                })
        }
        Value::Array(items) => items.iter().any(|item| exists(item, path)),
        _ => false,
    }
}

/// Runs `f` on the text form of a value: a string as it is, a number as JSON writes it, a boolean
/// as `true`/`false`, an object as its compact JSON text (the only case that allocates). `None`
/// for null and arrays (arrays are flattened before values get here).
#[inline]
pub(crate) fn with_text<R>(v: &Value, f: impl FnOnce(&str) -> R) -> Option<R> {
    match v {
        Value::String(s) => Some(f(s)),
        Value::Bool(true) => Some(f("true")),
        Value::Bool(false) => Some(f("false")),
        Value::Number(n) => {
            let mut buf = NumBuf::default();
            if write!(buf, "{n}").is_ok() {
                Some(f(buf.as_str()))
            } else {
                Some(f(&n.to_string()))
            }
        }
        Value::Object(_) => serde_json::to_string(v).ok().map(|s| f(&s)),
        Value::Null | Value::Array(_) => None,
    }
}

/// Calls `f` on every text of the event (every string, number and boolean, and every object key),
/// depth first, until `f` says stop: what a keyword search looks through.
pub(crate) fn any_text(v: &Value, f: &mut impl FnMut(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Number(_) | Value::Bool(_) => with_text(v, |s| f(s)).unwrap_or(false),
        Value::Null => false,
        Value::Array(items) => items.iter().any(|item| any_text(item, f)),
        Value::Object(map) => map.iter().any(|(k, item)| f(k) || any_text(item, f)),
    }
}

/// A number's text, on the stack.
struct NumBuf {
    bytes: [u8; 48],
    len: usize,
}

impl Default for NumBuf {
    fn default() -> Self {
        NumBuf {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl NumBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for NumBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaves(v: &Value, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        any_leaf(v, path, &mut |x| {
            out.push(x.clone());
            false
        });
        out
    }

    #[test]
    fn paths() {
        let ev = json!({
            "a": {"b": {"c": 1}},
            "a.b": {"c": 2},
            "list": [{"x": "p"}, {"x": ["q", "r"]}, {"y": 1}],
            "n": null,
            "empty": []
        });
        assert_eq!(leaves(&ev, "a.b.c"), vec![json!(1), json!(2)]);
        assert_eq!(
            leaves(&ev, "list.x"),
            vec![json!("p"), json!("q"), json!("r")]
        );
        assert_eq!(leaves(&ev, "n"), vec![Value::Null]);
        assert!(leaves(&ev, "empty").is_empty());
        assert!(leaves(&ev, "missing.x").is_empty());
        assert!(exists(&ev, "empty") && exists(&ev, "n") && exists(&ev, "list.y"));
        assert!(!exists(&ev, "list.z") && !exists(&ev, "a.c"));
    }

    #[test]
    fn texts() {
        let t = |v: Value| with_text(&v, str::to_string);
        assert_eq!(t(json!(12)), Some("12".into()));
        assert_eq!(t(json!(-1.5)), Some("-1.5".into()));
        assert_eq!(t(json!(true)), Some("true".into()));
        assert_eq!(t(json!({"k": "v"})), Some("{\"k\":\"v\"}".into()));
        assert_eq!(t(Value::Null), None);
        let mut seen = Vec::new();
        any_text(&json!({"k": ["v", 1, null]}), &mut |s| {
            seen.push(s.to_string());
            false
        });
        assert_eq!(seen, ["k", "v", "1"]);
    }
}
