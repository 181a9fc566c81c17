//! Stopping a statement: a client's cancel request, `statement_timeout`, or
//! the connection going away. Stopping means stopping the work too: a Ballista
//! job is cancelled on the scheduler, not merely abandoned (dropping the
//! result stream would leave it running).

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use ballista_api_types::dto::{
    JobResponse, QueryStageSummary, QueryStagesResponse, TaskStatus, TaskSummary,
};
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use strata_connectors::membership::Membership;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use super::planner::DistributedQuery;
use super::strata_schema::QueryHistory;
use crate::error::{Result, StrataError};

/// How long a cancelled job may take to reveal its id before we give up on
/// telling the scheduler.
const JOB_ID_WAIT: Duration = Duration::from_secs(5);

/// How often a running statement looks whether its job has an id yet.
const JOB_ID_POLL: Duration = Duration::from_millis(50);

/// How often the scheduler is asked whether it has executors.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// What the scheduler last said about its executors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterHealth {
    /// At least one executor is alive.
    Ready,
    /// No executor has been alive since this instant.
    NoExecutors(Instant),
    /// The scheduler has not answered since this instant.
    Unreachable(Instant),
}

impl ClusterHealth {
    fn since(self) -> Option<Instant> {
        match self {
            ClusterHealth::Ready => None,
            ClusterHealth::NoExecutors(since) | ClusterHealth::Unreachable(since) => Some(since),
        }
    }

    /// The next state after a probe that found `ready` / `reachable`,
    /// keeping the instant a trouble began.
    fn next(self, reachable: bool, ready: bool, now: Instant) -> ClusterHealth {
        match (reachable, ready, self) {
            (true, true, _) => ClusterHealth::Ready,
            (true, false, ClusterHealth::NoExecutors(since)) => ClusterHealth::NoExecutors(since),
            (true, false, _) => ClusterHealth::NoExecutors(now),
            (false, _, ClusterHealth::Unreachable(since)) => ClusterHealth::Unreachable(since),
            (false, _, _) => ClusterHealth::Unreachable(now),
        }
    }
}

/// An executor as the scheduler's REST API describes it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExecutorInfo {
    pub id: String,
    pub host: String,
    /// Its Flight port.
    pub port: u16,
    /// Milliseconds since the Unix epoch of its last heartbeat.
    pub last_seen: Option<u64>,
    pub specification: ExecutorSpecification,
    /// What it last reported of its memory.
    #[serde(default)]
    pub metrics: Vec<ExecutorMetric>,
}

/// One figure an executor reports with its heartbeat.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExecutorMetric {
    /// `proc_physical_memory`, `peak_physical_memory`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub value: u64,
}

impl ExecutorInfo {
    /// A figure it reported (`proc_physical_memory`, ...), in bytes.
    pub fn memory(&self, kind: &str) -> Option<u64> {
        self.metrics
            .iter()
            .find_map(|m| (m.kind == kind).then_some(m.value))
    }
}

/// What an executor offers.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExecutorSpecification {
    /// Its task slots.
    pub vcores: u32,
}

/// The scheduler, as far as running and stopping jobs is concerned.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    inner: Arc<ClusterInner>,
}

#[derive(Debug)]
struct ClusterInner {
    url: String,
    ready_url: String,
    /// `http(s)://host:port` of the scheduler's gRPC and REST services.
    base_url: String,
    executor_wait: Duration,
    http: reqwest::Client,
    membership: Option<Arc<Membership>>,
    health: watch::Sender<ClusterHealth>,
}

impl ClusterHandle {
    /// `url` is Ballista's `df://host:port`. A query fails with 53000 once
    /// the cluster has had no executor for `executor_wait`. Watches the
    /// scheduler's `/readyz` every second while any handle lives. With
    /// `membership`, the scheduler is reached over the cluster's mutual TLS.
    pub fn new(
        url: &str,
        executor_wait: Duration,
        membership: Option<Arc<Membership>>,
    ) -> Result<Self> {
        let mut http = reqwest::Client::builder().timeout(HEALTH_INTERVAL * 2);
        if let Some(membership) = &membership {
            http = http.use_preconfigured_tls(membership.client_config().as_ref().clone());
        }
        let http = http
            .build()
            .map_err(|e| StrataError::Internal(format!("cannot build an HTTP client: {e}")))?;
        let scheme = if membership.is_some() {
            "https"
        } else {
            "http"
        };
        let authority = url.trim_start_matches("df://");
        let inner = Arc::new(ClusterInner {
            url: url.to_owned(),
            ready_url: format!("{scheme}://{authority}/readyz"),
            base_url: format!("{scheme}://{authority}"),
            executor_wait,
            http,
            membership,
            health: watch::Sender::new(ClusterHealth::Ready),
        });
        tokio::spawn(watch_health(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// What the scheduler last said about its executors.
    pub fn health(&self) -> ClusterHealth {
        *self.inner.health.borrow()
    }

    /// A document of the scheduler's REST API (`/api/...`).
    async fn rest<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.inner.base_url);
        let unavailable = |e: reqwest::Error| StrataError::ClusterUnavailable(e.to_string());
        self.inner
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }

    /// The executors the scheduler has registered, from its REST API.
    pub async fn executors(&self) -> Result<Vec<ExecutorInfo>> {
        self.rest("/api/executors").await
    }

    /// Job `job_id` as the scheduler describes it: its status and stage count.
    pub async fn job(&self, job_id: &str) -> Result<JobResponse> {
        self.rest(&format!("/api/job/{job_id}")).await
    }

    /// The stages of job `job_id`, with their tasks and the plans of those
    /// that started annotated with their metrics.
    pub async fn job_stages(&self, job_id: &str) -> Result<Vec<QueryStageSummary>> {
        let stages: QueryStagesResponse = self
            .rest(&format!("/api/job/{job_id}/stages?plan_format=metrics"))
            .await?;
        Ok(stages.stages)
    }

    /// Asks the scheduler to cancel `job_id` and stop its running tasks.
    pub async fn cancel_job(&self, job_id: &str) -> Result<()> {
        let unavailable =
            |e: tonic::transport::Error| StrataError::ClusterUnavailable(e.to_string());
        let mut endpoint =
            Endpoint::from_shared(self.inner.base_url.clone()).map_err(unavailable)?;
        if let Some(membership) = &self.inner.membership {
            endpoint = membership.secure(endpoint).map_err(unavailable)?;
        }
        let channel = endpoint.connect().await.map_err(unavailable)?;
        let mut client = SchedulerGrpcClient::new(channel);
        client
            .cancel_job(CancelJobParams {
                job_id: job_id.to_owned(),
            })
            .await
            .map_err(|e| StrataError::ClusterUnavailable(e.message().to_owned()))?;
        Ok(())
    }

    /// Resolves once the cluster has been unable to run anything for
    /// `executor_wait`, with the error the query ends with.
    async fn unavailable(&self) -> StrataError {
        let wait = self.inner.executor_wait;
        let mut health = self.inner.health.subscribe();
        loop {
            let seen = *health.borrow_and_update();
            let Some(since) = seen.since() else {
                if health.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(since + wait) => {
                    // A fresh look: an executor may have joined since the
                    // last probe.
                    let now = self.inner.probe().await;
                    if now.since().is_some_and(|since| since + wait <= Instant::now()) {
                        return self.inner.unavailable_error(now);
                    }
                }
                changed = health.changed() => {
                    if changed.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

impl ClusterInner {
    /// Asks `/readyz` once and records the answer.
    async fn probe(&self) -> ClusterHealth {
        let (reachable, ready) = match self.http.get(&self.ready_url).send().await {
            Ok(response) => (true, response.status().is_success()),
            Err(_) => (false, false),
        };
        let mut current = ClusterHealth::Ready;
        self.health.send_if_modified(|health| {
            let next = health.next(reachable, ready, Instant::now());
            current = next;
            if next == *health {
                return false;
            }
            match next {
                ClusterHealth::Ready => tracing::info!("the cluster has executors"),
                ClusterHealth::NoExecutors(_) => tracing::warn!("the cluster has no executor"),
                ClusterHealth::Unreachable(_) => {
                    tracing::warn!(url = %self.ready_url, "the scheduler does not answer")
                }
            }
            *health = next;
            true
        });
        current
    }

    fn unavailable_error(&self, health: ClusterHealth) -> StrataError {
        let waited = self.executor_wait.as_secs();
        match health {
            ClusterHealth::Unreachable(_) => StrataError::ClusterUnavailable(format!(
                "the scheduler at {} has not answered for {waited}s",
                self.url.trim_start_matches("df://")
            )),
            _ => StrataError::NoExecutors { waited },
        }
    }
}

/// Probes the cluster every second while any handle lives.
async fn watch_health(inner: Weak<ClusterInner>) {
    while let Some(cluster) = inner.upgrade() {
        cluster.probe().await;
        drop(cluster);
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
}

/// Why a statement stopped early.
#[derive(Debug, Clone, Copy)]
enum StopReason {
    Cancelled,
    Timeout,
    Terminated,
}

impl StopReason {
    fn error(self) -> StrataError {
        match self {
            StopReason::Cancelled => StrataError::Cancelled,
            StopReason::Timeout => StrataError::StatementTimeout,
            StopReason::Terminated => StrataError::Terminated,
        }
    }
}

/// The stop signals one statement watches.
#[derive(Debug, Clone)]
pub struct QueryControl {
    token: CancellationToken,
    deadline: Option<Instant>,
    /// The statement's entry in the history, which gets its job id.
    entry: Option<(Arc<QueryHistory>, u64)>,
    /// The connection's token: a stop that comes from it ends the
    /// connection (`pg_terminate_backend`).
    connection: Option<CancellationToken>,
}

impl QueryControl {
    /// A control that stops on `token` or when `timeout` has passed.
    pub fn new(token: CancellationToken, timeout: Option<Duration>) -> Self {
        Self {
            token,
            deadline: timeout.map(|t| Instant::now() + t),
            entry: None,
            connection: None,
        }
    }

    /// The same control, told that a stop when `connection` is cancelled
    /// ends the connection rather than the statement.
    pub fn within_connection(self, connection: CancellationToken) -> Self {
        Self {
            connection: Some(connection),
            ..self
        }
    }

    /// The same control, recording the statement's job id as entry `id` of
    /// `history`.
    pub fn recorded_in(&self, history: Arc<QueryHistory>, id: u64) -> Self {
        Self {
            entry: Some((history, id)),
            ..self.clone()
        }
    }

    async fn stopped(&self) -> StopReason {
        let cancelled = async {
            self.token.cancelled().await;
            if self
                .connection
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled)
            {
                StopReason::Terminated
            } else {
                StopReason::Cancelled
            }
        };
        match self.deadline {
            Some(deadline) => tokio::select! {
                reason = cancelled => reason,
                _ = tokio::time::sleep_until(deadline) => StopReason::Timeout,
            },
            None => cancelled.await,
        }
    }

    /// Runs `work` (planning, DDL) unless the statement is stopped first.
    pub async fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            reason = self.stopped() => Err(reason.error()),
            result = work => result,
        }
    }

    /// Wraps a result stream so that a stop ends it with 57014 and cancels the
    /// Ballista job behind it.
    pub fn watch(
        &self,
        stream: SendableRecordBatchStream,
        plan: Arc<dyn ExecutionPlan>,
        cluster: ClusterHandle,
    ) -> SendableRecordBatchStream {
        let schema = stream.schema();
        let control = self.clone();
        // Only a Ballista job needs executors; a local plan runs regardless.
        let needs_executors = find_distributed(&plan).is_some();
        // The statement's span, which gets the job id once the scheduler
        // has accepted the job.
        let span = tracing::Span::current();
        let watched = futures::stream::unfold(Some((stream, !needs_executors)), move |state| {
            let control = control.clone();
            let plan = Arc::clone(&plan);
            let cluster = cluster.clone();
            let span = span.clone();
            async move {
                let (mut stream, mut announced) = state?;
                loop {
                    let error = tokio::select! {
                        biased;
                        reason = control.stopped() => reason.error(),
                        error = cluster.unavailable(), if needs_executors => error,
                        item = stream.next() => {
                            if !announced {
                                control.announce_job(&plan, &span);
                            }
                            return item.map(|item| (item, Some((stream, true))));
                        }
                        _ = tokio::time::sleep(JOB_ID_POLL), if !announced => {
                            announced = control.announce_job(&plan, &span);
                            continue;
                        }
                    };
                    stop_job(&plan, &mut stream, &cluster).await;
                    return Some((Err(DataFusionError::External(Box::new(error))), None));
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, watched))
    }
}

impl QueryControl {
    /// Records the id of `plan`'s Ballista job in the statement's span and
    /// history entry and logs it, once the scheduler has handed it out;
    /// false while it has not.
    fn announce_job(&self, plan: &Arc<dyn ExecutionPlan>, span: &tracing::Span) -> bool {
        let Some(job_id) = find_distributed(plan).and_then(|job| job.job_id()) else {
            return false;
        };
        span.record("job_id", tracing::field::display(&job_id));
        span.in_scope(|| tracing::info!(%job_id, "job submitted"));
        if let Some((history, id)) = &self.entry {
            history.set_job(*id, job_id.as_ref());
        }
        true
    }
}

/// Cancels the Ballista job of `plan`, if it has one. The job id arrives once
/// the scheduler accepted the job, so the stream is driven a little longer
/// when the stop came before that.
async fn stop_job(
    plan: &Arc<dyn ExecutionPlan>,
    stream: &mut SendableRecordBatchStream,
    cluster: &ClusterHandle,
) {
    let Some(job) = find_distributed(plan) else {
        return;
    };
    let deadline = Instant::now() + JOB_ID_WAIT;
    let job_id = loop {
        if let Some(id) = job.job_id() {
            break id;
        }
        if Instant::now() > deadline {
            tracing::warn!("a cancelled query's job id never arrived; it was not cancelled");
            return;
        }
        tokio::select! {
            item = stream.next() => {
                if item.is_none() {
                    // The job ended on its own.
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let job_id = job_id.to_string();
    match cluster.cancel_job(&job_id).await {
        Ok(()) => tracing::info!(%job_id, "cancelled job"),
        Err(e) => tracing::warn!(%job_id, error = %e, "could not cancel job"),
    }
}

fn find_distributed(plan: &Arc<dyn ExecutionPlan>) -> Option<&DistributedQuery> {
    if let Some(query) = plan.downcast_ref::<DistributedQuery>() {
        return Some(query);
    }
    plan.children().into_iter().find_map(find_distributed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_keeps_the_instant_trouble_began() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let ready = ClusterHealth::Ready;
        let empty = ready.next(true, false, t0);
        assert_eq!(empty, ClusterHealth::NoExecutors(t0));
        assert_eq!(empty.next(true, false, t1), ClusterHealth::NoExecutors(t0));
        assert_eq!(empty.next(false, false, t1), ClusterHealth::Unreachable(t1));
        assert_eq!(empty.next(true, true, t1), ClusterHealth::Ready);
        assert_eq!(ready.since(), None);
    }
}
