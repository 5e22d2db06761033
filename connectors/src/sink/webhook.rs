//! Alerts POSTed as JSON to a URL, one request per alert with `Idempotency-Key: <alert_id>`.
//! Connect and total timeouts bound every attempt; 5xx, 429, timeouts and failed connections
//! are retried with full-jitter exponential backoff; any other answer (a 4xx) gives up at
//! once. TLS certificates are verified.
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;

use super::{AlertSink, Rejected, SinkClosed, backoff};
use crate::alert::Alert;

#[derive(Debug, Clone)]
pub struct WebhookOptions {
    pub connect_timeout: Duration,
    /// Total time of one attempt (connect, send, answer).
    pub timeout: Duration,
    /// Attempts per alert, the first included.
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            attempts: 6,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

pub struct WebhookSink {
    name: String,
    url: reqwest::Url,
    client: Client,
    opts: WebhookOptions,
    /// Requests sent, retries included (for logs and tests).
    pub requests: u64,
}

impl WebhookSink {
    pub fn new(url: &str, opts: &WebhookOptions) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("`{url}` is not a webhook URL: {e}; write http(s)://host/path"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "webhook URL `{url}` must start with http:// or https://"
            ));
        }
        let client = Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(WebhookSink {
            name: format!("webhook:{url}"),
            url: parsed,
            client,
            opts: opts.clone(),
            requests: 0,
        })
    }

    /// Posts one alert with retries; the error says why it gave up.
    fn post(&mut self, alert: &Alert) -> Result<(), String> {
        let body = alert.to_json().to_string();
        let mut last = String::new();
        for attempt in 0..self.opts.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(backoff(
                    attempt - 1,
                    self.opts.backoff_base,
                    self.opts.backoff_max,
                ));
            }
            self.requests += 1;
            let answer = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header("idempotency-key", &alert.alert_id)
                .body(body.clone())
                .send();
            match answer {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if retryable(r.status()) => last = format!("HTTP {}", r.status()),
                Ok(r) => return Err(format!("HTTP {} (not retried)", r.status())),
                Err(e) if e.is_timeout() || e.is_connect() => last = e.to_string(),
                Err(e) => return Err(format!("{e} (not retried)")),
            }
            tracing::debug!(alert_id = %alert.alert_id, attempt, error = %last, "webhook attempt failed");
        }
        Err(format!(
            "gave up after {} attempts: {last}",
            self.opts.attempts.max(1)
        ))
    }
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS
}

impl AlertSink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        let mut rejected = Vec::new();
        for (index, a) in alerts.iter().enumerate() {
            if let Err(error) = self.post(a) {
                tracing::warn!(alert_id = %a.alert_id, %error, "webhook gave up on an alert");
                rejected.push(Rejected { index, error });
            }
        }
        Ok(rejected)
    }
}
