//! Stopping a statement: a client's cancel request, `statement_timeout`, or
//! the connection going away. Stopping means stopping the work too: a Ballista
//! job is cancelled on the scheduler, not merely abandoned (dropping the
//! result stream would leave it running).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::planner::DistributedQuery;
use crate::error::{Result, StrataError};

/// How long a cancelled job may take to reveal its id before we give up on
/// telling the scheduler.
const JOB_ID_WAIT: Duration = Duration::from_secs(5);

/// The scheduler, as far as stopping jobs is concerned.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    url: String,
}

impl ClusterHandle {
    /// `url` is Ballista's `df://host:port`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn grpc_url(&self) -> String {
        format!("http://{}", self.url.trim_start_matches("df://"))
    }

    /// Asks the scheduler to cancel `job_id` and stop its running tasks.
    pub async fn cancel_job(&self, job_id: &str) -> Result<()> {
        let mut client = SchedulerGrpcClient::connect(self.grpc_url())
            .await
            .map_err(|e| StrataError::ClusterUnavailable(e.to_string()))?;
        client
            .cancel_job(CancelJobParams {
                job_id: job_id.to_owned(),
            })
            .await
            .map_err(|e| StrataError::ClusterUnavailable(e.message().to_owned()))?;
        Ok(())
    }
}

/// Why a statement stopped early.
#[derive(Debug, Clone, Copy)]
enum StopReason {
    Cancelled,
    Timeout,
}

impl StopReason {
    fn error(self) -> StrataError {
        match self {
            StopReason::Cancelled => StrataError::Cancelled,
            StopReason::Timeout => StrataError::StatementTimeout,
        }
    }
}

/// The stop signals one statement watches.
#[derive(Debug, Clone)]
pub struct QueryControl {
    token: CancellationToken,
    deadline: Option<Instant>,
}

impl QueryControl {
    /// A control that stops on `token` or when `timeout` has passed.
    pub fn new(token: CancellationToken, timeout: Option<Duration>) -> Self {
        Self {
            token,
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    async fn stopped(&self) -> StopReason {
        match self.deadline {
            Some(deadline) => tokio::select! {
                _ = self.token.cancelled() => StopReason::Cancelled,
                _ = tokio::time::sleep_until(deadline) => StopReason::Timeout,
            },
            None => {
                self.token.cancelled().await;
                StopReason::Cancelled
            }
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
        cluster: super::control::ClusterHandle,
    ) -> SendableRecordBatchStream {
        let schema = stream.schema();
        let control = self.clone();
        let watched = futures::stream::unfold(Some(stream), move |state| {
            let control = control.clone();
            let plan = Arc::clone(&plan);
            let cluster = cluster.clone();
            async move {
                let mut stream = state?;
                tokio::select! {
                    biased;
                    reason = control.stopped() => {
                        stop_job(&plan, &mut stream, &cluster).await;
                        let error = DataFusionError::External(Box::new(reason.error()));
                        Some((Err(error), None))
                    }
                    item = stream.next() => item.map(|item| (item, Some(stream))),
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, watched))
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
