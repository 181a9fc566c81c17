//! The `strata` schema: `executors`, the cluster's executors as the
//! scheduler sees them, and `queries`, the statements sessions ran, running ones included,
//! the last [`KEPT`] of them: who ran what, when, how long it took, how many
//! rows it returned or changed, and how it failed. A role other than a
//! superuser sees the statements of other roles without their text or
//! error, as pg_stat_activity shows them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::RecordBatchStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::Stream;

use strata_connectors::sqlstate::SqlState;

use super::control::{ClusterHandle, ExecutorInfo};
use super::system_table::{SystemTable, timestamptz_array, timestamptz_field};
use crate::error::{StrataError, describe};
use crate::metrics::{ServerMetrics, statement_kind};

/// How many statements are kept, newest last.
const KEPT: usize = 1000;

/// The schema the history is a table of.
pub const SCHEMA: &str = "strata";
const QUERIES: &str = "queries";
const EXECUTORS: &str = "executors";

/// `strata.executors`: one row per executor the scheduler knows.
fn executors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("executor_id", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("flight_port", DataType::Int32, false),
        Field::new("slots", DataType::Int32, false),
        timestamptz_field("last_seen"),
    ]))
}

fn executors_batch(executors: &[ExecutorInfo]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            executors
                .iter()
                .map(|e| Some(e.id.clone()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            executors
                .iter()
                .map(|e| Some(e.host.clone()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            executors
                .iter()
                .map(|e| Some(i32::from(e.port)))
                .collect::<Int32Array>(),
        ),
        Arc::new(
            executors
                .iter()
                .map(|e| i32::try_from(e.specification.vcores).ok())
                .collect::<Int32Array>(),
        ),
        Arc::new(
            executors
                .iter()
                .map(|e| {
                    e.last_seen
                        .and_then(|ms| i64::try_from(ms).ok())
                        .map(|ms| ms * 1000)
                })
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
    ];
    Ok(RecordBatch::try_new(executors_schema(), columns)?)
}

/// One statement of the history.
#[derive(Debug, Clone)]
pub struct QueryRecord {
    pub id: u64,
    pub pid: i32,
    pub user: String,
    pub database: String,
    /// The text as pg_stat_activity shows it (secrets redacted).
    pub query: String,
    /// What it was, as the metrics count it (`select`, `insert`, ...).
    pub kind: &'static str,
    /// running, finished, failed or cancelled.
    pub state: &'static str,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub rows: Option<u64>,
    pub sqlstate: Option<&'static str>,
    pub error: Option<String>,
    /// The Ballista job that ran it, if one did.
    pub job_id: Option<String>,
}

impl QueryRecord {
    /// How long it ran, or has been running.
    pub fn duration(&self) -> chrono::Duration {
        self.ended.unwrap_or_else(Utc::now) - self.started
    }

    /// In milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.duration().num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
    }
}

/// The statements of every session.
#[derive(Debug)]
pub struct QueryHistory {
    next: AtomicU64,
    records: Mutex<VecDeque<QueryRecord>>,
    metrics: ServerMetrics,
}

impl QueryHistory {
    /// An empty history counting statements into `metrics`.
    pub fn new(metrics: ServerMetrics) -> Self {
        Self {
            next: AtomicU64::new(0),
            records: Mutex::new(VecDeque::new()),
            metrics,
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, VecDeque<QueryRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The history as `viewer` (a role's name; `None` for a superuser) may
    /// see it, oldest first: other roles' text and errors hidden.
    pub fn visible(&self, viewer: Option<&str>) -> Vec<QueryRecord> {
        self.records()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if viewer.is_some_and(|v| v != r.user) {
                    r.query = "<insufficient privilege>".to_owned();
                    r.error = r.error.map(|_| "<insufficient privilege>".to_owned());
                }
                r
            })
            .collect()
    }

    /// Statement `id` as `viewer` may see it, if it is still kept.
    pub fn get(&self, id: u64, viewer: Option<&str>) -> Option<QueryRecord> {
        self.visible(viewer).into_iter().rev().find(|r| r.id == id)
    }

    /// The statement session `pid` is running now, if any.
    pub fn running(&self, pid: i32) -> Option<QueryRecord> {
        self.records()
            .iter()
            .rev()
            .find(|r| r.pid == pid && r.state == "running")
            .cloned()
    }

    /// Statement `id` runs as Ballista job `job_id`.
    pub fn set_job(&self, id: u64, job_id: &str) {
        if let Some(record) = self.records().iter_mut().rev().find(|r| r.id == id) {
            record.job_id = Some(job_id.to_owned());
        }
    }

    /// Session `pid` of `user` on `database` starts running `query` (its
    /// text as pg_stat_activity shows it); returns the statement's id.
    pub fn begin(&self, pid: i32, user: &str, database: &str, query: &str) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.statement_started();
        let mut records = self.records();
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(QueryRecord {
            id,
            pid,
            user: user.to_owned(),
            database: database.to_owned(),
            query: query.to_owned(),
            kind: statement_kind(query),
            state: "running",
            started: Utc::now(),
            ended: None,
            rows: None,
            sqlstate: None,
            error: None,
            job_id: None,
        });
        id
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut QueryRecord)) {
        if let Some(record) = self.records().iter_mut().rev().find(|r| r.id == id)
            && record.ended.is_none()
        {
            change(record);
            record.ended = Some(Utc::now());
            let seconds = record.duration().num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            self.metrics
                .statement_ended(record.kind, record.state, seconds, record.sqlstate);
        }
    }

    /// Statement `id` ended well, having returned or changed `rows`.
    pub fn finish(&self, id: u64, rows: Option<u64>) {
        self.update(id, |r| {
            r.state = "finished";
            r.rows = rows;
        });
    }

    /// Statement `id` failed with `error`.
    pub fn fail(&self, id: u64, error: &StrataError) {
        self.failed(id, error.sqlstate(), error.client_message());
    }

    fn failed(&self, id: u64, sqlstate: SqlState, message: String) {
        let state = if sqlstate == SqlState::QUERY_CANCELED || sqlstate == SqlState::ADMIN_SHUTDOWN
        {
            "cancelled"
        } else {
            "failed"
        };
        self.update(id, |r| {
            r.state = state;
            r.sqlstate = Some(sqlstate.0);
            r.error = Some(message);
        });
    }

    /// `stream` (the rows of statement `id`) counting what it returns into
    /// the history, and ending the statement there when it ends.
    pub fn watch(
        self: &Arc<Self>,
        id: u64,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        Box::pin(Counted {
            inner: stream,
            history: Arc::clone(self),
            id,
            rows: 0,
        })
    }

    fn schema() -> SchemaRef {
        let time = timestamptz_field;
        Arc::new(Schema::new(vec![
            Field::new("query_id", DataType::Int64, false),
            Field::new("pid", DataType::Int32, false),
            Field::new("usename", DataType::Utf8, false),
            Field::new("datname", DataType::Utf8, false),
            Field::new("query", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
            time("query_start"),
            time("query_end"),
            Field::new("duration_ms", DataType::Float64, true),
            Field::new("rows", DataType::Int64, true),
            Field::new("sqlstate", DataType::Utf8, true),
            Field::new("error", DataType::Utf8, true),
            Field::new("job_id", DataType::Utf8, true),
        ]))
    }

    /// The history as `viewer` (a role's name; `None` for a superuser) may
    /// see it.
    fn batch(&self, viewer: Option<&str>) -> Result<RecordBatch> {
        let rows = self.visible(viewer);
        let text = |f: &dyn Fn(&QueryRecord) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let time = |f: &dyn Fn(&QueryRecord) -> Option<DateTime<Utc>>| {
            timestamptz_array(rows.iter().map(f))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                rows.iter()
                    .map(|r| i64::try_from(r.id).ok())
                    .collect::<Int64Array>(),
            ),
            Arc::new(rows.iter().map(|r| Some(r.pid)).collect::<Int32Array>()),
            text(&|r| Some(r.user.clone())),
            text(&|r| Some(r.database.clone())),
            text(&|r| Some(r.query.clone())),
            text(&|r| Some(r.state.to_owned())),
            time(&|r| Some(r.started)),
            time(&|r| r.ended),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.duration_ms()))
                    .collect::<Float64Array>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| r.rows.and_then(|n| i64::try_from(n).ok()))
                    .collect::<Int64Array>(),
            ),
            text(&|r| r.sqlstate.map(str::to_owned)),
            text(&|r| r.error.clone()),
            text(&|r| r.job_id.clone()),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

/// Rows passing to the client, counted; the statement ends in the history
/// with the stream: finished at its end, failed at an error, cancelled if
/// the stream is dropped before its end.
struct Counted {
    inner: SendableRecordBatchStream,
    history: Arc<QueryHistory>,
    id: u64,
    rows: u64,
}

impl Stream for Counted {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                let rows = batch.num_rows() as u64;
                self.rows += rows;
                self.history.metrics.rows_returned(rows);
            }
            Poll::Ready(Some(Err(e))) => {
                let (sqlstate, message) = describe(e);
                self.history.failed(self.id, sqlstate, message);
            }
            Poll::Ready(None) => self.history.finish(self.id, Some(self.rows)),
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for Counted {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Ended already unless the client stopped reading first.
        self.history.fail(self.id, &StrataError::Cancelled);
    }
}

/// The `strata` schema of every database: `queries` and `executors`.
#[derive(Debug)]
pub struct StrataSchema {
    history: Arc<QueryHistory>,
    cluster: ClusterHandle,
}

impl StrataSchema {
    pub fn new(history: Arc<QueryHistory>, cluster: ClusterHandle) -> Self {
        Self { history, cluster }
    }
}

#[async_trait]
impl SchemaProvider for StrataSchema {
    fn table_names(&self) -> Vec<String> {
        vec![QUERIES.to_owned(), EXECUTORS.to_owned()]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case(QUERIES) {
            let history = Arc::clone(&self.history);
            return Ok(Some(Arc::new(SystemTable::new(
                QueryHistory::schema(),
                Arc::new(move |viewer| {
                    let batch = history.batch(viewer.as_deref());
                    Box::pin(async move { batch })
                }),
            ))));
        }
        if name.eq_ignore_ascii_case(EXECUTORS) {
            // Asked of the scheduler when a statement scans the table, not
            // when catalog listings look it up.
            let cluster = self.cluster.clone();
            return Ok(Some(Arc::new(SystemTable::new(
                executors_schema(),
                Arc::new(move |_| {
                    let cluster = cluster.clone();
                    Box::pin(async move {
                        let executors = cluster
                            .executors()
                            .await
                            .map_err(|e| DataFusionError::External(Box::new(e)))?;
                        executors_batch(&executors)
                    })
                }),
            ))));
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(QUERIES) || name.eq_ignore_ascii_case(EXECUTORS)
    }
}
