//! A real HTTP server (axum on 127.0.0.1) standing in for a webhook receiver: it answers
//! a scripted sequence of statuses and records every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// What the server answers and what it saw.
pub struct Hook {
    /// Answers for the first requests, in order; then `then`.
    pub first: Mutex<VecDeque<u16>>,
    pub then: u16,
    pub delay: Duration,
    /// How many of the first requests wait `delay` (all, for [`hook`]).
    pub slow_requests: Mutex<usize>,
    /// (Idempotency-Key header, body, status answered) per request.
    pub seen: Mutex<Vec<(Option<String>, serde_json::Value, u16)>>,
}

async fn handle(State(h): State<Arc<Hook>>, headers: HeaderMap, body: String) -> StatusCode {
    let slow = {
        let mut n = h.slow_requests.lock().expect("lock");
        let slow = *n > 0;
        *n = n.saturating_sub(1);
        slow
    };
    if slow && !h.delay.is_zero() {
        tokio::time::sleep(h.delay).await;
    }
    let status = h.first.lock().expect("lock").pop_front().unwrap_or(h.then);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    h.seen.lock().expect("lock").push((key, body, status));
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Starts the server on a thread of its own; returns its URL.
pub fn serve(hook: Arc<Hook>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new()
                .route("/hook", post(handle))
                .with_state(hook);
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://127.0.0.1:{port}/hook")
}

pub fn hook(first: &[u16], then: u16, delay: Duration) -> Arc<Hook> {
    slow_start(first, then, usize::MAX, delay)
}

/// Like [`hook`], but only the first `slow` requests wait `delay`.
pub fn slow_start(first: &[u16], then: u16, slow: usize, delay: Duration) -> Arc<Hook> {
    Arc::new(Hook {
        first: Mutex::new(first.iter().copied().collect()),
        then,
        delay,
        slow_requests: Mutex::new(slow),
        seen: Mutex::new(Vec::new()),
    })
}
