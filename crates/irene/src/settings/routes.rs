//! The routes document (`routes.toml`): per configured output, whether cases reach it
//! (`enabled`, `min_severity`, `when`), and the inhibitions. Never a secret, never a new output:
//! outputs and their credentials stay in the config; a route only changes how cases reach one.

use irene_core::Severity;
use irene_outputs::OutputConfig;
use serde::{Deserialize, Serialize};

/// `routes.toml` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesDoc {
    #[serde(default, rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteDoc>,
    #[serde(default, rename = "inhibit", skip_serializing_if = "Vec::is_empty")]
    pub inhibit: Vec<InhibitDoc>,
}

/// `[[route]]`: how cases reach the output named `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    pub output: String,
    /// `false`: no new delivery is planned for this output (its pending ones still go).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// CEL over `case`; `""` removes the config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// `[[inhibit]]`: while an open case matching `source_when` exists with the same values of
/// `equal` (case fields: `account`, `resource.id`, `source`, `type`, …) and a higher severity,
/// the notifications of cases matching `target_when` are held back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source_when: String,
    pub target_when: String,
    #[serde(default)]
    pub equal: Vec<String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The routes document that says what the config says (the file-only user's document).
pub fn from_config(outputs: &[OutputConfig]) -> RoutesDoc {
    RoutesDoc {
        routes: outputs
            .iter()
            .map(|o| {
                let (common, _) = o.parts();
                RouteDoc {
                    output: common.name.clone(),
                    enabled: true,
                    min_severity: Some(common.min_severity),
                    when: common.when.clone(),
                }
            })
            .collect(),
        inhibit: Vec::new(),
    }
}

pub fn to_text(doc: &RoutesDoc) -> Result<String, String> {
    let body = toml::to_string(doc).map_err(|e| format!("routes.toml: {e}"))?;
    Ok(format!(
        "# How cases reach the outputs configured in irene.toml (secrets stay there).\n{body}"
    ))
}

pub fn parse(text: &str) -> Result<RoutesDoc, String> {
    toml::from_str(text).map_err(|e| format!("routes.toml: {}", e.to_string().trim()))
}

/// The outputs as the document routes them: overrides applied, disabled ones left out. Every
/// problem at once (unknown outputs, a route twice).
pub fn apply(outputs: &[OutputConfig], doc: &RoutesDoc) -> Result<Vec<OutputConfig>, Vec<String>> {
    let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
    let mut errors = Vec::new();
    for (i, r) in doc.routes.iter().enumerate() {
        if !names.contains(&r.output.as_str()) {
            errors.push(format!(
                "routes.toml: route {} names output {:?}, which the config does not have (configured: {})",
                i + 1,
                r.output,
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ));
        }
        if doc.routes[..i].iter().any(|p| p.output == r.output) {
            errors.push(format!(
                "routes.toml: route {} routes output {:?} a second time",
                i + 1,
                r.output
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Vec::with_capacity(outputs.len());
    for o in outputs {
        let mut o = o.clone();
        if let Some(r) = doc.routes.iter().find(|r| r.output == o.name()) {
            if !r.enabled {
                continue;
            }
            let common = o.common_mut();
            if let Some(s) = r.min_severity {
                common.min_severity = s;
            }
            if let Some(w) = &r.when {
                common.when = (!w.trim().is_empty()).then(|| w.clone());
            }
        }
        out.push(o);
    }
    Ok(out)
}
