//! The leaf walker over an alert's raw JSON: every string or number with its key path.
//! Owns no knowledge of sources; callers match path suffixes. Must not allocate per leaf beyond the path.

use serde_json::Value;

const MAX_DEPTH: usize = 64;

/// Calls `f(path, leaf)` for every string and number in `v`. `path` is the object keys from
/// the top, lower-cased and joined by `/` (array levels add nothing), so that GuardDuty's
/// camelCase, the CLI's PascalCase and Security Hub's flattened `ProductFields` keys
/// (`aws/guardduty/service/action/…`) all end the same way.
pub(crate) fn leaves(v: &Value, f: &mut dyn FnMut(&str, &Value)) {
    let mut path = String::new();
    walk(v, &mut path, 0, f);
}

fn walk(v: &Value, path: &mut String, depth: usize, f: &mut dyn FnMut(&str, &Value)) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('/');
                }
                path.extend(k.chars().flat_map(char::to_lowercase));
                walk(child, path, depth + 1, f);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, path, depth + 1, f);
            }
        }
        Value::String(_) | Value::Number(_) => f(path, v),
        Value::Null | Value::Bool(_) => {}
    }
}

/// The text of a leaf: a string as is, a number printed.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
