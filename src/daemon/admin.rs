//! The admin API (axum): `/healthz`, `/metrics`, `/rules`, `POST /reload`, `/tap/{rule}`.
//! Loopback by default; with a token every request must carry `Authorization: Bearer TOKEN`.
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};

use super::metrics::Metrics;
use super::reload::ReloadRequest;
use super::status::SharedStatus;
use super::tap::Tap;

#[derive(Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<SharedStatus>,
    pub tap: Arc<Tap>,
    pub reload: SyncSender<ReloadRequest>,
    pub token: Option<Arc<str>>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/rules", get(rules))
        .route("/reload", post(reload))
        .route("/tap/{rule}", get(tap))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

async fn authorize(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare hashes: the time taken does not depend on how much of the token matched.
        if blake3::hash(given.as_bytes()) != blake3::hash(token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send `Authorization: Bearer TOKEN`\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn rules(State(state): State<AdminState>) -> Response {
    let view = state.status.lock().clone();
    axum::Json(view).into_response()
}

async fn reload(State(state): State<AdminState>) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let queued = state.reload.try_send(ReloadRequest {
        trigger: "api",
        reply: Some(tx),
    });
    if queued.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many reloads queued; try again in a moment\n",
        )
            .into_response();
    }
    match tokio::time::timeout(Duration::from_secs(150), rx).await {
        Ok(Ok(status)) => {
            let code = if status.outcome == "rejected" {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (code, axum::Json(status)).into_response()
        }
        _ => (
            StatusCode::GATEWAY_TIMEOUT,
            "the reload did not finish; see /rules for its outcome\n",
        )
            .into_response(),
    }
}

async fn tap(State(state): State<AdminState>, Path(rule): Path<String>) -> Response {
    let known = state.status.lock().rules.iter().any(|r| r.name == rule);
    if !known {
        return (
            StatusCode::NOT_FOUND,
            format!("no running rule is named `{rule}`; GET /rules lists them\n"),
        )
            .into_response();
    }
    Sse::new(rows(state.tap.watch(&rule)))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn rows(rx: tokio::sync::mpsc::Receiver<String>) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(rx, |mut rx| async move {
        let row = rx.recv().await?;
        Some((Ok(Event::default().data(row)), rx))
    })
}
