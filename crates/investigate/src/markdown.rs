//! Small markdown helpers for investigation summaries: escaping, tables, `<details>` blocks.
//! Text only; must not decide what a summary says (each investigator does).

/// Escapes what would break a table cell or start markup (`|`, backticks, `<`, `*`, `_`, `[`).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A markdown table; cells are escaped here.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push('|');
    for h in header {
        out.push(' ');
        out.push_str(h);
        out.push_str(" |");
    }
    out.push_str("\n|");
    for _ in header {
        out.push_str("---|");
    }
    out.push('\n');
    for row in rows {
        out.push('|');
        for cell in row {
            out.push(' ');
            out.push_str(&escape(cell));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

/// A table, folded into `<details>` when it has more than `fold_after` rows.
pub(crate) fn table_folded(
    summary: &str,
    header: &[&str],
    rows: &[Vec<String>],
    fold_after: usize,
) -> String {
    let t = table(header, rows);
    if rows.len() > fold_after {
        format!(
            "<details><summary>{} ({} rows)</summary>\n\n{}\n</details>\n",
            escape(summary),
            rows.len(),
            t
        )
    } else {
        t
    }
}
