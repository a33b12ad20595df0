//! AWS: the security group an alert names (GuardDuty, Security Hub, Config, Prowler), its
//! ingress open to the world, and the instances, public IPs and Elastic IPs behind it (EC2 API).
//!
//! Two read-only calls per group: `DescribeSecurityGroups` (rules from `0.0.0.0/0` or `::/0`),
//! then, when it is open, `DescribeNetworkInterfaces` filtered by `group-id` (every ENI that
//! carries the group: instances, load balancers, NAT gateways…, with their public and Elastic
//! IPs). Credentials come from the standard chain, or per account from an assumed role.

use crate::config::AwsConfig;
use crate::ports::{expand, merge, PortSet, PushRange};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, NetworkInterface, SecurityGroup};
use irene_core::Alert;
use irene_investigate::exposure_seams::{Exposure, LookupError, Target, TargetLookup};
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::sync::{Mutex, OnceCell};

/// Security groups looked up per alert at most (a GuardDuty instance may carry several).
const MAX_GROUPS: usize = 5;
/// Network interfaces read per group at most (pages of 200).
const MAX_INTERFACES: usize = 1000;

/// The HTTPS client the SDK is given: hyper with rustls on ring (the SDK's default client is
/// rustls on aws-lc, whose C build this crate avoids).
pub fn http_client() -> aws_sdk_ec2::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Looks up security groups with the EC2 API.
pub struct AwsLookup {
    config: AwsConfig,
    /// The standard chain's configuration, loaded at the first lookup (or given).
    base: OnceCell<SdkConfig>,
    /// One client per (account, region): keeps the assumed role's credentials cached.
    clients: Mutex<HashMap<(String, String), aws_sdk_ec2::Client>>,
}

impl AwsLookup {
    pub fn new(config: AwsConfig) -> Self {
        AwsLookup {
            config,
            base: OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// With a ready SDK configuration instead of the standard chain (tests, embedding).
    /// `config.endpoint_url` and `config.timeout` still apply on top of it.
    pub fn with_sdk_config(config: AwsConfig, sdk: SdkConfig) -> Self {
        AwsLookup {
            config,
            base: OnceCell::new_with(Some(sdk)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http_client())
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .operation_timeout(self.config.timeout)
                            .build(),
                    );
                if let Some(url) = &self.config.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                if let Some(region) = &self.config.default_region {
                    loader = loader.region(Region::new(region.clone()));
                }
                loader.load().await
            })
            .await
    }

    async fn client(
        &self,
        account: Option<&str>,
        region: &str,
    ) -> Result<aws_sdk_ec2::Client, LookupError> {
        let key = (account.unwrap_or("").to_string(), region.to_string());
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let base = self.base().await;
        let mut builder = aws_sdk_ec2::config::Builder::from(base)
            .region(Region::new(region.to_string()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(self.config.timeout)
                    .build(),
            );
        if let Some(url) = &self.config.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        if let Some(template) = &self.config.assume_role {
            let Some(account) = account else {
                return Err(LookupError::NotApplicable(
                    "assume_role is configured but the alert names no AWS account".into(),
                ));
            };
            let role = template.replace("{account}", account);
            let base_in_region = base
                .to_builder()
                .region(Region::new(region.to_string()))
                .build();
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("irene-exposure")
                .configure(&base_in_region)
                .build()
                .await;
            builder = builder.credentials_provider(provider);
        }
        let client = aws_sdk_ec2::Client::from_conf(builder.build());
        clients.insert(key, client.clone());
        Ok(client)
    }

    async fn lookup_group(
        &self,
        client: &aws_sdk_ec2::Client,
        group: &str,
    ) -> Result<Exposure, LookupError> {
        let answer = client
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await;
        let sg = match answer {
            Ok(out) => out
                .security_groups()
                .iter()
                .find(|g| g.group_id() == Some(group))
                .cloned(),
            Err(e) if e.code() == Some("InvalidGroup.NotFound") => None,
            Err(e) => return Err(classify("DescribeSecurityGroups", e)),
        };
        let Some(sg) = sg else {
            return Ok(Exposure {
                rule_id: Some(group.to_string()),
                gone: true,
                open_to_world: false,
                notes: vec![format!("{group} no longer exists")],
                ..Default::default()
            });
        };
        let (v4, v6, mut notes) = world_ingress(&sg);
        let mut exposure = Exposure {
            rule_id: Some(group.to_string()),
            open_to_world: !v4.is_empty() || !v6.is_empty(),
            gone: false,
            open_ports: merge(&v4, &v6),
            targets: Vec::new(),
            notes: Vec::new(),
        };
        if !exposure.open_to_world {
            notes.push(format!("{group} allows no port from 0.0.0.0/0 or ::/0"));
            exposure.notes = notes;
            return Ok(exposure);
        }
        let interfaces = self.interfaces(client, group, &mut notes).await?;
        let (ports4, cut4) = expand(&v4);
        let (ports6, cut6) = expand(&v6);
        if cut4 || cut6 {
            notes.push(format!(
                "{group} opens more ports to the world than are listed as probe targets"
            ));
        }
        for ni in &interfaces {
            for (address, eip) in public_addresses(ni, !v6.is_empty()) {
                let ports = if address.is_ipv4() { &ports4 } else { &ports6 };
                exposure.targets.push(Target {
                    address,
                    ports: ports.clone(),
                    origin: "aws".into(),
                    resource: Some(describe(ni, eip.as_deref())),
                });
            }
        }
        if exposure.targets.is_empty() {
            notes.push(format!(
                "{group} is open to the world but no network interface carrying it has a public address ({} interfaces)",
                interfaces.len()
            ));
        }
        exposure.notes = notes;
        Ok(exposure)
    }

    async fn interfaces(
        &self,
        client: &aws_sdk_ec2::Client,
        group: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<NetworkInterface>, LookupError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .describe_network_interfaces()
                .filters(Filter::builder().name("group-id").values(group).build())
                .max_results(200)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("DescribeNetworkInterfaces", e))?;
            all.extend(out.network_interfaces().iter().cloned());
            if all.len() >= MAX_INTERFACES {
                notes.push(format!(
                    "{group}: only the first {MAX_INTERFACES} network interfaces were read"
                ));
                all.truncate(MAX_INTERFACES);
                break;
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }
}

#[async_trait::async_trait]
impl TargetLookup for AwsLookup {
    async fn lookup(&self, alert: &Alert) -> Result<Exposure, LookupError> {
        let groups = security_groups(alert);
        if groups.is_empty() {
            return Err(LookupError::NotApplicable(
                "the alert names no security group".into(),
            ));
        }
        let arn = arn_of(alert);
        let region = alert
            .region
            .clone()
            .or_else(|| arn.as_ref().map(|a| a.region.clone()))
            .filter(|r| !r.is_empty() && r != "global")
            .or_else(|| self.config.default_region.clone())
            .ok_or_else(|| LookupError::NotApplicable("the alert names no AWS region".into()))?;
        let account = alert
            .account
            .clone()
            .or_else(|| arn.map(|a| a.account))
            .filter(|a| !a.is_empty());
        let client = self.client(account.as_deref(), &region).await?;
        let mut found = Vec::new();
        let mut notes = Vec::new();
        if groups.len() > MAX_GROUPS {
            notes.push(format!(
                "the alert names {} security groups; the first {MAX_GROUPS} were looked up",
                groups.len()
            ));
        }
        for group in groups.iter().take(MAX_GROUPS) {
            found.push(self.lookup_group(&client, group).await?);
        }
        let mut exposure = combine(found);
        notes.append(&mut exposure.notes);
        exposure.notes = notes;
        Ok(exposure)
    }
}

/// Several groups' answers as one: open if any is open, gone if all are gone.
fn combine(mut found: Vec<Exposure>) -> Exposure {
    if found.len() == 1 {
        return found.remove(0);
    }
    let mut out = Exposure {
        gone: !found.is_empty() && found.iter().all(|e| e.gone),
        ..Default::default()
    };
    let mut ids = Vec::new();
    for e in found {
        ids.extend(e.rule_id);
        out.open_to_world |= e.open_to_world;
        out.open_ports = merge(&out.open_ports, &e.open_ports);
        for t in e.targets {
            match out.targets.iter_mut().find(|x| x.address == t.address) {
                Some(x) => {
                    x.ports.extend(t.ports);
                    x.ports.sort_unstable();
                    x.ports.dedup();
                }
                None => out.targets.push(t),
            }
        }
        out.notes.extend(e.notes);
    }
    out.rule_id = (!ids.is_empty()).then(|| ids.join(", "));
    out
}

/// The port ranges a group opens to `0.0.0.0/0` and to `::/0` (TCP and all-traffic rules;
/// UDP ones are only noted: the probes speak TCP), and notes.
fn world_ingress(sg: &SecurityGroup) -> (PortSet, PortSet, Vec<String>) {
    let mut v4 = PortSet::new();
    let mut v6 = PortSet::new();
    let mut notes = Vec::new();
    for perm in sg.ip_permissions() {
        let world4 = perm
            .ip_ranges()
            .iter()
            .any(|r| r.cidr_ip() == Some("0.0.0.0/0"));
        let world6 = perm
            .ipv6_ranges()
            .iter()
            .any(|r| r.cidr_ipv6() == Some("::/0"));
        if !world4 && !world6 {
            continue;
        }
        let proto = perm.ip_protocol().unwrap_or("-1");
        let range = match proto {
            "-1" | "all" => Some((0, 65535)),
            "tcp" | "6" => Some((
                port(perm.from_port()).unwrap_or(0),
                port(perm.to_port()).unwrap_or(65535),
            )),
            _ => None,
        };
        match range {
            Some((from, to)) => {
                if world4 {
                    v4.add(from, to);
                }
                if world6 {
                    v6.add(from, to);
                }
            }
            None => notes.push(format!(
                "{} also opens protocol {proto} ({}–{}) to the world (not probed)",
                sg.group_id().unwrap_or("the group"),
                perm.from_port().unwrap_or(-1),
                perm.to_port().unwrap_or(-1)
            )),
        }
    }
    (v4, v6, notes)
}

fn port(p: Option<i32>) -> Option<u16> {
    p.and_then(|p| u16::try_from(p).ok())
}

/// The public addresses of an interface, each with its Elastic IP allocation if it is one.
fn public_addresses(ni: &NetworkInterface, with_v6: bool) -> Vec<(IpAddr, Option<String>)> {
    let mut out: Vec<(IpAddr, Option<String>)> = Vec::new();
    let mut add = |ip: Option<&str>, eip: Option<&str>| {
        if let Some(addr) = ip.and_then(|s| s.parse::<IpAddr>().ok()) {
            if !out.iter().any(|(a, _)| *a == addr) {
                out.push((addr, eip.map(str::to_string)));
            }
        }
    };
    if let Some(a) = ni.association() {
        add(a.public_ip(), a.allocation_id());
    }
    for p in ni.private_ip_addresses() {
        if let Some(a) = p.association() {
            add(a.public_ip(), a.allocation_id());
        }
    }
    if with_v6 {
        for v6 in ni.ipv6_addresses() {
            add(v6.ipv6_address(), None);
        }
    }
    out
}

/// `i-0abc (eni-123, Elastic IP eipalloc-9)`, or the interface alone when nothing is attached.
fn describe(ni: &NetworkInterface, eip: Option<&str>) -> String {
    let eni = ni.network_interface_id().unwrap_or("eni-?");
    let mut parts = vec![eni.to_string()];
    if let Some(eip) = eip {
        parts.push(format!("Elastic IP {eip}"));
    }
    match ni.attachment().and_then(|a| a.instance_id()) {
        Some(instance) => format!("{instance} ({})", parts.join(", ")),
        None => match ni.description().filter(|d| !d.is_empty()) {
            Some(d) => format!("{} — {d}", parts.join(", ")),
            None => parts.join(", "),
        },
    }
}

/// Throttling, 5xx, timeouts and connection failures may pass; the rest will not.
fn classify<E>(call: &str, err: SdkError<E, HttpResponse>) -> LookupError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = format!("{call}: {}", DisplayErrorContext(&err));
    let no_credentials = text.contains("credentials") || text.contains("identity");
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            if no_credentials && !matches!(err, SdkError::TimeoutError(_)) {
                LookupError::NotApplicable(format!("no usable AWS credentials: {text}"))
            } else {
                LookupError::Transient(text)
            }
        }
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("");
            let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            if status >= 500
                || status == 429
                || matches!(
                    code,
                    "RequestLimitExceeded"
                        | "Throttling"
                        | "ThrottlingException"
                        | "InternalError"
                        | "InternalFailure"
                        | "ServiceUnavailable"
                        | "Unavailable"
                )
            {
                LookupError::Transient(text)
            } else {
                LookupError::Failed(text)
            }
        }
        _ if no_credentials => {
            LookupError::NotApplicable(format!("no usable AWS credentials: {text}"))
        }
        _ => LookupError::Failed(text),
    }
}

/// The parts of an ARN Irene needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub region: String,
    pub account: String,
    pub resource: String,
}

pub fn parse_arn(s: &str) -> Option<Arn> {
    let mut parts = s.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?.to_string();
    let account = parts.next()?.to_string();
    let resource = parts.next()?.to_string();
    Some(Arn {
        region,
        account,
        resource,
    })
}

/// The first security-group ARN the alert names (for its region and account).
fn arn_of(alert: &Alert) -> Option<Arn> {
    let mut candidates = Vec::new();
    if let Some(id) = &alert.resource.id {
        candidates.push(id.clone());
    }
    collect_strings(&alert.raw, &mut candidates, 0);
    candidates
        .iter()
        .filter(|s| s.contains(":security-group/"))
        .find_map(|s| parse_arn(s))
}

/// `sg-` followed by 8 or 17 hex digits (older and newer ids; moto uses 17).
fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-").is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// `sg-…` from a bare id or a security-group ARN.
fn group_in(s: &str) -> Option<String> {
    let s = s.trim();
    if is_group_id(s) {
        return Some(s.to_string());
    }
    let arn = parse_arn(s)?;
    let id = arn.resource.strip_prefix("security-group/")?;
    is_group_id(id).then(|| id.to_string())
}

/// Keys under which the sources put a security group: GuardDuty `groupId`, Security Hub
/// `Resources[].Id` (an ARN) and `Details.AwsEc2SecurityGroup.GroupId`, Config `resourceId`,
/// Prowler `resources[].uid` (an ARN) / ASFF `Resources[].Id`, CloudTrail `groupId`.
const GROUP_KEYS: &[&str] = &[
    "groupId",
    "GroupId",
    "Id",
    "resourceId",
    "ResourceId",
    "uid",
    "arn",
    "Arn",
];

/// The security groups an alert is about, most specific first: the alert's resource, then
/// every group its raw finding names under a known key.
pub fn security_groups(alert: &Alert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(g) = alert.resource.id.as_deref().and_then(group_in) {
        out.push(g);
    }
    let mut found = Vec::new();
    walk_keys(&alert.raw, &mut found, 0);
    for g in found {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

fn walk_keys(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if GROUP_KEYS.contains(&k.as_str()) {
                    if let Some(g) = v.as_str().and_then(group_in) {
                        if !out.contains(&g) {
                            out.push(g);
                        }
                        continue;
                    }
                }
                walk_keys(v, out, depth + 1);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                walk_keys(item, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    if depth > 16 || out.len() > 256 {
        return;
    }
    match v {
        serde_json::Value::String(s) if s.starts_with("arn:") => out.push(s.clone()),
        serde_json::Value::Object(map) => map
            .values()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|v| collect_strings(v, out, depth + 1)),
        _ => {}
    }
}
