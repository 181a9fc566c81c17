//! Makes running tasks stop when Ballista cancels them.
//!
//! Ballista cancels a task by aborting the future that runs it. Two things
//! kept cancelled work running anyway (measured: a cancelled join went on
//! using both cores for minutes):
//! - the shuffle writer drives its input in a task of its own, which an abort
//!   of the outer future leaves running to the end;
//! - a CPU-bound stage can run for long stretches without yielding, and an
//!   abort lands only when the aborted future yields.
//!
//! So every edge of a stage plan gets a [`StopExec`]: it spends tokio's task
//! budget on each batch (the stage yields regularly) and ends its stream with
//! an error once the stage is stopped, waking up to do so even while its input
//! waits. The stage is stopped when the future
//! running the stage is dropped, which is what an abort does.
//!
//! A task Ballista never found to cancel (it was still queued when the
//! cancel came) is stopped the same way once the scheduler says its job has
//! ended ([`crate::jobs`]).
//!
//! The same hooks count tasks for `/metrics`: a task counts as running until
//! its run has ended and every stream of its plan has been dropped, so the
//! count reaches zero only when a cancelled task's work has really stopped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use ballista_core::JobId;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream,
};
use datafusion::prelude::SessionConfig;
use futures::{Stream, StreamExt};
use strata_connectors::membership::Membership;
use strata_connectors::query_memory::{self, Budget, Budgets};
use strata_connectors::sqlstate::{SqlState, tag, tag_task_error};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::jobs::JobWatch;

/// What an executor's tasks have done, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct TaskCounters {
    running: AtomicUsize,
    started: AtomicU64,
    failed: AtomicU64,
    shuffle_bytes: AtomicU64,
    shuffle_rows: AtomicU64,
    spills: AtomicU64,
    spilled_bytes: AtomicU64,
    /// The executor's memory pool, as its first task found it.
    pool: std::sync::OnceLock<Arc<dyn datafusion::execution::memory_pool::MemoryPool>>,
}

impl TaskCounters {
    /// Tasks whose work is still running.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Tasks started since the executor started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Tasks that ended with an error, cancellations included.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Bytes of shuffle output tasks wrote.
    pub fn shuffle_bytes(&self) -> u64 {
        self.shuffle_bytes.load(Ordering::Relaxed)
    }

    /// Rows of shuffle output tasks wrote.
    pub fn shuffle_rows(&self) -> u64 {
        self.shuffle_rows.load(Ordering::Relaxed)
    }

    /// Times operators spilled to disk.
    pub fn spills(&self) -> u64 {
        self.spills.load(Ordering::Relaxed)
    }

    /// Bytes operators spilled to disk.
    pub fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes.load(Ordering::Relaxed)
    }

    /// Memory tasks hold in the executor's pool now; 0 before the first.
    pub fn memory_reserved(&self) -> u64 {
        self.pool.get().map_or(0, |pool| pool.reserved() as u64)
    }

    /// What a finished task did: its shuffle output and its operators'
    /// spills.
    fn record(&self, written: &[ShuffleWritePartition], metrics: &[MetricsSet]) {
        for partition in written {
            self.shuffle_bytes
                .fetch_add(partition.num_bytes, Ordering::Relaxed);
            self.shuffle_rows
                .fetch_add(partition.num_rows, Ordering::Relaxed);
        }
        for set in metrics {
            self.spills
                .fetch_add(set.spill_count().unwrap_or(0) as u64, Ordering::Relaxed);
            self.spilled_bytes
                .fetch_add(set.spilled_bytes().unwrap_or(0) as u64, Ordering::Relaxed);
        }
    }
}

/// One task's work; the task stops counting as running when the last clone
/// is dropped.
struct TaskLife(Arc<TaskCounters>);

impl TaskLife {
    fn begin(counters: &Arc<TaskCounters>) -> Self {
        counters.running.fetch_add(1, Ordering::Relaxed);
        counters.started.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(counters))
    }
}

impl Drop for TaskLife {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Shared by a stage's plan and its run: the stop signal, and the life of
/// the run in progress that the plan's streams keep alive.
#[derive(Default)]
pub(crate) struct StageControl {
    pub(crate) stop: CancellationToken,
    /// Set once the run has ended.
    pub(crate) finished: AtomicBool,
    life: Mutex<Option<Arc<TaskLife>>>,
}

impl fmt::Debug for StageControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageControl")
            .field("stopped", &self.stop.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// Ballista's execution engine with stoppable, counted stage plans, each
/// query's tasks held to its memory limit.
pub struct StoppableEngine {
    inner: DefaultExecutionEngine,
    counters: Arc<TaskCounters>,
    jobs: Arc<JobWatch>,
    budgets: Budgets,
}

impl StoppableEngine {
    /// Wraps `inner`, counting tasks in `counters` and stopping the tasks of
    /// jobs the scheduler at `scheduler_host:scheduler_port` has ended
    /// (asked over the cluster's mutual TLS with `membership`).
    pub fn new(
        inner: DefaultExecutionEngine,
        counters: Arc<TaskCounters>,
        scheduler_host: &str,
        scheduler_port: u16,
        membership: Option<&Membership>,
    ) -> std::result::Result<Self, tonic::transport::Error> {
        Ok(Self {
            inner,
            counters,
            jobs: JobWatch::new(scheduler_host, scheduler_port, membership)?,
            budgets: Budgets::default(),
        })
    }
}

impl ExecutionEngine for StoppableEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let control = Arc::new(StageControl::default());
        self.jobs.watch(&job_id, &control);
        let budget =
            query_memory::limit_of(config).map(|limit| self.budgets.for_job(&job_id, limit));
        let plan = with_stops(plan, &control)?;
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StoppableStage {
            inner,
            control,
            counters: Arc::clone(&self.counters),
            budget,
        }))
    }
}

/// Puts a [`StopExec`] on every edge of the plan.
fn with_stops(
    plan: Arc<dyn ExecutionPlan>,
    control: &Arc<StageControl>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if node.is::<StopExec>() {
            return Ok(Transformed::no(node));
        }
        let children: Vec<Arc<dyn ExecutionPlan>> = node.children().into_iter().cloned().collect();
        if children.is_empty() {
            return Ok(Transformed::no(node));
        }
        let children = children
            .into_iter()
            .map(|child| {
                if child.is::<StopExec>() {
                    child
                } else {
                    Arc::new(StopExec::new(child, Arc::clone(control))) as Arc<dyn ExecutionPlan>
                }
            })
            .collect();
        replace_children_if_necessary(node, children).map(Transformed::yes)
    })
    .map(|t| t.data)
}

/// Runs a stage; dropping the run (an abort) stops the stage.
struct StoppableStage {
    inner: Arc<dyn QueryStageExecutor>,
    control: Arc<StageControl>,
    counters: Arc<TaskCounters>,
    /// The query's memory budget on this executor, when it has a limit.
    budget: Option<Arc<Budget>>,
}

impl fmt::Debug for StoppableStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for StoppableStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// Ends a run: stops the plan's streams and lets go of the run's life, which
/// the streams still alive hold on to until they end.
struct EndOfRun(Arc<StageControl>);

impl Drop for EndOfRun {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Relaxed);
        self.0.stop.cancel();
        self.0.life.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StoppableStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let life = Arc::new(TaskLife::begin(&self.counters));
        *self.control.life.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&life));
        let _end = EndOfRun(Arc::clone(&self.control));
        self.counters
            .pool
            .get_or_init(|| Arc::clone(&context.runtime_env().memory_pool));
        let context = match &self.budget {
            Some(budget) => query_memory::within(&context, budget)?,
            None => context,
        };
        let result = self.inner.execute_query_stage(task_id, context).await;
        match &result {
            Ok(written) => self
                .counters
                .record(written, &self.inner.collect_plan_metrics()),
            Err(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        result.map_err(tag_task_error)
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}

/// Passes batches through, yielding to the runtime regularly and ending with
/// an error once its stage is stopped.
#[derive(Debug, Clone)]
pub struct StopExec {
    input: Arc<dyn ExecutionPlan>,
    control: Arc<StageControl>,
}

impl StopExec {
    fn new(input: Arc<dyn ExecutionPlan>, control: Arc<StageControl>) -> Self {
        Self { input, control }
    }
}

impl DisplayAs for StopExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StopExec")
    }
}

impl ExecutionPlan for StopExec {
    fn name(&self) -> &str {
        "StopExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "StopExec takes one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(StopExec::new(
            children.swap_remove(0),
            Arc::clone(&self.control),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let inner = self.input.execute(partition, context)?;
        let life = self
            .control
            .life
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(make_cooperative(Box::pin(StopStream {
            inner,
            stopped: Box::pin(self.control.stop.clone().cancelled_owned()),
            _life: life,
        })))
    }
}

struct StopStream {
    inner: SendableRecordBatchStream,
    /// Wakes the stream when the stage stops, even while its input waits
    /// (a shuffle fetch retrying against a cancelled job's deleted files).
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    _life: Option<Arc<TaskLife>>,
}

impl Stream for StopStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(DataFusionError::Execution(tag(
                SqlState::QUERY_CANCELED,
                "the task was stopped: its statement was cancelled or has ended",
            )))));
        }
        self.inner.poll_next_unpin(cx)
    }
}

impl RecordBatchStream for StopStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
