//! Where things are in a rule file's text: the line of each rule, of its fields, and of a spot in
//! an expression. A best-effort scan that answers only when sure; it never judges the YAML.

/// Positions in one file, for a file whose top level is a block list of `expected` items.
pub(crate) struct FileMap<'a> {
    lines: Vec<&'a str>,
    /// 0-based index of the line of each item's `-`; `None` when the scan is not sure.
    items: Option<Vec<usize>>,
}

/// Where a field's value starts: its line (0-based index) and byte column in that line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPos {
    pub(crate) line: usize,
    pub(crate) col: usize,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn is_entry(t: &str) -> bool {
    t == "-" || t.starts_with("- ")
}

/// 1-based character column of byte `col` in `line`.
fn char_col(line: &str, col: usize) -> usize {
    line.get(..col).map_or(col, |s| s.chars().count()) + 1
}

impl<'a> FileMap<'a> {
    pub(crate) fn new(text: &'a str, expected: usize) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let items = scan_items(&lines).filter(|items| items.len() == expected);
        FileMap { lines, items }
    }

    fn span(&self, item: usize) -> Option<(usize, usize)> {
        let items = self.items.as_ref()?;
        let start = *items.get(item)?;
        let end = items.get(item + 1).copied().unwrap_or(self.lines.len());
        Some((start, end))
    }

    /// The 1-based line of item `item` (0-based).
    pub(crate) fn item_line(&self, item: usize) -> Option<usize> {
        self.span(item).map(|(start, _)| start + 1)
    }

    /// Where the value of `key` in item `item` starts.
    pub(crate) fn field(&self, item: usize, key: &str) -> Option<FieldPos> {
        let (start, end) = self.span(item)?;
        let dash_line = self.lines[start];
        let after_dash = indent(dash_line) + 1;
        let rest = &dash_line[after_dash..];
        let key_col = if rest.trim().is_empty() || rest.trim_start().starts_with('#') {
            // `-` alone: the mapping starts on the next line
            let first = (start + 1..end).find(|&l| !is_blank_or_comment(self.lines[l]))?;
            indent(self.lines[first])
        } else {
            after_dash + indent(rest)
        };
        for l in start..end {
            let line = self.lines[l];
            if line.len() <= key_col || (l != start && indent(line) != key_col) {
                continue;
            }
            let Some(after) = line[key_col..].strip_prefix(key) else {
                continue;
            };
            let Some(value) = after.strip_prefix(':') else {
                continue;
            };
            if !(value.is_empty() || value.starts_with(' ')) {
                continue;
            }
            let col = line.len() - value.trim_start_matches(' ').len();
            return Some(FieldPos { line: l, col });
        }
        None
    }

    /// The 1-based line and column of the key `key` of item `item`.
    pub(crate) fn key_line(&self, item: usize, key: &str) -> Option<usize> {
        self.field(item, key).map(|p| p.line + 1)
    }

    /// The 1-based line and character column in the file of the spot at 1-based `line`/`col`
    /// of `expr`, the parsed value of the field whose value starts at `at`. The column is
    /// `None` when the value's YAML style makes it uncertain (folded or escaped scalars).
    pub(crate) fn expr_pos(
        &self,
        at: FieldPos,
        expr: &str,
        line: usize,
        col: usize,
    ) -> (usize, Option<usize>) {
        let fallback = (at.line + 1, None);
        let Some(text) = self.lines.get(at.line) else {
            return fallback;
        };
        let value = &text[at.col..];
        let single_line = !expr.trim_end_matches('\n').contains('\n');
        if let Some(style) = value.chars().next().filter(|c| *c == '|' || *c == '>') {
            if style == '>' {
                return fallback;
            }
            // a literal block: the expression's lines are the block's lines, less its indent
            let mut content =
                (at.line + 1..self.lines.len()).filter(|&l| !self.lines[l].trim().is_empty());
            let Some(first) = content.next() else {
                return fallback;
            };
            let block_indent = indent(self.lines[first]);
            let block_start = at.line + 1;
            let matches = expr
                .trim_end_matches('\n')
                .split('\n')
                .enumerate()
                .all(|(i, l)| {
                    l.is_empty()
                        || self
                            .lines
                            .get(block_start + i)
                            .and_then(|fl| fl.get(block_indent..))
                            == Some(l)
                });
            let file_line = block_start + line - 1;
            return match (matches, self.lines.get(file_line)) {
                (true, Some(_)) => (file_line + 1, Some(block_indent + col)),
                _ => fallback,
            };
        }
        if line != 1 || !single_line {
            return fallback;
        }
        let (quote, body) = match value.chars().next() {
            Some('"' | '\'') => (1, &value[1..]),
            _ => (0, value),
        };
        if body.starts_with(expr) {
            (at.line + 1, Some(char_col(text, at.col) + quote + col - 1))
        } else {
            fallback
        }
    }
}

/// The 0-based lines of the items of the top-level block list, or `None` when the text is
/// not laid out as one (a flow list, a mapping, a line the scan does not understand).
fn scan_items(lines: &[&str]) -> Option<Vec<usize>> {
    let mut items = Vec::new();
    let mut seq_indent: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        if is_blank_or_comment(line) {
            continue;
        }
        let t = line.trim_start();
        if line.starts_with('\t') {
            return None;
        }
        let n = indent(line);
        match seq_indent {
            None => {
                if t == "---" || t.starts_with("--- ") || t.starts_with('%') {
                    continue;
                }
                if !is_entry(t) {
                    return None;
                }
                seq_indent = Some(n);
                items.push(i);
            }
            Some(s) => {
                if n == s && is_entry(t) {
                    items.push(i);
                } else if n <= s {
                    return None;
                }
            }
        }
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# rules\n- name: a\n  when: x == 1\n  key: \"k/{{x}}\"\n-\n  name: b\n  description: |\n    - not an item\n  when: |\n    alert.type == 'a' &&\n      nope\n- {name: c, when: 'true'}\n";

    #[test]
    fn items_and_fields() {
        let map = FileMap::new(TEXT, 3);
        assert_eq!(
            (0..4).map(|i| map.item_line(i)).collect::<Vec<_>>(),
            vec![Some(2), Some(5), Some(12), None]
        );
        assert_eq!(map.key_line(0, "key"), Some(4));
        assert_eq!(map.key_line(1, "when"), Some(9));
        assert_eq!(map.key_line(1, "name"), Some(6));
        assert_eq!(map.key_line(0, "severity"), None);
        let at = map.field(0, "when").map(|p| (p.line, p.col));
        assert_eq!(at, Some((2, 8)));
        // a spot in a plain scalar, in a literal block
        let Some(at) = map.field(0, "when") else {
            panic!()
        };
        assert_eq!(map.expr_pos(at, "x == 1", 1, 3), (3, Some(11)));
        let Some(at) = map.field(1, "when") else {
            panic!()
        };
        assert_eq!(
            map.expr_pos(at, "alert.type == 'a' &&\n  nope\n", 2, 3),
            (11, Some(7))
        );
        // the count of items must agree with the parse
        assert_eq!(FileMap::new(TEXT, 2).item_line(0), None);
        assert_eq!(FileMap::new("[{name: a}]", 1).item_line(0), None);
    }
}
