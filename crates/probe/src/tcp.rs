//! The TCP part of a probe: connect with a timeout (open, closed, filtered), the first bytes the
//! service sends (printable, capped), and a service guess from port and banner. Must not check the policy (lib.rs does, before).

use irene_investigate::exposure_seams::PortState;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How a connect ended, and the stream when it opened.
pub(crate) struct Connected {
    pub state: PortState,
    pub reason: Option<String>,
    pub stream: Option<TcpStream>,
}

pub(crate) async fn connect(ip: IpAddr, port: u16, timeout: Duration) -> Connected {
    let addr = SocketAddr::new(ip, port);
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => Connected {
            state: PortState::Open,
            reason: None,
            stream: Some(stream),
        },
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Connected {
            state: PortState::Closed,
            reason: Some("connection refused".into()),
            stream: None,
        },
        Ok(Err(e)) => Connected {
            state: PortState::Filtered,
            reason: Some(e.to_string()),
            stream: None,
        },
        Err(_) => Connected {
            state: PortState::Filtered,
            reason: Some(format!("no answer within {timeout:?}")),
            stream: None,
        },
    }
}

/// The first bytes the service sends within `wait`, at most `cap`. Empty when it says nothing
/// first (HTTP, TLS and most databases wait for the client).
pub(crate) async fn read_banner(stream: &mut TcpStream, wait: Duration, cap: usize) -> Vec<u8> {
    let mut buf = vec![0u8; cap];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + wait;
    while got < cap {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                got += n;
                // A line-oriented greeting is complete at its first line end.
                if buf[..got].contains(&b'\n') {
                    break;
                }
            }
        }
    }
    buf.truncate(got);
    buf
}

/// The banner as text: printable ASCII kept, line ends as `\n`, tabs as spaces, anything else as
/// `.`; trimmed. `None` when nothing printable is left.
pub(crate) fn printable(bytes: &[u8]) -> Option<String> {
    let text: String = bytes
        .iter()
        .filter(|b| **b != b'\r')
        .map(|&b| match b {
            b'\n' => '\n',
            b'\t' => ' ',
            0x20..=0x7e => b as char,
            _ => '.',
        })
        .collect();
    let t = text.trim();
    (!t.is_empty() && t.chars().any(|c| c.is_ascii_alphanumeric())).then(|| t.to_string())
}

/// Ports that usually speak HTTP, with the scheme to try first.
pub(crate) fn http_scheme(port: u16) -> Option<&'static str> {
    match port {
        443 | 8443 => Some("https"),
        80 | 8080 | 8000 | 8888 => Some("http"),
        _ => None,
    }
}

/// A guess at the service from the banner (first) and the port.
pub(crate) fn guess_service(port: u16, banner: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| banner.starts_with(p);
    let text = String::from_utf8_lossy(banner).to_ascii_lowercase();
    let from_banner = if starts(b"SSH-") {
        Some("ssh")
    } else if starts(b"HTTP/") {
        Some("http")
    } else if banner.len() > 2 && banner[0] == 0x16 && banner[1] == 0x03 {
        Some("tls")
    } else if starts(b"220") && text.contains("ftp") {
        Some("ftp")
    } else if starts(b"220") && (text.contains("smtp") || text.contains("mail")) {
        Some("smtp")
    } else if starts(b"+OK") {
        Some("pop3")
    } else if starts(b"* OK") {
        Some("imap")
    } else if starts(b"RFB ") {
        Some("vnc")
    } else if banner.len() > 5
        && banner[4] == 0x0a
        && (text.contains("mysql") || text.contains("mariadb"))
    {
        Some("mysql")
    } else if starts(b"-ERR") || starts(b"-NOAUTH") {
        Some("redis")
    } else {
        None
    };
    from_banner.or(match port {
        21 => Some("ftp"),
        22 => Some("ssh"),
        23 => Some("telnet"),
        25 | 587 => Some("smtp"),
        53 => Some("dns"),
        80 | 8000 | 8080 | 8888 => Some("http"),
        110 => Some("pop3"),
        143 => Some("imap"),
        443 | 8443 => Some("https"),
        445 => Some("smb"),
        1433 => Some("mssql"),
        3306 => Some("mysql"),
        3389 => Some("rdp"),
        5432 => Some("postgresql"),
        5900 => Some("vnc"),
        6379 => Some("redis"),
        7199 | 9042 => Some("cassandra"),
        9200 => Some("elasticsearch"),
        11211 => Some("memcached"),
        27017 => Some("mongodb"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_guessed_from_the_banner_then_the_port() {
        let cases: &[(u16, &[u8], Option<&str>)] = &[
            (22, b"SSH-2.0-OpenSSH_9.6\r\n", Some("ssh")),
            (2222, b"SSH-2.0-OpenSSH_9.6\r\n", Some("ssh")),
            (21, b"220 (vsFTPd 3.0.5)\r\n", Some("ftp")),
            (2121, b"220 ProFTPD Server ready\r\n", Some("ftp")),
            (25, b"220 mx.example ESMTP Postfix\r\n", Some("smtp")),
            (9999, b"HTTP/1.1 400 Bad Request\r\n", Some("http")),
            (9999, b"\x16\x03\x01\x00", Some("tls")),
            (5901, b"RFB 003.008\n", Some("vnc")),
            (3389, b"", Some("rdp")),
            (7199, b"", Some("cassandra")),
            (4444, b"", None),
        ];
        for (port, banner, want) in cases {
            assert_eq!(guess_service(*port, banner), *want, "{port} {banner:?}");
        }
    }

    #[test]
    fn banners_keep_printable_text_only() {
        assert_eq!(
            printable(b"SSH-2.0-OpenSSH\r\n").as_deref(),
            Some("SSH-2.0-OpenSSH")
        );
        assert_eq!(
            printable(b"a\x00b\tc\x1b[31m").as_deref(),
            Some("a.b c.[31m")
        );
        assert_eq!(printable(b"\x00\x01\x02"), None);
        assert_eq!(printable(b""), None);
    }
}
