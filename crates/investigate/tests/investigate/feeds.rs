use super::common::*;
use irene_investigate::feeds::{parse, CsvColumn, Entry, FeedFormat};

#[test]
fn every_format_parses_its_real_fixture() {
    // (format, file, entries, bad lines)
    let cases: &[(&str, &str, usize, usize)] = &[
        ("ip-lines", "tor_bulk_exit_list_excerpt.txt", 50, 0),
        ("ip-lines", "feodo_ipblocklist_recommended.txt", 244, 0),
        ("cidr-lines", "spamhaus_drop_excerpt.txt", 40, 0),
        ("cidr-lines", "firehol_level1_excerpt.netset", 40, 0),
        ("csv:dst_ip", "feodo_ipblocklist.csv", 28, 0),
        ("csv:1", "feodo_ipblocklist.csv", 28, 1), // the header is a bad line by index
        // the trailing metadata record has no `asn`
        ("jsonl:asn", "spamhaus_asndrop_excerpt.jsonl", 8, 1),
    ];
    for (format, file, entries, bad) in cases {
        let f: FeedFormat = format.parse().expect("format");
        let p = parse(&f, &fixture(&format!("threat-intel/{file}")));
        assert_eq!(p.entries.len(), *entries, "{format} {file}");
        assert_eq!(p.bad, *bad, "{format} {file}: bad lines {:?}", p.bad_lines);
    }
}

#[test]
fn formats_round_trip_and_reject_unknown() {
    for s in ["ip-lines", "cidr-lines", "csv:dst_ip", "csv:1", "jsonl:asn"] {
        let f: FeedFormat = s.parse().expect(s);
        assert_eq!(f.to_string(), s);
    }
    assert_eq!(
        "csv:2".parse::<FeedFormat>(),
        Ok(FeedFormat::Csv(CsvColumn::Index(2)))
    );
    for bad in ["", "csv:", "jsonl:", "lines", "json:asn"] {
        assert!(bad.parse::<FeedFormat>().is_err(), "{bad}");
    }
}

#[test]
fn lines_skip_comments_bad_lines_and_too_broad_networks() {
    let body = b"# header\n; spamhaus comment\n\n1.2.3.4\n10.0.0.0/8 ; SBL1\n5.6.7.8/24\nnot-an-ip\n0.0.0.0/0\n2001:db8::/32\n";
    let p = parse(&FeedFormat::CidrLines, body);
    let nets: Vec<String> = p
        .entries
        .iter()
        .map(|e| match e {
            Entry::Net(n) => n.to_string(),
            Entry::Asn(a) => format!("AS{a}"),
        })
        .collect();
    assert_eq!(
        nets,
        ["1.2.3.4/32", "10.0.0.0/8", "5.6.7.0/24", "2001:db8::/32"]
    );
    assert_eq!(p.comments, 3);
    assert_eq!(p.bad, 2);
    assert_eq!(p.bad_lines, [7, 8]);
}

#[test]
fn jsonl_takes_numbers_as_asns_and_strings_as_networks_or_asns() {
    let body = br#"{"asn": 932}
{"asn": "AS6060"}
{"ip": "192.0.2.0/24"}
{"asn": true}
not json
"#;
    let p = parse(&FeedFormat::Jsonl("asn".into()), body);
    assert_eq!(p.entries, [Entry::Asn(932), Entry::Asn(6060)]);
    assert_eq!(p.bad, 3);
    let p = parse(&FeedFormat::Jsonl("ip".into()), body);
    assert_eq!(p.entries.len(), 1);
}

#[test]
fn feed_set_matches_by_containment() {
    let set = fixture_feeds();
    // (ip, feeds expected, entry of the first match)
    let cases: &[(&str, &[&str], Option<&str>)] = &[
        ("185.220.101.18", &["tor"], Some("185.220.101.18/32")),
        ("192.9.135.73", &["feodo"], Some("192.9.135.73/32")), // from the CSV
        ("100.38.242.113", &["feodo"], Some("100.38.242.113/32")), // from the txt
        ("1.10.20.5", &["spamhaus_drop"], Some("1.10.16.0/20")), // inside a DROP CIDR
        ("221.132.75.236", &[], None),                         // clean
        ("2001:db8::1", &[], None),
    ];
    for (ip, feeds, entry) in cases {
        let ip = ip.parse().expect("ip");
        let m = set.match_ip(ip);
        let names: Vec<&str> = m.iter().map(|m| m.feed.as_str()).collect();
        for f in *feeds {
            assert!(names.contains(f), "{ip}: {names:?}");
        }
        if feeds.is_empty() {
            assert!(m.is_empty(), "{ip}: {m:?}");
        }
        assert_eq!(
            m.first().map(|m| m.entry.to_string()).as_deref(),
            *entry,
            "{ip}"
        );
    }
    assert_eq!(set.match_asn(6060), ["spamhaus_asndrop"]);
    assert!(set.match_asn(15169).is_empty());
}

#[test]
fn nested_networks_all_match_most_specific_first() {
    let mut set = irene_investigate::FeedSet::new();
    set.add_body("a", &FeedFormat::CidrLines, b"10.0.0.0/8\n10.1.0.0/16\n")
        .expect("add");
    set.add_body("b", &FeedFormat::IpLines, b"10.1.2.3\n")
        .expect("add");
    let m = set.match_ip("10.1.2.3".parse().expect("ip"));
    let got: Vec<(String, String)> = m
        .into_iter()
        .map(|m| (m.feed, m.entry.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("b".to_string(), "10.1.2.3/32".to_string()),
            ("a".to_string(), "10.1.0.0/16".to_string()),
            ("a".to_string(), "10.0.0.0/8".to_string()),
        ]
    );
    assert_eq!(set.lists_of("10.1.2.3".parse().expect("ip")), ["b", "a"]);
}

#[test]
fn ipv6_and_host_entries_match_by_containment() {
    let mut set = irene_investigate::FeedSet::new();
    set.add_body(
        "v6",
        &FeedFormat::CidrLines,
        b"2001:db8::/32\n2001:db8:1::42\n2a00::/16\n",
    )
    .expect("add");
    let cases: &[(&str, usize)] = &[
        ("2001:db8:1::42", 2),
        ("2001:db8:ffff::1", 1),
        ("2a00:1:2::3", 1),
        ("2a01::1", 0),
        ("1.2.3.4", 0),
    ];
    for (ip, n) in cases {
        assert_eq!(set.match_ip(ip.parse().expect("ip")).len(), *n, "{ip}");
    }
    assert_eq!(set.stats()[0].networks, 3);
}
