use super::common::*;
use irene_investigate::geoip::GeoIp;
use irene_investigate::{GeoDb, Status};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Serialize)]
struct Names {
    names: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Country {
    iso_code: String,
    names: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct City {
    city: Names,
    country: Country,
}

#[derive(Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

fn en(s: &str) -> BTreeMap<String, String> {
    [("en".to_string(), s.to_string())].into()
}

/// Small City and ASN databases for the port probe's two real scanners.
pub fn test_db() -> GeoDb {
    let mut city = mmdb_writer::Writer::new("GeoLite2-City");
    let mut asn = mmdb_writer::Writer::new("GeoLite2-ASN");
    let rows = [
        (
            "221.132.75.0/24",
            "KR",
            "South Korea",
            "Seoul",
            17877,
            "NexG Co., LTD",
        ),
        (
            "71.6.167.0/24",
            "US",
            "United States",
            "San Diego",
            10439,
            "CariNet, Inc.",
        ),
    ];
    for (net, cc, country, town, number, org) in rows {
        let net: ipnet::IpNet = net.parse().expect("net");
        let rec = City {
            city: Names { names: en(town) },
            country: Country {
                iso_code: cc.into(),
                names: en(country),
            },
        };
        city.insert(net, &rec).expect("insert");
        asn.insert(
            net,
            &Asn {
                autonomous_system_number: number,
                autonomous_system_organization: org.into(),
            },
        )
        .expect("insert");
    }
    GeoDb::from_bytes(
        Some(city.to_bytes().expect("city bytes")),
        Some(asn.to_bytes().expect("asn bytes")),
    )
    .expect("opens")
}

#[tokio::test]
async fn country_city_asn_and_org_of_the_port_probers() {
    let inv = GeoIp::new(Arc::new(test_db()));
    let a = alert(
        "aws.guardduty",
        "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
    );
    let out = run(&inv, &a).await;
    assert_eq!(out.status, Status::Done, "{}", out.summary);
    let f = &out.findings;
    assert_eq!(f["country"], "KR", "{f}");
    assert_eq!(f["city"], "Seoul");
    assert_eq!(f["asn"], 17877);
    assert_eq!(f["org"], "NexG Co., LTD");
    assert_eq!(f["countries"], serde_json::json!(["KR", "US"]));
    assert_eq!(f["ips"]["71.6.167.142"]["city"], "San Diego");
    assert!(out.summary.contains("| IP | Country |"), "{}", out.summary);
}

#[tokio::test]
async fn unknown_ips_find_nothing_and_bad_bytes_do_not_open() {
    let inv = GeoIp::new(Arc::new(test_db()));
    let a = alert(
        "gcp.scc",
        "gcp-scc/scc_etd_malware_bad_domain_active_example.json",
    );
    assert_eq!(run(&inv, &a).await.status, Status::NothingFound);
    assert!(GeoDb::from_bytes(Some(b"not an mmdb".to_vec()), None).is_err());
}

#[tokio::test]
async fn reputation_matches_asn_drop_through_the_asn_database() {
    // AS17877 is not in the ASN-DROP excerpt; add it as a user list in the same format.
    let mut feeds = fixture_feeds();
    feeds
        .add_body(
            "my_asns",
            &"jsonl:asn".parse().expect("fmt"),
            br#"{"asn":17877}"#,
        )
        .expect("add");
    let inv =
        irene_investigate::reputation::Reputation::new(Arc::new(feeds), Some(Arc::new(test_db())));
    let a = alert(
        "aws.guardduty",
        "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
    );
    let out = run(&inv, &a).await;
    assert_eq!(
        out.findings["ips"]["221.132.75.236"],
        serde_json::json!(["my_asns"])
    );
    assert_eq!(
        out.findings["matches"]["221.132.75.236"][0]["entry"],
        "AS17877"
    );
}
