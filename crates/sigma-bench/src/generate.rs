//! The in-Rust twin of `scripts/gen_cloudtrail.py`: synthetic CloudTrail events made by varying
//! the fixture records, in the same mix and the same shapes (not the same random stream).
//!
//! Mix: 95% background (a fixture record whose `eventSource`/`eventName` is swapped for a pair
//! that occurs in the fixtures and that no AWS rule names), 2% fixture records with their own
//! names, 3% rule-shaped (for each AWS rule in turn, a clean IAMUser record given the fields of
//! the rule's positive selections, with the script's overrides for realistic value types).
//! Every event has its ids, time, region, source IP, account and caller identity varied.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ACCOUNTS: [&str; 5] = [
    "123837392027",
    "111122223333",
    "444455556666",
    "777788889999",
    "210987654321",
];
const FIRST: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
];
const TEAM: [&str; 10] = [
    "ops", "dev", "sec", "data", "ci", "admin", "ro", "svc", "qa", "ml",
];
const ROLES: [&str; 8] = [
    "AdminRole",
    "ReadOnly",
    "DeployRole",
    "LambdaExec",
    "eks-node",
    "BackupRole",
    "AuditRole",
    "CIRunner",
];
const REGIONS: [&str; 10] = [
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
];
/// Part of the cached corpus's file name: change it when the generator's output changes.
pub const VERSION: u32 = 1;
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The corpus spans one week from 2025-06-01T00:00:00Z.
const WEEK_SECS: f64 = 604_800.0;

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn bits(&mut self, n: u32) -> u64 {
        self.next() >> (64 - n)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// How many events of each kind were made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kinds {
    pub background: u64,
    pub fixture: u64,
    pub rule: u64,
}

/// Makes the events, one at a time.
pub struct Generator {
    rng: Rng,
    n: usize,
    made: usize,
    rule_turn: usize,
    named: Vec<Value>,
    all: Vec<Value>,
    clean: Vec<Value>,
    signin: Vec<Value>,
    rules: Vec<(String, Map<String, Value>)>,
    benign_pairs: Vec<(Value, Value)>,
    ips: Vec<String>,
    users: Vec<String>,
    pub kinds: Kinds,
}

impl Generator {
    /// Reads the fixture records under `cloudtrail_dir` (`*.json`: a `Records` object, a list,
    /// or one record) and the AWS rules under `rules_dir/cloud/aws`, for a corpus of `n` events.
    pub fn new(cloudtrail_dir: &Path, rules_dir: &Path, n: usize, seed: u64) -> Result<Self> {
        let all = fixture_records(cloudtrail_dir)?;
        let named: Vec<Value> = all
            .iter()
            .filter(|r| r.get("eventName").and_then(Value::as_str).is_some())
            .cloned()
            .collect();
        let clean: Vec<Value> = named
            .iter()
            .filter(|r| {
                r.pointer("/userIdentity/type").and_then(Value::as_str) == Some("IAMUser")
                    && r.get("errorCode").is_none()
                    && r.get("eventType").and_then(Value::as_str) == Some("AwsApiCall")
            })
            .cloned()
            .collect();
        let signin: Vec<Value> = named
            .iter()
            .filter(|r| {
                r["eventName"] == "ConsoleLogin"
                    && r.pointer("/userIdentity/type").and_then(Value::as_str) == Some("IAMUser")
            })
            .cloned()
            .collect();
        let rules = aws_rules(rules_dir)?;
        let mut rule_names = BTreeSet::new();
        for (_, det) in &rules {
            event_names(&Value::Object(det.clone()), &mut rule_names);
        }
        let pairs: BTreeSet<(String, String)> = named
            .iter()
            .filter_map(|r| {
                let name = r["eventName"].as_str()?;
                let source = r.get("eventSource")?.as_str()?;
                (!rule_names.contains(name) && !name.starts_with("UpdateFunctionConfiguration"))
                    .then(|| (source.to_string(), name.to_string()))
            })
            .collect();
        if named.is_empty() || clean.is_empty() || signin.is_empty() || pairs.is_empty() {
            bail!(
                "{}: too few fixture records to vary (named {}, clean IAMUser calls {}, IAMUser sign-ins {}, benign pairs {})",
                cloudtrail_dir.display(),
                named.len(),
                clean.len(),
                signin.len(),
                pairs.len()
            );
        }
        if rules.is_empty() {
            bail!("{}: no AWS rules under cloud/aws", rules_dir.display());
        }
        let mut rng = Rng(seed ^ 0x5eed_c10d_7a11_0000);
        let ips = (0..5000)
            .map(|_| {
                format!(
                    "{}.{}.{}.{}",
                    1 + rng.below(223),
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(254)
                )
            })
            .collect();
        let users = FIRST
            .iter()
            .flat_map(|a| TEAM.iter().map(move |b| format!("{a}.{b}")))
            .collect();
        Ok(Generator {
            rng,
            n: n.max(1),
            made: 0,
            rule_turn: 0,
            named,
            all,
            clean,
            signin,
            rules,
            benign_pairs: pairs
                .into_iter()
                .map(|(s, n)| (Value::String(s), Value::String(n)))
                .collect(),
            ips,
            users,
            kinds: Kinds::default(),
        })
    }

    /// The number of AWS rules that rule-shaped events are made for, in turn.
    pub fn aws_rules(&self) -> usize {
        self.rules.len()
    }

    /// The next event.
    pub fn next_event(&mut self) -> Value {
        let i = self.made;
        self.made += 1;
        let x = self.rng.unit();
        if x < 0.95 {
            let mut e = self.rng.pick(&self.named).clone();
            self.vary(&mut e, i);
            let (s, n) = self.rng.pick(&self.benign_pairs).clone();
            e["eventSource"] = s;
            e["eventName"] = n;
            self.kinds.background += 1;
            e
        } else if x < 0.97 {
            let mut e = self.rng.pick(&self.all).clone();
            self.vary(&mut e, i);
            self.kinds.fixture += 1;
            e
        } else {
            let k = self.rule_turn;
            self.rule_turn += 1;
            self.kinds.rule += 1;
            self.rule_shaped(i, k)
        }
    }

    fn request_id(&mut self) -> String {
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            self.rng.bits(32),
            self.rng.bits(16),
            self.rng.bits(12),
            0x8000 | self.rng.bits(14),
            self.rng.bits(48)
        )
    }

    fn key(&mut self, prefix: &str) -> String {
        let mut s = String::with_capacity(prefix.len() + 16);
        s.push_str(prefix);
        for _ in 0..16 {
            s.push(KEY_CHARS[self.rng.below(KEY_CHARS.len())] as char);
        }
        s
    }

    fn user(&mut self) -> String {
        self.rng.pick(&self.users).clone()
    }

    /// Varies ids, time, region, source IP, account and caller identity in place.
    fn vary(&mut self, e: &mut Value, i: usize) {
        let Some(obj) = e.as_object_mut() else {
            return;
        };
        obj.insert("eventID".into(), json!(self.request_id()));
        if obj.contains_key("requestID") {
            obj.insert("requestID".into(), json!(self.request_id()));
        }
        let secs = (i as f64 * WEEK_SECS / self.n as f64 + self.rng.unit()) as u64;
        obj.insert(
            "eventTime".into(),
            json!(format!(
                "2025-06-{:02}T{:02}:{:02}:{:02}Z",
                1 + secs / 86_400,
                secs / 3600 % 24,
                secs / 60 % 60,
                secs % 60
            )),
        );
        if obj.contains_key("awsRegion") {
            obj.insert("awsRegion".into(), json!(self.rng.pick(&REGIONS)));
        }
        let numeric_ip = obj
            .get("sourceIPAddress")
            .and_then(Value::as_str)
            .is_some_and(|ip| ip.starts_with(|c: char| c.is_ascii_digit()));
        if numeric_ip {
            obj.insert(
                "sourceIPAddress".into(),
                json!(self.rng.pick(&self.ips).clone()),
            );
        }
        let acct = *self.rng.pick(&ACCOUNTS);
        if obj.contains_key("recipientAccountId") {
            obj.insert("recipientAccountId".into(), json!(acct));
        }
        let Some(ui) = obj.get_mut("userIdentity").and_then(Value::as_object_mut) else {
            return;
        };
        match ui.get("type").and_then(Value::as_str) {
            Some("IAMUser") => {
                let u = self.user();
                ui.insert("userName".into(), json!(u));
                ui.insert("arn".into(), json!(format!("arn:aws:iam::{acct}:user/{u}")));
                ui.insert("accountId".into(), json!(acct));
                ui.insert("principalId".into(), json!(self.key("AIDA")));
                if ui.contains_key("accessKeyId") {
                    ui.insert("accessKeyId".into(), json!(self.key("AKIA")));
                }
            }
            Some("AssumedRole") => {
                let role = *self.rng.pick(&ROLES);
                let session = format!("session-{}", 1 + self.rng.below(99_999));
                self.set_assumed_role(ui, acct, role, &session);
            }
            Some("Root") => {
                ui.insert("principalId".into(), json!(acct));
                ui.insert("arn".into(), json!(format!("arn:aws:iam::{acct}:root")));
                ui.insert("accountId".into(), json!(acct));
            }
            _ => {}
        }
    }

    fn set_assumed_role(
        &mut self,
        ui: &mut Map<String, Value>,
        acct: &str,
        role: &str,
        session: &str,
    ) {
        let role_id = self.key("AROA");
        let access_key = self.key("ASIA");
        ui.clear();
        let filled = json!({
            "type": "AssumedRole",
            "principalId": format!("{role_id}:{session}"),
            "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}"),
            "accountId": acct,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": format!("arn:aws:iam::{acct}:role/{role}"),
                    "accountId": acct,
                    "userName": role
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": "2025-06-01T00:00:00Z", "mfaAuthenticated": "false"}
            }
        });
        if let Value::Object(m) = filled {
            ui.extend(m);
        }
    }

    fn assumed_role_identity(&mut self, e: &mut Value, acct: &str, role: &str, session: &str) {
        if !e["userIdentity"].is_object() {
            e["userIdentity"] = json!({});
        }
        if let Some(ui) = e["userIdentity"].as_object_mut() {
            self.set_assumed_role(ui, acct, role, session);
        }
    }

    fn rule_shaped(&mut self, i: usize, k: usize) -> Value {
        let (name, det) = self.rules[k % self.rules.len()].clone();
        let mut e = self.rng.pick(&self.clean).clone();
        self.vary(&mut e, i);
        e["requestParameters"] = json!({});
        e["responseElements"] = Value::Null;
        e["readOnly"] = json!(false);
        let acct = e
            .get("recipientAccountId")
            .and_then(Value::as_str)
            .unwrap_or(ACCOUNTS[0])
            .to_string();
        match name.as_str() {
            "aws_cloudtrail_console_login_success_without_mfa" => self.signin(&mut e, false),
            "aws_cloudtrail_console_login_failed_authentication" => self.signin(&mut e, true),
            _ => {}
        }
        for sel in self.positive_parts(&det) {
            self.apply_selection(&mut e, &sel);
        }
        self.post(&name, &mut e, &acct);
        e
    }

    /// Selections the condition needs to be true (negated parts are left unsatisfied).
    fn positive_parts(&mut self, det: &Map<String, Value>) -> Vec<Value> {
        let condition = det.get("condition").and_then(Value::as_str).unwrap_or("");
        let mut out = Vec::new();
        for tok in condition.split(" and ") {
            let tok = tok.trim();
            if tok.starts_with("not ") {
                continue;
            }
            if let Some(pattern) = tok.strip_prefix("1 of ") {
                let prefix = pattern.trim_end_matches('*');
                let mut names: Vec<&String> = det
                    .keys()
                    .filter(|k| k.starts_with(prefix) && *k != "condition")
                    .collect();
                names.sort();
                if !names.is_empty() {
                    let name = names[self.rng.below(names.len())];
                    out.push(det[name.as_str()].clone());
                }
            } else if let Some(sel) = det.get(tok) {
                out.push(sel.clone());
            }
        }
        out
    }

    fn apply_selection(&mut self, e: &mut Value, sel: &Value) {
        let sel = match sel {
            Value::Array(maps) if !maps.is_empty() => self.rng.pick(maps).clone(),
            other => other.clone(),
        };
        let Value::Object(items) = sel else {
            return;
        };
        for (k, v) in items {
            let mut parts = k.split('|');
            let field = parts.next().unwrap_or("");
            let mods: Vec<&str> = parts.collect();
            if mods.contains(&"fieldref") || mods.contains(&"re") {
                continue;
            }
            let vals = match v {
                Value::Array(vs) => vs,
                one => vec![one],
            };
            if vals.is_empty() {
                continue;
            }
            let val = if mods.contains(&"all") {
                let joined: Vec<String> = vals
                    .iter()
                    .map(|x| {
                        let t = text(x);
                        if t.starts_with('"') {
                            t
                        } else {
                            format!("\"{t}\"")
                        }
                    })
                    .collect();
                Value::String(joined.join(" "))
            } else {
                self.rng.pick(&vals).clone()
            };
            if val.is_null() {
                del_path(e, field);
                continue;
            }
            let val = if mods.contains(&"contains") {
                let t = text(&val);
                Value::String(if t == "*" {
                    "****".into()
                } else {
                    format!("pre-{t}-post")
                })
            } else if mods.contains(&"startswith") {
                Value::String(format!("{}20150331v2", text(&val)))
            } else if mods.contains(&"endswith") {
                Value::String(format!("x{}", text(&val)))
            } else {
                val
            };
            set_path(e, field, val);
        }
    }

    fn signin(&mut self, e: &mut Value, failed: bool) {
        let mut t = self.rng.pick(&self.signin).clone();
        for key in [
            "eventID",
            "eventTime",
            "sourceIPAddress",
            "recipientAccountId",
        ] {
            if let Some(v) = e.get(key) {
                t[key] = v.clone();
            }
        }
        let user = self.user();
        if let Some(ui) = t.get_mut("userIdentity").and_then(Value::as_object_mut) {
            ui.insert("userName".into(), json!(user));
        }
        if let Some(m) = t.as_object_mut() {
            m.shift_remove("errorMessage");
            m.shift_remove("errorCode");
        }
        t["responseElements"] = json!({"ConsoleLogin": if failed { "Failure" } else { "Success" }});
        t["additionalEventData"] = json!({
            "LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": "Yes"
        });
        if failed {
            t["errorMessage"] = json!("Failed authentication");
        }
        *e = t;
    }

    /// Realistic shapes for fields where CloudTrail's type is not a plain string.
    fn post(&mut self, name: &str, e: &mut Value, acct: &str) {
        match name {
            "aws_cloudtrail_imds_malicious_usage" => {
                let session = format!("i-0{:016x}", self.rng.next());
                self.assumed_role_identity(e, acct, "aws:ec2-instance", &session);
                e["eventSource"] = json!("ec2.amazonaws.com");
                e["eventName"] = json!("DescribeInstances");
            }
            "aws_sts_assumerole_misuse" => {
                let role = *self.rng.pick(&ROLES);
                let session = format!("session-{}", 1 + self.rng.below(99_999));
                self.assumed_role_identity(e, acct, role, &session);
            }
            "aws_root_account_usage" => {
                let key = self.key("ASIA");
                e["userIdentity"] = json!({
                    "type": "Root", "principalId": acct, "arn": format!("arn:aws:iam::{acct}:root"),
                    "accountId": acct, "accessKeyId": key
                });
                let (s, n) = self.rng.pick(&self.benign_pairs).clone();
                e["eventSource"] = s;
                e["eventName"] = n;
            }
            "aws_disable_bucket_versioning" => {
                let b = format!("bucket-{}", 1 + self.rng.below(999));
                e["requestParameters"] = json!({
                    "bucketName": b, "Host": format!("{b}.s3.amazonaws.com"), "versioning": "",
                    "VersioningConfiguration": {
                        "Status": "Suspended", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"
                    }
                });
            }
            "aws_iam_s3browser_templated_s3_bucket_policy_creation" => {
                let policy = json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": ["arn:aws:s3:::<YOUR-BUCKET-NAME>/*"]
                }]});
                e["requestParameters"] = json!({
                    "userName": self.user(), "policyName": "s3browser-template",
                    "policyDocument": policy.to_string()
                });
            }
            "aws_ecs_task_definition_cred_endpoint_query" => {
                let cmd = [
                    "/bin/sh",
                    "-c",
                    "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                ];
                e["requestParameters"] = if self.rng.unit() < 0.5 {
                    // as CloudTrail logs it: a list of containers, the command a list
                    json!({"family": "x", "containerDefinitions": [
                        {"name": "c", "image": "alpine", "command": cmd}
                    ]})
                } else {
                    // the flattened single-container variant every engine can reach
                    json!({"family": "x", "containerDefinitions": {
                        "name": "c", "image": "alpine", "command": cmd.join(" ")
                    }})
                };
            }
            "aws_new_lambda_layer_attached" => {
                let layer = format!(
                    "arn:aws:lambda:us-east-1:{acct}:layer:evil:{}",
                    1 + self.rng.below(9)
                );
                e["requestParameters"] = json!({"functionName": "fn", "layers": [layer]});
            }
            "aws_rds_public_db_restore" => {
                e["responseElements"] =
                    json!({"dBInstanceIdentifier": "db1", "publiclyAccessible": true});
            }
            "aws_rds_change_master_password" => {
                e["responseElements"] = json!({
                    "dBInstanceIdentifier": "db1",
                    "pendingModifiedValues": {"masterUserPassword": "****"}
                });
            }
            "aws_cloudtrail_guardduty_detector_deleted_or_updated"
                if e["eventName"] == "UpdateDetector" =>
            {
                e["requestParameters"] = json!({"detectorId": "d1", "enable": false});
            }
            "aws_ec2_vm_export_failure" => {
                if let Some(m) = e.as_object_mut() {
                    m.shift_remove("errorCode");
                    m.shift_remove("errorMessage");
                }
                e["responseElements"] = json!({"exportTask": {
                    "exportTaskId": "export-i-1", "state": "active", "instanceExportDetails": {}
                }});
            }
            "aws_update_login_profile" => {
                e["requestParameters"] =
                    json!({"userName": self.user(), "passwordResetRequired": false});
            }
            "aws_iam_backdoor_users_keys" => {
                let u = self.user();
                let key = self.key("AKIA");
                e["requestParameters"] = json!({"userName": u});
                e["responseElements"] = json!({"accessKey": {
                    "accessKeyId": key, "status": "Active", "userName": u
                }});
            }
            _ => {}
        }
    }
}

/// A YAML/JSON scalar as Python's `str()` would write it in the script.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn set_path(e: &mut Value, dotted: &str, val: Value) {
    let mut cur = e;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            obj.insert(part.to_string(), val);
            return;
        }
        cur = obj.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

fn del_path(e: &mut Value, dotted: &str) {
    let mut cur = e;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            obj.shift_remove(part);
            return;
        }
        match obj.get_mut(part) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

/// Every `eventName` value a detection names, at any depth.
fn event_names(x: &Value, out: &mut BTreeSet<String>) {
    match x {
        Value::Object(m) => {
            for (k, v) in m {
                if k.split('|').next() == Some("eventName") {
                    match v {
                        Value::Array(vs) => out.extend(vs.iter().map(text)),
                        one => {
                            out.insert(text(one));
                        }
                    }
                }
                event_names(v, out);
            }
        }
        Value::Array(vs) => vs.iter().for_each(|v| event_names(v, out)),
        _ => {}
    }
}

/// Files under `dir`, recursively, sorted by path.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", d.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The records of every `*.json` file directly under `dir`, in file-name order.
pub fn fixture_records(dir: &Path) -> Result<Vec<Value>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        match v {
            Value::Object(mut m) if m.contains_key("Records") => match m.remove("Records") {
                Some(Value::Array(items)) => out.extend(items),
                _ => bail!("{}: Records is not a list", p.display()),
            },
            Value::Array(items) => out.extend(items),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `(file stem, detection)` of each rule file under `rules_dir/cloud/aws`, in path order.
fn aws_rules(rules_dir: &Path) -> Result<Vec<(String, Map<String, Value>)>> {
    let mut out = Vec::new();
    for p in files_under(&rules_dir.join("cloud").join("aws"))? {
        if p.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let doc: Yaml =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        let doc: Value = serde_json::to_value(doc)
            .with_context(|| format!("{}: not JSON-like YAML", p.display()))?;
        let Some(Value::Object(det)) = doc.get("detection").cloned() else {
            bail!("{}: no detection", p.display());
        };
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((stem, det));
    }
    Ok(out)
}
