//! Where a query runs: in the server, or as a Ballista job.
//!
//! Statements that read only pg_catalog, information_schema or nothing at all
//! (`SELECT 1`, `SELECT version()`, a client's catalog queries) are planned and
//! run in the server: Ballista cannot ship pg_catalog's in-memory tables, and a
//! job costs a scheduler round trip. So do queries whose inputs are small by
//! their statistics (the fast path, `strata.fast_path`). Everything else
//! becomes a `DistributedQueryExec` that submits the logical plan to the
//! scheduler.

use std::sync::Arc;

use ballista_core::execution_plans::{DistributedExplainAnalyzeExec, DistributedQueryExec};
use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::Session;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::display::{PlanType, StringifiedPlan};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ExecutionOptions;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::listing::ListingTable;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{LogicalPlan, TableScan, TableSource};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::explain::ExplainExec;
use datafusion_proto::protobuf::LogicalPlanNode;
use strata_connectors::codec::logical_codec;
use strata_connectors::lake::ingest::IngestTable;
use strata_connectors::lake::table::LakeTable;
use strata_connectors::lake::write_node::{plan_physical, with_options};
use strata_connectors::options::{FastPath, StrataOptions};
use strata_connectors::postgres::table::PgTable;

use super::fast_path::{self, InProcessExec};

/// The job type every distributed query becomes.
pub type DistributedQuery = DistributedQueryExec<LogicalPlanNode>;

/// Plans local queries in the server and the rest as Ballista jobs.
#[derive(Debug)]
pub struct RoutingQueryPlanner {
    scheduler_url: String,
}

impl RoutingQueryPlanner {
    pub fn new(scheduler_url: String) -> Self {
        Self { scheduler_url }
    }
}

/// True if `plan` should run in the server: it reads no table a Ballista job
/// can ship (pg_catalog, information_schema, table functions, constants), or
/// it also reads one that cannot be shipped, which only the server can run.
pub fn runs_locally(plan: &LogicalPlan) -> Result<bool> {
    let (mut shippable, mut local_only) = (false, false);
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(TableScan { source, .. }) = node {
            if ships(source) {
                shippable = true;
            } else {
                local_only = true;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(!shippable || local_only)
}

/// Table providers whose scans travel to executors: the ones Ballista
/// serialises natively and Strata's own.
fn ships(source: &Arc<dyn TableSource>) -> bool {
    source_as_provider(source).is_ok_and(|provider| {
        provider.is::<ListingTable>()
            || provider.is::<ViewTable>()
            || provider.is::<EmptyTable>()
            || provider.is::<PgTable>()
            || provider.is::<LakeTable>()
            || provider.is::<IngestTable>()
    })
}

#[async_trait::async_trait]
impl QueryPlanner for RoutingQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if runs_locally(logical_plan)? {
            return plan_physical(logical_plan, session_state).await;
        }
        if let Some(plan) = fast_path(logical_plan, session_state).await? {
            return Ok(plan);
        }
        let config = session_state.config().ballista_config();
        let session_id = session_state.session_id().to_owned();
        match logical_plan {
            LogicalPlan::Analyze(analyze) => {
                let query = Arc::new(DistributedQuery::with_extension(
                    self.scheduler_url.clone(),
                    config,
                    analyze.input.as_ref().clone(),
                    logical_codec(),
                    session_id,
                ));
                Ok(Arc::new(DistributedExplainAnalyzeExec::new(
                    query,
                    self.scheduler_url.clone(),
                    Arc::clone(analyze.schema.inner()),
                    analyze.verbose,
                )))
            }
            plan => Ok(Arc::new(DistributedQuery::with_extension(
                self.scheduler_url.clone(),
                config,
                plan.clone(),
                logical_codec(),
                session_id,
            ))),
        }
    }
}

/// `logical_plan` planned to run in the server, if its inputs are small
/// enough for the session's fast path; `None` sends it to the cluster.
/// EXPLAIN and EXPLAIN ANALYZE show [`InProcessExec`] at the top of such a
/// plan.
async fn fast_path(
    logical_plan: &LogicalPlan,
    session_state: &dyn Session,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let options = session_state
        .config()
        .options()
        .extensions
        .get::<StrataOptions>()
        .cloned()
        .unwrap_or_default();
    if options.fast_path == FastPath::Off {
        return Ok(None);
    }
    let query = match logical_plan {
        LogicalPlan::Explain(explain) => explain.plan.as_ref(),
        LogicalPlan::Analyze(analyze) => analyze.input.as_ref(),
        plan => plan,
    };
    let local_state = in_process(session_state);
    let session_state: &dyn Session = match &local_state {
        Some(state) => state,
        None => session_state,
    };
    // A plan the server cannot make goes to the cluster, which reports
    // the error if it is the query's own.
    let local = match plan_physical(query, session_state).await {
        Ok(local) => local,
        Err(e) => {
            tracing::debug!(error = %e, "no fast path: the server cannot plan the query");
            return Ok(None);
        }
    };
    let Some(reason) = fast_path::choose(&options, &local)? else {
        return Ok(None);
    };
    let plan: Arc<dyn ExecutionPlan> = match logical_plan {
        LogicalPlan::Explain(_) => {
            let explained = plan_physical(logical_plan, session_state).await?;
            marked_explain(explained, &reason)
        }
        LogicalPlan::Analyze(analyze) => Arc::new(
            AnalyzeExec::builder(
                analyze.verbose,
                false,
                Arc::new(InProcessExec::new(
                    local,
                    reason,
                    session_state.config().clone(),
                )),
                Arc::clone(analyze.schema.inner()),
            )
            .build(),
        ),
        _ => Arc::new(InProcessExec::new(
            local,
            reason,
            session_state.config().clone(),
        )),
    };
    Ok(Some(plan))
}

/// The session as a plan run in one process may use it: with DataFusion's
/// hash joins and dynamic filters, which Ballista turns off for jobs (a hash
/// join cannot spill on an executor; a dynamic filter cannot cross stages).
/// `None` if the session is not a [`SessionState`].
fn in_process(session: &dyn Session) -> Option<SessionState> {
    let state = session.as_any().downcast_ref::<SessionState>()?;
    with_options(state, |options| {
        options.optimizer.prefer_hash_join = true;
        // Measured on TPC-H SF1 with 2 cores (bench/tpch.py, DataFusion
        // in-process with each change): twice as many partitions as cores
        // keeps them busy while a partition waits on its input (0.94 of the
        // time), batches of 16K rows (0.94), and one shared hash table for a
        // build side of up to 16MB or 1M rows rather than repartitioning
        // both sides (0.93; q18 0.5); all three 0.88.
        // A session's own choice of either stands.
        let defaults = ExecutionOptions::default();
        if options.execution.target_partitions == defaults.target_partitions {
            options.execution.target_partitions = 2 * defaults.target_partitions;
        }
        if usize::from(options.execution.batch_size) == usize::from(defaults.batch_size) {
            options.set("datafusion.execution.batch_size", "16384")?;
        }
        options.optimizer.hash_join_single_partition_threshold = 16 * 1024 * 1024;
        options.optimizer.hash_join_single_partition_threshold_rows = 1024 * 1024;
        // Also turns on the join, TopK and aggregate filters it governs.
        options.set(
            "datafusion.optimizer.enable_dynamic_filter_pushdown",
            "true",
        )
    })
    .ok()
}

/// An EXPLAIN of a plan on the fast path, its physical plans headed by the
/// InProcessExec line the plan runs under.
fn marked_explain(plan: Arc<dyn ExecutionPlan>, reason: &str) -> Arc<dyn ExecutionPlan> {
    let Some(explain) = plan.downcast_ref::<ExplainExec>() else {
        return plan;
    };
    let header = InProcessExec::describe(reason);
    let plans = explain
        .stringified_plans()
        .iter()
        .map(|stringified| {
            if !matches!(
                stringified.plan_type,
                PlanType::FinalPhysicalPlan
                    | PlanType::FinalPhysicalPlanWithStats
                    | PlanType::FinalPhysicalPlanWithSchema
            ) {
                return stringified.clone();
            }
            let indented: String = stringified
                .plan
                .lines()
                .map(|line| format!("  {line}\n"))
                .collect();
            StringifiedPlan::new(
                stringified.plan_type.clone(),
                format!("{header}\n{indented}"),
            )
        })
        .collect();
    Arc::new(ExplainExec::new(explain.schema(), plans, explain.verbose()))
}
