//! The HTTP(S) part of a probe: GET `/`, redirects followed by hand, status, `<title>`, `Server`, the peer certificate.
//! Must not trust certificates (it observes), nor let reqwest resolve, proxy or redirect on its own.
//!
//! Each hop is resolved once, checked against the policy, and connected to at that checked
//! address (`ClientBuilder::resolve` pins a host name to it), so DNS cannot rebind it.

use crate::policy::Policy;
use irene_investigate::exposure_seams::{HttpAnswer, TlsInfo};
use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest `<title>` kept, in characters.
pub(crate) const TITLE_MAX: usize = 200;

#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    pub timeout: Duration,
    pub body_cap: usize,
    pub max_redirects: usize,
}

/// Accepts any certificate and keeps the end-entity one: a probe observes, it does not trust.
/// Handshake signatures are still checked, so the recorded certificate is the peer's.
#[derive(Debug)]
struct Recorder {
    cert: Mutex<Option<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut c) = self.cert.lock() {
            *c = Some(end_entity.as_ref().to_vec());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One client for one hop: no proxy, no redirects, TLS recording the peer certificate, and
/// the host name (if any) pinned to the address the policy checked.
fn client(
    limits: &HttpLimits,
    recorder: Arc<Recorder>,
    pin: Option<(&str, SocketAddr)>,
) -> Result<reqwest::Client, String> {
    let mut tls = rustls::ClientConfig::builder_with_provider(recorder.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .user_agent(concat!("irene-probe/", env!("CARGO_PKG_VERSION")))
        .use_preconfigured_tls(tls);
    if let Some((host, addr)) = pin {
        b = b.resolve(host, addr);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// The address one hop connects to, checked: an IP host as it is, a host name resolved ONCE
/// (its first address), then pinned in the client.
async fn checked_address(
    policy: &Policy,
    url: &Url,
    timeout: Duration,
) -> Result<(IpAddr, Option<String>), String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url}: no port"))?;
    let (ip, name) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (IpAddr::V4(ip), None),
        Some(url::Host::Ipv6(ip)) => (IpAddr::V6(ip), None),
        Some(url::Host::Domain(d)) => {
            let found = tokio::time::timeout(timeout, tokio::net::lookup_host((d, port)))
                .await
                .map_err(|_| format!("{d}: no DNS answer in time"))?
                .map_err(|e| format!("{d}: {e}"))?
                .next()
                .ok_or_else(|| format!("{d}: no address"))?;
            (found.ip(), Some(d.to_string()))
        }
        None => return Err(format!("{url}: no host")),
    };
    policy.check(ip).map_err(|e| e.to_string())?;
    Ok((ip, name))
}

/// GET `/` on `ip:port` over `scheme`, following redirects by hand within the policy. The
/// answer is the last hop's status, title and `Server`, with the target's own certificate;
/// the second value says why the chain stopped early (a denied hop, an error), if it did.
pub(crate) async fn get(
    policy: &Policy,
    ip: IpAddr,
    port: u16,
    scheme: &str,
    limits: &HttpLimits,
) -> Result<(HttpAnswer, Option<String>), String> {
    let first = format!("{scheme}://{}/", SocketAddr::new(ip, port));
    let mut url = Url::parse(&first).map_err(|e| format!("{first}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut answer = HttpAnswer {
        url: first,
        ..HttpAnswer::default()
    };
    for hop in 0..=limits.max_redirects {
        let (addr, name) = match checked_address(policy, &url, limits.timeout).await {
            Ok(a) => a,
            // The first hop is the target itself, checked by the caller; a later one stops.
            Err(why) if hop > 0 => return Ok((answer, Some(format!("redirect refused: {why}")))),
            Err(why) => return Err(why),
        };
        if hop > 0 {
            answer.redirects.push(url.to_string());
        }
        let recorder = Arc::new(Recorder {
            cert: Mutex::new(None),
            provider: provider.clone(),
        });
        let port = url.port_or_known_default().unwrap_or(port);
        let pin = name.as_deref().map(|n| (n, SocketAddr::new(addr, port)));
        let c = client(limits, recorder.clone(), pin)?;
        let resp = match c.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) if hop > 0 => {
                return Ok((
                    answer,
                    Some(format!("redirect to {url}: {}", error_text(&e))),
                ))
            }
            Err(e) => return Err(error_text(&e)),
        };
        if hop == 0 {
            let der = recorder.cert.lock().ok().and_then(|c| c.clone());
            answer.tls = der.as_deref().and_then(tls_info);
        }
        answer.status = resp.status().as_u16();
        answer.server = resp
            .headers()
            .get(reqwest::header::SERVER)
            .and_then(|v| v.to_str().ok())
            .map(|s| cap_chars(s.trim(), TITLE_MAX));
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp.status().is_redirection() {
            if let Some(loc) = location {
                if hop == limits.max_redirects {
                    return Ok((
                        answer,
                        Some(format!("more than {} redirects", limits.max_redirects)),
                    ));
                }
                let next = url
                    .join(&loc)
                    .map_err(|e| format!("redirect to {loc:?}: {e}"))?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Ok((answer, Some(format!("redirect to {next}: not HTTP"))));
                }
                // Checked at the top of the next hop, before any connection.
                url = next;
                continue;
            }
        }
        let body = read_capped(resp, limits.body_cap).await;
        answer.title = title_of(&body);
        return Ok((answer, None));
    }
    Ok((answer, None))
}

fn error_text(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < cap {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(cap - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

fn cap_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The first `<title>`'s text: whitespace collapsed, a few entities decoded, capped.
pub(crate) fn title_of(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let raw = &text[start..end];
    let decoded = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let t = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then(|| cap_chars(&t, TITLE_MAX))
}

/// Subject, issuer, SANs, expiry and whether it signed itself (same subject and issuer).
pub(crate) fn tls_info(der: &[u8]) -> Option<TlsInfo> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(s) => Some(s.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => <[u8; 4]>::try_from(*b)
                        .ok()
                        .map(|a| IpAddr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(*b)
                        .ok()
                        .map(|a| IpAddr::from(a).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Some(TlsInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_after,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_trimmed_and_capped() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<html><head><title>Hello</title>", Some("Hello")),
            (
                "<TITLE lang=en>\n  Admin   Login \n</TITLE><title>x</title>",
                Some("Admin Login"),
            ),
            ("<title>A &amp; B &lt;3</title>", Some("A & B <3")),
            ("<title>   </title>", None),
            ("<title>unclosed", None),
            ("no title", None),
        ];
        for (body, want) in cases {
            assert_eq!(title_of(body.as_bytes()).as_deref(), *want, "{body}");
        }
        let long = format!("<title>{}</title>", "x".repeat(500));
        assert_eq!(title_of(long.as_bytes()).map(|t| t.len()), Some(TITLE_MAX));
    }
}
