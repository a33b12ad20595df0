//! GitHub credentials: a token, or a GitHub App (a signed JWT, the installation looked up once,
//! installation tokens minted and renewed before expiry). Must not decide what a request does.

use super::GithubOutput;
use crate::config::Secret;
use crate::http::Reply;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::Outcome;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;

pub(super) enum Auth {
    Token(Secret),
    App(App),
}

pub(super) struct App {
    pub(super) app_id: u64,
    pub(super) key: jsonwebtoken::EncodingKey,
    pub(super) installation_id: Mutex<Option<u64>>,
    /// The installation token and when it expires.
    pub(super) token: Mutex<Option<(Secret, DateTime<Utc>)>>,
}

impl App {
    fn jwt(&self, now: DateTime<Utc>) -> Result<String, Outcome> {
        #[derive(serde::Serialize)]
        struct Claims {
            iat: i64,
            exp: i64,
            iss: String,
        }
        let claims = Claims {
            iat: now.timestamp() - 60,
            exp: now.timestamp() + 9 * 60,
            iss: self.app_id.to_string(),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Outcome::Dead {
            error: format!("cannot sign the GitHub App JWT: {e}"),
        })
    }
}

impl GithubOutput {
    pub(super) async fn token(&self) -> Result<Secret, Outcome> {
        let app = match &self.auth {
            Auth::Token(t) => return Ok(t.clone()),
            Auth::App(app) => app,
        };
        let mut cached = app.token.lock().await;
        let now = Utc::now();
        if let Some((token, expires)) = &*cached {
            if *expires - ChronoDuration::minutes(5) > now {
                return Ok(token.clone());
            }
        }
        let jwt = app.jwt(now)?;
        let installation = {
            let mut id = app.installation_id.lock().await;
            match *id {
                Some(i) => i,
                None => {
                    let reply = self
                        .send(&Method::GET, &self.repo_url("/installation"), &jwt, None)
                        .await?;
                    let found = (reply.status == 200)
                        .then(|| reply.json())
                        .flatten()
                        .and_then(|v| v.get("id").and_then(Value::as_u64));
                    match found {
                        Some(i) => {
                            *id = Some(i);
                            i
                        }
                        None => {
                            return Err(self.auth_failure("finding the app's installation", &reply))
                        }
                    }
                }
            }
        };
        let url = format!(
            "{}/app/installations/{installation}/access_tokens",
            self.api
        );
        let reply = self.send(&Method::POST, &url, &jwt, None).await?;
        let minted = (reply.status == 201 || reply.status == 200)
            .then(|| reply.json())
            .flatten()
            .and_then(|v| {
                let token = v.get("token")?.as_str()?.to_string();
                let expires = v
                    .get("expires_at")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    // without a usable expiry: the documented hour
                    .unwrap_or(now + ChronoDuration::hours(1));
                Some((Secret::new(token), expires))
            });
        match minted {
            Some((token, expires)) => {
                *cached = Some((token.clone(), expires));
                Ok(token)
            }
            None => Err(self.auth_failure("minting an installation token", &reply)),
        }
    }

    fn auth_failure(&self, doing: &str, reply: &Reply) -> Outcome {
        match self.failure(reply) {
            Outcome::Retry { error, at } => Outcome::Retry {
                error: format!("GitHub App: {doing}: {error}"),
                at,
            },
            Outcome::Dead { error } => Outcome::Dead {
                error: format!("GitHub App: {doing}: {error}"),
            },
            other => other,
        }
    }

    pub(super) async fn forget_token(&self) {
        if let Auth::App(app) = &self.auth {
            *app.token.lock().await = None;
        }
    }
}
