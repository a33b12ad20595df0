//! Capability links to attachments (`{public_url}/files/{token}`): the token is an attachment
//! id and an expiry signed with HMAC-SHA256 under the server's secret, and a note's links.
//!
//! Signing and checking live here so that the outputs (which link) and the server (which
//! serves `/files/{token}`) share them without a dependency pointing up. Token:
//! `base64url(id (16 bytes) ‖ expiry (unix seconds, 8 bytes big-endian) ‖ HMAC-SHA256(secret,
//! "irene-file-v1" ‖ id ‖ expiry))`, 75 characters, unguessable without the secret.
//!
//! Investigators write `attachment:NAME` in their summaries; the store makes it
//! `attachment:ID` when it records them; [`FileLinks::rewrite`] makes `[text](attachment:ID)`
//! a capability URL (or, without a `public_url`, plain text that says so).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

const DOMAIN: &[u8] = b"irene-file-v1";
const PAYLOAD: usize = 16 + 8;
const MAC: usize = 32;

/// Signs and checks `/files/{token}` links, and rewrites notes' attachment links into them.
#[derive(Clone)]
pub struct FileLinks {
    key: Vec<u8>,
    expire: Duration,
    /// Irene's public base URL, when one is configured (links are useless without it).
    base: Option<String>,
}

impl std::fmt::Debug for FileLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLinks")
            .field("key", &"[redacted]")
            .field("expire", &self.expire)
            .field("base", &self.base)
            .finish()
    }
}

impl PartialEq for FileLinks {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.expire == other.expire && self.base == other.base
    }
}

impl Eq for FileLinks {}

impl FileLinks {
    /// `secret`: the server's file secret; `expire`: how long a link works; `public_url`: the
    /// base links are made under (`None`: notes say that files are not linked).
    pub fn new(secret: &[u8], expire: Duration, public_url: Option<&str>) -> FileLinks {
        FileLinks {
            key: secret.to_vec(),
            expire,
            base: public_url
                .map(|u| u.trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
        }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(DOMAIN);
        mac.update(payload);
        mac
    }

    /// The token of attachment `id`, valid until `expires`.
    pub fn token_until(&self, id: Uuid, expires: DateTime<Utc>) -> String {
        let mut raw = Vec::with_capacity(PAYLOAD + MAC);
        raw.extend_from_slice(id.as_bytes());
        raw.extend_from_slice(&expires.timestamp().to_be_bytes());
        let tag = self.mac(&raw).finalize().into_bytes();
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The token of attachment `id`, made at `now` (valid for the configured time).
    pub fn token(&self, id: Uuid, now: DateTime<Utc>) -> String {
        let expires = chrono::Duration::from_std(self.expire)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.token_until(id, expires)
    }

    /// The attachment a token names, if its signature is good and it has not expired at
    /// `now`. Nothing says which check failed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Uuid> {
        if token.len() > 128 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() != PAYLOAD + MAC {
            return None;
        }
        let (payload, tag) = raw.split_at(PAYLOAD);
        // constant-time comparison
        self.mac(payload).verify_slice(tag).ok()?;
        let (id, expiry) = payload.split_at(16);
        let expiry = i64::from_be_bytes(expiry.try_into().ok()?);
        if now.timestamp() >= expiry {
            return None;
        }
        Uuid::from_slice(id).ok()
    }

    /// The capability URL of attachment `id`, when a public URL is configured.
    pub fn url(&self, id: Uuid, now: DateTime<Utc>) -> Option<String> {
        self.base
            .as_ref()
            .map(|b| format!("{b}/files/{}", self.token(id, now)))
    }

    /// Markdown with every `[text](attachment:ID)` and `![text](attachment:ID)` made a link to
    /// its capability URL. `images`: keep `![…](…)` as an image (GitHub shows it inline);
    /// otherwise it becomes a plain link (Slack). Without a public URL: the text only, and why.
    pub fn rewrite<'a>(&self, markdown: &'a str, now: DateTime<Utc>, images: bool) -> Cow<'a, str> {
        LINK.replace_all(markdown, |c: &regex::Captures<'_>| {
            let bang = &c[1];
            let text = &c[2];
            let Ok(id) = Uuid::parse_str(&c[3]) else {
                return c[0].to_string();
            };
            match self.url(id, now) {
                Some(url) if images => format!("{bang}[{text}]({url})"),
                Some(url) => format!("[{text}]({url})"),
                None => format!("{text} (not linked: Irene has no public_url)"),
            }
        })
    }

    /// A note's detail with the links of its `markdown` and of its investigations' `summary`
    /// rewritten (see [`FileLinks::rewrite`]).
    pub fn rewrite_note(&self, detail: &Value, now: DateTime<Utc>, images: bool) -> Value {
        let mut out = detail.clone();
        let fix = |v: &mut Value| {
            if let Some(s) = v.as_str() {
                if let Cow::Owned(new) = self.rewrite(s, now, images) {
                    *v = Value::String(new);
                }
            }
        };
        if let Some(md) = out.get_mut("markdown") {
            fix(md);
        }
        if let Some(list) = out.get_mut("investigations").and_then(Value::as_array_mut) {
            for i in list {
                if let Some(s) = i.get_mut("summary") {
                    fix(s);
                }
            }
        }
        out
    }
}

/// `[text](attachment:UUID)`, optionally an image.
static LINK: LazyLock<regex::Regex> = LazyLock::new(|| {
    match regex::Regex::new(
        r"(!?)\[([^\]\n]*)\]\(attachment:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)",
    ) {
        Ok(r) => r,
        Err(_) => unreachable_regex(),
    }
});

#[cold]
fn unreachable_hmac() -> ! {
    unreachable!("HMAC accepts keys of any length")
}

#[cold]
fn unreachable_regex() -> ! {
    unreachable!("the link pattern is a valid regex")
}

/// A note's detail as an output sends it: links rewritten when `links` is set.
pub(crate) fn note_detail<'a>(
    links: Option<&FileLinks>,
    detail: &'a Value,
    images: bool,
) -> Cow<'a, Value> {
    match links {
        Some(l) => Cow::Owned(l.rewrite_note(detail, Utc::now(), images)),
        None => Cow::Borrowed(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn links(base: Option<&str>) -> FileLinks {
        FileLinks::new(b"a secret of the server", Duration::from_secs(3600), base)
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering_and_expiry() {
        let l = links(Some("https://irene.example/"));
        let id = Uuid::now_v7();
        let now = Utc::now();
        let token = l.token(id, now);
        assert_eq!(token.len(), 75);
        assert_eq!(l.verify(&token, now), Some(id));
        assert_eq!(
            l.url(id, now),
            Some(format!("https://irene.example/files/{token}"))
        );

        let mut flipped = token.clone().into_bytes();
        flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let mut bad_tag = token.clone().into_bytes();
        let last = bad_tag.len() - 2;
        bad_tag[last] = if bad_tag[last] == b'A' { b'B' } else { b'A' };
        let bad_tag = String::from_utf8(bad_tag).unwrap();
        let other_key = FileLinks::new(b"another secret", Duration::from_secs(3600), None);
        let hour = chrono::Duration::seconds(3600);
        // (what, token, checked by, at, accepted)
        let table: Vec<(&str, String, &FileLinks, DateTime<Utc>, bool)> = vec![
            ("fresh", token.clone(), &l, now, true),
            (
                "just before expiry",
                token.clone(),
                &l,
                now + hour - chrono::Duration::seconds(1),
                true,
            ),
            ("at expiry", token.clone(), &l, now + hour, false),
            ("long after", token.clone(), &l, now + hour * 48, false),
            ("payload tampered", flipped, &l, now, false),
            ("signature tampered", bad_tag, &l, now, false),
            ("another secret", token.clone(), &other_key, now, false),
            ("truncated", token[..70].to_string(), &l, now, false),
            ("extended", format!("{token}AA"), &l, now, false),
            ("not base64", "!!!".into(), &l, now, false),
            ("empty", String::new(), &l, now, false),
            ("huge", "A".repeat(10_000), &l, now, false),
        ];
        for (what, t, by, at, ok) in table {
            assert_eq!(by.verify(&t, at).is_some(), ok, "{what}");
        }
        // an expiry moved later by hand does not verify
        let later = l.token_until(id, now + hour * 2);
        let mut spliced = URL_SAFE_NO_PAD.decode(&later).unwrap();
        spliced[PAYLOAD..].copy_from_slice(&URL_SAFE_NO_PAD.decode(&token).unwrap()[PAYLOAD..]);
        assert_eq!(l.verify(&URL_SAFE_NO_PAD.encode(spliced), now), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", links(None));
        assert!(!shown.contains("a secret"), "{shown}");
    }

    #[test]
    fn notes_link_attachments_by_capability_url() {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let md = format!(
            "![shot 1.2.3.4:443](attachment:{id})\n[events](attachment:{id}) \
             [by name](attachment:x.csv) attachment:{id}"
        );
        let l = links(Some("https://irene.example"));
        let url = l.url(id, now).unwrap();
        // (base, images, expected)
        let table = [
            (Some("https://irene.example"), true, format!(
                "![shot 1.2.3.4:443]({url})\n[events]({url}) [by name](attachment:x.csv) attachment:{id}"
            )),
            (Some("https://irene.example"), false, format!(
                "[shot 1.2.3.4:443]({url})\n[events]({url}) [by name](attachment:x.csv) attachment:{id}"
            )),
            (None, true, format!(
                "shot 1.2.3.4:443 (not linked: Irene has no public_url)\nevents (not linked: \
                 Irene has no public_url) [by name](attachment:x.csv) attachment:{id}"
            )),
        ];
        for (base, images, want) in table {
            assert_eq!(
                links(base).rewrite(&md, now, images),
                want,
                "{base:?} {images}"
            );
        }
        let detail =
            json!({"markdown": md, "investigations": [{"summary": md}, {"summary": null}]});
        let out = l.rewrite_note(&detail, now, true);
        assert!(out["markdown"].as_str().unwrap().contains(&url));
        assert!(out["investigations"][0]["summary"]
            .as_str()
            .unwrap()
            .contains(&url));
        assert_eq!(out["investigations"][1]["summary"], Value::Null);
        // a token in a link verifies to its attachment
        let token = url.rsplit('/').next().unwrap();
        assert_eq!(l.verify(token, now), Some(id));
    }
}
