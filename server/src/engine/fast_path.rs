//! The fast path: a query whose inputs are small, by their statistics, runs
//! in the server's own DataFusion instead of as a Ballista job, sparing the
//! scheduler round trip and the stages that block until the job ends.
//! [`InProcessExec`] marks such a plan, so EXPLAIN says which path was taken.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
    StatisticsArgs, StatisticsContext,
};
use datafusion::prelude::SessionConfig;
use futures::StreamExt;
use strata_connectors::options::{FastPath, StrataOptions};

/// What a plan's leaves are estimated to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSize {
    pub rows: u64,
    /// `None` when a leaf does not know its bytes.
    pub bytes: Option<u64>,
}

/// The sum of the rows (and bytes) `plan`'s leaves expect to produce; `None`
/// if a leaf cannot say how many rows, which keeps a query on the cluster.
pub fn input_size(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<InputSize>> {
    let children = plan.children();
    if children.is_empty() {
        let statistics =
            StatisticsContext::default().compute(plan.as_ref(), &StatisticsArgs::new())?;
        let rows = match statistics.num_rows {
            Precision::Exact(n) | Precision::Inexact(n) => n as u64,
            Precision::Absent => return Ok(files_size(plan)),
        };
        let bytes = match statistics.total_byte_size {
            Precision::Exact(n) | Precision::Inexact(n) => Some(n as u64),
            Precision::Absent => None,
        };
        return Ok(Some(InputSize { rows, bytes }));
    }
    let mut total = InputSize {
        rows: 0,
        bytes: Some(0),
    };
    for child in children {
        let Some(size) = input_size(child)? else {
            return Ok(None);
        };
        total.rows = total.rows.saturating_add(size.rows);
        total.bytes = match (total.bytes, size.bytes) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
    }
    Ok(Some(total))
}

/// A file scan's size from its files' own statistics, when each file has
/// them: lake scans carry each file's row count from the Delta log per file
/// but none for the whole scan, which would steer Ballista's adaptive
/// planner, whose recovery from a lost executor is fragile, off the plans
/// the cluster tests prove.
fn files_size(plan: &Arc<dyn ExecutionPlan>) -> Option<InputSize> {
    let scan = plan.downcast_ref::<DataSourceExec>()?;
    let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
    let mut total = InputSize {
        rows: 0,
        bytes: Some(0),
    };
    for file in config.file_groups.iter().flat_map(|group| group.files()) {
        let rows = match file.statistics.as_ref()?.num_rows {
            Precision::Exact(n) | Precision::Inexact(n) => n as u64,
            Precision::Absent => return None,
        };
        total.rows = total.rows.saturating_add(rows);
        total.bytes = total.bytes.map(|b| b.saturating_add(file.object_meta.size));
    }
    Some(total)
}

/// Why `plan` (planned in the server) may run there, per the session's
/// `options`; `None` sends it to the cluster.
pub fn choose(options: &StrataOptions, plan: &Arc<dyn ExecutionPlan>) -> Result<Option<String>> {
    match options.fast_path {
        FastPath::Off => Ok(None),
        FastPath::On => Ok(Some("strata.fast_path = on".to_owned())),
        FastPath::Auto => {
            let Some(size) = input_size(plan)? else {
                return Ok(None);
            };
            let max_rows = options.fast_path_max_rows;
            let max_bytes = options.fast_path_max_bytes.0;
            let small = size.rows <= max_rows && size.bytes.is_none_or(|b| b <= max_bytes);
            Ok(small.then(|| {
                let bytes = size
                    .bytes
                    .map(|b| format!(", {b} bytes"))
                    .unwrap_or_default();
                format!(
                    "inputs of about {} rows{bytes}, under strata.fast_path_max_rows = {max_rows} \
                     and strata.fast_path_max_bytes = {}",
                    size.rows, options.fast_path_max_bytes
                )
            }))
        }
    }
}

/// The root of a query the server runs itself on the fast path; runs its
/// input with the settings it was planned with and tells EXPLAIN why it
/// runs here.
#[derive(Debug)]
pub struct InProcessExec {
    input: Arc<dyn ExecutionPlan>,
    reason: String,
    config: SessionConfig,
}

impl InProcessExec {
    /// `input` as planned with `config`.
    pub fn new(input: Arc<dyn ExecutionPlan>, reason: String, config: SessionConfig) -> Self {
        Self {
            input,
            reason,
            config,
        }
    }

    /// The line EXPLAIN shows for it.
    pub fn describe(reason: &str) -> String {
        format!("InProcessExec: fast path, runs in the server: {reason}")
    }
}

impl DisplayAs for InProcessExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Self::describe(&self.reason))
    }
}

impl ExecutionPlan for InProcessExec {
    fn name(&self) -> &str {
        "InProcessExec"
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
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(
                input,
                self.reason.clone(),
                self.config.clone(),
            ))),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "InProcessExec has one input".to_owned(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        // Operators read some settings again as they run, the session's
        // unless told otherwise: a hash join fills the dynamic filter it
        // pushed into a scan at planning only if the filters are still on
        // then (for jobs, the session has them off).
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            self.config.clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            context.runtime_env(),
        );
        self.input.execute(partition, Arc::new(context))
    }
}

/// The runtime fast-path queries compute on, apart from the one serving
/// connections: a query busy with its operators must not keep the server
/// from reading cancel requests or serving other sessions.
fn query_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("strata-query")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the query runtime's threads: {e}"))
    })
}

/// Runs `plan` on the query runtime; its batches come back through a small
/// channel. Dropping the stream stops the work.
pub fn execute_apart(
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> SendableRecordBatchStream {
    let schema = plan.schema();
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let work = query_runtime().spawn(async move {
        let mut stream = match execute_stream(plan, context) {
            Ok(stream) => stream,
            Err(e) => {
                let _ = sender.send(Err(e)).await;
                return;
            }
        };
        while let Some(item) = stream.next().await {
            if sender.send(item).await.is_err() {
                // The reader went away.
                return;
            }
        }
    });
    let abort = AbortOnDrop(work);
    let batches = futures::stream::unfold((receiver, abort), |(mut receiver, abort)| async move {
        let item = receiver.recv().await?;
        Some((item, (receiver, abort)))
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// Stops the query's work when its stream is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
