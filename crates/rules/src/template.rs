//! Key templates (`"root-login/{{alert.account}}"`): text with CEL expressions between `{{ }}`,
//! parsed once and rendered against a context the caller builds. Must not build contexts or judge.

use cel::common::types::{CelBool, CelDouble, CelInt, CelNull, CelString, CelTimestamp, CelUInt};
use cel::common::value::Val;
use cel::{Context, Env, IdedExpr, Program, Value};
use std::fmt::Write;

/// A problem found while parsing a template. `at` is the character position of the `{{` in the
/// template, from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("'{{{{' at character {at} is never closed with '}}}}'")]
    Unclosed { at: usize },
    #[error("'{{{{ }}}}' at character {at} holds no expression")]
    Empty { at: usize },
    #[error("expression `{expr}` at character {at}: {message}")]
    Expression {
        at: usize,
        expr: String,
        message: String,
    },
}

#[derive(Debug)]
enum Part {
    Text(String),
    Expr { source: String, expr: IdedExpr },
}

/// A parsed key template.
#[derive(Debug)]
pub(crate) struct KeyTemplate {
    parts: Vec<Part>,
}

impl KeyTemplate {
    /// Parses `text`, compiling each expression with `env` and checking it with `check`
    /// (which returns the problems of one program). Returns every problem found.
    pub(crate) fn parse(
        text: &str,
        env: &Env,
        check: impl Fn(&Program) -> Vec<String>,
    ) -> Result<KeyTemplate, Vec<TemplateError>> {
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        let mut rest = text;
        let mut offset = 0usize; // bytes of `text` before `rest`
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let at = text[..offset + open].chars().count() + 1;
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                errors.push(TemplateError::Unclosed { at });
                rest = "";
                break;
            };
            let source = rest[inner_start..inner_start + close].trim();
            if source.is_empty() {
                errors.push(TemplateError::Empty { at });
            } else {
                match compile_expr(env, source) {
                    Ok(program) => {
                        let problems = check(&program);
                        if problems.is_empty() {
                            parts.push(Part::Expr {
                                source: source.to_string(),
                                expr: crate::cel_alert::rewrite(program.expression()),
                            });
                        }
                        for message in problems {
                            errors.push(TemplateError::Expression {
                                at,
                                expr: source.to_string(),
                                message,
                            });
                        }
                    }
                    Err((_, _, message)) => errors.push(TemplateError::Expression {
                        at,
                        expr: source.to_string(),
                        message,
                    }),
                }
            }
            let consumed = inner_start + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if errors.is_empty() {
            Ok(KeyTemplate { parts })
        } else {
            Err(errors)
        }
    }

    /// Renders the template. Strings go in as they are, numbers and booleans as their text,
    /// timestamps as RFC 3339, null as nothing; anything else, or a failing expression, is an
    /// error naming the expression.
    pub(crate) fn render(&self, ctx: &Context<'_, '_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr { source, expr } => {
                    let value =
                        Value::resolve_val(expr, ctx).map_err(|e| format!("`{source}`: {e}"))?;
                    append(&mut out, value.as_ref())
                        .map_err(|ty| format!("`{source}`: a {ty} cannot go in a key"))?;
                }
            }
        }
        Ok(out)
    }
}

/// The longest expression compiled, in bytes: beyond, the parser's recursion could exhaust
/// even a large stack.
pub(crate) const MAX_EXPR_LEN: usize = 32 * 1024;
/// The deepest expression accepted, in levels of its syntax tree. Rules are evaluated
/// recursively on whatever thread judges (2 MiB stacks are common): real rules stay far below.
pub(crate) const MAX_DEPTH: usize = 32;

/// Compiles one CEL expression with `env`: the first syntax error (the parser's recovery
/// makes the others mostly echoes) with its 1-based line and column in `source`, or a
/// program no deeper than [`MAX_DEPTH`]. A panic of the parser is an error too.
pub(crate) fn compile_expr(env: &Env, source: &str) -> Result<Program, (usize, usize, String)> {
    if source.len() > MAX_EXPR_LEN {
        return Err((
            1,
            1,
            format!("expression too long (more than {MAX_EXPR_LEN} bytes)"),
        ));
    }
    let program =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.compile(source))) {
            Ok(Ok(program)) => program,
            Ok(Err(errors)) => {
                let Some(e) = errors.errors.first() else {
                    return Err((1, 1, "the expression does not compile".to_string()));
                };
                let message = if e.msg.contains("Recursion limit") {
                    "expression nested too deeply".to_string()
                } else {
                    e.msg.clone()
                };
                return Err((
                    usize::try_from(e.pos.0).unwrap_or(1).max(1),
                    usize::try_from(e.pos.1).unwrap_or(1).max(1),
                    message,
                ));
            }
            Err(_) => return Err((1, 1, "the CEL parser failed on this expression".into())),
        };
    if depth_exceeds(program.expression(), MAX_DEPTH) {
        return Err((
            1,
            1,
            format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
        ));
    }
    Ok(program)
}

/// Whether the syntax tree under `e` is deeper than `max`, found without recursion.
fn depth_exceeds(e: &IdedExpr, max: usize) -> bool {
    use cel::common::ast::{EntryExpr, Expr};
    let mut stack: Vec<(&IdedExpr, usize)> = vec![(e, 1)];
    while let Some((e, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        let next = depth + 1;
        match &e.expr {
            Expr::Call(call) => {
                if let Some(t) = &call.target {
                    stack.push((t, next));
                }
                stack.extend(call.args.iter().map(|a| (a, next)));
            }
            Expr::Select(select) => stack.push((&select.operand, next)),
            Expr::Comprehension(c) => {
                for part in [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ] {
                    stack.push((part, next));
                }
            }
            Expr::List(list) => stack.extend(list.elements.iter().map(|a| (a, next))),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        stack.push((&m.key, next));
                        stack.push((&m.value, next));
                    }
                }
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(m) => {
                            stack.push((&m.key, next));
                            stack.push((&m.value, next));
                        }
                        EntryExpr::StructField(f) => stack.push((&f.value, next)),
                    }
                }
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    false
}

fn append(out: &mut String, v: &dyn Val) -> Result<(), String> {
    if let Some(s) = v.downcast_ref::<CelString>() {
        out.push_str(s.inner());
    } else if let Some(i) = v.downcast_ref::<CelInt>() {
        let _ = write!(out, "{}", i.inner());
    } else if let Some(u) = v.downcast_ref::<CelUInt>() {
        let _ = write!(out, "{}", u.inner());
    } else if let Some(d) = v.downcast_ref::<CelDouble>() {
        let _ = write!(out, "{}", d.inner());
    } else if let Some(b) = v.downcast_ref::<CelBool>() {
        out.push_str(if *b.inner() { "true" } else { "false" });
    } else if let Some(t) = v.downcast_ref::<CelTimestamp>() {
        out.push_str(&t.inner().to_rfc3339());
    } else if v.downcast_ref::<CelNull>().is_none() {
        return Err(v.get_type().name().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<KeyTemplate, Vec<TemplateError>> {
        KeyTemplate::parse(t, &Env::stdlib(), |_| vec![])
    }

    #[test]
    fn parse_errors() {
        let table: Vec<(&str, Vec<TemplateError>)> = vec![
            ("a/{{x", vec![TemplateError::Unclosed { at: 3 }]),
            ("é{{ }}", vec![TemplateError::Empty { at: 2 }]),
            ("{{x}}/{{y", vec![TemplateError::Unclosed { at: 7 }]),
        ];
        for (t, want) in table {
            assert_eq!(parse(t).err(), Some(want), "{t}");
        }
        let Err(errors) = parse("{{ 1 + }}") else {
            panic!("no error")
        };
        assert!(
            matches!(&errors[..], [TemplateError::Expression { at: 1, expr, .. }] if expr == "1 +")
        );
    }

    #[test]
    fn renders_values() {
        let env = std::sync::Arc::new(Env::stdlib());
        let ctx = Context::with_env(env.clone());
        let table = [
            ("plain", Ok("plain".to_string())),
            (
                "{{'a'}}/{{1}}/{{2u}}/{{1.5}}/{{true}}/{{null}}/x",
                Ok("a/1/2/1.5/true//x".into()),
            ),
            ("}}{{ 'b' }}{{", Err(())),
            ("k/{{[1]}}", Ok("fails".into())),
            ("k/{{nope}}", Ok("fails".into())),
            (
                "{{timestamp('2024-01-02T03:04:05Z')}}",
                Ok("2024-01-02T03:04:05+00:00".into()),
            ),
        ];
        for (t, want) in table {
            match (parse(t), want) {
                (Ok(tpl), Ok(want)) if want == "fails" => {
                    assert!(tpl.render(&ctx).is_err(), "{t}")
                }
                (Ok(tpl), Ok(want)) => assert_eq!(tpl.render(&ctx), Ok(want), "{t}"),
                (Err(_), Err(())) => {}
                (got, want) => panic!("{t}: got {got:?}, want {want:?}"),
            }
        }
    }
}
