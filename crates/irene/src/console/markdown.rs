//! Markdown to HTML for the console (runbooks): CommonMark with tables, raw HTML shown as text,
//! and links or images only to web, mail or local addresses. It renders; it must not fetch.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// Whether a link may be followed from the console: web, mail, or a path/anchor on this server.
fn safe_url(u: &str) -> bool {
    let lower = u.trim_start().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('#')
        || (lower.starts_with('/') && !lower.starts_with("//"))
}

fn scrub(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

/// The HTML of `text`, safe to put in a console page as is.
pub fn to_html(text: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events = Parser::new_ext(text, options).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: scrub(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: scrub(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_nothing_runs() {
        let table = [
            ("# Title\n\n*x*", "<h1>Title</h1>\n<p><em>x</em></p>\n"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            (
                "a <img src=x onerror=alert(1)> b",
                "a &lt;img src=x onerror=alert(1)&gt; b",
            ),
            ("[x](javascript:alert(1))", r##"<a href="#">x</a>"##),
            ("[x](//evil.test/)", r##"<a href="#">x</a>"##),
            (
                "[ok](https://docs.example/r)",
                r#"<a href="https://docs.example/r">ok</a>"#,
            ),
            (
                "[case](/cases?status=open)",
                r#"<a href="/cases?status=open">case</a>"#,
            ),
            (
                "![i](data:image/png;base64,AAAA)",
                r##"<img src="#" alt="i" />"##,
            ),
            ("| a |\n|---|\n| 1 |", "<table>"),
        ];
        for (md, want) in table {
            let html = to_html(md);
            assert!(html.contains(want), "{md:?} → {html}");
            assert!(!html.contains("<script"), "{html}");
        }
    }
}
