//! The one CEL environment of Irene (standard library and strings), shared by triage, output
//! routing (`when`) and investigations, with compile and boolean evaluation guarded against panics.
//! Pure: no I/O; it does not know what the variables mean (callers name and build them).

use cel::common::types::CelBool;
use cel::common::value::Val;
use cel::{Context, Env, Value};

/// A compiled expression.
pub use cel::Program;
use std::sync::{Arc, OnceLock};

/// The environment every CEL expression of Irene is compiled and run with: the standard library
/// and the strings extension (`lowerAscii`, `split`, `join`, `replace`, …). Built once.
pub fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Declaring the strings extension on a fresh standard environment cannot conflict; if a
        // later version of `cel` ever made it, expressions would simply not have those functions.
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
    .clone()
}

/// Runs `f`, turning a panic inside the CEL compiler or interpreter into the error `what`, so
/// that one bad expression or input cannot take a worker down.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err(what.into()))
}

/// Compiles one expression with [`env`]: an empty expression, a compile error (its text
/// trimmed) and a panic of the compiler are errors.
pub fn compile(src: &str) -> Result<Program, String> {
    if src.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    let env = env();
    guarded("the CEL compiler failed on this expression", || {
        env.compile(src)
            .map_err(|e| e.to_string().trim().to_string())
    })
}

/// Evaluates `program` with each `(name, JSON value)` as a variable; the result must be a bool.
/// Every failure (a missing key, a wrong type, a panic) is an error text.
pub fn eval_bool(program: &Program, vars: &[(&str, serde_json::Value)]) -> Result<bool, String> {
    guarded("the CEL interpreter failed on this expression", || {
        let mut ctx = Context::with_env(env());
        for (name, json) in vars {
            let value = cel::to_value(json.clone()).map_err(|e| e.to_string())?;
            let value: Box<dyn Val> = value
                .try_into()
                .map_err(|e: cel::ExecutionError| e.to_string())?;
            ctx.add_variable_as_val(*name, value);
        }
        match program.execute(&ctx).map_err(|e| e.to_string())? {
            Value::Bool(b) => Ok(b),
            other => {
                let boxed: Result<Box<dyn Val>, _> = other.try_into();
                match boxed {
                    Ok(v) => match v.downcast_ref::<CelBool>() {
                        Some(b) => Ok(*b.inner()),
                        None => Err(format!("gave a {}, not a bool", v.get_type().name())),
                    },
                    Err(_) => Err("did not give a bool".to_string()),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compile_table() {
        let table = [
            ("", Some("the expression is empty")),
            ("   ", Some("the expression is empty")),
            ("x.a ==", Some("")),
            ("x.a == 1", None),
            ("x.name.lowerAscii() == \"a\"", None),
        ];
        for (src, want) in table {
            match (compile(src), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    assert!(e.contains(w), "{src:?}: {e}");
                    assert_eq!(e, e.trim(), "{src:?}: untrimmed");
                }
                (got, _) => panic!("{src:?}: {:?}", got.map(|_| "compiled")),
            }
        }
    }

    #[test]
    fn eval_table() {
        let vars = || {
            vec![
                ("case", json!({"account": "1", "labels": ["prod"], "n": 3})),
                ("other", json!({"ok": true})),
            ]
        };
        let table: [(&str, Result<bool, &str>); 8] = [
            ("case.account == \"1\"", Ok(true)),
            ("\"prod\" in case.labels", Ok(true)),
            ("case.n > 5", Ok(false)),
            ("other.ok && case.account.startsWith(\"1\")", Ok(true)),
            ("case.account.upperAscii() == \"1\"", Ok(true)),
            ("case.n", Err("not a bool")),
            ("case.missing == 1", Err("")),
            ("nobody.x", Err("")),
        ];
        for (src, want) in table {
            let program = compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            match (eval_bool(&program, &vars()), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{src}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{src}: {e}"),
                (got, w) => panic!("{src}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn one_environment() {
        assert!(Arc::ptr_eq(&env(), &env()));
    }
}
