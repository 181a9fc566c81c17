//! `/metrics`: the executor's tasks, shuffle output, spills and memory, and
//! the process's own figures, in Prometheus' text format.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::TaskCounters;

/// Serves `/metrics` and `/healthz` on `listener` until the task is aborted.
pub(crate) async fn serve(
    listener: TcpListener,
    counters: Arc<TaskCounters>,
    slots: usize,
    memory_limit: Option<u64>,
) {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = render(&counters, slots, memory_limit);
                async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response() }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

fn render(counters: &TaskCounters, slots: usize, memory_limit: Option<u64>) -> String {
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
    metric(
        "strata_executor_shuffle_written_bytes_total",
        "counter",
        "Bytes of shuffle output tasks wrote.",
        counters.shuffle_bytes(),
    );
    metric(
        "strata_executor_shuffle_written_rows_total",
        "counter",
        "Rows of shuffle output tasks wrote.",
        counters.shuffle_rows(),
    );
    metric(
        "strata_executor_spills_total",
        "counter",
        "Times operators (sorts, aggregations, joins) spilled to disk.",
        counters.spills(),
    );
    metric(
        "strata_executor_spilled_bytes_total",
        "counter",
        "Bytes operators spilled to disk.",
        counters.spilled_bytes(),
    );
    metric(
        "strata_executor_memory_reserved_bytes",
        "gauge",
        "Execution memory tasks hold now.",
        counters.memory_reserved(),
    );
    if let Some(limit) = memory_limit {
        metric(
            "strata_executor_memory_limit_bytes",
            "gauge",
            "Execution memory tasks may hold.",
            limit,
        );
    }
    out.push_str(&process_metrics());
    out
}

/// The process's CPU time, memory and file descriptors, as Prometheus'
/// client libraries name them.
fn process_metrics() -> String {
    let mut out = Vec::new();
    let families = prometheus::gather();
    if let Err(e) =
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut out)
    {
        tracing::warn!(error = %e, "cannot encode the process metrics");
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let text = render(&TaskCounters::default(), 3, Some(1 << 30));
        assert!(text.contains("# TYPE strata_executor_slots gauge\nstrata_executor_slots 3\n"));
        assert!(text.contains("strata_executor_tasks_running 0\n"));
        assert!(text.contains("strata_executor_tasks_started_total 0\n"));
        assert!(text.contains("strata_executor_spills_total 0\n"));
        assert!(text.contains("strata_executor_memory_limit_bytes 1073741824\n"));
    }
}
