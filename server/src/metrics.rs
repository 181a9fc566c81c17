//! The server's Prometheus metrics: connections, statements by kind and
//! outcome, their durations, the rows and bytes results carried, errors by
//! SQLSTATE and cancellations. Served at `/metrics` on the console's
//! listener together with the process's own metrics and, in the embedded
//! default, the in-process scheduler's.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Statement kinds counted apart; any other statement counts as `other`.
const KINDS: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "merge",
    "copy",
    "create",
    "drop",
    "alter",
    "explain",
    "show",
    "set",
    "begin",
    "commit",
    "rollback",
    "values",
    "with",
    "grant",
    "revoke",
    "vacuum",
    "optimize",
    "attach",
    "detach",
    "prepare",
    "execute",
    "discard",
    "deallocate",
];

/// What a statement was, for the `kind` label: its first keyword if it is
/// one of [`KINDS`], otherwise `other`.
pub fn statement_kind(sql: &str) -> &'static str {
    let word = sql
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    KINDS
        .iter()
        .find(|kind| kind.eq_ignore_ascii_case(word))
        .copied()
        .unwrap_or("other")
}

/// The counters of one server.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    registry: Registry,
    connections_opened: IntCounter,
    connections: IntGauge,
    logins_failed: IntCounter,
    queries: IntCounterVec,
    running: IntGauge,
    duration: HistogramVec,
    rows: IntCounter,
    bytes: IntCounter,
    errors: IntCounterVec,
    cancellations: IntCounter,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let counter = IntCounter::new(name, help).expect("a valid metric name");
            registry
                .register(Box::new(counter.clone()))
                .expect("each metric is registered once");
            counter
        };
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("a valid metric name");
            registry
                .register(Box::new(gauge.clone()))
                .expect("each metric is registered once");
            gauge
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let counter =
                IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name");
            registry
                .register(Box::new(counter.clone()))
                .expect("each metric is registered once");
            counter
        };
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "strata_query_duration_seconds",
                "How long statements took, from receipt to their last row.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 300.0, 900.0,
            ]),
            &["kind"],
        )
        .expect("a valid metric name");
        registry
            .register(Box::new(duration.clone()))
            .expect("each metric is registered once");
        Self {
            connections_opened: counter(
                "strata_connections_opened_total",
                "Client connections accepted.",
            ),
            connections: gauge("strata_connections", "Client connections open now."),
            logins_failed: counter(
                "strata_logins_failed_total",
                "Logins refused: wrong password, unknown role, limits.",
            ),
            queries: counter_vec(
                "strata_queries_total",
                "Statements that ended, by kind and outcome (finished, failed, cancelled).",
                &["kind", "state"],
            ),
            running: gauge("strata_queries_running", "Statements running now."),
            duration,
            rows: counter(
                "strata_rows_returned_total",
                "Rows sent to clients in results.",
            ),
            bytes: counter(
                "strata_bytes_returned_total",
                "Bytes of DataRow messages sent to clients.",
            ),
            errors: counter_vec(
                "strata_errors_total",
                "Statements that failed, by SQLSTATE.",
                &["sqlstate"],
            ),
            cancellations: counter(
                "strata_cancellations_total",
                "Statements cancelled: by a cancel request, pg_cancel_backend, the console, a \
                 timeout or the client going away.",
            ),
            registry,
        }
    }

    /// A client connected; the gauge drops when the guard does.
    pub fn connection_opened(&self) -> ConnectionCount {
        self.connections_opened.inc();
        self.connections.inc();
        ConnectionCount(self.connections.clone())
    }

    pub fn login_failed(&self) {
        self.logins_failed.inc();
    }

    pub fn statement_started(&self) {
        self.running.inc();
    }

    /// A statement of `kind` ended after `seconds`: `state` is finished,
    /// failed or cancelled, `sqlstate` its error's code if it failed.
    pub fn statement_ended(&self, kind: &str, state: &str, seconds: f64, sqlstate: Option<&str>) {
        self.running.dec();
        self.queries.with_label_values(&[kind, state]).inc();
        self.duration.with_label_values(&[kind]).observe(seconds);
        if let Some(sqlstate) = sqlstate {
            self.errors.with_label_values(&[sqlstate]).inc();
        }
        if state == "cancelled" {
            self.cancellations.inc();
        }
    }

    /// `rows` of a result went to a client.
    pub fn rows_returned(&self, rows: u64) {
        self.rows.inc_by(rows);
    }

    /// `bytes` of result rows went to a client.
    pub fn bytes_returned(&self, bytes: u64) {
        self.bytes.inc_by(bytes);
    }

    /// Prometheus' text format: this server's metrics, then the process's
    /// and whatever else registered in the default registry (the embedded
    /// scheduler's job metrics).
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(prometheus::gather());
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Holds one count of the open-connections gauge.
#[derive(Debug)]
pub struct ConnectionCount(IntGauge);

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_first_keyword() {
        assert_eq!(statement_kind("  SELECT 1"), "select");
        assert_eq!(statement_kind("(select 1) union (select 2)"), "select");
        assert_eq!(statement_kind("insert into t values (1)"), "insert");
        assert_eq!(statement_kind("LISTEN x"), "other");
        assert_eq!(statement_kind(""), "other");
    }

    #[test]
    fn counters_move_and_render_as_prometheus_text() {
        let metrics = ServerMetrics::new();
        let connection = metrics.connection_opened();
        metrics.statement_started();
        metrics.statement_ended("select", "finished", 0.002, None);
        metrics.rows_returned(3);
        metrics.statement_started();
        metrics.statement_ended("select", "cancelled", 1.0, Some("57014"));
        metrics.bytes_returned(42);
        let text = metrics.render();
        assert!(text.contains("strata_connections 1\n"), "{text}");
        assert!(text.contains("strata_queries_total{kind=\"select\",state=\"finished\"} 1\n"));
        assert!(text.contains("strata_errors_total{sqlstate=\"57014\"} 1\n"));
        assert!(text.contains("strata_cancellations_total 1\n"));
        assert!(text.contains("strata_rows_returned_total 3\n"));
        assert!(text.contains("strata_bytes_returned_total 42\n"));
        assert!(text.contains("strata_queries_running 0\n"));
        assert!(text.contains("strata_query_duration_seconds_count{kind=\"select\"} 2\n"));
        drop(connection);
        assert!(metrics.render().contains("strata_connections 0\n"));
    }
}
