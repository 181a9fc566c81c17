//! Stops the tasks of jobs the scheduler has ended.
//!
//! Ballista cancels a job by asking each executor to abort the tasks the
//! scheduler has launched there, by task id. A task still waiting in the
//! executor's queue when that request arrives is not found, starts after, and
//! runs its whole stage — or sits in shuffle-fetch retries against the
//! deleted files of the cancelled job — holding a slot for seconds to
//! minutes. So each executor watches the jobs it runs: once a task of a job
//! has run a moment, the executor asks the scheduler every second whether the
//! job still runs. When the scheduler has ended it (cancelled, failed,
//! finished, or forgotten), the job's tasks here stop, and a task of it that
//! starts later stops at once.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ballista_core::JobId;
use ballista_core::serde::protobuf::GetJobStatusParams;
use ballista_core::serde::protobuf::job_status::Status;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use strata_connectors::membership::Membership;
use tonic::transport::{Channel, Endpoint};

use crate::stoppable::StageControl;

/// How long a task runs before its job is first checked: most tasks end
/// sooner and cost the scheduler nothing.
const FIRST_CHECK: Duration = Duration::from_millis(500);
/// How often a job with tasks running here is checked after that.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long an ended job is remembered, to stop its late tasks at once.
const REMEMBER_ENDED: Duration = Duration::from_secs(600);

/// The jobs this executor runs tasks of, watched against the scheduler.
pub(crate) struct JobWatch {
    scheduler: Channel,
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    /// Jobs with a watcher, and the tasks of each that may still run.
    running: HashMap<JobId, Vec<Weak<StageControl>>>,
    /// Jobs the scheduler has ended, and when that was seen.
    ended: HashMap<JobId, Instant>,
}

/// What the scheduler says of a job.
#[derive(Debug, PartialEq, Eq)]
enum JobState {
    Running,
    Ended,
    /// The scheduler did not answer; the job's tasks go on.
    Unknown,
}

impl JobWatch {
    /// Watches jobs against the scheduler at `host:port` (over the
    /// cluster's mutual TLS with `membership`); connects lazily and
    /// reconnects as needed.
    pub(crate) fn new(
        host: &str,
        port: u16,
        membership: Option<&Membership>,
    ) -> Result<Arc<Self>, tonic::transport::Error> {
        let scheme = if membership.is_some() {
            "https"
        } else {
            "http"
        };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}:{port}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(5));
        if let Some(membership) = membership {
            endpoint = membership.secure(endpoint)?;
        }
        Ok(Arc::new(Self {
            scheduler: endpoint.connect_lazy(),
            state: Mutex::new(WatchState::default()),
        }))
    }

    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching a task of `job_id`; stops it at once if the scheduler
    /// has already ended the job.
    pub(crate) fn watch(self: &Arc<Self>, job_id: &JobId, control: &Arc<StageControl>) {
        let mut state = self.state();
        if state.ended.contains_key(job_id) {
            control.stop.cancel();
            return;
        }
        let tasks = state.running.entry(job_id.clone()).or_default();
        tasks.push(Arc::downgrade(control));
        if tasks.len() == 1 {
            tokio::spawn(watch_job(Arc::downgrade(self), job_id.clone()));
        }
    }

    /// The tasks of `job_id` still running here, forgetting the job when none
    /// is left.
    fn live_tasks(&self, job_id: &JobId) -> Vec<Arc<StageControl>> {
        let mut state = self.state();
        let Some(tasks) = state.running.get_mut(job_id) else {
            return Vec::new();
        };
        tasks.retain(|task| task.upgrade().is_some_and(|task| task.is_live()));
        let live: Vec<_> = tasks.iter().filter_map(Weak::upgrade).collect();
        if live.is_empty() {
            state.running.remove(job_id);
        }
        live
    }

    /// Stops the job's tasks here and those that start later.
    fn end(&self, job_id: &JobId) {
        let mut state = self.state();
        let now = Instant::now();
        state
            .ended
            .retain(|_, seen| now.duration_since(*seen) < REMEMBER_ENDED);
        state.ended.insert(job_id.clone(), now);
        for task in state.running.remove(job_id).into_iter().flatten() {
            if let Some(task) = task.upgrade() {
                task.stop.cancel();
            }
        }
    }

    async fn job_state(&self, job_id: &JobId) -> JobState {
        let mut client = SchedulerGrpcClient::new(self.scheduler.clone());
        let request = GetJobStatusParams {
            job_id: job_id.to_string(),
        };
        match client.get_job_status(request).await {
            Ok(answer) => match answer.into_inner().status.and_then(|job| job.status) {
                Some(Status::Queued(_) | Status::Running(_)) => JobState::Running,
                Some(Status::Failed(_) | Status::Successful(_)) | None => JobState::Ended,
            },
            Err(e) => {
                tracing::debug!(%job_id, error = %e.message(), "cannot ask the scheduler about a job");
                JobState::Unknown
            }
        }
    }
}

/// Checks `job_id` while any of its tasks runs here.
async fn watch_job(watch: Weak<JobWatch>, job_id: JobId) {
    let mut wait = FIRST_CHECK;
    loop {
        tokio::time::sleep(wait).await;
        wait = CHECK_EVERY;
        let Some(watch) = watch.upgrade() else {
            return;
        };
        if watch.live_tasks(&job_id).is_empty() {
            return;
        }
        if watch.job_state(&job_id).await == JobState::Ended {
            let stopped = watch.live_tasks(&job_id).len();
            watch.end(&job_id);
            if stopped > 0 {
                tracing::info!(%job_id, tasks = stopped, "stopped the tasks of a job the scheduler has ended");
            }
            return;
        }
    }
}

impl StageControl {
    /// True until the task has ended or been stopped.
    fn is_live(&self) -> bool {
        !self.stop.is_cancelled() && !self.finished.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ballista_core::execution_plans::ShuffleWriterExec;
    use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::execution::{SendableRecordBatchStream, TaskContext};
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
    use datafusion::prelude::SessionConfig;

    use strata_connectors::sqlstate::{SqlState, sqlstate};

    use super::*;
    use crate::TaskCounters;
    use crate::stoppable::StoppableEngine;

    /// One partition whose rows never come, like a shuffle fetch retrying
    /// against deleted files.
    #[derive(Debug)]
    struct NeverEnds(SchemaRef);

    impl PartitionStream for NeverEnds {
        fn schema(&self) -> &SchemaRef {
            &self.0
        }

        fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.0),
                futures::stream::pending(),
            ))
        }
    }

    fn stage_plan(job_id: &JobId, work_dir: &str) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let input = StreamingTableExec::try_new(
            Arc::clone(&schema),
            vec![Arc::new(NeverEnds(schema))],
            None,
            Vec::<datafusion::physical_expr::LexOrdering>::new(),
            false,
            None,
        )
        .expect("a streaming plan");
        Arc::new(
            ShuffleWriterExec::try_new(job_id.clone(), 1, Arc::new(input), work_dir.to_owned())
                .expect("a shuffle writer"),
        )
    }

    /// A real scheduler that runs no job: every task of the job a stage
    /// claims stops, the running one within a few seconds, a later one at once.
    #[tokio::test(flavor = "multi_thread")]
    async fn tasks_of_a_job_the_scheduler_does_not_run_stop() {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let scheduler = strata_scheduler::start(addr, Default::default())
            .await
            .expect("a scheduler");
        let counters = Arc::new(TaskCounters::default());
        let engine = StoppableEngine::new(
            DefaultExecutionEngine::new(),
            Arc::clone(&counters),
            "127.0.0.1",
            scheduler.addr.port(),
            None,
        )
        .expect("an engine");
        let work_dir = tempfile::tempdir().expect("a work folder");
        let work_dir = work_dir.path().to_str().expect("a UTF-8 path");
        let job_id = JobId::new("ENDEDJOB");
        let context = Arc::new(TaskContext::default());
        let config = SessionConfig::new();

        let run_task = |task_id: usize, within: Duration| {
            let stage = engine
                .create_query_stage_exec(
                    job_id.clone(),
                    1,
                    task_id,
                    vec![0],
                    stage_plan(&job_id, work_dir),
                    work_dir,
                    &config,
                )
                .expect("a stage");
            let context = Arc::clone(&context);
            async move {
                tokio::time::timeout(within, stage.execute_query_stage(task_id, context)).await
            }
        };
        let started = Instant::now();
        let run = run_task(0, Duration::from_secs(10))
            .await
            .expect("the task stopped");
        let took = started.elapsed();
        let error = run.expect_err("a stopped task fails");
        assert_eq!(sqlstate(&error), SqlState::QUERY_CANCELED, "{error}");
        assert!(took < Duration::from_secs(3), "stopped after {took:?}");
        assert!(
            took >= FIRST_CHECK,
            "stopped before the first check: {took:?}"
        );
        no_task_runs(&counters).await;

        let run = run_task(1, Duration::from_millis(300))
            .await
            .expect("a late task of an ended job stops at once");
        assert!(run.is_err());
        no_task_runs(&counters).await;
        assert_eq!(counters.failed(), 2);
    }

    async fn no_task_runs(counters: &TaskCounters) {
        for _ in 0..100 {
            if counters.running() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} tasks still run", counters.running());
    }
}
