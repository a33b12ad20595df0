//! GitHub App JWT checks for the fake: RS256 signature by the registered app key, `iss`, `iat`, `exp`.
//! It only verifies; minting installation tokens is the handlers' job.

use super::render;
use super::Gh;
use axum::response::Response;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Claims {
    iss: Value,
    iat: i64,
    exp: i64,
}

fn undecodable() -> Response {
    render::error(
        401,
        "A JSON web token could not be decoded",
        render::DOC_ROOT,
    )
}

/// The app id of a valid app JWT, or GitHub's 401.
pub(super) fn verify(gh: &Gh, jwt: &str) -> Result<u64, Response> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| undecodable())?;
    if header.alg != Algorithm::RS256 {
        return Err(undecodable());
    }
    // Read `iss` before verifying, to pick the key.
    let payload = jwt.split('.').nth(1).ok_or_else(undecodable)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| undecodable())?;
    let unverified: Claims = serde_json::from_slice(&raw).map_err(|_| undecodable())?;
    let app_id = match &unverified.iss {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(undecodable)?;
    let app = gh
        .apps
        .get(&app_id)
        .ok_or_else(|| render::error(401, "Integration not found", render::DOC_ROOT))?;

    let mut validation = Validation::new(Algorithm::RS256);
    // Times are checked below against the fake's own (advanceable) clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(jwt, &app.key, &validation)
        .map_err(|_| undecodable())?
        .claims;

    let now = gh.now().timestamp();
    if claims.exp <= now {
        return Err(render::error(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
            render::DOC_ROOT,
        ));
    }
    // At most 10 minutes ahead, with a minute of allowance for clock drift.
    if claims.exp > now + 660 {
        return Err(render::error(
            401,
            "'Expiration time' claim ('exp') is too far in the future",
            render::DOC_ROOT,
        ));
    }
    if claims.iat > now + 60 {
        return Err(render::error(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            render::DOC_ROOT,
        ));
    }
    Ok(app_id)
}
