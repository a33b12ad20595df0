//! Markdown (GitHub's, as notes and investigation summaries are written) turned into Slack mrkdwn:
//! tables as preformatted text, `<details>` unwrapped, escaped for Slack, cut into sections. Pure.

use crate::render::{slack_escape, truncate};

/// A piece of a converted note, already escaped for Slack (`&`, `<`, `>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// mrkdwn lines (bold, italics, links, code spans, bullets).
    Text(String),
    /// Preformatted lines (a table laid out in columns, a fenced block), shown in a ``` block.
    Pre(String),
}

impl Part {
    fn render(&self) -> String {
        match self {
            Part::Text(t) => t.clone(),
            Part::Pre(p) => format!("```\n{p}\n```"),
        }
    }
}

/// Converts Markdown into Slack parts: headings and `**bold**` become `*bold*`, `*em*` becomes
/// `_em_`, `[text](https://…)` a Slack link, list items bullets; tables become preformatted
/// columns (Slack renders no tables); `<details>`/`<summary>` tags are dropped and their
/// content kept (the summary in bold); `<sub>` and `<br>` are dropped; other HTML shows as text.
pub fn parts(markdown: &str) -> Vec<Part> {
    let lines: Vec<String> = markdown.lines().map(unwrap_html_blocks).collect();
    let mut out = Vec::new();
    let mut text: Vec<String> = Vec::new();
    let flush = |text: &mut Vec<String>, out: &mut Vec<Part>| {
        while text.last().is_some_and(|l| l.trim().is_empty()) {
            text.pop();
        }
        if !text.is_empty() {
            out.push(Part::Text(text.join("\n")));
        }
        text.clear();
    };
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let trimmed = line.trim();
        if let Some(fence) = fence_of(trimmed) {
            flush(&mut text, &mut out);
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !is_closing_fence(lines[i].trim(), &fence) {
                body.push(lines[i].as_str());
                i += 1;
            }
            i += 1; // the closing fence (or the end)
            out.push(Part::Pre(slack_escape(&body.join("\n"))));
            continue;
        }
        if trimmed.starts_with('|') {
            flush(&mut text, &mut out);
            let mut rows = Vec::new();
            while i < lines.len() && lines[i].trim().starts_with('|') {
                rows.push(cells(lines[i].trim()));
                i += 1;
            }
            out.push(Part::Pre(slack_escape(&layout(&rows))));
            continue;
        }
        if trimmed.is_empty() {
            // one blank line between paragraphs, none at the start
            if text.last().is_some_and(|l| !l.trim().is_empty()) {
                text.push(String::new());
            }
        } else if line != HTML_ONLY {
            text.push(block_line(line));
        }
        i += 1;
    }
    flush(&mut text, &mut out);
    out
}

/// What a line made only of block tags (`<details>`, `</details>`) becomes: skipped.
const HTML_ONLY: &str = "\u{0}";

/// Drops `<details>`/`</details>` and turns `<summary>x</summary>` into `**x**`; a line left
/// empty by that is [`HTML_ONLY`].
fn unwrap_html_blocks(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    if !lower.contains("<details") && !lower.contains("</details") && !lower.contains("summary>") {
        return line.to_string();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('>') else {
            out.push_str(tail);
            rest = "";
            break;
        };
        let tag = tail[1..end].trim().to_ascii_lowercase();
        let name = tag.split_whitespace().next().unwrap_or("");
        match name {
            "details" | "/details" => {}
            "summary" | "/summary" => out.push_str("**"),
            _ => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    if out.trim().is_empty() {
        HTML_ONLY.to_string()
    } else {
        out.trim().to_string()
    }
}

/// The backtick run opening a fenced block (``` or more), if the line is one.
fn fence_of(trimmed: &str) -> Option<String> {
    let n = trimmed.chars().take_while(|c| *c == '`').count();
    (n >= 3).then(|| "`".repeat(n))
}

fn is_closing_fence(trimmed: &str, fence: &str) -> bool {
    trimmed.starts_with(fence) && trimmed.chars().all(|c| c == '`')
}

/// A line outside tables and fences: headings bold, list items bullets, quotes kept.
fn block_line(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        let title = inline(trimmed[hashes..].trim().trim_end_matches('#').trim());
        return format!("*{}*", title.replace('*', ""));
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = trimmed.strip_prefix(bullet) {
            return format!("{indent}• {}", inline(rest));
        }
    }
    if let Some(rest) = trimmed.strip_prefix('>') {
        return format!(">{}", inline(rest));
    }
    inline(line.trim_end())
}

/// One Markdown line's inline markup as mrkdwn, escaped for Slack.
pub fn inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        match c {
            '\\' if i + 1 < n && chars[i + 1].is_ascii_punctuation() => {
                push_escaped(&mut out, chars[i + 1]);
                i += 2;
            }
            '`' => {
                let run = run_len(&chars, i, '`');
                match find_run(&chars, i + run, '`', run) {
                    Some(close) => {
                        let code: String = chars[i + run..close].iter().collect();
                        let code = code.trim().replace('`', "'");
                        out.push('`');
                        out.push_str(&slack_escape(&code));
                        out.push('`');
                        i = close + run;
                    }
                    None => {
                        out.extend(std::iter::repeat_n('`', run));
                        i += run;
                    }
                }
            }
            '*' | '_' if i + 1 < n && chars[i + 1] == c => {
                out.push('*');
                i += 2;
            }
            '*' => {
                out.push('_');
                i += 1;
            }
            '[' => match link(&chars, i) {
                Some((text, url, next)) => {
                    out.push_str(&format!(
                        "<{}|{}>",
                        url.replace(['<', '>', '|', ' '], ""),
                        inline(&text).replace(['|', '<', '>'], "")
                    ));
                    i = next;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            '<' => match dropped_tag(&chars, i) {
                Some(next) => i = next,
                None => {
                    out.push_str("&lt;");
                    i += 1;
                }
            },
            '&' => {
                // an entity Slack reads the same way stays; any other `&` is escaped
                let rest: String = chars[i..n.min(i + 6)].iter().collect();
                match ["&lt;", "&gt;", "&amp;"]
                    .iter()
                    .find(|e| rest.starts_with(**e))
                {
                    Some(e) => {
                        out.push_str(e);
                        i += e.len();
                    }
                    None => {
                        out.push_str("&amp;");
                        i += 1;
                    }
                }
            }
            c => {
                push_escaped(&mut out, c);
                i += 1;
            }
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

fn run_len(chars: &[char], at: usize, c: char) -> usize {
    chars[at..].iter().take_while(|x| **x == c).count()
}

/// The start of the next run of exactly `len` `c`s at or after `from`.
fn find_run(chars: &[char], from: usize, c: char, len: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == c {
            let run = run_len(chars, i, c);
            if run == len {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// `[text](http…)` at `at`: its text, URL and the index after it.
fn link(chars: &[char], at: usize) -> Option<(String, String, usize)> {
    let close = (at + 1..chars.len()).find(|&j| chars[j] == ']' && chars[j - 1] != '\\')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = (close + 2..chars.len()).find(|&j| chars[j] == ')')?;
    let text: String = chars[at + 1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    let url = url.trim().trim_start_matches('<').trim_end_matches('>');
    (url.starts_with("https://") || url.starts_with("http://"))
        .then(|| (text, url.to_string(), end + 1))
}

/// `<sub>`, `</sub>`, `<br>`, `<br/>` at `at`: the index after it (dropped).
fn dropped_tag(chars: &[char], at: usize) -> Option<usize> {
    let end = (at + 1..chars.len().min(at + 8)).find(|&j| chars[j] == '>')?;
    let tag: String = chars[at + 1..end].iter().collect();
    let tag = tag.trim().to_ascii_lowercase();
    ["sub", "/sub", "br", "br/", "br /"]
        .contains(&tag.as_str())
        .then_some(end + 1)
}

/// The cells of a table row, their inline markup reduced to plain text.
fn cells(row: &str) -> Vec<String> {
    let inner = row.strip_prefix('|').unwrap_or(row);
    let inner = inner
        .strip_suffix('|')
        .filter(|s| !s.ends_with('\\'))
        .unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_punctuation) => {
                cell.extend(chars.next());
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            '`' => {}
            c => cell.push(c),
        }
    }
    cells.push(cell);
    cells
        .into_iter()
        .map(|c| {
            c.trim()
                .replace("**", "")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

fn is_separator(row: &[String]) -> bool {
    row.iter().all(|c| {
        let c = c.trim();
        !c.is_empty() && c.chars().all(|x| matches!(x, '-' | ':'))
    })
}

/// Rows laid out in columns (two spaces apart), the header underlined; cells over 60 characters
/// are cut.
fn layout(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| !is_separator(r))
        .map(|r| r.iter().map(|c| truncate(c, 60)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |r: &[String]| -> String {
        let mut s = String::new();
        for (k, w) in widths.iter().enumerate() {
            let c = r.get(k).map(String::as_str).unwrap_or("");
            s.push_str(c);
            s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
        }
        s.trim_end().to_string()
    };
    let mut out = Vec::new();
    for (k, r) in rows.iter().enumerate() {
        out.push(line(r));
        if k == 0 && rows.len() > 1 {
            let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            out.push("-".repeat(total));
        }
    }
    out.join("\n")
}

/// The parts packed into section texts of at most `section_max` characters and `total_max` in
/// all, a preformatted block cut only between lines (each piece fenced again); `true` when
/// something was left out.
pub fn sections(parts: &[Part], section_max: usize, total_max: usize) -> (Vec<String>, bool) {
    let mut pieces = Vec::new();
    for p in parts {
        let whole = p.render();
        if whole.chars().count() <= section_max {
            pieces.push(whole);
            continue;
        }
        match p {
            Part::Text(t) => pieces.extend(split_text(t, section_max)),
            Part::Pre(body) => {
                // "```\n" + lines + "\n```"
                let room = section_max.saturating_sub(8).max(1);
                let mut chunk: Vec<String> = Vec::new();
                let mut len = 0;
                for l in body.lines() {
                    let l = cut(l, room);
                    let add = l.chars().count() + 1;
                    if len + add > room && !chunk.is_empty() {
                        pieces.push(Part::Pre(chunk.join("\n")).render());
                        chunk.clear();
                        len = 0;
                    }
                    len += add;
                    chunk.push(l);
                }
                if !chunk.is_empty() {
                    pieces.push(Part::Pre(chunk.join("\n")).render());
                }
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    let (mut total, mut left_out) = (0, false);
    for piece in pieces {
        let len = piece.chars().count();
        if total + len > total_max {
            left_out = true;
            break;
        }
        total += len;
        match out.last_mut() {
            Some(last) if last.chars().count() + 2 + len <= section_max => {
                last.push_str("\n\n");
                last.push_str(&piece);
            }
            _ => out.push(piece),
        }
    }
    (out, left_out)
}

/// Text cut into pieces of at most `max` characters, at line ends when it can be.
fn split_text(t: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in t.lines() {
        let mut line = line.to_string();
        while line.chars().count() > max {
            let head = cut(&line, max);
            let rest = line[head.len()..].to_string();
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(head);
            line = rest;
        }
        if !current.is_empty() && current.chars().count() + 1 + line.chars().count() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// At most `max` characters of `s` (at least one), never ending inside an entity (`&lt;`) or a
/// link (`<url|text>`).
fn cut(s: &str, max: usize) -> String {
    let end = s.char_indices().nth(max).map_or(s.len(), |(i, _)| i);
    let mut head = &s[..end];
    if end < s.len() {
        if let Some(amp) = head.rfind('&').filter(|&a| !head[a..].contains(';')) {
            head = &head[..amp];
        }
        if let Some(lt) = head.rfind('<').filter(|&l| !head[l..].contains('>')) {
            head = &head[..lt];
        }
    }
    if head.is_empty() {
        // nothing safe to cut at: one character, so that the caller moves on
        s.chars().next().map(String::from).unwrap_or_default()
    } else {
        head.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(md: &str) -> String {
        parts(md)
            .iter()
            .map(Part::render)
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    #[test]
    fn inline_table() {
        // (markdown, mrkdwn)
        let table = [
            ("plain words", "plain words"),
            ("**bold** and *em* and _em_", "*bold* and _em_ and _em_"),
            ("`code <b>`", "`code &lt;b&gt;`"),
            ("`` a`b ``", "`a'b`"),
            ("a \\| b \\_c\\_ \\[d\\]", "a | b _c_ [d]"),
            ("x &lt;y&gt; & z", "x &lt;y&gt; &amp; z"),
            ("<!here> <@U123>", "&lt;!here&gt; &lt;@U123&gt;"),
            (
                "[the case](https://irene.example/cases/1)",
                "<https://irene.example/cases/1|the case>",
            ),
            ("[not a link](javascript:x)", "[not a link](javascript:x)"),
            ("<sub>Irene note</sub>", "Irene note"),
            ("a `lone backtick", "a `lone backtick"),
            ("snake_case_name", "snake_case_name"),
        ];
        for (md, want) in table {
            assert_eq!(inline(md), want, "{md}");
        }
    }

    #[test]
    fn block_table() {
        // (markdown, the parts rendered and joined)
        let table = [
            ("### actor_history (done)", "*actor_history (done)*"),
            ("## **Bold** heading ##", "*Bold heading*"),
            ("- one\n- two\n  * nested", "• one\n• two\n  • nested"),
            ("> quoted <x>", "> quoted &lt;x&gt;"),
            ("para\n\n\n\nnext", "para\n\nnext"),
            (
                "| IP | Events |\n|---|---:|\n| `198.51.100.7` | 12 |\n| a\\|b | 3 |",
                "```\nIP            Events\n--------------------\n198.51.100.7  12\na|b           3\n```",
            ),
            (
                "<details><summary>Events (40 rows)</summary>\n\n| a | b |\n|---|---|\n| x &lt;y&gt; | 1 |\n</details>",
                "*Events (40 rows)*\n\n```\na      b\n--------\nx &lt;y&gt;  1\n```",
            ),
            (
                "<details>\n<summary>More</summary>\n\ninside\n\n</details>\nafter",
                "*More*\n\ninside\n\nafter",
            ),
            ("```json\n{\"a\": \"<b>\"}\n```\nafter", "```\n{\"a\": \"&lt;b&gt;\"}\n```\n\nafter"),
        ];
        let wrong: Vec<String> = table
            .iter()
            .filter(|(md, want)| text(md) != *want)
            .map(|(md, want)| format!("{md:?}\n  got  {:?}\n  want {want:?}", text(md)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn sections_keep_blocks_whole_and_within_limits() {
        let rows: String = (0..400)
            .map(|i| format!("| 10.0.{}.{} | event-{i} |\n", i / 256, i % 256))
            .collect();
        let md = format!(
            "### actor_history (done)\n\n{}\n\n| IP | Name |\n|---|---|\n{rows}\n### threat_context (done)\n\nshort",
            "word ".repeat(1_000)
        );
        let p = parts(&md);
        let (secs, left_out) = sections(&p, 3_000, 8_000);
        assert!(left_out);
        let total: usize = secs.iter().map(|s| s.chars().count()).sum();
        assert!(total <= 8_000, "{total}");
        for s in &secs {
            assert!(s.chars().count() <= 3_000, "{}", s.chars().count());
            // every preformatted piece is closed in its own section
            assert_eq!(s.matches("```").count() % 2, 0, "{s}");
        }
        assert!(secs[0].starts_with("*actor_history (done)*"));
        let (all, left_out) = sections(&parts("a\n\n```\nb\n```"), 3_000, 8_000);
        assert!(!left_out);
        assert_eq!(all, vec!["a\n\n```\nb\n```"]);
    }

    #[test]
    fn cuts_never_split_an_entity_or_a_link() {
        assert_eq!(cut("abc&lt;def", 5), "abc");
        assert_eq!(cut("ab <https://x|y> c", 8), "ab ");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("&lt;", 2), "&");
        let long = format!("{}&amp;", "x".repeat(2_998));
        let pieces = split_text(&long, 3_000);
        assert_eq!(pieces.concat(), long);
        assert!(pieces.iter().all(|p| p.chars().count() <= 3_000));
    }
}
