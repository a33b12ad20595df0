//! Talking to a running `irene serve` from the command line: where it is, the token, and the
//! request builder and the reply check the client commands (`ingest`, `deliveries`,
//! `investigate`) share. No command logic here.

/// Where the server is and how to authenticate (flags or `IRENE_URL` / `IRENE_TOKEN`).
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "IRENE_URL")]
    pub url: String,
    /// A token with the scope the command needs: `ingest`, `read` or `admin` (prefer the
    /// environment variable).
    #[arg(long, env = "IRENE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ServerArgs {
    /// A request to `path` (starting with `/`) on the server, with the token if one is set.
    pub fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let req = client.request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }
}

/// The JSON body of a success, or an error saying the status and the server's message.
pub async fn answer(resp: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let msg = body
            .pointer("/error/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no message");
        anyhow::bail!("the server answered {status}: {msg}");
    }
    Ok(body)
}
