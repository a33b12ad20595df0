//! Runbooks (`runbooks/*.md`): markdown a team writes for a kind of alert, with a front matter
//! that says which cases it is for (alert types, exact or `prefix*`, and/or CEL over `case`).
//! Pure: parsing, checking and choosing; rendering to HTML is the console's.

use irene_rules::cel_env::{self, Program};
use irene_store::SettingsFile;
use serde::Deserialize;
use serde_json::Value;

/// The front matter of a runbook, between `---` lines at its top.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    #[serde(default)]
    title: Option<String>,
    /// Alert types it is for: exact, or a prefix ending in `*` (`Recon:EC2/*`).
    #[serde(default)]
    types: Vec<String>,
    /// A CEL condition over `case` (its type, source, severity, labels, account, …).
    #[serde(default)]
    when: Option<String>,
}

/// One runbook as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// Its file name in the document (`port-probe.md`): its address in the console.
    pub name: String,
    pub title: String,
    pub types: Vec<String>,
    pub when: Option<String>,
    /// The markdown after the front matter.
    pub body: String,
}

impl Runbook {
    fn for_type(&self, kind: &str) -> bool {
        self.types.iter().any(|t| match t.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => t == kind,
        })
    }
}

/// Splits `---\nyaml\n---\nbody`; a file without front matter is all body.
fn split_front(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, text);
    };
    for end in ["\n---\n", "\n---\r\n"] {
        if let Some(i) = rest.find(end) {
            return (Some(&rest[..i]), &rest[i + end.len()..]);
        }
    }
    match rest.strip_suffix("\n---") {
        Some(front) => (Some(front), ""),
        None => (None, text),
    }
}

/// Parses one runbook file.
pub fn parse(file: &SettingsFile) -> Result<Runbook, String> {
    if !file.name.ends_with(".md") {
        return Err(format!("{}: a runbook is a .md file", file.name));
    }
    let (front, body) = split_front(&file.text);
    let fm: FrontMatter = match front {
        Some(y) if !y.trim().is_empty() => {
            serde_yaml::from_str(y).map_err(|e| format!("{}: front matter: {e}", file.name))?
        }
        _ => FrontMatter::default(),
    };
    let title = fm
        .title
        .filter(|t| !t.trim().is_empty())
        .or_else(|| {
            body.lines()
                .find_map(|l| l.strip_prefix("# "))
                .map(|t| t.trim().to_string())
        })
        .unwrap_or_else(|| file.name.trim_end_matches(".md").to_string());
    Ok(Runbook {
        name: file.name.clone(),
        title,
        types: fm.types,
        when: fm.when.filter(|w| !w.trim().is_empty()),
        body: body.to_string(),
    })
}

/// The runbooks of a document, checked, in name order: the first that fits a case is its.
#[derive(Default)]
pub struct Runbooks {
    list: Vec<(Runbook, Option<Program>)>,
}

impl std::fmt::Debug for Runbooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|(r, _)| &r.name))
            .finish()
    }
}

impl Runbooks {
    /// Parses and checks every file; every error at once.
    pub fn compile(files: &[SettingsFile]) -> Result<Runbooks, Vec<String>> {
        let mut errors = Vec::new();
        let mut list = Vec::new();
        for f in files {
            match parse(f) {
                Ok(r) => {
                    let program = match r.when.as_deref().map(cel_env::compile).transpose() {
                        Ok(p) => p,
                        Err(e) => {
                            errors.push(format!("{}: when: {e}", f.name));
                            continue;
                        }
                    };
                    if r.types.is_empty() && program.is_none() {
                        errors.push(format!(
                            "{}: say which cases it is for (`types` or `when` in its front matter)",
                            f.name
                        ));
                        continue;
                    }
                    list.push((r, program));
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Runbooks { list })
        } else {
            Err(errors)
        }
    }

    /// The runbook for a case (as the JSON the rules see: `type`, `source`, `severity`, …):
    /// the first whose types hold its type and whose `when` holds (either alone when only one
    /// is given).
    pub fn choose(&self, case: &Value) -> Option<&Runbook> {
        let kind = case.get("type").and_then(Value::as_str).unwrap_or_default();
        self.list
            .iter()
            .find(|(r, program)| {
                let by_type = r.types.is_empty() || r.for_type(kind);
                let by_when = program.as_ref().is_none_or(|p| {
                    cel_env::eval_bool(p, &[("case", case.clone())]).unwrap_or(false)
                });
                by_type && by_when
            })
            .map(|(r, _)| r)
    }

    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.list.iter().map(|(r, _)| r).find(|r| r.name == name)
    }

    pub fn all(&self) -> impl Iterator<Item = &Runbook> {
        self.list.iter().map(|(r, _)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(name: &str, text: &str) -> SettingsFile {
        SettingsFile {
            name: name.into(),
            text: text.into(),
        }
    }

    fn books() -> Runbooks {
        Runbooks::compile(&[
            file(
                "a-port-probe.md",
                "---\ntypes: [\"Recon:EC2/PortProbeUnprotectedPort\"]\n---\n# Port probe\nClose the port.\n",
            ),
            file(
                "b-recon.md",
                "---\ntitle: Any recon\ntypes: [\"Recon:*\"]\nwhen: case.severity != \"info\"\n---\nLook.\n",
            ),
            file(
                "c-gcp.md",
                "---\nwhen: case.source == \"gcp.scc\"\n---\nGCP findings.\n",
            ),
        ])
        .expect("compile")
    }

    #[test]
    fn a_case_gets_the_first_runbook_that_fits() {
        let b = books();
        let table = [
            (
                json!({"type": "Recon:EC2/PortProbeUnprotectedPort", "severity": "low", "source": "aws.guardduty"}),
                Some("a-port-probe.md"),
            ),
            (
                json!({"type": "Recon:IAMUser/MaliciousIPCaller", "severity": "medium", "source": "aws.guardduty"}),
                Some("b-recon.md"),
            ),
            (
                json!({"type": "Recon:IAMUser/MaliciousIPCaller", "severity": "info", "source": "aws.guardduty"}),
                None,
            ),
            (
                json!({"type": "OPEN_FIREWALL", "severity": "high", "source": "gcp.scc"}),
                Some("c-gcp.md"),
            ),
            (
                json!({"type": "x", "severity": "high", "source": "falco"}),
                None,
            ),
        ];
        for (case, want) in table {
            assert_eq!(b.choose(&case).map(|r| r.name.as_str()), want, "{case}");
        }
        let a = b.get("a-port-probe.md").expect("a");
        assert_eq!(a.title, "Port probe", "the first heading titles it");
        assert_eq!(a.body, "# Port probe\nClose the port.\n");
        assert_eq!(b.get("b-recon.md").expect("b").title, "Any recon");
    }

    #[test]
    fn broken_runbooks_say_what_is_wrong_all_at_once() {
        let errors = Runbooks::compile(&[
            file("x.txt", "hi"),
            file("y.md", "---\ntypes: [a\n---\nbody"),
            file("z.md", "---\nwhen: case.type ==\n---\nbody"),
            file("w.md", "no front matter, so for nothing"),
            file("v.md", "---\ncolour: red\n---\n"),
        ])
        .expect_err("errors");
        assert_eq!(errors.len(), 5, "{errors:?}");
        for (e, name) in errors.iter().zip(["x.txt", "y.md", "z.md", "w.md", "v.md"]) {
            assert!(e.starts_with(name), "{e}");
        }
    }
}
