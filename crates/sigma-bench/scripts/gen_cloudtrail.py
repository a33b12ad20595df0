#!/usr/bin/env python3
"""Generate a synthetic CloudTrail NDJSON corpus for the Sigma peer benchmark.

Provenance: copied from the project's shared benchmark inputs (bench/gen_cloudtrail.py, next to
fixtures/); the only change is where the fixtures are read (CT_DIR, RULES_DIR below). Output is
byte-identical to the original's for the same N and SEED. Reads the fixture CloudTrail records
(sources and licenses: crates/rules/tests/sigma/SOURCES.md) and the SigmaHQ AWS rules (Detection
Rule License 1.1, crates/rules/tests/sigma/LICENSE.Detection.Rules.md); writes only fake data.

usage: gen_cloudtrail.py N OUT.ndjson [SEED]

Every record is a copy of a record from ../fixtures/cloudtrail/*.json with eventID, requestID,
eventTime, sourceIPAddress, account and identity (user/role names, ARNs, key ids) varied. Mix:
  * 95 %  background: a fixture record whose (eventSource, eventName) is swapped for a pair that
          occurs in the fixtures and that no AWS rule names (most of these match no rule; the
          fixtures' identity mix, incl. a few Root/AssumedRole callers, is kept);
  * 2 %   fixture-native: a fixture record with its own eventName (real attack traces + benign);
  * 3 %   rule-shaped: for each of the 57 AWS rules in turn, a record built from a clean IAMUser
          template plus the fields of the rule's positive selections (realistic value types: booleans
          stay booleans, requestParameters stays an object, lists stay lists where CloudTrail has lists).
Deterministic for a given SEED. Writes one JSON object per line, then a summary on stderr.
"""
import copy, glob, json, os, random, sys, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
# Irene copy: the inputs are the repository's copies of ../fixtures/cloudtrail and
# ../fixtures/sigma/rules (byte-identical); override with IRENE_CT_FIXTURES / IRENE_SIGMA_RULES.
CT_DIR = os.environ.get("IRENE_CT_FIXTURES") or os.path.join(HERE, "..", "..", "sources", "tests", "fixtures", "cloudtrail")
RULES_DIR = os.environ.get("IRENE_SIGMA_RULES") or os.path.join(HERE, "..", "..", "rules", "tests", "sigma", "rules")
N = int(sys.argv[1]); OUT = sys.argv[2]; SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 42
rng = random.Random(SEED)

def load_records():
    recs = []
    for p in sorted(glob.glob(os.path.join(CT_DIR, "*.json"))):
        d = json.load(open(p))
        recs += d["Records"] if isinstance(d, dict) and "Records" in d else (d if isinstance(d, list) else [d])
    return recs

def load_aws_rules():
    import yaml
    rules = []
    for p in sorted(glob.glob(os.path.join(RULES_DIR, "cloud", "aws", "**", "*.yml"), recursive=True)):
        rules.append((os.path.basename(p)[:-4], yaml.safe_load(open(p))))
    return rules

RECS = load_records()
RULES = load_aws_rules()
NAMED = [r for r in RECS if r.get("eventName")]
CLEAN = [r for r in NAMED if r.get("userIdentity", {}).get("type") == "IAMUser" and "errorCode" not in r
         and r.get("eventType") == "AwsApiCall"]
SIGNIN = [r for r in NAMED if r["eventName"] == "ConsoleLogin"]

def rule_event_names(rules):
    names = set()
    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k.split("|")[0] == "eventName":
                    names.update(v if isinstance(v, list) else [v])
                walk(v)
        elif isinstance(x, list):
            for v in x: walk(v)
    for _, r in rules: walk(r["detection"])
    return names

RULE_NAMES = rule_event_names(RULES)
BENIGN_PAIRS = sorted({(r["eventSource"], r["eventName"]) for r in NAMED
                       if r["eventName"] not in RULE_NAMES and not r["eventName"].startswith("UpdateFunctionConfiguration")})

# ---- pools (fake data only; nothing here is contacted)
ACCOUNTS = ["123837392027", "111122223333", "444455556666", "777788889999", "210987654321"]
USERS = [f"{a}.{b}" for a in ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
                               "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara"]
         for b in ["ops", "dev", "sec", "data", "ci", "admin", "ro", "svc", "qa", "ml"]]
ROLES = ["AdminRole", "ReadOnly", "DeployRole", "LambdaExec", "eks-node", "BackupRole", "AuditRole", "CIRunner"]
IPS = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(5000)]
REGIONS = ["us-east-1"] * 6 + ["us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]
T0 = datetime.datetime(2025, 6, 1, tzinfo=datetime.timezone.utc)
UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

def rid(): return "%08x-%04x-4%03x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                   0x8000 | rng.getrandbits(14), rng.getrandbits(48))
def key(prefix): return prefix + "".join(rng.choice(UP) for _ in range(16))

def vary(e, i):
    """Vary ids, time, source IP, account and caller identity in place."""
    e["eventID"] = rid()
    if "requestID" in e: e["requestID"] = rid()
    e["eventTime"] = (T0 + datetime.timedelta(seconds=i * 604800 / N + rng.random())).strftime("%Y-%m-%dT%H:%M:%SZ")
    if "awsRegion" in e: e["awsRegion"] = rng.choice(REGIONS)
    ip = e.get("sourceIPAddress")
    if ip and ip[0].isdigit(): e["sourceIPAddress"] = rng.choice(IPS)
    acct = rng.choice(ACCOUNTS)
    if "recipientAccountId" in e: e["recipientAccountId"] = acct
    ui = e.get("userIdentity")
    if not isinstance(ui, dict): return e
    t = ui.get("type")
    if t == "IAMUser":
        u = rng.choice(USERS)
        ui.update(userName=u, arn=f"arn:aws:iam::{acct}:user/{u}", accountId=acct, principalId=key("AIDA"))
        if "accessKeyId" in ui: ui["accessKeyId"] = key("AKIA")
    elif t == "AssumedRole":
        set_assumed_role(ui, acct, rng.choice(ROLES), f"session-{rng.randint(1, 99999)}")
    elif t == "Root":
        ui.update(principalId=acct, arn=f"arn:aws:iam::{acct}:root", accountId=acct)
    return e

def set_assumed_role(ui, acct, role, session):
    rid_ = key("AROA")
    ui.clear()
    ui.update({"type": "AssumedRole", "principalId": f"{rid_}:{session}",
               "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}", "accountId": acct,
               "accessKeyId": key("ASIA"), "sessionContext": {
                   "sessionIssuer": {"type": "Role", "principalId": rid_, "arn": f"arn:aws:iam::{acct}:role/{role}",
                                     "accountId": acct, "userName": role},
                   "webIdFederationData": {}, "attributes": {"creationDate": "2025-06-01T00:00:00Z",
                                                             "mfaAuthenticated": "false"}}})

def set_path(e, dotted, val):
    parts = dotted.split(".")
    cur = e
    for p in parts[:-1]:
        if not isinstance(cur.get(p), dict): cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = val

def del_path(e, dotted):
    parts = dotted.split(".")
    cur = e
    for p in parts[:-1]:
        cur = cur.get(p)
        if not isinstance(cur, dict): return
    cur.pop(parts[-1], None)

def apply_selection(e, sel):
    if isinstance(sel, list): sel = rng.choice(sel)  # list of maps = OR
    for k, v in sel.items():
        field, *mods = k.split("|")
        if "fieldref" in mods or "re" in mods: continue  # handled by overrides
        vals = v if isinstance(v, list) else [v]
        if "all" in mods: val = " ".join(f'"{x}"' if not str(x).startswith('"') else str(x) for x in vals)
        else: val = rng.choice(vals)
        if val is None: del_path(e, field); continue
        if "contains" in mods: val = "****" if val == "*" else f"pre-{val}-post"
        elif "startswith" in mods: val = f"{val}20150331v2"
        elif "endswith" in mods: val = f"x{val}"
        set_path(e, field, val)

def positive_parts(det):
    """Selections the condition needs to be true (negated parts are left unsatisfied by the template)."""
    out = []
    for tok in det["condition"].split(" and "):
        tok = tok.strip()
        if tok.startswith("not "): continue
        if tok.startswith("1 of "):
            pre = tok[5:].rstrip("*")
            out.append(det[rng.choice(sorted(k for k in det if k.startswith(pre) and k != "condition"))])
        else: out.append(det[tok])
    return out

# ---- overrides: realistic shapes for fields where CloudTrail's type is not a plain string
def o_imds(e, acct):
    set_assumed_role(e["userIdentity"], acct, "aws:ec2-instance", f"i-0{rng.getrandbits(64):016x}")
    e["eventSource"], e["eventName"] = "ec2.amazonaws.com", "DescribeInstances"
def o_assumed(e, acct): set_assumed_role(e["userIdentity"], acct, rng.choice(ROLES), f"session-{rng.randint(1, 99999)}")
def o_root(e, acct):
    e["userIdentity"] = {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root", "accountId": acct,
                         "accessKeyId": key("ASIA")}
    e["eventSource"], e["eventName"] = rng.choice(BENIGN_PAIRS)
def o_versioning(e, acct):
    b = f"bucket-{rng.randint(1, 999)}"
    e["requestParameters"] = {"bucketName": b, "Host": f"{b}.s3.amazonaws.com", "versioning": "",
                              "VersioningConfiguration": {"Status": "Suspended",
                                                          "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}
def o_s3browser_policy(e, acct):
    e["requestParameters"] = {"userName": rng.choice(USERS), "policyName": "s3browser-template", "policyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                                                 "Resource": ["arn:aws:s3:::<YOUR-BUCKET-NAME>/*"]}]})}
def o_ecs(e, acct):
    cmd = ["/bin/sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    if rng.random() < 0.5:  # as CloudTrail logs it: a list of containers, command a list of strings
        e["requestParameters"] = {"family": "x", "containerDefinitions": [{"name": "c", "image": "alpine", "command": cmd}]}
    else:  # flattened single-container variant every engine can reach
        e["requestParameters"] = {"family": "x", "containerDefinitions": {"name": "c", "image": "alpine", "command": " ".join(cmd)}}
def o_layers(e, acct):
    e["requestParameters"] = {"functionName": "fn", "layers": [f"arn:aws:lambda:us-east-1:{acct}:layer:evil:{rng.randint(1, 9)}"]}
def o_rds_public(e, acct): e["responseElements"] = {"dBInstanceIdentifier": "db1", "publiclyAccessible": True}
def o_rds_pw(e, acct): e["responseElements"] = {"dBInstanceIdentifier": "db1", "pendingModifiedValues": {"masterUserPassword": "****"}}
def o_guardduty(e, acct):
    if e["eventName"] == "UpdateDetector": e["requestParameters"] = {"detectorId": "d1", "enable": False}
def o_export(e, acct):
    e.pop("errorCode", None); e.pop("errorMessage", None)
    e["responseElements"] = {"exportTask": {"exportTaskId": "export-i-1", "state": "active", "instanceExportDetails": {}}}
def o_login_profile(e, acct): e["requestParameters"] = {"userName": rng.choice(USERS), "passwordResetRequired": False}
def o_access_key(e, acct):
    u = rng.choice(USERS)
    e["requestParameters"] = {"userName": u}
    e["responseElements"] = {"accessKey": {"accessKeyId": key("AKIA"), "status": "Active", "userName": u}}
def o_signin(e, acct):
    t = copy.deepcopy(rng.choice([r for r in SIGNIN if r["userIdentity"].get("type") == "IAMUser"]))
    keep = {k: e[k] for k in ("eventID", "eventTime", "sourceIPAddress", "recipientAccountId") if k in e}
    e.clear(); e.update(t); e.update(keep); e["userIdentity"]["userName"] = rng.choice(USERS)
    e.pop("errorMessage", None); e.pop("errorCode", None)
    e["responseElements"] = {"ConsoleLogin": "Success"}
    e["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": "Yes"}
def o_signin_fail(e, acct):
    o_signin(e, acct); e["responseElements"] = {"ConsoleLogin": "Failure"}; e["errorMessage"] = "Failed authentication"

PRE = {"aws_cloudtrail_console_login_success_without_mfa": o_signin,
       "aws_cloudtrail_console_login_failed_authentication": o_signin_fail,
       "aws_guardduty_disruption": None}
POST = {"aws_cloudtrail_imds_malicious_usage": o_imds, "aws_sts_assumerole_misuse": o_assumed,
        "aws_root_account_usage": o_root, "aws_disable_bucket_versioning": o_versioning,
        "aws_iam_s3browser_templated_s3_bucket_policy_creation": o_s3browser_policy,
        "aws_ecs_task_definition_cred_endpoint_query": o_ecs, "aws_new_lambda_layer_attached": o_layers,
        "aws_rds_public_db_restore": o_rds_public, "aws_rds_change_master_password": o_rds_pw,
        "aws_cloudtrail_guardduty_detector_deleted_or_updated": o_guardduty, "aws_ec2_vm_export_failure": o_export,
        "aws_update_login_profile": o_login_profile, "aws_iam_backdoor_users_keys": o_access_key}

def rule_shaped(i, k):
    name, rule = RULES[k % len(RULES)]
    e = vary(copy.deepcopy(rng.choice(CLEAN)), i)
    e["requestParameters"], e["responseElements"], e["readOnly"] = {}, None, False
    acct = e.get("recipientAccountId", ACCOUNTS[0])
    if PRE.get(name): PRE[name](e, acct)
    for sel in positive_parts(rule["detection"]): apply_selection(e, sel)
    if name in POST: POST[name](e, acct)
    return e

def main():
    tmpl_named = [json.dumps(r) for r in NAMED]
    tmpl_all = [json.dumps(r) for r in RECS]
    kinds = {"background": 0, "fixture": 0, "rule": 0}
    k = 0
    with open(OUT, "w") as f:
        for i in range(N):
            x = rng.random()
            if x < 0.95:
                e = vary(json.loads(rng.choice(tmpl_named)), i)
                e["eventSource"], e["eventName"] = rng.choice(BENIGN_PAIRS)
                kinds["background"] += 1
            elif x < 0.97:
                e = vary(json.loads(rng.choice(tmpl_all)), i); kinds["fixture"] += 1
            else:
                e = rule_shaped(i, k); k += 1; kinds["rule"] += 1
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    print(json.dumps({"events": N, "seed": SEED, "fixture_records": len(RECS), "aws_rules": len(RULES),
                      "benign_pairs": len(BENIGN_PAIRS), "kinds": kinds, "bytes": os.path.getsize(OUT)}), file=sys.stderr)

if __name__ == "__main__":
    main()
