//! The deployment files keep their promises: the CloudFormation templates pass cfn-lint, the
//! Terraform is formatted (and valid where its provider can be had); reads, never deploys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Files of `dir` whose name ends with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| exts.iter().any(|ext| n.ends_with(ext)))
        })
        .collect();
    found.sort();
    found
}

fn cfn_lint() -> PathBuf {
    match std::env::var_os("IRENE_CFN_LINT").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "IRENE_CFN_LINT is not set: the CloudFormation templates cannot be linted. Run \
             `IRENE_CFN_LINT=\"$(./scripts/cfn-lint.sh)\"; export IRENE_CFN_LINT` first \
             (it installs cfn-lint in a venv and prints its path)"
        ),
    }
}

fn run_cfn_lint(lint: &Path, template: &Path) -> Output {
    Command::new(lint)
        .arg("--")
        .arg(template)
        .output()
        .unwrap_or_else(|e| panic!("running {} (IRENE_CFN_LINT): {e}", lint.display()))
}

#[test]
fn cloudformation_templates_pass_cfn_lint() {
    let lint = cfn_lint();
    let templates = files(&repo().join("deploy/aws"), &[".yaml", ".yml"]);
    assert!(!templates.is_empty(), "no template in deploy/aws");
    for template in &templates {
        let out = run_cfn_lint(&lint, template);
        assert!(
            out.status.success(),
            "cfn-lint finds problems in {} ({}):\n{}",
            template.display(),
            out.status,
            text(&out)
        );
    }

    // and the linter is a real one: a template with a dangling reference is refused
    let dir = tempfile::tempdir().expect("a temporary directory");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n    \
         Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt Missing.Arn\n        \
         maxReceiveCount: 5\n",
    )
    .expect("writing the broken template");
    let out = run_cfn_lint(&lint, &broken);
    assert!(
        !out.status.success(),
        "cfn-lint accepted a template whose !GetAtt names no resource: is IRENE_CFN_LINT cfn-lint?\n{}",
        text(&out)
    );
}

/// What the README and irene.toml rely on: the token is never echoed, the API destination posts
/// to the auto intake with the `X-Api-Key` header, and the outputs the config takes exist.
#[test]
fn account_template_keeps_its_interface() {
    let yaml = read("deploy/aws/irene-account.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("the template is YAML");
    let params = &doc["Parameters"];
    for name in [
        "IreneUrl",
        "IngestToken",
        "IreneRoleTrust",
        "ExternalId",
        "CloudTrailBucketName",
    ] {
        assert!(
            params.get(name).is_some(),
            "parameter {name} missing from the account template"
        );
    }
    assert_eq!(
        params["IngestToken"]["NoEcho"].as_bool(),
        Some(true),
        "the ingest token must be NoEcho"
    );
    let resources = &doc["Resources"];
    let connection = &resources["IreneConnection"]["Properties"];
    assert_eq!(connection["AuthorizationType"].as_str(), Some("API_KEY"));
    assert_eq!(
        connection["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyName"].as_str(),
        Some("X-Api-Key")
    );
    let endpoint = serde_yaml::to_string(
        &resources["IreneApiDestination"]["Properties"]["InvocationEndpoint"],
    )
    .expect("the endpoint as text");
    assert!(
        endpoint.contains("${IreneUrl}/api/v1/ingest/auto"),
        "the API destination posts to {endpoint}"
    );
    for output in ["QueueUrl", "RoleArn"] {
        assert!(
            doc["Outputs"].get(output).is_some(),
            "output {output} missing"
        );
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn terraform(tf: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(tf)
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running terraform {}: {e}", args.join(" ")))
}

#[test]
fn terraform_is_formatted_and_valid() {
    let Some(tf) = on_path("terraform") else {
        eprintln!("skipped: terraform is not on PATH (deploy/gcp is neither format-checked nor validated)");
        return;
    };
    // a copy: init writes .terraform/ and a lock file, which stay out of the repository
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sources = files(&repo().join("deploy/gcp"), &[".tf"]);
    assert!(!sources.is_empty(), "no .tf file in deploy/gcp");
    for file in &sources {
        std::fs::copy(
            file,
            dir.path().join(file.file_name().expect("a file name")),
        )
        .expect("copying a .tf file");
    }

    let fmt = terraform(&tf, dir.path(), &["fmt", "-check", "-diff", "-no-color"]);
    assert!(
        fmt.status.success(),
        "terraform fmt -check: deploy/gcp is not formatted (run `terraform fmt` there):\n{}",
        text(&fmt)
    );

    let init = terraform(
        &tf,
        dir.path(),
        &["init", "-backend=false", "-input=false", "-no-color"],
    );
    if !init.status.success() {
        let said = text(&init);
        // init reads every file before it asks the registry: reaching this point means the
        // configuration parsed; only the provider download is missing
        let offline = [
            "could not connect to registry",
            "failed to request discovery document",
            "Failed to query available provider packages",
        ]
        .iter()
        .any(|sign| said.contains(sign))
            && [
                "no such host",
                "dial tcp",
                "connection refused",
                "i/o timeout",
            ]
            .iter()
            .any(|sign| said.contains(sign));
        if offline {
            eprintln!(
                "skipped terraform validate: the google provider cannot be downloaded here \
                 (the registry is unreachable); fmt passed and the files parsed:\n{said}"
            );
            return;
        }
        panic!("terraform init -backend=false fails in deploy/gcp:\n{said}");
    }
    let validate = terraform(&tf, dir.path(), &["validate", "-no-color"]);
    assert!(
        validate.status.success(),
        "terraform validate: deploy/gcp is not valid:\n{}",
        text(&validate)
    );
}

/// `key=value` lines of one `[section]` of a systemd unit (a key set twice: the last wins,
/// as for most settings).
fn unit_section(unit: &str, section: &str) -> BTreeMap<String, String> {
    let mut current = String::new();
    let mut keys = BTreeMap::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            current = line.to_string();
            continue;
        }
        if current == format!("[{section}]") {
            if let Some((key, value)) = line.split_once('=') {
                keys.insert(key.trim().to_string(), value.trim().to_string());
            }
        }
    }
    keys
}

fn names_a_secret(s: &str) -> bool {
    let upper = s.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY"]
        .iter()
        .any(|word| upper.contains(word))
}

#[test]
fn systemd_unit_is_hardened_and_holds_no_secret() {
    let unit = read("deploy/systemd/irene.service");
    let service = unit_section(&unit, "Service");
    let want = [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        // no capability at all: the probes are TCP connects, no raw sockets
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("StateDirectory", "irene"),
        ("Restart", "on-failure"),
        ("EnvironmentFile", "-/etc/irene/env"),
    ];
    for (key, value) in want {
        assert_eq!(
            service.get(key).map(String::as_str),
            Some(value),
            "irene.service: {key}= should be {value:?}"
        );
    }
    let user = service.get("User").map(String::as_str);
    let dynamic = service.get("DynamicUser").map(String::as_str) == Some("yes");
    assert!(
        dynamic || user.is_some_and(|u| u != "root" && u != "0"),
        "irene.service must run as a dedicated or dynamic user, not {user:?}"
    );
    assert!(
        service
            .get("ExecStart")
            .is_some_and(|e| e.contains("irene serve --config /etc/irene/irene.toml")),
        "irene.service: ExecStart should run `irene serve --config /etc/irene/irene.toml`"
    );
    for line in unit.lines().map(str::trim) {
        if let Some(assignment) = line.strip_prefix("Environment=") {
            assert!(
                !names_a_secret(assignment),
                "irene.service sets a secret in the unit ({assignment}): it belongs in /etc/irene/env"
            );
        }
    }
}

/// The Dockerfile's instructions, continuation lines joined, comments and parser directives left
/// out: (instruction in upper case, the rest).
fn dockerfile_instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (pending.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let whole = std::mem::take(&mut pending);
                let (word, rest) = whole
                    .split_once(char::is_whitespace)
                    .unwrap_or((&whole, ""));
                out.push((word.to_ascii_uppercase(), rest.trim().to_string()));
            }
        }
    }
    out
}

fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user).trim();
    name == "root" || name == "0"
}

#[test]
fn dockerfile_runs_as_non_root_and_bakes_in_no_secret() {
    let dockerfile = read("Dockerfile");
    let instructions = dockerfile_instructions(&dockerfile);

    // the user each stage ends with: a stage built on another inherits its user; on an image
    // from a registry it starts as root
    let mut stage_user: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (word, rest) in &instructions {
        match word.as_str() {
            "FROM" => {
                if let Some((name, user)) = current.take() {
                    stage_user.insert(name, user);
                }
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let image = parts.first().copied().unwrap_or("");
                let name = match parts.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                    _ => format!("#{}", stages.len()),
                };
                let user = stage_user
                    .get(image)
                    .cloned()
                    .unwrap_or_else(|| "root".into());
                stages.push(name.clone());
                current = Some((name, user));
            }
            "USER" => {
                if let Some((_, user)) = current.as_mut() {
                    *user = rest.clone();
                }
            }
            "ENV" | "ARG" => {
                assert!(
                    !names_a_secret(rest),
                    "Dockerfile: `{word} {rest}` bakes a secret into the image"
                );
            }
            "COPY" | "ADD" => {
                assert!(
                    !rest.contains("/etc/irene") && !rest.contains(".toml "),
                    "Dockerfile: `{word} {rest}` puts configuration into the image"
                );
            }
            _ => {}
        }
    }
    if let Some((name, user)) = current.take() {
        stage_user.insert(name, user);
    }
    let last = stages.last().expect("the Dockerfile has stages").clone();
    for target in [last.as_str(), "full"] {
        let user = stage_user
            .get(target)
            .unwrap_or_else(|| panic!("Dockerfile: no stage {target}"));
        assert!(
            !is_root(user),
            "Dockerfile: target {target} runs as {user}, not a non-root user"
        );
    }
    assert_eq!(
        stage_user.get(&last).map(String::as_str),
        Some("10001:10001")
    );

    let has = |word: &str, rest: &str| {
        instructions
            .iter()
            .any(|(w, r)| w == word && r.replace(' ', "") == rest.replace(' ', ""))
    };
    assert!(has("EXPOSE", "8080"), "Dockerfile: EXPOSE 8080");
    assert!(
        has("ENTRYPOINT", "[\"irene\"]"),
        "Dockerfile: ENTRYPOINT [\"irene\"]"
    );
    assert!(
        has(
            "CMD",
            "[\"serve\", \"--config\", \"/etc/irene/irene.toml\"]"
        ),
        "Dockerfile: CMD serve --config /etc/irene/irene.toml"
    );
    assert!(
        has("VOLUME", "[\"/data\"]"),
        "Dockerfile: VOLUME [\"/data\"]"
    );

    // nothing local reaches the build context: the repository's history, builds, data
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target", ".git", "irene-data"] {
        assert!(
            ignored.contains(&entry),
            ".dockerignore should leave out {entry}"
        );
    }
}
