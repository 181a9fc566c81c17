//! `/metrics`: the executor's task counts in Prometheus' text format.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::TaskCounters;

/// Serves `/metrics` and `/healthz` on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, counters: Arc<TaskCounters>, slots: usize) {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = render(&counters, slots);
                async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response() }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

fn render(counters: &TaskCounters, slots: usize) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    metric(
        "strata_executor_slots",
        "gauge",
        "Task slots this executor offers.",
        slots as u64,
    );
    metric(
        "strata_executor_tasks_running",
        "gauge",
        "Tasks whose work is still running, cancelled tasks until they have stopped.",
        counters.running() as u64,
    );
    metric(
        "strata_executor_tasks_started_total",
        "counter",
        "Tasks started.",
        counters.started(),
    );
    metric(
        "strata_executor_tasks_failed_total",
        "counter",
        "Tasks that ended with an error, cancelled tasks included.",
        counters.failed(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let text = render(&TaskCounters::default(), 3);
        assert!(text.contains("# TYPE strata_executor_slots gauge\nstrata_executor_slots 3\n"));
        assert!(text.contains("strata_executor_tasks_running 0\n"));
        assert!(text.contains("strata_executor_tasks_started_total 0\n"));
    }
}
