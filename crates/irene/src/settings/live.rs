//! The live settings: the compiled documents every worker reads (`load`), swapped whole and
//! atomically when a new version is applied here or seen in the store (`reload`).
//! Never half a set: what compiles replaces what ran; what does not is refused or kept out.

use super::compile::{compile, Base, Compiled};
use super::diff;
use super::routes::RoutesDoc;
use super::silences::{self, SilenceDoc, SilenceState, Silences};
use super::{sorted, Kind};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use irene_rules::sigma::SigmaRules;
use irene_rules::TriageRules;
use irene_store::{SettingsChange, SettingsFile, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One compiled set of settings.
#[derive(Clone)]
pub struct Snapshot {
    /// The store's settings generation this set was read at (0: none yet).
    pub generation: i64,
    pub triage: Arc<TriageRules>,
    pub sigma: Arc<SigmaRules>,
    pub routes: Arc<irene_outputs::Routes>,
    pub routes_doc: Arc<RoutesDoc>,
    pub silences: Arc<Silences>,
    pub inhibitions: Arc<super::inhibit::Inhibitions>,
    pub runbooks: Arc<super::runbooks::Runbooks>,
    /// The version of each kind this set was compiled from.
    pub versions: BTreeMap<Kind, u32>,
}

/// What an apply did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The unified diff of every kind given against the current version.
    pub diff: String,
    /// The versions written (none for a dry run or when nothing changed).
    pub versions: BTreeMap<String, u32>,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{} error(s):\n{}", .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Live {
    current: ArcSwap<Snapshot>,
    base: Base,
    templates: irene_outputs::templates::SharedTemplates,
    /// One reload or apply at a time in this process.
    writing: tokio::sync::Mutex<()>,
}

fn snapshot(
    c: Compiled,
    generation: i64,
    versions: BTreeMap<Kind, u32>,
) -> anyhow::Result<Snapshot> {
    let routes = irene_outputs::Routes::new(&c.routed).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("invalid routes:\n{}", lines.join("\n"))
    })?;
    Ok(Snapshot {
        generation,
        triage: Arc::new(c.triage),
        sigma: Arc::new(c.sigma),
        routes: Arc::new(routes),
        routes_doc: Arc::new(c.routes),
        silences: Arc::new(c.silences),
        inhibitions: Arc::new(c.inhibitions),
        runbooks: Arc::new(c.runbooks),
        versions,
    })
}

impl Live {
    /// The settings the process starts with (from its config files), before the store is read.
    pub fn start(
        base: Base,
        triage: TriageRules,
        sigma: SigmaRules,
        templates: irene_outputs::templates::SharedTemplates,
    ) -> anyhow::Result<Live> {
        let routes = super::routes::from_config(&base.outputs);
        let snap = snapshot(
            Compiled {
                triage,
                sigma,
                routed: base.outputs.clone(),
                routes,
                silences: Silences::default(),
                inhibitions: Default::default(),
                templates: irene_outputs::templates::TemplateSet::builtin(),
                runbooks: Default::default(),
            },
            0,
            BTreeMap::new(),
        )?;
        Ok(Live {
            current: ArcSwap::from_pointee(snap),
            base,
            templates,
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// The current set (cheap: a reference count).
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn base(&self) -> &Base {
        &self.base
    }

    /// The current document of every kind in the store (a kind never written: absent).
    pub async fn documents(
        store: &dyn Store,
    ) -> Result<(BTreeMap<Kind, Vec<SettingsFile>>, BTreeMap<Kind, u32>), StoreError> {
        let mut docs = BTreeMap::new();
        let mut versions = BTreeMap::new();
        for kind in Kind::ALL {
            if let Some(v) = store.settings_current(kind.as_str()).await? {
                versions.insert(kind, v.version);
                docs.insert(kind, v.files);
            }
        }
        Ok((docs, versions))
    }

    async fn compile_off_thread(
        &self,
        docs: BTreeMap<Kind, Vec<SettingsFile>>,
        strict_sigma: bool,
    ) -> Result<Compiled, Vec<String>> {
        let base = self.base.clone();
        tokio::task::spawn_blocking(move || compile(&docs, &base, strict_sigma))
            .await
            .unwrap_or_else(|e| Err(vec![format!("compiling the settings failed: {e}")]))
    }

    fn install(
        &self,
        c: Compiled,
        generation: i64,
        versions: BTreeMap<Kind, u32>,
    ) -> anyhow::Result<()> {
        let (c, templates) = c.take_templates();
        let snap = snapshot(c, generation, versions)?;
        self.templates.store(Arc::new(templates));
        self.current.store(Arc::new(snap));
        Ok(())
    }

    /// The message templates live now (previews render with them).
    pub fn templates(&self) -> Arc<irene_outputs::TemplateSet> {
        self.templates.load_full()
    }

    /// Reads the store's current documents if they changed since the set now live; a set that
    /// does not compile is logged and kept out (the last good one stays). `true`: swapped.
    pub async fn reload(&self, store: &dyn Store) -> anyhow::Result<bool> {
        let _w = self.writing.lock().await;
        let generation = store.settings_generation().await?;
        if generation == self.load().generation {
            return Ok(false);
        }
        let (docs, versions) = Self::documents(store).await?;
        match self.compile_off_thread(docs, false).await {
            Ok(c) => {
                self.install(c, generation, versions.clone())?;
                tracing::info!(?versions, "settings reloaded");
                Ok(true)
            }
            Err(errors) => {
                tracing::error!(errors = ?errors, "the stored settings do not compile; the running ones stay");
                // not again until something else changes
                let mut kept = Snapshot::clone(&self.load());
                kept.generation = generation;
                self.current.store(Arc::new(kept));
                Ok(false)
            }
        }
    }

    /// Validates `given` (the kinds to change) together with the other current documents,
    /// every error at once; unless `dry_run`, writes them as new versions (only if nobody
    /// wrote in between) and swaps the live set.
    pub async fn apply(
        &self,
        store: &dyn Store,
        given: BTreeMap<Kind, Vec<SettingsFile>>,
        author: &str,
        comment: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Applied, ApplyError> {
        let _w = self.writing.lock().await;
        let (mut docs, versions) = Self::documents(store).await?;
        let mut diffs = String::new();
        let mut changes = Vec::new();
        let strict_sigma = given.contains_key(&Kind::Sigma);
        for (kind, files) in given {
            let files = sorted(files);
            let before = docs.get(&kind).cloned().unwrap_or_default();
            diffs.push_str(&diff::unified(kind.as_str(), &before, &files));
            changes.push(SettingsChange {
                kind: kind.as_str().to_string(),
                files: files.clone(),
                expect: Some(versions.get(&kind).copied().unwrap_or(0)),
            });
            docs.insert(kind, files);
        }
        let compiled = self
            .compile_off_thread(docs, strict_sigma)
            .await
            .map_err(ApplyError::Invalid)?;
        if dry_run {
            return Ok(Applied {
                diff: diffs,
                versions: BTreeMap::new(),
                dry_run,
            });
        }
        let written = store.settings_apply(&changes, author, comment, now).await?;
        let generation = store.settings_generation().await?;
        let mut now_versions = versions;
        for (k, v) in &written {
            if let Some(kind) = Kind::parse(k) {
                now_versions.insert(kind, *v);
            }
        }
        self.install(compiled, generation, now_versions)
            .map_err(|e| ApplyError::Invalid(vec![e.to_string()]))?;
        if !written.is_empty() {
            tracing::info!(author, versions = ?written, "settings applied");
        }
        Ok(Applied {
            diff: diffs,
            versions: written.into_iter().collect(),
            dry_run,
        })
    }
}

/// A silence as asked for (the id, author and times are filled in here).
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub condition: Option<String>,
    pub matchers: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub comment: String,
    pub force: bool,
}

impl Live {
    async fn silences_now(store: &dyn Store) -> Result<Vec<SilenceDoc>, ApplyError> {
        let files = store
            .settings_current(Kind::Silences.as_str())
            .await?
            .map(|v| v.files)
            .unwrap_or_default();
        match files.first() {
            Some(f) => silences::parse(&f.text).map_err(|e| ApplyError::Invalid(vec![e])),
            None => Ok(Vec::new()),
        }
    }

    async fn write_silences(
        &self,
        store: &dyn Store,
        list: &[SilenceDoc],
        author: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApplyError> {
        let text = silences::to_text(list).map_err(|e| ApplyError::Invalid(vec![e]))?;
        let mut given = BTreeMap::new();
        given.insert(
            Kind::Silences,
            vec![SettingsFile {
                name: "silences.yaml".into(),
                text,
            }],
        );
        self.apply(store, given, author, comment, false, now)
            .await?;
        Ok(())
    }

    /// Adds a silence (a new version of the silences document, by `author`).
    pub async fn silence_add(
        &self,
        store: &dyn Store,
        new: NewSilence,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<SilenceDoc, ApplyError> {
        let mut list = Self::silences_now(store).await?;
        let id = list.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let s = SilenceDoc {
            id,
            condition: new.condition,
            matchers: new.matchers,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            author: author.to_string(),
            comment: new.comment,
            force: new.force,
        };
        silences::check(&s, self.base.max_silence).map_err(|e| ApplyError::Invalid(vec![e]))?;
        list.push(s.clone());
        let comment = format!("silence #{id} added: {}", s.comment);
        self.write_silences(store, &list, author, &comment, now)
            .await?;
        Ok(s)
    }

    /// Ends a silence now (pending or active); `Ok(None)`: no such silence.
    pub async fn silence_expire(
        &self,
        store: &dyn Store,
        id: u64,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SilenceDoc>, ApplyError> {
        let mut list = Self::silences_now(store).await?;
        let Some(s) = list.iter_mut().find(|s| s.id == id) else {
            return Ok(None);
        };
        if s.state(now) != SilenceState::Expired {
            if s.starts_at >= now {
                s.starts_at = now - chrono::Duration::seconds(1);
            }
            s.ends_at = now;
        }
        let done = s.clone();
        self.write_silences(store, &list, author, &format!("silence #{id} expired"), now)
            .await?;
        Ok(Some(done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_core::{NoCorrelations, NoOutputs};
    use irene_store::Location;

    fn triage(text: &str) -> SettingsChange {
        SettingsChange {
            kind: "triage".into(),
            files: vec![SettingsFile {
                name: "t.yaml".into(),
                text: text.into(),
            }],
            expect: None,
        }
    }

    /// A new SQLite store and a live set with no documents yet.
    async fn fresh() -> (tempfile::TempDir, Arc<dyn Store>, Live) {
        let dir = tempfile::tempdir().expect("tmp");
        let store = irene_store::open(
            &Location::Sqlite(dir.path().to_path_buf()),
            Arc::new(NoOutputs),
            Arc::new(NoCorrelations),
        )
        .await
        .expect("store");
        let live = Live::start(
            Base {
                outputs: Vec::new(),
                max_silence: chrono::Duration::days(1),
            },
            TriageRules::compile(&[]).expect("empty"),
            SigmaRules::compile(&[]).0,
            irene_outputs::templates::shared(irene_outputs::TemplateSet::builtin()),
        )
        .expect("live");
        (dir, store, live)
    }

    /// What another process applies reaches this one at its next reload; a version that does
    /// not compile (written past the checks) is kept out and the running set stays.
    #[tokio::test]
    async fn versions_written_elsewhere_are_picked_up_and_broken_ones_kept_out() {
        let (_dir, store, live) = fresh().await;
        assert!(
            !live.reload(&*store).await.expect("reload"),
            "nothing written yet"
        );
        let rule = "- name: r\n  when: alert.type == \"x\"\n  severity: high\n";
        store
            .settings_apply(&[triage(rule)], "elsewhere", "", Utc::now())
            .await
            .expect("apply");
        assert!(live.reload(&*store).await.expect("reload"));
        assert_eq!(live.load().triage.len(), 1);
        assert_eq!(live.load().versions.get(&Kind::Triage), Some(&1));
        store
            .settings_apply(&[triage("- name: [broken")], "elsewhere", "", Utc::now())
            .await
            .expect("apply");
        assert!(!live.reload(&*store).await.expect("reload"));
        assert_eq!(live.load().triage.len(), 1, "the last good set stays");
        assert!(
            !live.reload(&*store).await.expect("reload"),
            "and is not retried in a loop"
        );
    }

    /// A Sigma rule Irene cannot run is left out of a reload (as at start: SigmaHQ folders hold
    /// such rules), but an apply of Sigma rules must load whole.
    #[tokio::test]
    async fn sigma_rejections_block_an_apply_of_sigma_only() {
        let (_dir, store, live) = fresh().await;
        let unrunnable = vec![SettingsFile {
            name: "broken.yml".into(),
            text: "title: no detection\nlogsource:\n  product: aws\n".into(),
        }];
        store
            .settings_apply(
                &[SettingsChange {
                    kind: "sigma".into(),
                    files: unrunnable.clone(),
                    expect: None,
                }],
                "file:sigma/",
                "",
                Utc::now(),
            )
            .await
            .expect("apply");
        assert!(
            live.reload(&*store).await.expect("reload"),
            "loaded without it"
        );
        let mut given = BTreeMap::new();
        given.insert(Kind::Sigma, unrunnable);
        match live
            .apply(&*store, given, "alice", "", true, Utc::now())
            .await
        {
            Err(ApplyError::Invalid(errors)) => {
                assert!(
                    errors.iter().any(|e| e.contains("broken.yml")),
                    "{errors:?}"
                )
            }
            other => panic!("{:?}", other.map(|a| a.diff)),
        }
        // other kinds still apply beside it
        let mut given = BTreeMap::new();
        given.insert(
            Kind::Triage,
            vec![SettingsFile {
                name: "t.yaml".into(),
                text: "- name: r\n  when: alert.type == \"x\"\n  severity: high\n".into(),
            }],
        );
        let applied = live
            .apply(&*store, given, "alice", "", false, Utc::now())
            .await
            .expect("triage applies");
        assert_eq!(applied.versions.get("triage"), Some(&1));
    }
}
