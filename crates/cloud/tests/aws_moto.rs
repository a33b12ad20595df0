#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The AWS lookup against moto's server (real software, started per test): a VPC, an open
//! security group, an instance and ENIs with public and Elastic IPs, then the alert's lookup.

mod common;
#[path = "support/moto.rs"]
mod moto;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ec2::types::{
    DomainType, InstanceNetworkInterfaceSpecification, InstanceType, IpPermission, IpRange,
};
use irene_cloud::aws::AwsLookup;
use irene_cloud::{AwsConfig, CloudConfig};
use irene_core::Alert;
use irene_investigate::exposure_seams::{LookupError, PortRange, TargetLookup};
use moto::Moto;
use std::net::IpAddr;

const REGION: &str = "us-east-1";

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

fn config(moto: &Moto) -> AwsConfig {
    AwsConfig {
        enabled: true,
        endpoint_url: Some(moto.url.clone()),
        ..Default::default()
    }
}

fn perm(port: i32, cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

struct World {
    ec2: aws_sdk_ec2::Client,
    group: String,
    instance: String,
    instance_ip: Option<IpAddr>,
    eni: String,
    eip: IpAddr,
    allocation: String,
}

/// VPC 10.0.0.0/16, subnet, group `open` (22 and 80 from 0.0.0.0/0, 443 from 10.0.0.0/8), an
/// instance in it with a public IP, and a bare ENI in it with an Elastic IP.
async fn world(sdk: &SdkConfig) -> World {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
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
        .group_name("open")
        .description("open to the world")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(perm(22, "0.0.0.0/0"))
        .ip_permissions(perm(80, "0.0.0.0/0"))
        .ip_permissions(perm(443, "10.0.0.0/8"))
        .send()
        .await
        .unwrap();
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T2Micro)
        .min_count(1)
        .max_count(1)
        .network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(&subnet)
                .groups(&group)
                .associate_public_ip_address(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let inst = &run.instances()[0];
    let instance = inst.instance_id().unwrap().to_string();
    let instance_ip = inst.public_ip_address().and_then(|s| s.parse().ok());
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .groups(&group)
        .description("a load balancer's interface")
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
        .send()
        .await
        .unwrap();
    let allocation = addr.allocation_id().unwrap().to_string();
    let eip: IpAddr = addr.public_ip().unwrap().parse().unwrap();
    ec2.associate_address()
        .allocation_id(&allocation)
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    World {
        ec2,
        group,
        instance,
        instance_ip,
        eni,
        eip,
        allocation,
    }
}

/// The Security Hub fixture (an FSBP security-group control), about this group.
fn securityhub_alert(group: &str) -> Alert {
    let text = common::fixture("securityhub/asff_fsbp_ec2.2_default_sg_failed_new.json")
        .replace("sg-1234123f", group);
    let alert = common::one("aws.securityhub", &text);
    assert_eq!(alert.region.as_deref(), Some(REGION));
    alert
}

#[tokio::test]
async fn open_group_lists_instances_public_and_elastic_ips() {
    let moto = Moto::start();
    let sdk = sdk(&moto);
    let w = world(&sdk).await;
    let lookup = AwsLookup::with_sdk_config(config(&moto), sdk);
    let exposure = lookup.lookup(&securityhub_alert(&w.group)).await.unwrap();

    assert_eq!(exposure.rule_id.as_deref(), Some(w.group.as_str()));
    assert!(exposure.open_to_world);
    assert!(!exposure.gone);
    assert_eq!(
        exposure.open_ports,
        vec![
            PortRange { from: 22, to: 22 },
            PortRange { from: 80, to: 80 }
        ],
        "443 is open to 10.0.0.0/8 only"
    );
    let eip = exposure
        .targets
        .iter()
        .find(|t| t.address == w.eip)
        .unwrap_or_else(|| panic!("the Elastic IP is a target: {exposure:#?}"));
    assert_eq!(eip.ports, vec![22, 80]);
    assert_eq!(eip.origin, "aws");
    let what = eip.resource.as_deref().unwrap();
    assert!(
        what.contains(&w.eni) && what.contains(&w.allocation),
        "{what}"
    );
    let ip = w.instance_ip.expect("moto gives the instance a public IP");
    let inst = exposure
        .targets
        .iter()
        .find(|t| t.address == ip)
        .unwrap_or_else(|| panic!("the instance's public IP is a target: {exposure:#?}"));
    assert_eq!(inst.ports, vec![22, 80]);
    assert!(inst.resource.as_deref().unwrap().starts_with(&w.instance));
    assert!(exposure.targets.iter().all(|t| !t.ports.contains(&443)));
}

#[tokio::test]
async fn revoked_ingress_is_no_longer_open_and_a_deleted_group_is_gone() {
    let moto = Moto::start();
    let sdk = sdk(&moto);
    let w = world(&sdk).await;
    let lookup = AwsLookup::with_sdk_config(config(&moto), sdk);
    let alert = securityhub_alert(&w.group);
    assert!(lookup.lookup(&alert).await.unwrap().open_to_world);

    w.ec2
        .revoke_security_group_ingress()
        .group_id(&w.group)
        .ip_permissions(perm(22, "0.0.0.0/0"))
        .ip_permissions(perm(80, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let exposure = lookup.lookup(&alert).await.unwrap();
    assert!(!exposure.open_to_world, "{exposure:#?}");
    assert!(!exposure.gone);
    assert!(exposure.open_ports.is_empty() && exposure.targets.is_empty());

    // A group nothing uses, deleted: gone.
    let doomed = w
        .ec2
        .create_security_group()
        .group_name("doomed")
        .description("deleted below")
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    w.ec2
        .authorize_security_group_ingress()
        .group_id(&doomed)
        .ip_permissions(perm(3389, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let doomed_alert = securityhub_alert(&doomed);
    let before = lookup.lookup(&doomed_alert).await.unwrap();
    assert!(before.open_to_world);
    assert_eq!(
        before.open_ports,
        vec![PortRange {
            from: 3389,
            to: 3389
        }]
    );
    w.ec2
        .delete_security_group()
        .group_id(&doomed)
        .send()
        .await
        .unwrap();
    let after = lookup.lookup(&doomed_alert).await.unwrap();
    assert!(after.gone, "{after:#?}");
    assert!(!after.open_to_world);
    assert_eq!(after.rule_id.as_deref(), Some(doomed.as_str()));
}

/// The configured path: `irene_cloud::build` with the standard chain (environment
/// credentials) and, per account, an assumed role (moto's STS answers AssumeRole).
#[tokio::test]
async fn build_with_the_standard_chain_and_an_assumed_role() {
    let moto = Moto::start();
    let sdk = sdk(&moto);
    let w = world(&sdk).await;
    // One test per process under nextest: the environment is this test's own.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    let plain = irene_cloud::build(&CloudConfig {
        aws: config(&moto),
        ..Default::default()
    })
    .unwrap();
    let alert = securityhub_alert(&w.group);
    let exposure = plain.lookup(&alert).await.unwrap();
    assert!(exposure.targets.iter().any(|t| t.address == w.eip));

    let assumed = irene_cloud::build(&CloudConfig {
        aws: AwsConfig {
            assume_role: Some("arn:aws:iam::{account}:role/IreneReadOnly".into()),
            ..config(&moto)
        },
        ..Default::default()
    })
    .unwrap();
    // moto keeps one EC2 per account and maps an assumed role's credentials to the role's
    // account: in moto's default account the group is there, in the fixture's it is not.
    let mut in_moto_account = alert.clone();
    in_moto_account.account = Some("123456789012".into());
    let exposure = assumed.lookup(&in_moto_account).await.unwrap();
    assert!(exposure.open_to_world, "{exposure:#?}");
    assert!(exposure.targets.iter().any(|t| t.address == w.eip));
    let elsewhere = assumed.lookup(&alert).await.unwrap();
    assert_eq!(alert.account.as_deref(), Some("111111111111"));
    assert!(
        elsewhere.gone,
        "the role in 111111111111 sees another EC2: {elsewhere:#?}"
    );

    // An alert that names no group is not applicable; one without a region neither.
    let mut none = alert.clone();
    none.resource.id = Some("arn:aws:s3:::bucket".into());
    none.raw = serde_json::json!({});
    assert!(matches!(
        plain.lookup(&none).await,
        Err(LookupError::NotApplicable(_))
    ));
}

/// Nothing listening: a transient failure (it may work later), not a verdict.
#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .http_client(irene_cloud::aws::http_client())
        .build();
    let lookup = AwsLookup::with_sdk_config(
        AwsConfig {
            enabled: true,
            endpoint_url: Some(url),
            timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        },
        sdk,
    );
    let got = lookup
        .lookup(&securityhub_alert("sg-0123456789abcdef0"))
        .await;
    assert!(matches!(got, Err(LookupError::Transient(_))), "{got:?}");
}
