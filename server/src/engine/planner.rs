//! Where a query runs: in the server, or as a Ballista job.
//!
//! Statements that read only pg_catalog, information_schema or nothing at all
//! (`SELECT 1`, `SELECT version()`, a client's catalog queries) are planned and
//! run in the server: Ballista cannot ship pg_catalog's in-memory tables, and a
//! job costs a scheduler round trip. Everything else becomes a
//! `DistributedQueryExec` that submits the logical plan to the scheduler.

use std::sync::Arc;

use ballista_core::execution_plans::{DistributedExplainAnalyzeExec, DistributedQueryExec};
use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::Session;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::listing::ListingTable;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{LogicalPlan, TableScan, TableSource};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::PhysicalPlanner;
use datafusion_proto::protobuf::LogicalPlanNode;
use strata_connectors::codec::logical_codec;
use strata_connectors::lake::ingest::IngestTable;
use strata_connectors::lake::table::LakeTable;
use strata_connectors::lake::write_node::physical_planner;
use strata_connectors::postgres::table::PgTable;

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
            return physical_planner()
                .create_physical_plan(logical_plan, session_state)
                .await;
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
