//! Top-N pushdown: `ORDER BY ... LIMIT n` over a PostgreSQL scan sends the
//! ordering and the limit with the query, so PostgreSQL returns n rows (per
//! slice) instead of the table. The sort stays above the scan, on n rows.
//!
//! Pushed for sort keys PostgreSQL orders as DataFusion does: integers,
//! numeric, booleans, dates, timestamps, and text compared by bytes
//! (`COLLATE "C"`), with the NULLS FIRST/LAST asked for. Not for floating
//! point (PostgreSQL orders -0 and 0 as equal) nor `char(n)`.

use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::datatypes::Schema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;

use super::sliced;
use super::table::PgScanExec;
use super::types::PgKind;
use super::{PgColumn, TextOrder, quote_ident};

/// The physical optimizer rule that pushes top-N sorts into PostgreSQL
/// scans.
#[derive(Debug, Default)]
pub struct PgTopN;

impl PhysicalOptimizerRule for PgTopN {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(limit) = sort.fetch() else {
                return Ok(Transformed::no(node));
            };
            let keys = sort
                .expr()
                .iter()
                .map(|key| {
                    let column = key.expr.downcast_ref::<Column>()?;
                    Some((column.index(), key.options))
                })
                .collect::<Option<Vec<_>>>();
            match keys.and_then(|keys| push(sort.input(), &keys, limit).transpose()) {
                Some(input) => Ok(Transformed::yes(replace_children_if_necessary(
                    Arc::clone(&node),
                    vec![input?],
                )?)),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "strata_postgres_top_n"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with the top-N of `keys` (output column index, order) pushed into
/// the PostgreSQL scan under it, looking through projections that pass the
/// key columns on; `None` if there is no such scan or an order cannot go.
fn push(
    plan: &Arc<dyn ExecutionPlan>,
    keys: &[(usize, SortOptions)],
    limit: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let Some(inner) = keys
            .iter()
            .map(|(index, options)| {
                let column = projection
                    .expr()
                    .get(*index)?
                    .expr
                    .downcast_ref::<Column>()?;
                Some((column.index(), *options))
            })
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        return match push(projection.input(), &inner, limit)? {
            Some(input) => Ok(Some(replace_children_if_necessary(
                Arc::clone(plan),
                vec![input],
            )?)),
            None => Ok(None),
        };
    }
    let schema = plan.schema();
    if let Some(scan) = plan.downcast_ref::<PgScanExec>() {
        return Ok(match order_by(keys, &schema, scan.columns()) {
            Some(order) if !scan.is_limited() => {
                Some(Arc::new(scan.clone().with_limit(Some(&order), limit)))
            }
            _ => None,
        });
    }
    Ok(sliced::with_top_n(
        plan,
        |columns| order_by(keys, &schema, columns),
        limit,
    ))
}

/// The ORDER BY list for `keys`, indices into `schema`, over a scan of
/// `columns`, if PostgreSQL orders every key as DataFusion does.
fn order_by(
    keys: &[(usize, SortOptions)],
    schema: &Schema,
    columns: &[PgColumn],
) -> Option<String> {
    keys.iter()
        .map(|(index, options)| {
            // By name: a scan may output fewer columns than it reads.
            let name = schema.fields().get(*index)?.name();
            let pg = columns.iter().find(|c| c.name == *name)?;
            let collate = match (&pg.kind, pg.text_order) {
                (
                    PgKind::Int2
                    | PgKind::Int4
                    | PgKind::Int8
                    | PgKind::Numeric { .. }
                    | PgKind::Bool
                    | PgKind::Date
                    | PgKind::Timestamp
                    | PgKind::TimestampTz,
                    _,
                ) => "",
                (PgKind::Text, TextOrder::Bytes | TextOrder::Equality) => " COLLATE \"C\"",
                _ => return None,
            };
            let direction = if options.descending { "DESC" } else { "ASC" };
            let nulls = if options.nulls_first { "FIRST" } else { "LAST" };
            Some(format!(
                "{}{collate} {direction} NULLS {nulls}",
                quote_ident(&pg.name)
            ))
        })
        .collect::<Option<Vec<_>>>()
        .map(|keys| keys.join(", "))
}
