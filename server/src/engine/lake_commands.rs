//! The lake's maintenance statements: `DESCRIBE HISTORY` (a table's
//! commits), `OPTIMIZE` (small files compacted) and `VACUUM` (files no
//! retained version reads deleted).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::Field as ArrowField;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::TableReference;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::ast::ColumnDef;
use strata_connectors::lake::LakeError;
use strata_connectors::lake::alter;
use strata_connectors::lake::commit::Rewrite;
use strata_connectors::lake::maintenance;
use strata_connectors::lake::snapshot::LakeFile;
use strata_connectors::lake::write::DEFAULT_TARGET_FILE_SIZE;

use super::control::QueryControl;
use super::lake_syntax::LakeCommand;
use super::{CommandDone, Output, Session, rows};
use crate::error::{Result, StrataError};

/// The session variable that lets VACUUM keep less history than the table's
/// retention period (Delta's `retentionDurationCheck`).
const RETENTION_CHECK: &str = "strata.vacuum_retention_check";

/// The columns a lake command returns, if it returns rows.
pub fn columns(command: &LakeCommand) -> Option<SchemaRef> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    Some(Arc::new(Schema::new(match command {
        LakeCommand::History { .. } => vec![
            int("version"),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            text("operation"),
            text("operationParameters"),
            int("readVersion"),
            text("isolationLevel"),
            Field::new("isBlindAppend", DataType::Boolean, true),
            text("operationMetrics"),
            text("engineInfo"),
        ],
        LakeCommand::Optimize { .. } => vec![
            int("numFilesRemoved"),
            int("numFilesAdded"),
            int("numPartitionsOptimized"),
        ],
        LakeCommand::Vacuum { dry_run: true, .. } => vec![text("path")],
        LakeCommand::Vacuum { dry_run: false, .. } => vec![int("numDeletedFiles")],
        LakeCommand::AddColumns { .. }
        | LakeCommand::Comment { .. }
        | LakeCommand::CopyInto { .. } => return None,
    })))
}

impl Session {
    pub(super) async fn lake_command(
        &self,
        command: &LakeCommand,
        control: &QueryControl,
    ) -> Result<Output> {
        let values: Vec<ArrayRef> = match command {
            LakeCommand::CopyInto {
                table,
                from,
                format,
                pattern,
                format_options,
                copy_options,
            } => {
                let copy = super::lake_ingest::CopyInto {
                    table,
                    from,
                    format,
                    pattern: pattern.as_deref(),
                    format_options,
                    copy_options,
                };
                return self.copy_into(copy, control).await;
            }
            LakeCommand::AddColumns {
                table,
                columns,
                if_not_exists,
            } => {
                self.add_columns(table, columns, *if_not_exists).await?;
                return Ok(Output::Command(CommandDone::tag("ALTER TABLE")));
            }
            LakeCommand::Comment {
                table,
                column,
                comment,
            } => {
                let (url, qualified) = self.lake_location(table).await?;
                match column {
                    None => alter::set_comment(&qualified, &url, comment.clone()).await?,
                    Some(column) => {
                        alter::set_column_comment(&qualified, &url, column, comment.clone()).await?
                    }
                }
                return Ok(Output::Command(CommandDone::tag("COMMENT")));
            }
            LakeCommand::History { table, limit } => self.history(table, *limit).await?,
            LakeCommand::Optimize { table } => self.optimize(table, control).await?,
            LakeCommand::Vacuum {
                table,
                retain_hours,
                dry_run,
            } => {
                control
                    .run(self.vacuum(table, *retain_hours, *dry_run))
                    .await?
            }
        };
        let schema = columns(command)
            .ok_or_else(|| StrataError::Internal("a lake command without rows".to_owned()))?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), values)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(rows(schema, vec![batch]))
    }

    /// `ALTER TABLE ... ADD COLUMN`: the column types as DataFusion reads
    /// them in a CREATE TABLE.
    async fn add_columns(
        &self,
        table: &str,
        columns: &[ColumnDef],
        if_not_exists: bool,
    ) -> Result<()> {
        let (url, qualified) = self.lake_location(table).await?;
        let definition = format!(
            "CREATE TABLE strata_new_columns ({})",
            columns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let statement = DFParserBuilder::new(definition.as_str())
            .build()?
            .parse_statement()?;
        let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) =
            self.ctx.state().statement_to_plan(statement).await?
        else {
            return Err(StrataError::Internal(
                "column definitions did not plan".to_owned(),
            ));
        };
        let target = self
            .lake_target(&TableReference::from(table))
            .ok_or_else(|| StrataError::UndefinedTable(table.to_owned()))?;
        let existing = target
            .schema
            .lake_table(&target.table)
            .await?
            .map(|t| Arc::clone(&t.version.schema));
        let fields: Vec<ArrowField> = create
            .input
            .schema()
            .fields()
            .iter()
            .filter(|f| {
                !(if_not_exists
                    && existing
                        .as_ref()
                        .is_some_and(|s| s.field_with_name(f.name()).is_ok()))
            })
            .map(|f| f.as_ref().clone())
            .collect();
        if fields.is_empty() {
            return Ok(());
        }
        alter::add_columns(&qualified, &url, fields).await?;
        Ok(())
    }

    /// The folder of the lake table `name`, if there is such a table.
    async fn lake_location(&self, name: &str) -> Result<(url::Url, String)> {
        let reference = TableReference::from(name);
        let target = self
            .lake_target(&reference)
            .ok_or_else(|| StrataError::UndefinedTable(name.to_owned()))?;
        let qualified = target.qualified();
        let url = target.schema.table_url(&target.table)?;
        if !strata_connectors::lake::snapshot::exists(&url).await? {
            return Err(StrataError::UndefinedTable(qualified));
        }
        Ok((url, qualified))
    }

    async fn history(&self, name: &str, limit: Option<usize>) -> Result<Vec<ArrayRef>> {
        let (url, qualified) = self.lake_location(name).await?;
        let commits = maintenance::history(&qualified, &url, limit).await?;
        Ok(vec![
            Arc::new(Int64Array::from_iter_values(
                commits.iter().map(|c| c.version),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter(commits.iter().map(|c| c.timestamp))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter(
                commits.iter().map(|c| c.operation.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                commits.iter().map(|c| c.parameters.as_deref()),
            )),
            Arc::new(Int64Array::from_iter(
                commits.iter().map(|c| c.read_version),
            )),
            Arc::new(StringArray::from_iter(
                commits.iter().map(|c| c.isolation_level.as_deref()),
            )),
            Arc::new(BooleanArray::from_iter(
                commits.iter().map(|c| c.blind_append),
            )),
            Arc::new(StringArray::from_iter(
                commits.iter().map(|c| c.metrics.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                commits.iter().map(|c| c.engine.as_deref()),
            )),
        ])
    }

    /// Compacts each partition's files smaller than the target size into as
    /// few files as the target size allows, in one commit that changes no
    /// data (readers of any version see the same rows).
    async fn optimize(&self, name: &str, control: &QueryControl) -> Result<Vec<ArrayRef>> {
        let reference = TableReference::from(name);
        let target = self
            .lake_target(&reference)
            .ok_or_else(|| StrataError::UndefinedTable(name.to_owned()))?;
        let table = target
            .schema
            .lake_table(&target.table)
            .await?
            .ok_or_else(|| StrataError::UndefinedTable(target.qualified()))?;
        let mut by_partition: BTreeMap<String, Vec<&LakeFile>> = BTreeMap::new();
        for file in &table.version.files {
            if (file.size as u64) < DEFAULT_TARGET_FILE_SIZE {
                let key = serde_json::to_string(&file.partition_values).unwrap_or_default();
                by_partition.entry(key).or_default().push(file);
            }
        }
        let small: Vec<LakeFile> = by_partition
            .values()
            .filter(|files| files.len() > 1)
            .flat_map(|files| files.iter().map(|f| (*f).clone()))
            .collect();
        let partitions = by_partition.values().filter(|f| f.len() > 1).count() as i64;
        if small.is_empty() {
            return Ok(optimize_result(0, 0, 0));
        }
        let before: HashSet<String> = table.version.files.iter().map(|f| f.path.clone()).collect();
        let resolved = self.resolve(&reference);
        let name = TableReference::full(
            resolved.catalog.clone(),
            resolved.schema.clone(),
            resolved.table.clone(),
        );
        // The writer runs as one task for a compaction (see WriteSpec).
        let compacted = super::lake_dml::scan(&name, &table, &small)?.build()?;
        self.rewrite(&table, compacted, small.clone(), Rewrite::Optimize, control)
            .await?;
        let after = target
            .schema
            .lake_table(&target.table)
            .await?
            .map(|t| {
                t.version
                    .files
                    .iter()
                    .filter(|f| !before.contains(&f.path))
                    .count()
            })
            .unwrap_or(0);
        Ok(optimize_result(
            small.len() as i64,
            after as i64,
            partitions,
        ))
    }

    async fn vacuum(
        &self,
        name: &str,
        retain_hours: Option<f64>,
        dry_run: bool,
    ) -> Result<Vec<ArrayRef>> {
        let (url, qualified) = self.lake_location(name).await?;
        let enforce_retention = self
            .read_settings()
            .get(RETENTION_CHECK)
            .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "off" | "false" | "0"));
        let retention = match retain_hours {
            Some(hours) if !hours.is_finite() || hours < 0.0 => {
                return Err(StrataError::InvalidParameterValue(format!(
                    "RETAIN {hours} HOURS: the retention must be zero or more hours"
                )));
            }
            Some(hours) => Some(chrono::Duration::milliseconds((hours * 3_600_000.0) as i64)),
            None => None,
        };
        let how = maintenance::Vacuum {
            retention,
            enforce_retention,
            dry_run,
        };
        let files = maintenance::vacuum(&qualified, &url, how)
            .await
            .map_err(|e| match e {
                e @ LakeError::RetentionTooShort { .. } => {
                    StrataError::InvalidParameterValue(format!(
                        "{e}; when no statement writes to it, SET {RETENTION_CHECK} = off first"
                    ))
                }
                other => StrataError::Lake(other),
            })?;
        tracing::info!(table = %qualified, files = files.len(), dry_run, "vacuum");
        Ok(if dry_run {
            vec![Arc::new(StringArray::from(files))]
        } else {
            vec![Arc::new(Int64Array::from(vec![files.len() as i64]))]
        })
    }
}

fn optimize_result(removed: i64, added: i64, partitions: i64) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(vec![removed])),
        Arc::new(Int64Array::from(vec![added])),
        Arc::new(Int64Array::from(vec![partitions])),
    ]
}
