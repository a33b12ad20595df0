//! Reading decoder input: key lookups (exact or loose), typed readers, and the JSON pointer of each value.
//! Knows no source; never panics on any input, and reports wrong types as `DecodeError`s at the right path.

use crate::DecodeError;
use serde_json::{Map, Value};

/// How object keys are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// The key must be spelled exactly as asked.
    Exact,
    /// The exact key first, else any key equal to it ignoring ASCII case and `_`
    /// (`accountId`, `AccountId`, `account_id` all match).
    Loose,
}

/// A value inside the decoder's item, with its JSON pointer.
#[derive(Clone, Debug)]
pub(crate) struct Node<'a> {
    pub value: &'a Value,
    pub path: String,
    keys: Keys,
}

/// "a string", "an object"… for error messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Escapes one JSON pointer reference token (RFC 6901).
pub(crate) fn escape_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn loose_eq(a: &str, b: &str) -> bool {
    let mut x = a.bytes().filter(|c| *c != b'_');
    let mut y = b.bytes().filter(|c| *c != b'_');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(&q) => {}
            _ => return false,
        }
    }
}

fn find<'a>(map: &'a Map<String, Value>, key: &str, keys: Keys) -> Option<(&'a str, &'a Value)> {
    if let Some((k, v)) = map.get_key_value(key) {
        return Some((k.as_str(), v));
    }
    if keys == Keys::Loose {
        return map
            .iter()
            .find(|(k, _)| loose_eq(k, key))
            .map(|(k, v)| (k.as_str(), v));
    }
    None
}

/// Text of a scalar: a non-empty string (trimmed), a number or a boolean.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value, keys: Keys) -> Self {
        Node::with_path(value, String::new(), keys)
    }

    pub fn with_path(value: &'a Value, path: String, keys: Keys) -> Self {
        Node { value, path, keys }
    }

    fn child(&self, token: &str, value: &'a Value) -> Node<'a> {
        Node {
            value,
            path: format!("{}/{}", self.path, escape_token(token)),
            keys: self.keys,
        }
    }

    /// The pointer of a (possibly missing) member, for errors about it.
    pub fn path_of(&self, key: &str) -> String {
        format!("{}/{}", self.path, escape_token(key))
    }

    pub fn error(&self, message: impl Into<String>) -> DecodeError {
        DecodeError::new(self.path.clone(), message)
    }

    /// `expected {expected}, found {what this value is}`.
    pub fn type_error(&self, expected: &str) -> DecodeError {
        self.error(format!(
            "expected {expected}, found {}",
            kind_of(self.value)
        ))
    }

    pub fn is_object(&self) -> bool {
        self.value.is_object()
    }

    /// The member `key`; `None` when missing, null, or when this is not an object.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let map = self.value.as_object()?;
        let (k, v) = find(map, key, self.keys)?;
        if v.is_null() {
            return None;
        }
        Some(self.child(k, v))
    }

    /// `get` along a chain of keys.
    pub fn at(&self, keys: &[&str]) -> Option<Node<'a>> {
        let mut node = self.clone();
        for key in keys {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The elements of an array (empty for anything else).
    pub fn elements(&self) -> Vec<Node<'a>> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.child(&i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The members of an object, in document order (empty for anything else).
    pub fn members(&self) -> Vec<(&'a str, Node<'a>)> {
        match self.value {
            Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.as_str(), self.child(k, v)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The first element of an array, or this value itself when it is an object.
    pub fn first(&self) -> Option<Node<'a>> {
        match self.value {
            Value::Array(_) => self.elements().into_iter().next(),
            Value::Object(_) => Some(self.clone()),
            _ => None,
        }
    }

    // ----- lenient readers: wrong types read as missing -----

    /// A non-empty string (trimmed).
    pub fn as_str(&self) -> Option<&'a str> {
        match self.value {
            Value::String(s) => {
                let t = s.trim();
                (!t.is_empty()).then_some(t)
            }
            _ => None,
        }
    }

    /// A non-empty string, number or boolean, as text.
    pub fn text(&self) -> Option<String> {
        scalar_text(self.value)
    }

    pub fn str_at(&self, key: &str) -> Option<&'a str> {
        self.get(key)?.as_str()
    }

    pub fn text_at(&self, key: &str) -> Option<String> {
        self.get(key)?.text()
    }

    /// A boolean, or the strings `"true"`/`"false"`.
    pub fn bool_at(&self, key: &str) -> Option<bool> {
        match self.get(key)?.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// True when `key` holds a string equal to `want`, ignoring ASCII case.
    pub fn str_is(&self, key: &str, want: &str) -> bool {
        self.str_at(key)
            .is_some_and(|s| s.eq_ignore_ascii_case(want))
    }

    // ----- strict readers: wrong types are errors -----

    pub fn expect_object(&self) -> Result<(), DecodeError> {
        if self.is_object() {
            Ok(())
        } else {
            Err(self.type_error("an object"))
        }
    }

    /// A string member if present (null counts as missing); any other type is an error.
    /// An empty string reads as missing.
    pub fn opt_string(&self, key: &str) -> Result<Option<&'a str>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match node.value {
                Value::String(s) => {
                    let t = s.trim();
                    Ok((!t.is_empty()).then_some(t))
                }
                _ => Err(node.type_error("a string")),
            },
        }
    }

    /// A non-empty string member that must be there.
    pub fn req_string(&self, key: &str) -> Result<&'a str, DecodeError> {
        match self.get(key) {
            None => Err(DecodeError::new(
                self.path_of(key),
                "missing required field (expected a non-empty string)",
            )),
            Some(node) => match node.value {
                Value::String(s) if !s.trim().is_empty() => Ok(s.trim()),
                Value::String(_) => {
                    Err(node.error("expected a non-empty string, found an empty string"))
                }
                _ => Err(node.type_error("a non-empty string")),
            },
        }
    }

    /// An object member if present; any other type is an error.
    pub fn opt_object(&self, key: &str) -> Result<Option<Node<'a>>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) if node.is_object() => Ok(Some(node)),
            Some(node) => Err(node.type_error("an object")),
        }
    }

    /// An array member's elements if present; any other type is an error.
    pub fn opt_array(&self, key: &str) -> Result<Option<Vec<Node<'a>>>, DecodeError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) if node.value.is_array() => Ok(Some(node.elements())),
            Some(node) => Err(node.type_error("an array")),
        }
    }

    /// A number member if present (a string holding a number is accepted); anything else is an error.
    pub fn opt_number(&self, key: &str) -> Result<Option<(f64, String)>, DecodeError> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        match node.value {
            Value::Number(n) => match n.as_f64() {
                Some(f) => Ok(Some((f, n.to_string()))),
                None => Err(node.type_error("a number")),
            },
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some((f, s.trim().to_string()))),
                _ => Err(node.type_error("a number")),
            },
            _ => Err(node.type_error("a number")),
        }
    }

    /// The object's keys, sorted, for error messages.
    pub fn key_list(&self) -> Vec<&'a str> {
        let mut keys: Vec<&str> = match self.value {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        keys.sort_unstable();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_and_exact_lookup() {
        let v = json!({"AccountId": "1", "detail_type": "x", "a/b": {"c~d": 2}, "n": null});
        let loose = Node::root(&v, Keys::Loose);
        let exact = Node::root(&v, Keys::Exact);
        assert_eq!(loose.str_at("accountId"), Some("1"));
        assert_eq!(loose.str_at("detailType"), Some("x"));
        assert_eq!(exact.str_at("accountId"), None);
        assert_eq!(exact.str_at("AccountId"), Some("1"));
        assert!(loose.get("n").is_none());
        let deep = loose.at(&["a/b", "c~d"]);
        assert_eq!(deep.map(|n| n.path), Some("/a~1b/c~0d".to_string()));
    }

    #[test]
    fn strict_readers_report_paths() {
        let v = json!({"s": 1, "o": "x", "a": {}, "e": "  ", "num": "x"});
        let n = Node::root(&v, Keys::Exact);
        let err = n.opt_string("s").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("at /s: expected a string, found a number")
        );
        assert_eq!(n.opt_object("o").err().map(|e| e.path), Some("/o".into()));
        assert_eq!(n.opt_array("a").err().map(|e| e.path), Some("/a".into()));
        assert_eq!(n.req_string("e").err().map(|e| e.path), Some("/e".into()));
        assert_eq!(n.req_string("zz").err().map(|e| e.path), Some("/zz".into()));
        assert_eq!(
            n.opt_number("num").err().map(|e| e.message),
            Some("expected a number, found a string".into())
        );
    }
}
