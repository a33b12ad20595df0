//! The issue's Security Hub case end to end, against moto's EC2 server (real software): an
//! EC2.19 finding about a security group open to the world on the port of this test's web
//! server; the lookup finds the group's interface and its Elastic IP (127.0.0.1, allowed), the
//! probe and the screenshot reach the page, the issue gets the table; then the ingress rule is
//! revoked and the server stopped, and the re-check resolves the case by scan (issue closed).
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../cloud/tests/support/moto.rs"]
mod moto;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::{DomainType, IpPermission, IpRange};
use common::investigation::{all_done, comment_with, read, wait_for};
use common::Server;
use irene_fakes::github::FakeGitHub;
use moto::Moto;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const REPO: &str = "acme/security-alerts";
const GH_TOKEN: &str = "ghp_awstest0123456789abcdef";
const REGION: &str = "us-east-1";
const TITLE: &str = "Irene EC2.19 Test Page";

fn sdk(moto: &Moto) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .http_client(irene_cloud::aws::http_client())
        .build()
}

fn world_open(port: u16) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port))
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

/// A VPC, a group open to the world on `port`, an interface in it with the Elastic IP
/// 127.0.0.1 (moto takes the address asked for). The group's id.
async fn world(ec2: &aws_sdk_ec2::Client, port: u16) -> String {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let group = ec2
        .create_security_group()
        .group_name("web")
        .description("web, open to the world")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(world_open(port))
        .send()
        .await
        .unwrap();
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .groups(&group)
        .description("the web server's interface")
        .send()
        .await
        .unwrap();
    let eni = eni
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    let addr = ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .address("127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(addr.public_ip(), Some("127.0.0.1"), "moto took the address");
    ec2.associate_address()
        .allocation_id(addr.allocation_id().unwrap())
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    group
}

/// The FSBP fixture (ASFF, a security-group control) made into the consolidated EC2.19 finding
/// about `group` (ports with high risk open to the world), as EventBridge delivers it.
fn ec2_19(group: &str, port: u16) -> Value {
    let mut f = read("securityhub/asff_fsbp_ec2.2_default_sg_failed_new.json");
    let arn = format!("arn:aws:ec2:{REGION}:111111111111:security-group/{group}");
    f["Id"] = json!(format!(
        "arn:aws:securityhub:{REGION}:111111111111:security-control/EC2.19/finding/5b4f8b4e-7e8b-4b1e-9a55-0e3d4f6f2a19"
    ));
    f["GeneratorId"] = json!("security-control/EC2.19");
    f["Title"] =
        json!("Security groups should not allow unrestricted access to ports with high risk");
    f["Severity"] = json!({"Label": "CRITICAL", "Normalized": 90, "Original": "CRITICAL"});
    f["ProductFields"]["ControlId"] = json!("EC2.19");
    f["Compliance"] = json!({"Status": "FAILED", "SecurityControlId": "EC2.19"});
    f["Resources"][0]["Id"] = json!(arn);
    let sg = &mut f["Resources"][0]["Details"]["AwsEc2SecurityGroup"];
    sg["GroupId"] = json!(group);
    sg["GroupName"] = json!("web");
    sg["IpPermissions"] = json!([{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]
    }]);
    json!({
        "version": "0",
        "id": "8e5622f9-d81c-4d81-612a-9319e7ee2506",
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": "111111111111",
        "time": "2026-12-06T08:00:00Z",
        "region": REGION,
        "resources": [f["Id"].clone()],
        "detail": {"findings": [f]}
    })
}

fn config(dir: &std::path::Path, gh: &FakeGitHub, moto: &Moto) -> String {
    let text = format!(
        r#"public_url = "https://irene.example"

[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{gh}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"

[[investigations]]
use = "exposure"
every = "6h"

[probe]
connect_timeout = "1s"
banner_wait = "200ms"
http_timeout = "2s"
total_time = "10s"
allow = ["127.0.0.0/8"]

[cloud.aws]
enabled = true
endpoint_url = "{moto}"
"#,
        gh = gh.url(),
        moto = moto.url,
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// A web server on loopback with a title; aborting the task stops it.
async fn web() -> (u16, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html(format!(
                "<html><head><title>{TITLE}</title></head><body><h1>{TITLE}</h1></body></html>"
            ))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (port, task)
}

#[tokio::test]
async fn a_security_hub_ec2_19_group_is_looked_up_probed_shown_and_closed_by_its_recheck() {
    let moto = Moto::start();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&moto));
    let (port, server) = web().await;
    let group = world(&ec2, port).await;
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &gh, &moto);
    // the standard credential chain: the environment
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", &cfg],
        &[
            ("GH_TOKEN", GH_TOKEN),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let (st, body) = s
        .ingest("aws.securityhub", ec2_19(&group, port).to_string())
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("source=aws.securityhub").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let path = format!("/api/v1/cases/{}", cases[0]["id"].as_str().expect("id"));
    let case = wait_for(
        &s,
        "the exposure check",
        Duration::from_secs(60),
        all_done,
        &path,
    )
    .await;
    let inv = case["investigations"]
        .as_array()
        .expect("investigations")
        .iter()
        .find(|i| i["investigator"] == "exposure")
        .cloned()
        .unwrap_or_else(|| panic!("an exposure investigation: {case}"));
    let f = &inv["findings"];
    assert_eq!(f["rule"]["id"], group.as_str(), "{inv}");
    assert_eq!(f["rule"]["open_to_world"], true, "{inv}");
    assert_eq!(f["open"], true, "{inv}\n{}", s.logs());
    assert_eq!(f["http"][0]["title"], TITLE, "{inv}");
    assert_eq!(f["screenshots"], 1, "{inv}");
    assert_eq!(case["rechecks"][0]["investigator"], "exposure", "{case}");

    let note = comment_with(&s, &gh, REPO, "exposure").await;
    assert!(
        note.contains(&format!("| 127.0.0.1 | {port} | open")),
        "{note}"
    );
    assert!(note.contains(&group), "the note names the group: {note}");
    assert!(note.contains("https://irene.example/files/"), "{note}");

    // fixed: the rule revoked, the server stopped
    ec2.revoke_security_group_ingress()
        .group_id(&group)
        .ip_permissions(world_open(port))
        .send()
        .await
        .unwrap();
    server.abort();
    let _ = server.await;
    let (st, body) = s
        .post_raw(&format!("{path}/investigate?only=exposure"), "", &[])
        .await;
    assert_eq!(st, 202, "{body}");
    let case = wait_for(
        &s,
        "the resolve by scan",
        Duration::from_secs(60),
        |c| c["status"] == "resolved",
        &path,
    )
    .await;
    assert_eq!(case["resolution"], "scan", "{case}");
    let reason = case.to_string();
    assert!(
        reason.contains(&group),
        "the reason names the group: {case}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while gh.issues(REPO)[0].state != "closed" {
        assert!(
            Instant::now() < deadline,
            "the issue stays open\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
