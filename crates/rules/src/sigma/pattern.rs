//! Sigma string values: parsing wildcards and escapes, and matching them against event text with
//! Sigma's case rules, without allocating. Knows nothing of fields, modifiers or rules.
//!
//! The specification (Sigma rules specification 2.0, "General" and "Escape Character"):
//!
//! > All values are treated as case-insensitive strings. You can use wildcard characters `*` and
//! > `?` in strings. […] `?` to replace a single mandatory character. `*` to replace an unbounded
//! > length wildcard.
//!
//! > The backslash character `\` is used for escaping of wildcards `*` and `?` as well as the
//! > backslash character itself. […] Plain backslash not followed by a wildcard can be expressed as
//! > single `\` or double backslash `\\`. […] A wildcard has to be escaped to be handled as a plain
//! > character. eg: `\*`, `\?`. The backslash before a wildcard has to be escaped to handle the
//! > value as a backslash followed by a wildcard: `\\*`. Three backslashes are necessary to escape
//! > both, the backslash and the wildcard and handle them as plain values: `\\\*`. Three or four
//! > backslashes are handled as double backslash.
//!
//! Case-insensitive comparison folds both sides character by character with Unicode *simple* case
//! folding (one character to one character, so `?` still stands for one character): ASCII bytes
//! are compared directly, anything else goes through [`fold`].

use memchr::memmem;

/// The characters the `windash` modifier makes interchangeable (modifiers appendix 2.1: "`-`,
/// `/`, `–` (en dash), `—` (em dash), and `―` (horizontal bar)").
pub(crate) const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// One piece of a Sigma string value, after escapes are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// A plain character.
    Lit(char),
    /// `*`: any run of characters, the empty one included.
    Star,
    /// `?`: exactly one character.
    One,
    /// One of [`DASHES`] (made by `windash`).
    Dash,
}

/// Parses a plain Sigma string value into its parts, following the specification's escaping.
pub(crate) fn parse(value: &str) -> Vec<Part> {
    let mut parts = Vec::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => parts.push(Part::Star),
            '?' => parts.push(Part::One),
            '\\' => match chars.peek() {
                // `\*`, `\?`, `\\`: the next character, plain
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    parts.push(Part::Lit(next));
                }
                // a backslash before anything else (or at the end) is itself
                _ => parts.push(Part::Lit('\\')),
            },
            other => parts.push(Part::Lit(other)),
        }
    }
    parts
}

/// Unicode simple case folding of one character, computed from the standard library's case
/// tables (upper case, then lower case, when each is one character). The Turkic dotless `ı` and
/// dotted `İ` fold to themselves, as in Unicode's `CaseFolding.txt` (status C and S).
#[inline]
pub(crate) fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        fold_other(c)
    }
}

fn fold_other(c: char) -> char {
    if c == '\u{131}' || c == '\u{130}' {
        return c;
    }
    let upper = single(c.to_uppercase()).unwrap_or(c);
    single(upper.to_lowercase())
        .or_else(|| single(c.to_lowercase()))
        .unwrap_or(c)
}

/// The only item of `it`, if it has exactly one.
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    match it.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// `s` folded (for keys and literals, at load time or for index keys).
pub(crate) fn fold_str(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars().map(fold).collect()
    }
}

/// A literal to compare with: folded unless the comparison is case-sensitive.
#[derive(Debug, Clone)]
pub(crate) struct Lit {
    text: String,
    ascii: bool,
    /// For case-sensitive `contains`.
    finder: Option<Box<memmem::Finder<'static>>>,
}

impl Lit {
    fn new(text: String, cased: bool, contains: bool) -> Lit {
        let finder = (cased && contains && !text.is_empty())
            .then(|| Box::new(memmem::Finder::new(text.as_bytes()).into_owned()));
        Lit {
            ascii: text.is_ascii(),
            text,
            finder,
        }
    }
}

/// One token of a general pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Dash,
    Star,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `*` alone (or only stars): any text, the empty one included.
    Any,
    Exact(Lit),
    Prefix(Lit),
    Suffix(Lit),
    Contains(Lit),
    General(Vec<Tok>),
}

/// What the candidate index can read from a pattern: a condition on the folded text that every
/// match satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyTest {
    Equals(String),
    Prefix(String),
    Suffix(String),
}

/// A compiled string pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    shape: Shape,
    cased: bool,
}

impl Pattern {
    /// Compiles `parts`; `cased` makes the comparison case-sensitive (the `cased` modifier).
    pub(crate) fn new(parts: &[Part], cased: bool) -> Pattern {
        // runs of stars are one star
        let mut norm: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            if *p == Part::Star && norm.last() == Some(&Part::Star) {
                continue;
            }
            norm.push(*p);
        }
        let lead = norm.first() == Some(&Part::Star);
        let trail = norm.len() > usize::from(lead) && norm.last() == Some(&Part::Star);
        let inner = &norm[usize::from(lead)..norm.len() - usize::from(trail)];
        let text: Option<String> = inner
            .iter()
            .map(|p| match p {
                Part::Lit(c) => Some(if cased { *c } else { fold(*c) }),
                _ => None,
            })
            .collect();
        let shape = match (text, lead, trail) {
            (Some(t), true, _) if t.is_empty() => Shape::Any,
            (Some(t), false, false) => Shape::Exact(Lit::new(t, cased, false)),
            (Some(t), false, true) => Shape::Prefix(Lit::new(t, cased, false)),
            (Some(t), true, false) => Shape::Suffix(Lit::new(t, cased, false)),
            (Some(t), true, true) => Shape::Contains(Lit::new(t, cased, true)),
            (None, _, _) => Shape::General(
                norm.iter()
                    .map(|p| match p {
                        Part::Lit(c) => Tok::Char(if cased { *c } else { fold(*c) }),
                        Part::Star => Tok::Star,
                        Part::One => Tok::One,
                        Part::Dash => Tok::Dash,
                    })
                    .collect(),
            ),
        };
        Pattern { shape, cased }
    }

    /// Whether `hay` matches the whole pattern.
    pub(crate) fn matches(&self, hay: &str) -> bool {
        let fold = !self.cased;
        match &self.shape {
            Shape::Any => true,
            Shape::Exact(l) => eq(hay, l, fold),
            Shape::Prefix(l) => prefix(hay, l, fold),
            Shape::Suffix(l) => suffix(hay, l, fold),
            Shape::Contains(l) => contains(hay, l, fold),
            Shape::General(toks) => wild(toks, hay, fold),
        }
    }

    /// The condition on folded text that the index may file this pattern under, if any.
    pub(crate) fn key_test(&self) -> Option<KeyTest> {
        let key = |l: &Lit| {
            if self.cased {
                fold_str(&l.text)
            } else {
                l.text.clone()
            }
        };
        match &self.shape {
            Shape::Exact(l) => Some(KeyTest::Equals(key(l))),
            Shape::Prefix(l) => Some(KeyTest::Prefix(key(l))),
            Shape::Suffix(l) => Some(KeyTest::Suffix(key(l))),
            Shape::Any | Shape::Contains(_) => None,
            Shape::General(toks) => {
                let lit = |t: &Tok| match t {
                    Tok::Char(c) => Some(fold(*c)),
                    _ => None,
                };
                let head: String = toks.iter().map_while(lit).collect();
                let mut tail: Vec<char> = toks.iter().rev().map_while(lit).collect();
                tail.reverse();
                let tail: String = tail.into_iter().collect();
                match (head.is_empty(), tail.is_empty()) {
                    (true, true) => None,
                    _ if head.chars().count() >= tail.chars().count() => {
                        Some(KeyTest::Prefix(head))
                    }
                    _ => Some(KeyTest::Suffix(tail)),
                }
            }
        }
    }

    /// A rough price of one comparison, to order the tests of a selection.
    pub(crate) fn cost(&self) -> u32 {
        match &self.shape {
            Shape::Any => 0,
            Shape::Exact(_) => 1,
            Shape::Prefix(_) | Shape::Suffix(_) => 2,
            Shape::Contains(_) => 4,
            Shape::General(_) => 6,
        }
    }
}

/// The character starting at byte `at` of `s` (which must be a character boundary, inside `s`).
#[inline]
fn char_at(s: &str, at: usize) -> Option<char> {
    match s.as_bytes().get(at) {
        Some(b) if b.is_ascii() => Some(*b as char),
        Some(_) => s.get(at..).and_then(|rest| rest.chars().next()),
        None => None,
    }
}

#[inline]
fn same(a: char, b: char, fold_case: bool) -> bool {
    if fold_case {
        fold(a) == b
    } else {
        a == b
    }
}

/// `hay` equals the literal (already folded when `fold_case`).
fn eq(hay: &str, l: &Lit, fold_case: bool) -> bool {
    if !fold_case {
        return hay == l.text;
    }
    if l.ascii {
        if hay.len() == l.text.len() && hay.as_bytes().eq_ignore_ascii_case(l.text.as_bytes()) {
            return true;
        }
        if hay.is_ascii() {
            return false;
        }
    }
    let mut h = hay.chars();
    let mut n = l.text.chars();
    loop {
        match (h.next(), n.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if fold(a) == b => {}
            _ => return false,
        }
    }
}

fn prefix(hay: &str, l: &Lit, fold_case: bool) -> bool {
    if !fold_case {
        return hay.starts_with(l.text.as_str());
    }
    let n = l.text.len();
    if l.ascii {
        if hay.len() >= n && hay.as_bytes()[..n].eq_ignore_ascii_case(l.text.as_bytes()) {
            return true;
        }
        if hay.is_ascii() {
            return false;
        }
    }
    let mut h = hay.chars();
    l.text
        .chars()
        .all(|b| matches!(h.next(), Some(a) if fold(a) == b))
}

fn suffix(hay: &str, l: &Lit, fold_case: bool) -> bool {
    if !fold_case {
        return hay.ends_with(l.text.as_str());
    }
    let n = l.text.len();
    if l.ascii {
        if hay.len() >= n && hay.as_bytes()[hay.len() - n..].eq_ignore_ascii_case(l.text.as_bytes())
        {
            return true;
        }
        if hay.is_ascii() {
            return false;
        }
    }
    let mut h = hay.chars().rev();
    l.text
        .chars()
        .rev()
        .all(|b| matches!(h.next(), Some(a) if fold(a) == b))
}

fn contains(hay: &str, l: &Lit, fold_case: bool) -> bool {
    if !fold_case {
        return match &l.finder {
            Some(f) => f.find(hay.as_bytes()).is_some(),
            None => hay.contains(l.text.as_str()),
        };
    }
    if l.text.is_empty() {
        return true;
    }
    if l.ascii {
        if find_ascii_fold(hay.as_bytes(), l.text.as_bytes()) {
            return true;
        }
        if hay.is_ascii() {
            return false;
        }
    } else if hay.is_ascii() {
        // ASCII folds to ASCII: a non-ASCII literal cannot be in ASCII text
        return false;
    }
    // character by character from every start
    let mut start = 0;
    while start < hay.len() {
        let mut h = hay[start..].chars();
        if l.text
            .chars()
            .all(|b| matches!(h.next(), Some(a) if fold(a) == b))
        {
            return true;
        }
        start += char_at(hay, start).map_or(1, char::len_utf8);
    }
    false
}

/// Whether `needle` (lower-case ASCII) is in `hay`, ignoring ASCII case.
fn find_ascii_fold(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let heads = &hay[..=hay.len() - needle.len()];
    let upper = first.to_ascii_uppercase();
    memchr::memchr2_iter(first, upper, heads).any(|at| {
        hay.get(at + 1..at + needle.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(rest))
    })
}

/// Glob matching with `*`, `?` and dash classes: the classic two-cursor walk that backtracks to
/// the last star only (correct when every other token stands for exactly one character).
fn wild(toks: &[Tok], hay: &str, fold_case: bool) -> bool {
    let (mut t, mut h) = (0usize, 0usize);
    // (token after the last star, text position that star is tried to cover up to)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(t) {
            if *tok == Tok::Star {
                star = Some((t + 1, h));
                t += 1;
                continue;
            }
            if let Some(c) = char_at(hay, h) {
                let ok = match tok {
                    Tok::Char(want) => same(c, *want, fold_case),
                    Tok::One => true,
                    Tok::Dash => DASHES.contains(&c),
                    Tok::Star => false,
                };
                if ok {
                    t += 1;
                    h += c.len_utf8();
                    continue;
                }
            }
        } else if h == hay.len() {
            return true;
        }
        match star {
            Some((after, covered)) => match char_at(hay, covered) {
                Some(c) => {
                    let next = covered + c.len_utf8();
                    star = Some((after, next));
                    t = after;
                    h = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// Whether `a` and `b` are equal text under Sigma's default (case-insensitive) comparison, or
/// exactly when `cased`. Both sides are runtime text (the `fieldref` modifier).
pub(crate) fn text_eq(a: &str, b: &str, cased: bool) -> bool {
    if cased {
        return a == b;
    }
    if a.len() == b.len() && a.as_bytes().eq_ignore_ascii_case(b.as_bytes()) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    let (mut x, mut y) = (a.chars(), b.chars());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if fold(p) == fold(q) => {}
            _ => return false,
        }
    }
}

/// How a `fieldref` compares the two fields' texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefShape {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// `hay` against the runtime text `needle` (no wildcards), with `shape`.
pub(crate) fn text_test(hay: &str, needle: &str, shape: RefShape, cased: bool) -> bool {
    if cased {
        return match shape {
            RefShape::Equals => hay == needle,
            RefShape::Contains => hay.contains(needle),
            RefShape::StartsWith => hay.starts_with(needle),
            RefShape::EndsWith => hay.ends_with(needle),
        };
    }
    let lit = Lit::new(fold_str(needle), false, false);
    match shape {
        RefShape::Equals => eq(hay, &lit, true),
        RefShape::Contains => contains(hay, &lit, true),
        RefShape::StartsWith => prefix(hay, &lit, true),
        RefShape::EndsWith => suffix(hay, &lit, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, hay: &str) -> bool {
        Pattern::new(&parse(pattern), false).matches(hay)
    }

    #[test]
    fn escapes() {
        use Part::*;
        let table: &[(&str, Vec<Part>)] = &[
            ("a*b", vec![Lit('a'), Star, Lit('b')]),
            ("a\\*b", vec![Lit('a'), Lit('*'), Lit('b')]),
            ("a\\?", vec![Lit('a'), Lit('?')]),
            ("C:\\Windows", "C:\\Windows".chars().map(Lit).collect()),
            ("C:\\\\Windows", "C:\\Windows".chars().map(Lit).collect()),
            ("\\\\*", vec![Lit('\\'), Star]),
            ("\\\\\\*", vec![Lit('\\'), Lit('*')]),
            ("\\\\\\", vec![Lit('\\'), Lit('\\')]),
            ("\\\\\\\\", vec![Lit('\\'), Lit('\\')]),
            ("end\\", vec![Lit('e'), Lit('n'), Lit('d'), Lit('\\')]),
        ];
        for (text, want) in table {
            assert_eq!(&parse(text), want, "{text}");
        }
    }

    #[test]
    fn shapes_and_cases() {
        let table = [
            ("abc", "ABC", true),
            ("abc", "abcd", false),
            ("abc*", "ABCdef", true),
            ("*def", "abcDEF", true),
            ("*cd*", "abCDef", true),
            ("*", "", true),
            ("?", "", false),
            ("?", "é", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*c*e", "abcde", true),
            ("a*c*e", "abcdf", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("straße", "STRASSE", false),
            ("σ", "ς", true),
            ("kelvin", "\u{212A}ELVIN", true),
            ("*kel*", "x\u{212A}ELx", true),
            ("ı", "i", false),
            ("ÉTÉ", "été", true),
            ("*été*", "un ÉTÉ chaud", true),
        ];
        for (pattern, hay, want) in table {
            assert_eq!(m(pattern, hay), want, "{pattern:?} on {hay:?}");
        }
        let cased = Pattern::new(&parse("Abc*"), true);
        assert!(cased.matches("Abcd"));
        assert!(!cased.matches("abcd"));
    }

    #[test]
    fn key_tests() {
        let key = |p: &str| Pattern::new(&parse(p), false).key_test();
        assert_eq!(key("Foo"), Some(KeyTest::Equals("foo".into())));
        assert_eq!(key("Foo*"), Some(KeyTest::Prefix("foo".into())));
        assert_eq!(key("*Foo"), Some(KeyTest::Suffix("foo".into())));
        assert_eq!(key("*Foo*"), None);
        assert_eq!(
            key("v*.Compute.Firewalls.Delete"),
            Some(KeyTest::Suffix(".compute.firewalls.delete".into()))
        );
        assert_eq!(key("ab?c"), Some(KeyTest::Prefix("ab".into())));
    }
}
