//! Bearer tokens with scopes: kept only as SHA-256 hashes, compared in constant time.
//! Decides who may call what; it never logs or returns a token.

use crate::config::TokenConfig;
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

struct Entry {
    name: String,
    hash: [u8; 32],
    scopes: Vec<Scope>,
}

/// The configured tokens. Empty means the API is open (and Irene then listens on loopback only).
pub struct Tokens {
    entries: Vec<Entry>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No token, or not one of ours: 401.
    Unauthenticated,
    /// A valid token without the scope: 403.
    Forbidden { scope: Scope },
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Tokens {
    pub fn from_config(cfg: &[TokenConfig]) -> anyhow::Result<Tokens> {
        let mut entries = Vec::with_capacity(cfg.len());
        for t in cfg {
            let hash = match (&t.token, &t.sha256) {
                (Some(tok), None) => {
                    if tok.len() < 16 {
                        bail!("token {:?} is shorter than 16 characters", t.name);
                    }
                    sha256(tok.as_bytes())
                }
                (None, Some(hex_hash)) => {
                    let bytes = hex::decode(hex_hash.trim())
                        .with_context(|| format!("token {:?}: sha256 is not hex", t.name))?;
                    bytes.try_into().map_err(|_| {
                        anyhow::anyhow!("token {:?}: sha256 must be 32 bytes", t.name)
                    })?
                }
                _ => bail!(
                    "token {:?}: give exactly one of `token` or `sha256`",
                    t.name
                ),
            };
            let scopes = t
                .scopes
                .iter()
                .map(|s| {
                    Scope::parse(s)
                        .ok_or_else(|| anyhow::anyhow!("token {:?}: unknown scope {s:?}", t.name))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            entries.push(Entry {
                name: t.name.clone(),
                hash,
                scopes,
            });
        }
        Ok(Tokens { entries })
    }

    pub fn is_open(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks an `Authorization` header value for `scope`; returns the token's name.
    /// `admin` grants every scope.
    pub fn check(&self, authorization: Option<&str>, scope: Scope) -> Result<String, AuthError> {
        if self.is_open() {
            return Ok("anonymous".to_string());
        }
        let presented = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Unauthenticated)?;
        let hash = sha256(presented.as_bytes());
        // Compare against every entry so timing does not tell which one matched.
        let mut found: Option<&Entry> = None;
        for e in &self.entries {
            if constant_time_eq(&e.hash, &hash) {
                found = Some(e);
            }
        }
        let e = found.ok_or(AuthError::Unauthenticated)?;
        if e.scopes.contains(&scope) || e.scopes.contains(&Scope::Admin) {
            Ok(e.name.clone())
        } else {
            Err(AuthError::Forbidden { scope })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let cfg = vec![
            TokenConfig {
                name: "sender".into(),
                token: Some("ingest-token-0123456789".into()),
                sha256: None,
                scopes: vec!["ingest".into()],
            },
            TokenConfig {
                name: "ops".into(),
                token: None,
                sha256: Some(hex::encode(sha256(b"admin-token-0123456789"))),
                scopes: vec!["admin".into()],
            },
        ];
        Tokens::from_config(&cfg).expect("tokens")
    }

    #[test]
    fn scope_table() {
        let t = tokens();
        let table: Vec<(Option<&str>, Scope, Result<&str, AuthError>)> = vec![
            (None, Scope::Read, Err(AuthError::Unauthenticated)),
            (
                Some("Bearer nope-nope-nope-nope"),
                Scope::Ingest,
                Err(AuthError::Unauthenticated),
            ),
            (
                Some("Basic abc"),
                Scope::Ingest,
                Err(AuthError::Unauthenticated),
            ),
            (
                Some("Bearer ingest-token-0123456789"),
                Scope::Ingest,
                Ok("sender"),
            ),
            (
                Some("Bearer ingest-token-0123456789"),
                Scope::Read,
                Err(AuthError::Forbidden { scope: Scope::Read }),
            ),
            (
                Some("Bearer admin-token-0123456789"),
                Scope::Read,
                Ok("ops"),
            ),
            (
                Some("Bearer admin-token-0123456789"),
                Scope::Ingest,
                Ok("ops"),
            ),
        ];
        for (header, scope, want) in table {
            let got = t.check(header, scope);
            assert_eq!(got.as_deref(), want.as_deref(), "{header:?} {scope:?}");
        }
    }

    #[test]
    fn open_when_no_tokens_and_rejects_bad_config() {
        let open = Tokens::from_config(&[]).expect("empty");
        assert!(open.is_open());
        assert_eq!(open.check(None, Scope::Admin), Ok("anonymous".to_string()));
        let short = TokenConfig {
            name: "x".into(),
            token: Some("short".into()),
            sha256: None,
            scopes: vec![],
        };
        assert!(Tokens::from_config(&[short]).is_err());
    }
}
