//! The `irene apply -f DIR` / `irene export DIR` layout: `triage/` and `sigma/` (rule files,
//! folders allowed), `routes.toml`, `templates/`, `silences.yaml`, `runbooks/`. Files only; no store, no HTTP.

use super::{sorted, Kind};
use anyhow::{bail, Context};
use irene_store::SettingsFile;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Where a kind lives in the layout: a folder of files, or one file.
enum Place {
    Folder(&'static str, &'static [&'static str]),
    File(&'static str),
}

fn place(kind: Kind) -> Place {
    match kind {
        Kind::Triage => Place::Folder("triage", &["yaml", "yml"]),
        Kind::Sigma => Place::Folder("sigma", &["yaml", "yml"]),
        Kind::Templates => Place::Folder("templates", &[]),
        Kind::Routes => Place::File("routes.toml"),
        Kind::Silences => Place::File("silences.yaml"),
        Kind::Runbooks => Place::Folder("runbooks", &["md"]),
    }
}

/// The name a single-file kind's one file has.
pub fn file_name(kind: Kind) -> Option<&'static str> {
    match place(kind) {
        Place::File(name) => Some(name),
        Place::Folder(..) => None,
    }
}

/// A document file's name is a relative path without `..`, written with `/`.
pub fn check_name(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    if name.is_empty()
        || name.contains('\\')
        || !path.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!(
            "file name {name:?} must be a relative path without `..`"
        ));
    }
    Ok(())
}

/// The documents found in `dir`: only the kinds present there.
pub fn read(dir: &Path) -> anyhow::Result<BTreeMap<Kind, Vec<SettingsFile>>> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        match place(kind) {
            Place::File(name) => {
                let path = dir.join(name);
                if path.is_file() {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    out.insert(
                        kind,
                        vec![SettingsFile {
                            name: name.to_string(),
                            text,
                        }],
                    );
                }
            }
            Place::Folder(folder, extensions) => {
                let root = dir.join(folder);
                if root.is_dir() {
                    out.insert(kind, read_folder(&root, extensions)?);
                }
            }
        }
    }
    if out.is_empty() {
        bail!(
            "nothing to apply in {}: expected triage/, sigma/, routes.toml, templates/, silences.yaml or runbooks/",
            dir.display()
        );
    }
    Ok(out)
}

/// Every file under `root` (with one of `extensions`, any when empty), named by its path
/// under `root`, in name order.
pub fn read_folder(root: &Path, extensions: &[&str]) -> anyhow::Result<Vec<SettingsFile>> {
    if !root.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let mut files = Vec::new();
    walk(root, root, extensions, &mut files)?;
    Ok(sorted(files))
}

fn walk(
    root: &Path,
    dir: &Path,
    extensions: &[&str],
    out: &mut Vec<SettingsFile>,
) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, extensions, out)?;
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !extensions.is_empty() && !extensions.contains(&ext) {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .with_context(|| format!("{} outside {}", path.display(), root.display()))?;
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.push(SettingsFile { name, text });
    }
    Ok(())
}

/// Writes documents in the layout `read` takes back unchanged. `dir` must be empty or new:
/// files already there would be read back with them.
pub fn write(dir: &Path, docs: &BTreeMap<Kind, Vec<SettingsFile>>) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: export into a new or empty folder",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (kind, files) in docs {
        let base = match place(*kind) {
            Place::File(_) => dir.to_path_buf(),
            Place::Folder(folder, _) => {
                let d = dir.join(folder);
                std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
                d
            }
        };
        for f in files {
            check_name(&f.name).map_err(|e| anyhow::anyhow!("{}: {e}", kind.as_str()))?;
            let path = base.join(&f.name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, &f.text)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SettingsFile {
        SettingsFile {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn export_then_read_gives_the_same_documents() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("export");
        let mut docs = BTreeMap::new();
        docs.insert(
            Kind::Triage,
            vec![
                file("a.yaml", "- name: a\n"),
                file("aws/b.yml", "- name: b\n"),
            ],
        );
        docs.insert(Kind::Sigma, vec![file("cloud/x.yml", "title: x\n")]);
        docs.insert(Kind::Routes, vec![file("routes.toml", "[[route]]\n")]);
        docs.insert(
            Kind::Templates,
            vec![file("github_title.j2", "{{ case.title }}")],
        );
        docs.insert(Kind::Silences, vec![file("silences.yaml", "[]\n")]);
        write(&out, &docs).expect("write");
        assert_eq!(read(&out).expect("read"), docs);
        // not into a folder with something in it
        assert!(write(&out, &docs).is_err());
    }

    #[test]
    fn only_the_kinds_present_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("routes.toml"), "").expect("write");
        std::fs::create_dir(dir.path().join("triage")).expect("mkdir");
        std::fs::write(dir.path().join("triage/notes.txt"), "not a rule").expect("write");
        let docs = read(dir.path()).expect("read");
        assert_eq!(
            docs.keys().copied().collect::<Vec<_>>(),
            vec![Kind::Triage, Kind::Routes]
        );
        assert!(
            docs[&Kind::Triage].is_empty(),
            "an empty folder is an empty document"
        );
        let empty = tempfile::tempdir().expect("tmp");
        let err = read(empty.path()).expect_err("nothing there").to_string();
        assert!(err.contains("nothing to apply"), "{err}");
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        for bad in ["../x.yaml", "/etc/passwd", "a/../../b", "", "a\\b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["a.yaml", "aws/b.yml", "x"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
    }
}
