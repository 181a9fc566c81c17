//! Reading a large PostgreSQL table in parallel: the table's pages are cut
//! into ctid ranges (PostgreSQL 14 and later scan a ctid range directly),
//! and each range becomes one "file" of a `FileScanConfig`.
//!
//! Why files: Ballista 55 gives each task only its share of a leaf scan for
//! the scan types it knows, and file scans are one of them; any other leaf
//! with several partitions is read whole by every task (DESIGN.md). As a
//! `DataSourceExec` over a `FileScanConfig`, each task reads only its ranges.
//! The "files" name their range by index; the ranges themselves travel in
//! the plan with the query, through Strata's codec.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileOpenFuture, FileOpener, FileScanConfig, FileScanConfigBuilder, FileSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::source::PgSource;
use super::table::to_datafusion;
use super::{PgColumn, arrow_schema, quote_literal, read_query};

/// The path prefix of the "files" that stand for ranges.
const SLICE_PREFIX: &str = "strata-postgres-slice";

/// A query read in slices: each slice adds its predicate to `sql`'s WHERE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlicedSpec {
    pub source: PgSource,
    /// `SELECT ... FROM ...`, without WHERE.
    pub select: String,
    /// Conditions every slice applies (pushed filters), joined with AND.
    pub conditions: Vec<String>,
    /// One predicate per slice.
    pub slices: Vec<String>,
    pub columns: Vec<PgColumn>,
    /// A snapshot exported when the scan was planned, which every slice
    /// reads (`SET TRANSACTION SNAPSHOT`): all of them see the same rows.
    pub snapshot: Option<String>,
    /// `ORDER BY ... LIMIT n` each slice ends with (a pushed top-N).
    #[serde(default)]
    pub top_n: Option<String>,
}

impl SlicedSpec {
    /// The query slice `index` runs.
    pub fn slice_sql(&self, index: usize) -> Result<String> {
        let slice = self.slices.get(index).ok_or_else(|| {
            DataFusionError::Internal(format!("no slice {index} of {}", self.slices.len()))
        })?;
        let mut conditions = self.conditions.clone();
        conditions.push(slice.clone());
        let mut sql = format!("{} WHERE {}", self.select, conditions.join(" AND "));
        if let Some(top_n) = &self.top_n {
            sql.push(' ');
            sql.push_str(top_n);
        }
        Ok(sql)
    }
}

/// Predicates that cut `pages` pages into `count` ctid ranges; the last is
/// open-ended, so pages added since planning are read too.
pub fn ctid_slices(pages: u64, count: usize) -> Vec<String> {
    let count = count.max(1) as u64;
    let step = pages.div_ceil(count).max(1);
    (0..count)
        .map(|i| {
            let start = i * step;
            if i + 1 == count {
                format!("ctid >= '({start},0)'::tid")
            } else {
                format!(
                    "ctid >= '({start},0)'::tid AND ctid < '({},0)'::tid",
                    start + step
                )
            }
        })
        .collect()
}

/// Holds the transaction that exported a scan's snapshot open while the
/// planned scan lives (it keeps the snapshot importable), at most
/// [`SNAPSHOT_HOLD`].
#[derive(Debug)]
pub struct SnapshotGuard(tokio::task::JoinHandle<()>);

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The longest a planned scan keeps its snapshot's transaction open.
pub const SNAPSHOT_HOLD: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Opens a read-only repeatable-read transaction on `client` and exports
/// its snapshot; the transaction (and the connection) stays open until the
/// guard is dropped.
pub async fn export_snapshot(client: Client) -> Result<(String, SnapshotGuard)> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(|e| to_datafusion(e.into()))?;
    let row = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| to_datafusion(e.into()))?;
    let snapshot: String = row.get(0);
    let hold = tokio::spawn(async move {
        tokio::time::sleep(SNAPSHOT_HOLD).await;
        drop(client);
    });
    Ok((snapshot, SnapshotGuard(hold)))
}

/// The scan plan: one file group per slice. `guard` keeps the spec's
/// snapshot alive for as long as the plan.
pub fn sliced_scan(spec: SlicedSpec, guard: Option<SnapshotGuard>) -> Arc<dyn ExecutionPlan> {
    let groups: Vec<FileGroup> = (0..spec.slices.len())
        .map(|i| FileGroup::new(vec![PartitionedFile::new(format!("{SLICE_PREFIX}/{i}"), 0)]))
        .collect();
    sliced_scan_with_groups(spec, groups, guard.map(Arc::new))
}

/// The scan plan over `groups` (a task's share after Ballista cut it).
fn sliced_scan_with_groups(
    spec: SlicedSpec,
    groups: Vec<FileGroup>,
    guard: Option<Arc<SnapshotGuard>>,
) -> Arc<dyn ExecutionPlan> {
    let source = Arc::new(PgSliceSource::new(spec, guard));
    let config = FileScanConfigBuilder::new(local_url(), source)
        .with_file_groups(groups)
        .build();
    DataSourceExec::from_data_source(config)
}

/// The object store the "files" name; never read.
fn local_url() -> ObjectStoreUrl {
    ObjectStoreUrl::local_filesystem()
}

/// The spec and the slice indices of each group of a sliced scan, if `plan`
/// is one.
pub fn as_sliced(plan: &Arc<dyn ExecutionPlan>) -> Option<(SlicedSpec, Vec<Vec<usize>>)> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<PgSliceSource>()?;
    let groups = config
        .file_groups
        .iter()
        .map(|group| {
            group
                .iter()
                .filter_map(|file| slice_index(file.path().as_ref()))
                .collect()
        })
        .collect();
    Some((source.spec.as_ref().clone(), groups))
}

/// `plan`, a sliced scan, with each slice's query ending in `ORDER BY
/// order LIMIT limit`, where `order` is what `order_by` makes of its
/// columns; `None` if `plan` is no sliced scan, already has a top-N, or
/// `order_by` finds the order cannot be pushed.
pub fn with_top_n(
    plan: &Arc<dyn ExecutionPlan>,
    order_by: impl FnOnce(&[PgColumn]) -> Option<String>,
    limit: usize,
) -> Option<Arc<dyn ExecutionPlan>> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<PgSliceSource>()?;
    if source.spec.top_n.is_some() {
        return None;
    }
    let mut spec = source.spec.as_ref().clone();
    spec.top_n = Some(format!(
        "ORDER BY {} LIMIT {limit}",
        order_by(&spec.columns)?
    ));
    Some(sliced_scan_with_groups(
        spec,
        config.file_groups.clone(),
        source._snapshot.clone(),
    ))
}

/// Rebuilds a sliced scan from its spec and the slice indices per group.
pub fn from_sliced(spec: SlicedSpec, groups: Vec<Vec<usize>>) -> Arc<dyn ExecutionPlan> {
    let groups = groups
        .into_iter()
        .map(|indices| {
            FileGroup::new(
                indices
                    .into_iter()
                    .map(|i| PartitionedFile::new(format!("{SLICE_PREFIX}/{i}"), 0))
                    .collect(),
            )
        })
        .collect();
    sliced_scan_with_groups(spec, groups, None)
}

fn slice_index(path: &str) -> Option<usize> {
    path.strip_prefix(SLICE_PREFIX)?
        .trim_start_matches('/')
        .parse()
        .ok()
}

/// The file source that reads slices from PostgreSQL.
#[derive(Clone)]
pub struct PgSliceSource {
    spec: Arc<SlicedSpec>,
    /// Only on the node that planned the scan.
    _snapshot: Option<Arc<SnapshotGuard>>,
    table_schema: TableSchema,
    metrics: ExecutionPlanMetricsSet,
    batch_size: usize,
}

impl fmt::Debug for PgSliceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSliceSource")
            .field("source", &self.spec.source.name)
            .field("slices", &self.spec.slices.len())
            .finish_non_exhaustive()
    }
}

impl PgSliceSource {
    fn new(spec: SlicedSpec, snapshot: Option<Arc<SnapshotGuard>>) -> Self {
        let table_schema = TableSchema::from(arrow_schema(&spec.columns));
        Self {
            spec: Arc::new(spec),
            _snapshot: snapshot,
            table_schema,
            metrics: ExecutionPlanMetricsSet::new(),
            batch_size: 8192,
        }
    }
}

impl FileSource for PgSliceSource {
    fn create_file_opener(
        &self,
        _object_store: Arc<dyn ObjectStore>,
        _base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        Ok(Arc::new(PgSliceOpener {
            spec: Arc::clone(&self.spec),
            batch_size: self.batch_size,
            _snapshot: self._snapshot.clone(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut source = self.clone();
        source.batch_size = batch_size;
        Arc::new(source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "postgres"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn fmt_extra(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        // Every slice up to a few, else the first two and the last.
        const SHOWN: usize = 6;
        let slices = &self.spec.slices;
        let shown = if slices.len() <= SHOWN {
            slices.join("; ")
        } else {
            format!(
                "{}; {}; ...; {}",
                slices[0],
                slices[1],
                slices[slices.len() - 1]
            )
        };
        write!(
            f,
            ", source={}, sql={} WHERE {}<slice>{}, slices={}: [{shown}]",
            self.spec.source.name,
            self.spec.select,
            self.spec
                .conditions
                .iter()
                .map(|c| format!("{c} AND "))
                .collect::<String>(),
            self.spec
                .top_n
                .as_ref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default(),
            slices.len()
        )
    }

    /// The slices are the partitions; byte ranges mean nothing here.
    fn supports_repartitioning(&self) -> bool {
        false
    }

    fn repartitioned(
        &self,
        _target_partitions: usize,
        _repartition_file_min_size: usize,
        _output_ordering: Option<LexOrdering>,
        _config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        Ok(None)
    }
}

struct PgSliceOpener {
    spec: Arc<SlicedSpec>,
    batch_size: usize,
    /// The plan may be gone while its streams still open slices.
    _snapshot: Option<Arc<SnapshotGuard>>,
}

impl FileOpener for PgSliceOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let index = slice_index(file.path().as_ref()).ok_or_else(|| {
            DataFusionError::Internal(format!("{} is not a PostgreSQL slice", file.path()))
        })?;
        let sql = self.spec.slice_sql(index)?;
        let spec = Arc::clone(&self.spec);
        let batch_size = self.batch_size;
        Ok(Box::pin(async move {
            let client = spec
                .source
                .connect()
                .await
                .map_err(|e| to_datafusion(e.into()))?;
            if let Some(snapshot) = &spec.snapshot {
                client
                    .batch_execute(&format!(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                         SET TRANSACTION SNAPSHOT {}",
                        quote_literal(snapshot)
                    ))
                    .await
                    .map_err(|e| to_datafusion(e.into()))?;
            }
            let stream = read_query(Arc::new(client), sql, spec.columns.clone(), batch_size)
                .map_err(to_datafusion)
                .boxed();
            Ok(stream)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctid_ranges_cover_every_page_once() {
        assert_eq!(
            ctid_slices(10, 3),
            vec![
                "ctid >= '(0,0)'::tid AND ctid < '(4,0)'::tid",
                "ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid",
                "ctid >= '(8,0)'::tid",
            ]
        );
        assert_eq!(ctid_slices(0, 1), vec!["ctid >= '(0,0)'::tid"]);
        assert_eq!(slice_index("strata-postgres-slice/12"), Some(12));
    }
}
