//! The `condition` of a Sigma rule: parsed into a tree over the rule's search identifiers.
//! Knows names, not what they match; rejects anything outside the specification's grammar.
//!
//! The specification (rules specification 2.0, "Condition"): `and`, `or`, `not`, brackets,
//! `1 of search-identifier-pattern` / `all of …` ("Matching is done with * wildcards (any number
//! of characters) at arbitrary positions in the pattern") and `1 of them` / `all of them`
//! ("across all defined search identifiers not starting with an underscore `_`"). "Operator
//! Precedence (least to most binding): or, and, not, x of search-identifier, ( expression )".
//! Aggregations after a pipe (`| count() > 5`, Sigma 1) are rejected: Sigma 2 expresses them as
//! correlation rules.

/// A condition over the rule's search identifiers (by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// How deep brackets and `not`s may nest.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok<'_>)>, String> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push((at, Tok::Open));
            }
            ')' => {
                chars.next();
                out.push((at, Tok::Close));
            }
            '|' => {
                return Err(format!(
                    "aggregations ('| count() …', column {}) are not supported: Sigma 2 \
                     expresses them as correlation rules",
                    col(src, at)
                ))
            }
            c if is_name_char(c) => {
                let start = at;
                let mut end = at;
                while let Some(&(i, c)) = chars.peek() {
                    if !is_name_char(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                out.push((start, Tok::Word(&src[start..end])));
            }
            other => {
                return Err(format!(
                    "unexpected character '{other}' at column {}",
                    col(src, at)
                ))
            }
        }
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*')
}

/// 1-based character column of byte `at`.
fn col(src: &str, at: usize) -> usize {
    src.get(..at).map_or(at, |s| s.chars().count()) + 1
}

const KEYWORDS: [&str; 7] = ["and", "or", "not", "of", "them", "all", "any"];

struct Parser<'a, 'n> {
    src: &'a str,
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    names: &'n [String],
    depth: usize,
}

/// Parses `src` against the rule's search identifiers `names`.
pub(crate) fn parse(src: &str, names: &[String]) -> Result<Cond, String> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return Err("the condition is empty".to_string());
    }
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        names,
        depth: 0,
    };
    let cond = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(cond),
        Some((at, tok)) => Err(format!(
            "unexpected {} at column {} (expected 'and', 'or' or the end)",
            describe(tok),
            col(src, *at)
        )),
    }
}

fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::Open => "'('".to_string(),
        Tok::Close => "')'".to_string(),
        Tok::Word(w) => format!("'{w}'"),
    }
}

impl<'a> Parser<'a, '_> {
    fn peek_word(&self) -> Option<&'a str> {
        match self.toks.get(self.pos) {
            Some((_, Tok::Word(w))) => Some(w),
            _ => None,
        }
    }

    fn here(&self) -> String {
        match self.toks.get(self.pos) {
            Some((at, _)) => format!("column {}", col(self.src, *at)),
            None => "the end".to_string(),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the condition nests deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.and()?];
        while self.peek_word() == Some("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.not()?];
        while self.peek_word() == Some("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let Some((at, tok)) = self.toks.get(self.pos).cloned() else {
            return Err("the condition ends where a search identifier was expected".to_string());
        };
        match tok {
            Tok::Open => {
                self.pos += 1;
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.toks.get(self.pos) {
                    Some((_, Tok::Close)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(format!(
                        "'(' at column {} is not closed (at {})",
                        col(self.src, at),
                        self.here()
                    )),
                }
            }
            Tok::Close => Err(format!("unexpected ')' at column {}", col(self.src, at))),
            Tok::Word(w) => {
                self.pos += 1;
                let next_is_of = self.peek_word() == Some("of");
                if next_is_of {
                    self.pos += 1;
                    return self.quantified(w, at);
                }
                if KEYWORDS.contains(&w) {
                    return Err(format!(
                        "unexpected '{w}' at column {} (expected a search identifier)",
                        col(self.src, at)
                    ));
                }
                if w.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "unexpected '{w}' at column {} (did you mean '{w} of …'?)",
                        col(self.src, at)
                    ));
                }
                if w.contains('*') {
                    return Err(format!(
                        "'{w}' (column {}): a pattern needs '1 of' or 'all of' before it",
                        col(self.src, at)
                    ));
                }
                match self.names.iter().position(|n| n == w) {
                    Some(i) => Ok(Cond::Sel(i)),
                    None => Err(format!(
                        "'{w}' (column {}) is not a search identifier of this rule{}",
                        col(self.src, at),
                        if ["AND", "OR", "NOT"].contains(&w) {
                            " (operators are written in lower case)"
                        } else {
                            ""
                        }
                    )),
                }
            }
        }
    }

    /// `<quantifier> of <them|pattern>`; the quantifier and `of` are consumed.
    fn quantified(&mut self, quant: &str, at: usize) -> Result<Cond, String> {
        let all = match quant {
            "all" => true,
            "1" | "any" => false,
            other => {
                return Err(format!(
                    "'{other} of' (column {}): the specification defines only '1 of' and 'all of'",
                    col(self.src, at)
                ))
            }
        };
        let Some(target) = self.peek_word() else {
            return Err(format!(
                "'{quant} of' (column {}) needs 'them' or a search identifier pattern",
                col(self.src, at)
            ));
        };
        self.pos += 1;
        let picked: Vec<usize> = if target == "them" {
            self.names
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.starts_with('_'))
                .map(|(i, _)| i)
                .collect()
        } else {
            self.names
                .iter()
                .enumerate()
                .filter(|(_, n)| name_matches(target, n))
                .map(|(i, _)| i)
                .collect()
        };
        if picked.is_empty() {
            return Err(format!(
                "'{quant} of {target}' (column {}) matches no search identifier of this rule",
                col(self.src, at)
            ));
        }
        let mut sels: Vec<Cond> = picked.into_iter().map(Cond::Sel).collect();
        Ok(if sels.len() == 1 {
            sels.remove(0)
        } else if all {
            Cond::And(sels)
        } else {
            Cond::Or(sels)
        })
    }
}

/// Whether search identifier `name` matches `pattern` (`*` = any run of characters).
fn name_matches(pattern: &str, name: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = pieces.as_slice() else {
        return pattern == name;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for piece in middle {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "selection",
            "sel_a",
            "sel_b",
            "filter_1",
            "filter_2",
            "_hidden",
            "keywords",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn p(src: &str) -> Result<Cond, String> {
        parse(src, &names())
    }

    #[test]
    fn precedence_and_forms() {
        use Cond::*;
        assert_eq!(
            p("selection or sel_a and not sel_b"),
            Ok(Or(vec![Sel(0), And(vec![Sel(1), Not(Box::new(Sel(2)))])]))
        );
        assert_eq!(
            p("(selection or sel_a) and keywords"),
            Ok(And(vec![Or(vec![Sel(0), Sel(1)]), Sel(6)]))
        );
        assert_eq!(p("1 of sel_*"), Ok(Or(vec![Sel(1), Sel(2)])));
        assert_eq!(p("all of sel_*"), Ok(And(vec![Sel(1), Sel(2)])));
        assert_eq!(
            p("selection and not 1 of filter*"),
            Ok(And(vec![Sel(0), Not(Box::new(Or(vec![Sel(3), Sel(4)])))]))
        );
        assert_eq!(
            p("1 of them"),
            Ok(Or(vec![Sel(0), Sel(1), Sel(2), Sel(3), Sel(4), Sel(6)]))
        );
        assert_eq!(p("1 of _h*"), Ok(Sel(5)));
        assert_eq!(p("all of *_b"), Ok(Sel(2)));
        assert_eq!(
            p("not not selection"),
            Ok(Not(Box::new(Not(Box::new(Sel(0))))))
        );
    }

    #[test]
    fn errors() {
        let table = [
            ("", "empty"),
            ("selection and", "ends"),
            ("selection filter_1", "unexpected 'filter_1'"),
            ("selectio", "not a search identifier"),
            ("selection AND sel_a", "unexpected 'AND'"),
            ("2 of sel_*", "only '1 of' and 'all of'"),
            ("1 of nothing*", "matches no search identifier"),
            ("(selection", "not closed"),
            ("selection)", "unexpected ')'"),
            ("selection | count() > 5", "aggregations"),
            ("sel_*", "needs '1 of'"),
            ("selection # x", "unexpected character '#'"),
        ];
        for (src, want) in table {
            match p(src) {
                Ok(c) => panic!("{src:?} parsed as {c:?}"),
                Err(e) => assert!(e.contains(want), "{src:?}: {e}"),
            }
        }
        let deep = format!("{}selection{}", "(".repeat(100), ")".repeat(100));
        assert!(p(&deep).is_err_and(|e| e.contains("deeper")));
    }
}
