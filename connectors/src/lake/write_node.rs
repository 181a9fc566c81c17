//! The logical form of a lake write: its input's rows written into Parquet
//! files of a table, yielding one row per file ([`written_files_schema`]).
//! The server plans every write this way, runs it (as a Ballista job when
//! its input ships), and commits the files itself: the job has no stage
//! after the writers, so losing an executor can only re-run writers.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::write::{LakeWriteExec, WriteSpec, written_files_schema};

static FILES_SCHEMA: LazyLock<DFSchemaRef> = LazyLock::new(|| {
    Arc::new(DFSchema::try_from(written_files_schema()).unwrap_or_else(|_| DFSchema::empty()))
});

/// Writes its input into a lake table's files.
#[derive(Debug, Clone)]
pub struct LakeWriteNode {
    pub spec: WriteSpec,
    pub input: LogicalPlan,
}

impl PartialEq for LakeWriteNode {
    fn eq(&self, other: &Self) -> bool {
        self.spec.location == other.spec.location && self.input == other.input
    }
}

impl Eq for LakeWriteNode {}

impl PartialOrd for LakeWriteNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.spec
            .location
            .as_str()
            .partial_cmp(other.spec.location.as_str())
    }
}

impl Hash for LakeWriteNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.location.hash(state);
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for LakeWriteNode {
    fn name(&self) -> &str {
        "LakeWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &FILES_SCHEMA
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LakeWrite: table={}", self.spec.table)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LakeWrite takes one input".to_owned()))?;
        Ok(Self {
            spec: self.spec.clone(),
            input,
        })
    }
}

/// Plans [`LakeWriteNode`]s as [`LakeWriteExec`]s.
#[derive(Debug, Default)]
pub struct LakeWritePlanner;

#[async_trait]
impl ExtensionPlanner for LakeWritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<LakeWriteNode>() else {
            return Ok(None);
        };
        let input = crate::codec::one_input(physical_inputs)?;
        Ok(Some(Arc::new(LakeWriteExec::new(
            write.spec.clone(),
            input,
        ))))
    }
}

/// DataFusion's physical planner with Strata's plan nodes.
pub fn physical_planner() -> DefaultPhysicalPlanner {
    DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(LakeWritePlanner)])
}

/// `logical_plan` as a physical plan, by [`physical_planner`]. Where
/// DataFusion's sort enforcement leaves a sort-merge join's plan unsorted
/// (its sanity check refuses it: a join on a key a filter fixes, ordered by
/// another column, `does not satisfy order requirements`), the plan is made
/// again with a hash join, the one join whose plan is sound there.
pub async fn plan_physical(
    logical_plan: &LogicalPlan,
    session: &dyn Session,
) -> Result<Arc<dyn ExecutionPlan>> {
    let planner = physical_planner();
    let error = match planner.create_physical_plan(logical_plan, session).await {
        Ok(plan) => return Ok(plan),
        Err(e) => e,
    };
    let unsound_sort =
        matches!(&error, DataFusionError::Context(rule, _) if rule == "SanityCheckPlan");
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return Err(error);
    };
    if !unsound_sort || state.config().options().optimizer.prefer_hash_join {
        return Err(error);
    }
    let hash_joins = with_options(state, |options| {
        options.optimizer.prefer_hash_join = true;
        Ok(())
    })?;
    tracing::debug!(error = %error, "planning again with hash joins");
    planner
        .create_physical_plan(logical_plan, &hash_joins)
        .await
        .map_err(|_| error)
}

/// `state` with its configuration changed by `change`.
pub fn with_options(
    state: &SessionState,
    change: impl FnOnce(&mut ConfigOptions) -> Result<()>,
) -> Result<SessionState> {
    let mut config = state.config().clone();
    change(config.options_mut())?;
    Ok(SessionStateBuilder::new_from_existing(state.clone())
        .with_config(config)
        .build())
}

/// The query planner every node's session state uses: DataFusion's, with
/// Strata's plan nodes.
#[derive(Debug, Default)]
pub struct StrataQueryPlanner;

#[async_trait]
impl QueryPlanner for StrataQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan_physical(logical_plan, session).await
    }
}
