//! DELETE, UPDATE, MERGE and TRUNCATE on lake tables, as copy-on-write
//! rewrites: one job finds the files holding rows the statement changes
//! (and counts the rows), a second rewrites just those files — keeping the
//! rows it does not change — through the lake's writer, and one commit
//! replaces them. A reader sees the table before or after, never between.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{
    DmlStatement, Expr, JoinType, LogicalPlan, LogicalPlanBuilder, MergeIntoAction,
    MergeIntoClauseKind, MergeIntoOp, TableScan, WriteOp, cast, col, is_not_true, is_true, lit,
    when,
};
use strata_connectors::lake::LakeError;
use strata_connectors::lake::commit::{CommitMode, Rewrite, commit};
use strata_connectors::lake::scan::FILE_COLUMN;
use strata_connectors::lake::snapshot::LakeFile;
use strata_connectors::lake::table::LakeTable;

use super::control::QueryControl;
use super::{CommandDone, Output, Session};
use crate::error::{Result, StrataError};

/// Marks the rows of each side of a MERGE's join.
const TARGET_ROW: &str = "__strata_target_row";
const SOURCE_ROW: &str = "__strata_source_row";
/// The MERGE clause a joined row takes (its position, from 1); 0 keeps a
/// target row as it is, -1 drops a source row no clause inserts.
const ACTION: &str = "__strata_action";

impl Session {
    /// Runs a DELETE, UPDATE, MERGE or TRUNCATE whose target is `table`.
    pub(super) async fn lake_dml(
        &self,
        dml: &DmlStatement,
        table: &LakeTable,
        control: &QueryControl,
    ) -> Result<Output> {
        if table.version.is_new() || table.only.is_some() || table.file_column {
            return Err(StrataError::Internal(
                "a DML target that is not a table".to_owned(),
            ));
        }
        match &dml.op {
            WriteOp::Truncate => {
                self.replace_all(table, Rewrite::Delete { predicate: None }, control)
                    .await?;
                Ok(Output::Command(CommandDone::tag("TRUNCATE TABLE")))
            }
            WriteOp::Delete => {
                let (name, predicate) = scan_filter(&dml.input)?;
                let Some(predicate) = predicate else {
                    let rows = self.rows_of(table, &name, control).await?;
                    self.replace_all(table, Rewrite::Delete { predicate: None }, control)
                        .await?;
                    return Ok(Output::Command(CommandDone::tag(format!("DELETE {rows}"))));
                };
                let (touched, rows) = self
                    .touched_files(table, &name, &predicate, control)
                    .await?;
                if rows > 0 {
                    let kept = scan(&name, table, &touched)?
                        .filter(is_not_true(predicate.clone()))?
                        .build()?;
                    let rewrite = Rewrite::Delete {
                        predicate: Some(sql_text(&predicate)),
                    };
                    self.rewrite(table, kept, touched, rewrite, control).await?;
                }
                Ok(Output::Command(CommandDone::tag(format!("DELETE {rows}"))))
            }
            WriteOp::Update => {
                let LogicalPlan::Projection(projection) = dml.input.as_ref() else {
                    return Err(update_not_supported());
                };
                let (name, predicate) = scan_filter(&projection.input)?;
                let (touched, rows) = match &predicate {
                    Some(p) => self.touched_files(table, &name, p, control).await?,
                    None => (
                        table.version.files.clone(),
                        self.rows_of(table, &name, control).await?,
                    ),
                };
                if rows > 0 {
                    let schema = table.version.schema.clone();
                    let columns = projection
                        .expr
                        .iter()
                        .zip(schema.fields())
                        .map(|(expr, field)| {
                            let value = expr.clone().unalias();
                            let old = Expr::Column(Column::new(Some(name.clone()), field.name()));
                            let new = match (&predicate, value == old) {
                                (_, true) => old,
                                (None, false) => value,
                                (Some(p), false) => {
                                    when(is_true(p.clone()), value).otherwise(old)?
                                }
                            };
                            Ok(new.alias(field.name()))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let updated = scan(&name, table, &touched)?.project(columns)?.build()?;
                    let rewrite = Rewrite::Update {
                        predicate: predicate.as_ref().map(sql_text),
                    };
                    self.rewrite(table, updated, touched, rewrite, control)
                        .await?;
                }
                Ok(Output::Command(CommandDone::tag(format!("UPDATE {rows}"))))
            }
            WriteOp::MergeInto(merge) => self.merge(dml, table, merge, control).await,
            other => Err(StrataError::NotSupported(format!(
                "{} on a lake table",
                other.name()
            ))),
        }
    }

    /// The rows of `table` (from its files' statistics, else counted).
    async fn rows_of(
        &self,
        table: &LakeTable,
        name: &TableReference,
        control: &QueryControl,
    ) -> Result<u64> {
        if let Some(rows) = table.version.rows() {
            return Ok(rows);
        }
        let plan = scan(name, table, &table.version.files)?
            .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("n")])?
            .build()?;
        let batches = self.collect(plan, control).await?;
        Ok(batches
            .iter()
            .filter_map(|b| b.column(0).as_primitive_opt::<Int64Type>())
            .flat_map(|a| a.iter().flatten())
            .sum::<i64>()
            .max(0) as u64)
    }

    /// The files holding rows for which `predicate` is true, and how many
    /// rows that is.
    async fn touched_files(
        &self,
        table: &LakeTable,
        name: &TableReference,
        predicate: &Expr,
        control: &QueryControl,
    ) -> Result<(Vec<LakeFile>, u64)> {
        let with_files = table.clone().with_files(true, None);
        let plan =
            LogicalPlanBuilder::scan(name.clone(), provider_as_source(Arc::new(with_files)), None)?
                .filter(predicate.clone())?
                .aggregate(vec![file_column(name)], vec![count(lit(1)).alias("n")])?
                .build()?;
        let batches = self.collect(plan, control).await?;
        let mut counts: HashMap<String, u64> = HashMap::new();
        for batch in &batches {
            let (files, rows) = file_counts(batch, 0, 1)?;
            for (file, n) in files.into_iter().zip(rows) {
                *counts.entry(file).or_default() += n;
            }
        }
        let rows = counts.values().sum();
        Ok((files_named(table, counts.keys()), rows))
    }

    async fn collect(&self, plan: LogicalPlan, control: &QueryControl) -> Result<Vec<RecordBatch>> {
        let (_, stream) = self.start(plan, control).await?;
        Ok(datafusion::physical_plan::common::collect(stream).await?)
    }

    /// Writes `rows` in place of `removed`, in one commit.
    pub(super) async fn rewrite(
        &self,
        table: &LakeTable,
        rows: LogicalPlan,
        removed: Vec<LakeFile>,
        rewrite: Rewrite,
        control: &QueryControl,
    ) -> Result<()> {
        let mode = CommitMode::Rewrite {
            removed,
            operation: rewrite,
        };
        self.write_lake(rows, table, mode, control).await?;
        Ok(())
    }

    /// Removes every file of `table` in one commit (TRUNCATE, DELETE
    /// without WHERE).
    async fn replace_all(
        &self,
        table: &LakeTable,
        rewrite: Rewrite,
        control: &QueryControl,
    ) -> Result<()> {
        let spec = table.commit_spec(CommitMode::Rewrite {
            removed: table.version.files.clone(),
            operation: rewrite,
        });
        control
            .run(async {
                commit(&spec, Vec::new(), 0)
                    .await
                    .map_err(StrataError::Lake)
            })
            .await?;
        Ok(())
    }

    /// MERGE INTO: one job decides each joined row's clause and finds the
    /// files holding target rows a clause changes; a second rewrites those
    /// files and writes the inserted rows.
    async fn merge(
        &self,
        dml: &DmlStatement,
        table: &LakeTable,
        merge: &MergeIntoOp,
        control: &QueryControl,
    ) -> Result<Output> {
        let name = dml.table_name.clone();
        let by_source = merge
            .clauses
            .iter()
            .any(|c| c.kind == MergeIntoClauseKind::NotMatchedBySource);
        let matched_clauses = merge
            .clauses
            .iter()
            .any(|c| c.kind == MergeIntoClauseKind::Matched);
        let inserting = merge.clauses.iter().any(|c| {
            matches!(
                c.kind,
                MergeIntoClauseKind::NotMatched | MergeIntoClauseKind::NotMatchedByTarget
            )
        });
        let action = action_expr(merge)?;

        // Which clause each row takes, by file.
        let with_files = table.clone().with_files(true, None);
        let target =
            LogicalPlanBuilder::scan(name.clone(), provider_as_source(Arc::new(with_files)), None)?
                .project(marked(&name, table, true))?
                .build()?;
        let joined = LogicalPlanBuilder::from(target)
            .join_on(
                marked_source(&dml.input)?,
                JoinType::Full,
                [merge.on.clone()],
            )?
            .project(vec![
                file_column(&name),
                action.clone().alias(ACTION),
                matched().alias("matched"),
            ])?
            .aggregate(
                vec![file_column(&name), col(ACTION), col("matched")],
                vec![count(lit(1)).alias("n")],
            )?
            .build()?;
        let batches = self.collect(joined, control).await?;
        let mut touched: HashSet<String> = HashSet::new();
        let (mut affected, mut pairs, mut inserts) = (0u64, 0u64, 0u64);
        for batch in &batches {
            let files = batch.column(0).as_string_opt::<i32>();
            let actions = batch.column(1).as_primitive_opt::<Int64Type>();
            let matched = batch.column(2).as_boolean_opt();
            let counts = batch.column(3).as_primitive_opt::<Int64Type>();
            let (Some(files), Some(actions), Some(matched), Some(counts)) =
                (files, actions, matched, counts)
            else {
                return Err(StrataError::Internal(
                    "MERGE analysis of the wrong shape".to_owned(),
                ));
            };
            for row in 0..batch.num_rows() {
                let n = counts.value(row).max(0) as u64;
                let action = actions.value(row);
                if matched.value(row) {
                    pairs += n;
                    // A source row that matches must meet its target row in
                    // the rewrite, or it would look unmatched there and be
                    // inserted: every file with a match is rewritten.
                    if inserting && files.is_valid(row) {
                        touched.insert(files.value(row).to_owned());
                    }
                }
                if action > 0 {
                    affected += n;
                    if files.is_valid(row) {
                        touched.insert(files.value(row).to_owned());
                    } else {
                        inserts += n;
                    }
                }
            }
        }
        if matched_clauses && pairs > 0 {
            let semi = LogicalPlanBuilder::scan(
                name.clone(),
                provider_as_source(Arc::new(table.clone())),
                None,
            )?
            .join_on(
                dml.input.as_ref().clone(),
                JoinType::LeftSemi,
                [merge.on.clone()],
            )?
            .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("n")])?
            .build()?;
            let matched_rows: i64 = self
                .collect(semi, control)
                .await?
                .iter()
                .filter_map(|b| b.column(0).as_primitive_opt::<Int64Type>())
                .flat_map(|a| a.iter().flatten())
                .sum();
            if pairs > matched_rows.max(0) as u64 {
                return Err(StrataError::Lake(LakeError::MergeCardinality(format!(
                    "{} source rows matched {matched_rows} rows of {}; each target row may be matched by one source row at most",
                    pairs, table.name
                ))));
            }
        }
        if touched.is_empty() && inserts == 0 {
            return Ok(Output::Command(CommandDone::tag("MERGE 0")));
        }
        let removed = files_named(table, touched.iter());
        let files = if by_source {
            // Rows no source row matches are decided too: every file counts.
            table.version.files.clone()
        } else {
            removed.clone()
        };
        let removed = if by_source { files.clone() } else { removed };
        let target = scan(&name, table, &files)?
            .project(marked(&name, table, false))?
            .build()?;
        let deleted: Vec<Expr> = merge
            .clauses
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.action, MergeIntoAction::Delete))
            .map(|(i, _)| lit(i as i64 + 1))
            .chain([lit(-1i64)])
            .collect();
        let columns = output_columns(&name, table, merge)?;
        let joined = LogicalPlanBuilder::from(target)
            .join_on(
                marked_source(&dml.input)?,
                JoinType::Full,
                [merge.on.clone()],
            )?
            .build()?;
        let mut with_action: Vec<Expr> = joined
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        with_action.push(action.alias(ACTION));
        let rows = LogicalPlanBuilder::from(joined)
            .project(with_action)?
            .filter(col(ACTION).in_list(deleted, true))?
            .project(columns)?
            .build()?;
        let rewrite = Rewrite::Merge {
            predicate: sql_text(&merge.on),
        };
        self.rewrite(table, rows, removed, rewrite, control).await?;
        Ok(Output::Command(CommandDone::tag(format!(
            "MERGE {affected}"
        ))))
    }
}

/// An expression as SQL, for the table's history.
fn sql_text(expr: &Expr) -> String {
    datafusion::sql::unparser::expr_to_sql(expr)
        .map(|sql| sql.to_string())
        .unwrap_or_else(|_| expr.to_string())
}

fn update_not_supported() -> StrataError {
    StrataError::NotSupported("UPDATE ... FROM on a lake table (use MERGE INTO)".to_owned())
}

/// The table scanned by a DELETE or UPDATE, and its WHERE.
fn scan_filter(plan: &LogicalPlan) -> Result<(TableReference, Option<Expr>)> {
    match plan {
        LogicalPlan::TableScan(TableScan { table_name, .. }) => Ok((table_name.clone(), None)),
        LogicalPlan::Filter(filter) => match filter.input.as_ref() {
            LogicalPlan::TableScan(TableScan { table_name, .. }) => {
                Ok((table_name.clone(), Some(filter.predicate.clone())))
            }
            _ => Err(update_not_supported()),
        },
        _ => Err(update_not_supported()),
    }
}

/// A scan of `files` of `table`, under `name`.
pub(super) fn scan(
    name: &TableReference,
    table: &LakeTable,
    files: &[LakeFile],
) -> Result<LogicalPlanBuilder> {
    let only: HashSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let provider = table.clone().with_files(false, Some(only));
    Ok(LogicalPlanBuilder::scan(
        name.clone(),
        provider_as_source(Arc::new(provider)),
        None,
    )?)
}

fn file_column(name: &TableReference) -> Expr {
    Expr::Column(Column::new(Some(name.clone()), FILE_COLUMN))
}

/// The files of `table` named `paths`.
fn files_named<'a>(table: &LakeTable, paths: impl Iterator<Item = &'a String>) -> Vec<LakeFile> {
    let wanted: HashSet<&String> = paths.collect();
    table
        .version
        .files
        .iter()
        .filter(|f| wanted.contains(&f.path))
        .cloned()
        .collect()
}

/// The file names and counts of a (file, count) result batch.
fn file_counts(batch: &RecordBatch, file: usize, n: usize) -> Result<(Vec<String>, Vec<u64>)> {
    let (Some(files), Some(counts)) = (
        batch.column(file).as_string_opt::<i32>(),
        batch.column(n).as_primitive_opt::<Int64Type>(),
    ) else {
        return Err(StrataError::Internal(
            "file counts of the wrong shape".to_owned(),
        ));
    };
    Ok((
        files
            .iter()
            .map(|f| f.unwrap_or_default().to_owned())
            .collect(),
        counts
            .iter()
            .map(|c| c.unwrap_or(0).max(0) as u64)
            .collect(),
    ))
}

/// The target's columns (with its file column when scanned with one) and
/// the marker of target rows.
fn marked(name: &TableReference, table: &LakeTable, with_file: bool) -> Vec<Expr> {
    let mut columns: Vec<Expr> = table
        .version
        .schema
        .fields()
        .iter()
        .map(|f| Expr::Column(Column::new(Some(name.clone()), f.name())))
        .collect();
    if with_file {
        columns.push(file_column(name));
    }
    columns.push(lit(true).alias(TARGET_ROW));
    columns
}

/// The MERGE's source with the marker of source rows.
fn marked_source(source: &LogicalPlan) -> Result<LogicalPlan> {
    let mut columns: Vec<Expr> = source
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    columns.push(lit(true).alias(SOURCE_ROW));
    Ok(LogicalPlanBuilder::from(source.clone())
        .project(columns)?
        .build()?)
}

fn matched() -> Expr {
    col(TARGET_ROW)
        .is_not_null()
        .and(col(SOURCE_ROW).is_not_null())
}

/// Which clause a joined row takes: the first of its kind whose condition
/// holds.
fn action_expr(merge: &MergeIntoOp) -> Result<Expr> {
    let target_only = col(SOURCE_ROW).is_null();
    let source_only = col(TARGET_ROW).is_null();
    let mut builder: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> = None;
    for (i, clause) in merge.clauses.iter().enumerate() {
        let kind = match clause.kind {
            MergeIntoClauseKind::Matched => matched(),
            MergeIntoClauseKind::NotMatched | MergeIntoClauseKind::NotMatchedByTarget => {
                source_only.clone()
            }
            MergeIntoClauseKind::NotMatchedBySource => target_only.clone(),
        };
        let condition = match &clause.predicate {
            Some(p) => kind.and(is_true(p.clone())),
            None => kind,
        };
        let then = lit(i as i64 + 1);
        builder = Some(match builder {
            None => when(condition, then),
            Some(mut b) => b.when(condition, then),
        });
    }
    let fallback = when(source_only, lit(-1i64)).otherwise(lit(0i64))?;
    match builder {
        Some(mut b) => Ok(b.otherwise(fallback)?),
        None => Ok(fallback),
    }
}

/// The target's columns after the clause each row takes.
fn output_columns(
    name: &TableReference,
    table: &LakeTable,
    merge: &MergeIntoOp,
) -> Result<Vec<Expr>> {
    let schema = &table.version.schema;
    schema
        .fields()
        .iter()
        .map(|field| {
            let old = Expr::Column(Column::new(Some(name.clone()), field.name()));
            let mut values: BTreeMap<i64, Expr> = BTreeMap::new();
            for (i, clause) in merge.clauses.iter().enumerate() {
                let value = match &clause.action {
                    MergeIntoAction::Update(assignments) => assignments
                        .iter()
                        .find(|(column, _)| column == field.name())
                        .map(|(_, value)| value.clone()),
                    MergeIntoAction::Insert { columns, values } => {
                        let position = if columns.is_empty() {
                            schema.index_of(field.name()).ok()
                        } else {
                            columns.iter().position(|c| c == field.name())
                        };
                        Some(match position.and_then(|p| values.get(p)) {
                            Some(value) => value.clone(),
                            None => Expr::Literal(ScalarValue::Null, None),
                        })
                    }
                    MergeIntoAction::Delete => None,
                };
                if let Some(value) = value {
                    values.insert(i as i64 + 1, value);
                }
            }
            let typed = |e: Expr| cast(e, field.data_type().clone());
            let mut cases = values.into_iter();
            let expr = match cases.next() {
                None => old,
                Some((first, value)) => {
                    let mut builder = when(col(ACTION).eq(lit(first)), typed(value));
                    for (clause, value) in cases {
                        builder.when(col(ACTION).eq(lit(clause)), typed(value));
                    }
                    builder.otherwise(old)?
                }
            };
            Ok(expr.alias(field.name()))
        })
        .collect()
}
