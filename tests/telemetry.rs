//! The HTTP endpoints over a real socket, and the log formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conplus_operator::telemetry::{
    Health, METRICS_CONTENT_TYPE, Metrics, log_subscriber, serve_on,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A plain HTTP/1.1 GET; returns (status, headers lower-cased, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

async fn start() -> (
    std::net::SocketAddr,
    Arc<Metrics>,
    Health,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), conplus_operator::telemetry::TelemetryError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let health = Health::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_on(
        listener,
        metrics.clone(),
        health.clone(),
        async move {
            let _ = rx.await;
        },
    ));
    (addr, metrics, health, tx, task)
}

#[tokio::test]
async fn readyz_turns_ok_only_after_the_first_sync_while_livez_is_ok_throughout() {
    let (addr, _metrics, health, stop, task) = start().await;
    assert_eq!(get(addr, "/livez").await.0, 200);
    let (status, _, body) = get(addr, "/readyz").await;
    assert_eq!(
        status, 503,
        "a leader without synced caches must not be ready: {body}"
    );
    health.set_synced();
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/livez").await.0, 200);
    assert_eq!(get(addr, "/nothing").await.0, 404);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_stand_by_replica_is_ready_without_reconciling() {
    let (addr, _metrics, health, stop, task) = start().await;
    health.set_leader(false);
    assert_eq!(get(addr, "/readyz").await.0, 200);
    // Taking the Lease: not ready until the new term has synced.
    health.set_leader(true);
    assert_eq!(get(addr, "/readyz").await.0, 503);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn metrics_are_served_as_openmetrics_text_with_every_family() {
    let (addr, metrics, _health, stop, task) = start().await;
    metrics.reconcile_finished(Duration::from_millis(120), Err("Timeout"));
    metrics.set_onboardings_by_phase(&[("Ready".into(), 2)]);
    metrics.set_ressort_budget("mk", "memory", 2.0 * 1024.0 * 1024.0 * 1024.0, 0.0);
    metrics.set_conformance_findings(&[("image-tag".into(), "mk".into(), "error".into(), 4)]);
    let (status, head, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains(&format!(
            "content-type: {}",
            METRICS_CONTENT_TYPE.to_lowercase()
        )),
        "{head}"
    );
    for line in [
        "# TYPE conplus_reconciles counter",
        "conplus_reconciles_total{result=\"failure\"} 1",
        "conplus_reconcile_failures_total{category=\"Timeout\"} 1",
        "# TYPE conplus_reconcile_duration_seconds histogram",
        "conplus_reconcile_duration_seconds_count 1",
        "conplus_onboardings{phase=\"Ready\"} 2",
        "conplus_ressort_budget_allocated{ressort=\"mk\",resource=\"memory\"} 2147483648.0",
        "conplus_ressort_budget_available{ressort=\"mk\",resource=\"memory\"} 0.0",
        "conplus_conformance_findings{rule=\"image-tag\",ressort=\"mk\",severity=\"error\"} 4",
        "# EOF",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn serve_refuses_an_address_in_use_with_a_message_naming_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = conplus_operator::telemetry::serve(
        addr,
        Arc::new(Metrics::new()),
        Health::new(),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--metrics-addr"), "{err}");
}

/// A writer into a shared buffer, for capturing log lines.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

fn iso_utc_millis() -> regex::Regex {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap()
}

#[test]
fn json_logs_carry_an_iso_8601_utc_timestamp_and_the_message_at_the_top_level() {
    let buf = Buf::default();
    let sub = log_subscriber("json", "info", buf.clone()).unwrap();
    tracing::subscriber::with_default(sub, || {
        tracing::info!(onboarding = "mk-moin", "applied");
        tracing::debug!("filtered out by the level");
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["message"], "applied", "{v}");
    assert_eq!(v["onboarding"], "mk-moin", "{v}");
    assert_eq!(v["level"], "INFO", "{v}");
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        iso_utc_millis().is_match(ts),
        "timestamp {ts:?} is not ISO-8601 UTC"
    );
}

#[test]
fn plain_logs_start_with_an_iso_8601_utc_timestamp_and_have_no_colour_codes() {
    let buf = Buf::default();
    let sub = log_subscriber(
        "plain",
        "conplus_operator=debug,telemetry=debug",
        buf.clone(),
    )
    .unwrap();
    tracing::subscriber::with_default(sub, || tracing::debug!("hello"));
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let first = text.split_whitespace().next().unwrap_or_default();
    assert!(
        iso_utc_millis().is_match(first),
        "line does not start with a timestamp: {text:?}"
    );
    assert!(text.contains("hello"), "{text:?}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes in plain logs: {text:?}"
    );
}
