//! Turns settings documents into what runs: triage and Sigma rules, the routed outputs, the
//! silences (and, with the templates, what the outputs render). Every error at once; pure.

use super::routes::{self, RoutesDoc};
use super::silences::{self, Silences};
use super::{dir, rule_files, Kind};
use irene_outputs::OutputConfig;
use irene_rules::sigma::SigmaRules;
use irene_rules::TriageRules;
use irene_store::SettingsFile;
use std::collections::BTreeMap;

/// What documents are compiled against: the outputs of the config (routes only change how
/// cases reach them) and the longest silence allowed.
#[derive(Clone)]
pub struct Base {
    pub outputs: Vec<OutputConfig>,
    pub max_silence: chrono::Duration,
}

/// A compiled set of documents.
pub struct Compiled {
    pub triage: TriageRules,
    pub sigma: SigmaRules,
    /// The config's outputs as the routes document routes them.
    pub routed: Vec<OutputConfig>,
    pub routes: RoutesDoc,
    pub silences: Silences,
    pub inhibitions: super::inhibit::Inhibitions,
    pub templates: irene_outputs::templates::TemplateSet,
    pub runbooks: super::runbooks::Runbooks,
}

fn one_file(kind: Kind, files: &[SettingsFile]) -> Result<&str, String> {
    let want = dir::file_name(kind).unwrap_or(kind.as_str());
    match files {
        [] => Ok(""),
        [f] if f.name == want => Ok(&f.text),
        _ => Err(format!(
            "{}: one file named {want} expected, got {:?}",
            kind.as_str(),
            files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()
        )),
    }
}

/// Compiles `docs` (a kind missing: an empty document). Sigma rules that do not load are
/// errors when `strict_sigma` (a Sigma document being applied must load whole); otherwise they
/// are logged and left out, as at start (a SigmaHQ folder holds rules Irene cannot run).
pub fn compile(
    docs: &BTreeMap<Kind, Vec<SettingsFile>>,
    base: &Base,
    strict_sigma: bool,
) -> Result<Compiled, Vec<String>> {
    let empty = Vec::new();
    let doc = |k: Kind| docs.get(&k).unwrap_or(&empty);
    let mut errors: Vec<String> = Vec::new();
    for (kind, files) in docs {
        for f in files {
            if let Err(e) = dir::check_name(&f.name) {
                errors.push(format!("{}: {e}", kind.as_str()));
            }
        }
    }
    let triage = match TriageRules::compile(&rule_files(doc(Kind::Triage))) {
        Ok(t) => Some(t),
        Err(es) => {
            errors.extend(es.iter().map(|e| format!("triage: {e}")));
            None
        }
    };
    let (sigma, rejected) = SigmaRules::compile(&rule_files(doc(Kind::Sigma)));
    if strict_sigma {
        errors.extend(rejected.iter().map(|e| format!("sigma: {e}")));
    } else {
        for e in &rejected {
            tracing::warn!("sigma rule rejected: {e}");
        }
    }
    let routes_doc = match one_file(Kind::Routes, doc(Kind::Routes)) {
        Ok("") if !docs.contains_key(&Kind::Routes) => Some(routes::from_config(&base.outputs)),
        Ok(text) => match routes::parse(text) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let routed = routes_doc
        .as_ref()
        .and_then(|d| match routes::apply(&base.outputs, d) {
            Ok(r) => match irene_outputs::Routes::new(&r) {
                Ok(_) => Some(r),
                Err(es) => {
                    errors.extend(es.iter().map(|e| format!("routes.toml: {e}")));
                    None
                }
            },
            Err(es) => {
                errors.extend(es);
                None
            }
        });
    let inhibitions = match routes_doc
        .as_ref()
        .map(|d| super::inhibit::compile(&d.inhibit))
    {
        Some(Ok(i)) => Some(i),
        Some(Err(es)) => {
            errors.extend(es);
            None
        }
        None => None,
    };
    let silences = match one_file(Kind::Silences, doc(Kind::Silences)).and_then(silences::parse) {
        Ok(list) => match Silences::compile(list, base.max_silence) {
            Ok(s) => Some(s),
            Err(es) => {
                errors.extend(es.into_iter().map(|e| format!("silences.yaml: {e}")));
                None
            }
        },
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let templates =
        match irene_outputs::templates::TemplateSet::compile(&template_files(doc(Kind::Templates)))
        {
            Ok(t) => Some(t),
            Err(es) => {
                errors.extend(es.iter().map(|e| format!("templates: {e}")));
                None
            }
        };
    let runbooks = match super::runbooks::Runbooks::compile(doc(Kind::Runbooks)) {
        Ok(r) => Some(r),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| format!("runbooks: {e}")));
            None
        }
    };
    match (
        triage,
        routes_doc,
        routed,
        silences,
        inhibitions,
        templates,
        runbooks,
    ) {
        (
            Some(triage),
            Some(routes),
            Some(routed),
            Some(silences),
            Some(inhibitions),
            Some(templates),
            Some(runbooks),
        ) if errors.is_empty() => Ok(Compiled {
            triage,
            sigma,
            routed,
            routes,
            silences,
            inhibitions,
            templates,
            runbooks,
        }),
        _ => Err(errors),
    }
}

impl Compiled {
    /// The templates apart (the outputs hold them), the rest with the built-ins in their place.
    pub fn take_templates(mut self) -> (Compiled, irene_outputs::templates::TemplateSet) {
        let t = std::mem::take(&mut self.templates);
        (self, t)
    }
}

fn template_files(files: &[SettingsFile]) -> Vec<irene_outputs::templates::TemplateFile> {
    files
        .iter()
        .map(|f| irene_outputs::templates::TemplateFile {
            name: f.name.clone(),
            text: f.text.clone(),
        })
        .collect()
}
