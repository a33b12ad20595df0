//! `GET /files/{token}`: an attachment by capability link, without a bearer token. The token
//! (signed, expiring; `irene_outputs::files`) is the only authorization; anything wrong is 404.

use super::error::{ApiError, ApiResult};
use super::investigations::attachment_response;
use super::AppState;
use axum::extract::{Path, State};
use axum::response::Response;

pub async fn get(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    // one answer for a bad signature, an expired link and a missing file: nothing to guess by
    let not_found = || ApiError::not_found("no such file");
    let id = state
        .files
        .verify(&token, chrono::Utc::now())
        .ok_or_else(not_found)?;
    let file = state
        .app
        .store
        .attachment_get(id)
        .await?
        .ok_or_else(not_found)?;
    Ok(attachment_response(file, "default-src 'none'; sandbox"))
}
