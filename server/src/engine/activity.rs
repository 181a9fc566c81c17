//! `pg_catalog.pg_stat_activity`, truthful: one row per open session with
//! its user, application, client address, state and current (or last)
//! statement; `pg_cancel_backend(pid)`, which cancels a session's
//! running statement as a protocol cancel request would, and
//! `pg_terminate_backend(pid)`, which ends the session.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result;

use super::system_table::{SystemTable, timestamptz_array, timestamptz_field};

/// The longest statement text kept, in bytes.
const QUERY_TEXT_LIMIT: usize = 4096;

/// What cancels a session's running statement.
pub type Canceller = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct Activity {
    user: String,
    database: String,
    application_name: String,
    client: Option<SocketAddr>,
    backend_start: DateTime<Utc>,
    xact_start: Option<DateTime<Utc>>,
    query_start: Option<DateTime<Utc>>,
    state_change: DateTime<Utc>,
    state: &'static str,
    query: String,
    cancel: Option<Canceller>,
    terminate: Option<Canceller>,
}

/// Every open session, by process id.
#[derive(Default)]
pub struct ActivityRegistry {
    sessions: Mutex<BTreeMap<i32, Activity>>,
}

impl std::fmt::Debug for ActivityRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityRegistry").finish_non_exhaustive()
    }
}

impl ActivityRegistry {
    fn sessions(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Activity>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session opened.
    pub fn open(
        &self,
        pid: i32,
        user: &str,
        database: &str,
        application_name: &str,
        client: Option<SocketAddr>,
    ) {
        let now = Utc::now();
        self.sessions().insert(
            pid,
            Activity {
                user: user.to_owned(),
                database: database.to_owned(),
                application_name: application_name.to_owned(),
                client,
                backend_start: now,
                xact_start: None,
                query_start: None,
                state_change: now,
                state: "idle",
                query: String::new(),
                cancel: None,
                terminate: None,
            },
        );
    }

    /// How to cancel `pid`'s running statement, and how to end it.
    pub fn set_controls(&self, pid: i32, cancel: Canceller, terminate: Canceller) {
        if let Some(activity) = self.sessions().get_mut(&pid) {
            activity.cancel = Some(cancel);
            activity.terminate = Some(terminate);
        }
    }

    /// A session closed.
    pub fn close(&self, pid: i32) {
        self.sessions().remove(&pid);
    }

    /// `pid` starts running `query` (its text as [`shown_text`] makes it).
    pub fn begin(&self, pid: i32, query: &str, in_block: bool) {
        if let Some(activity) = self.sessions().get_mut(&pid) {
            let now = Utc::now();
            activity.query = query.to_owned();
            activity.query_start = Some(now);
            activity.state_change = now;
            activity.state = "active";
            if !in_block {
                activity.xact_start = Some(now);
            }
        }
    }

    /// `pid` finished its statement; `state` is PostgreSQL's word for what
    /// it is now (`idle`, `idle in transaction`, ...).
    pub fn end(&self, pid: i32, state: &'static str, application_name: &str) {
        if let Some(activity) = self.sessions().get_mut(&pid) {
            activity.state = state;
            activity.state_change = Utc::now();
            activity.application_name = application_name.to_owned();
            if state == "idle" {
                activity.xact_start = None;
            }
        }
    }

    /// True while session `pid` runs a statement.
    pub fn is_active(&self, pid: i32) -> bool {
        self.sessions()
            .get(&pid)
            .is_some_and(|a| a.state == "active")
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// The user of session `pid`, if there is one.
    pub fn user_of(&self, pid: i32) -> Option<String> {
        self.sessions().get(&pid).map(|a| a.user.clone())
    }

    /// Ends session `pid` (`pg_terminate_backend`); false if there is no
    /// such session.
    pub fn terminate(&self, pid: i32) -> bool {
        let terminate = self.sessions().get(&pid).and_then(|a| a.terminate.clone());
        match terminate {
            Some(terminate) => {
                tracing::info!(pid, "pg_terminate_backend");
                terminate();
                true
            }
            None => false,
        }
    }

    /// Cancels `pid`'s running statement; false if there is no such session.
    pub fn cancel(&self, pid: i32) -> bool {
        let cancel = self.sessions().get(&pid).and_then(|a| a.cancel.clone());
        match cancel {
            Some(cancel) => {
                tracing::info!(pid, "pg_cancel_backend");
                cancel();
                true
            }
            None => false,
        }
    }

    fn schema() -> SchemaRef {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let int = |name: &str| Field::new(name, DataType::Int32, true);
        let time = timestamptz_field;
        Arc::new(Schema::new(vec![
            int("datid"),
            text("datname"),
            int("pid"),
            int("leader_pid"),
            int("usesysid"),
            text("usename"),
            text("application_name"),
            text("client_addr"),
            text("client_hostname"),
            int("client_port"),
            time("backend_start"),
            time("xact_start"),
            time("query_start"),
            time("state_change"),
            text("wait_event_type"),
            text("wait_event"),
            text("state"),
            text("backend_xid"),
            text("backend_xmin"),
            text("query"),
            text("backend_type"),
        ]))
    }

    /// The sessions as pg_stat_activity rows, as `viewer` (a role's name;
    /// `None` for a superuser) may see them: another role's sessions
    /// without their statement text and client address, as in PostgreSQL.
    fn batch(&self, viewer: Option<&str>) -> Result<RecordBatch> {
        let sessions = self.sessions();
        let hidden: BTreeMap<i32, Activity> = sessions
            .iter()
            .map(|(pid, a)| {
                let mut a = a.clone();
                if viewer.is_some_and(|v| v != a.user) {
                    a.query = "<insufficient privilege>".to_owned();
                    a.client = None;
                }
                (*pid, a)
            })
            .collect();
        drop(sessions);
        let rows: Vec<(&i32, &Activity)> = hidden.iter().collect();
        let text = |f: &dyn Fn(&Activity) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(|(_, a)| f(a)).collect::<StringArray>())
        };
        let time = |f: &dyn Fn(&Activity) -> Option<DateTime<Utc>>| {
            timestamptz_array(rows.iter().map(|(_, a)| f(a)))
        };
        let nulls = || -> ArrayRef { Arc::new(Int32Array::from(vec![None; rows.len()])) };
        let columns: Vec<ArrayRef> = vec![
            nulls(),
            text(&|a| Some(a.database.clone())),
            Arc::new(
                rows.iter()
                    .map(|(pid, _)| Some(**pid))
                    .collect::<Int32Array>(),
            ),
            nulls(),
            nulls(),
            text(&|a| Some(a.user.clone())),
            text(&|a| Some(a.application_name.clone())),
            text(&|a| a.client.map(|c| c.ip().to_string())),
            text(&|_| None),
            Arc::new(
                rows.iter()
                    .map(|(_, a)| a.client.map(|c| i32::from(c.port())))
                    .collect::<Int32Array>(),
            ),
            time(&|a| Some(a.backend_start)),
            time(&|a| a.xact_start),
            time(&|a| a.query_start),
            time(&|a| Some(a.state_change)),
            text(&|_| None),
            text(&|_| None),
            text(&|a| Some(a.state.to_owned())),
            text(&|_| None),
            text(&|_| None),
            text(&|a| Some(a.query.clone())),
            text(&|_| Some("client backend".to_owned())),
        ];
        Ok(RecordBatch::try_new(Self::schema(), columns)?)
    }
}

/// Statement text as pg_stat_activity shows it: secrets taken out and long
/// text cut.
pub(super) fn shown_text(sql: &str) -> String {
    let mut text = super::redact::redact_secrets(sql).into_owned();
    if text.len() > QUERY_TEXT_LIMIT {
        let mut cut = QUERY_TEXT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// pg_catalog with `pg_stat_activity` added to what datafusion-pg-catalog
/// provides.
#[derive(Debug)]
pub struct PgCatalogWithActivity {
    inner: Arc<dyn SchemaProvider>,
    activity: Arc<ActivityRegistry>,
}

impl PgCatalogWithActivity {
    pub fn new(inner: Arc<dyn SchemaProvider>, activity: Arc<ActivityRegistry>) -> Self {
        Self { inner, activity }
    }
}

const PG_STAT_ACTIVITY: &str = "pg_stat_activity";

#[async_trait]
impl SchemaProvider for PgCatalogWithActivity {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.push(PG_STAT_ACTIVITY.to_owned());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case(PG_STAT_ACTIVITY) {
            let activity = Arc::clone(&self.activity);
            return Ok(Some(Arc::new(SystemTable::new(
                ActivityRegistry::schema(),
                Arc::new(move |viewer| {
                    let batch = activity.batch(viewer.as_deref());
                    Box::pin(async move { batch })
                }),
            ))));
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(PG_STAT_ACTIVITY) || self.inner.table_exist(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_text_is_redacted_and_cut() {
        assert_eq!(
            shown_text("ATTACH 'postgres://app:hunter2@db:5432/shop' AS shop"),
            "ATTACH 'postgres://app:***@db:5432/shop' AS shop"
        );
        assert_eq!(shown_text(&"x".repeat(5000)).len(), QUERY_TEXT_LIMIT);
    }
}
