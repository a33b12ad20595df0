//! Splitting a request body into JSON items: one object, an array of objects, or NDJSON.
//! Checks encoding and nesting depth before parsing; knows nothing of any source's shape.

use serde_json::Value;

/// Limits applied before and while parsing a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of arrays and objects accepted (the top-level value is depth 1).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64 }
    }
}

/// Why a body could not be split into items. Lines and columns count from 1; columns count bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not valid UTF-8 (first invalid byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("JSON nested deeper than {max} levels at line {line} column {column}")]
    TooDeep {
        max: usize,
        line: usize,
        column: usize,
    },
    #[error("expected a JSON object or an array of objects, found {found} at line {line} column {column}")]
    NotObjectOrArray {
        line: usize,
        column: usize,
        found: &'static str,
    },
    #[error("the body is empty")]
    Empty,
}

impl PayloadError {
    /// A stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            PayloadError::InvalidUtf8 { .. } => "invalid_utf8",
            PayloadError::Syntax { .. } => "invalid_json",
            PayloadError::TooDeep { .. } => "too_deep",
            PayloadError::NotObjectOrArray { .. } => "not_object",
            PayloadError::Empty => "empty",
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits a body into items. A single object is one item; an array contributes its elements
/// (each must be an object); several whitespace-separated values (NDJSON) each contribute the
/// same way. A UTF-8 byte-order mark is skipped; positions in errors count it.
pub fn split_payload(bytes: &[u8], limits: &Limits) -> Result<Vec<Value>, PayloadError> {
    let (skipped, body) = match bytes.strip_prefix(BOM) {
        Some(rest) => (BOM.len(), rest),
        None => (0, bytes),
    };
    let text = std::str::from_utf8(body).map_err(|e| PayloadError::InvalidUtf8 {
        offset: skipped + e.valid_up_to(),
    })?;
    if text.trim().is_empty() {
        return Err(PayloadError::Empty);
    }
    let position = |offset: usize| line_column(bytes, skipped + offset);
    if let Some(offset) = too_deep_at(text.as_bytes(), limits.max_depth) {
        let (line, column) = position(offset);
        return Err(PayloadError::TooDeep {
            max: limits.max_depth,
            line,
            column,
        });
    }

    let mut items = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = next_non_space(text.as_bytes(), stream.byte_offset());
        let value = match stream.next() {
            None => break,
            Some(Ok(value)) => value,
            Some(Err(e)) => return Err(syntax(&e, skipped > 0)),
        };
        match value {
            Value::Object(_) => items.push(value),
            Value::Array(elements) => {
                for (index, element) in elements.into_iter().enumerate() {
                    if !element.is_object() {
                        let offset = element_start(text.as_bytes(), start, index).unwrap_or(start);
                        let (line, column) = position(offset);
                        return Err(PayloadError::NotObjectOrArray {
                            line,
                            column,
                            found: crate::json::kind_of(&element),
                        });
                    }
                    items.push(element);
                }
            }
            other => {
                let (line, column) = position(start);
                return Err(PayloadError::NotObjectOrArray {
                    line,
                    column,
                    found: crate::json::kind_of(&other),
                });
            }
        }
    }
    Ok(items)
}

fn syntax(e: &serde_json::Error, bom: bool) -> PayloadError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    // serde_json counts columns from the start of the text it was given; on line 1 that is
    // after the byte-order mark.
    let column = if bom && e.line() == 1 {
        e.column() + BOM.len()
    } else {
        e.column()
    };
    PayloadError::Syntax {
        line: e.line(),
        column,
        message,
    }
}

/// 1-based line and byte column of `offset` in `bytes`.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

fn next_non_space(bytes: &[u8], from: usize) -> usize {
    bytes
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, b)| !b.is_ascii_whitespace())
        .map_or(from, |(i, _)| i)
}

/// The offset of the first `[` or `{` that opens a level deeper than `max`, skipping
/// string contents (with their escapes). Runs in one pass without recursion.
fn too_deep_at(bytes: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The offset where element `index` of the array opening at `start` begins.
/// Only used on error paths, for the position of a bad element.
fn element_start(bytes: &[u8], start: usize, index: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'[') {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut current = 0usize;
    let mut expecting = true; // right after `[` or a depth-1 `,`
    for (i, &b) in bytes.iter().enumerate().skip(start + 1) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if expecting && depth == 0 && !b.is_ascii_whitespace() {
            if current == index {
                return Some(i);
            }
            expecting = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return None,
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                current += 1;
                expecting = true;
            }
            _ => {}
        }
    }
    None
}
