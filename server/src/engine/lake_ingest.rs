//! `COPY INTO`: files loaded into a lake table, as Databricks does it. Files
//! already loaded are skipped (each row names its file in `_source_file`,
//! so what the table holds says what was loaded, in the same commit that
//! added it); rows get `_ingested_at`. A table that does not exist yet is
//! created from the files' columns.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit};
use strata_connectors::lake::alter;
use strata_connectors::lake::commit::CommitMode;
use strata_connectors::lake::ingest::{
    INGESTED_AT, IngestFormat, IngestTable, SOURCE_FILE, list_files,
};
use strata_connectors::lake::table::LakeTable;
use strata_connectors::session::DEFAULT_CATALOG;

use super::control::QueryControl;
use super::lake::LakeCreate;
use super::{CommandDone, Output, Session};
use crate::error::{Result, StrataError};

/// The name the files are read under in the load's plan.
const FILES: &str = "copy_into_files";

/// What a `COPY INTO` asks for.
#[derive(Debug)]
pub struct CopyInto<'a> {
    pub table: &'a str,
    pub from: &'a str,
    pub format: &'a str,
    pub pattern: Option<&'a str>,
    pub format_options: &'a [(String, String)],
    pub copy_options: &'a [(String, String)],
}

impl Session {
    pub(super) async fn copy_into(
        &self,
        copy: CopyInto<'_>,
        control: &QueryControl,
    ) -> Result<Output> {
        let reference = TableReference::from(copy.table);
        let target = self.lake_target(&reference).ok_or_else(|| {
            StrataError::UndefinedSchema(self.resolve(&reference).schema.to_string())
        })?;
        let format = ingest_format(copy.format, copy.format_options)?;
        let (mut force, mut merge_schema) = (false, false);
        for (key, value) in copy.copy_options {
            match key.as_str() {
                "force" => force = flag(key, value)?,
                "mergeschema" => merge_schema = flag(key, value)?,
                other => {
                    return Err(StrataError::InvalidParameterValue(format!(
                        "unknown COPY_OPTIONS option \"{other}\" (force, mergeSchema)"
                    )));
                }
            }
        }
        let files = control
            .run(async { Ok(list_files(copy.from, copy.pattern).await?) })
            .await?;
        let existing = target.schema.lake_table(&target.table).await?;
        let name =
            TableReference::full(DEFAULT_CATALOG, target.schema.name(), target.table.as_str());
        let loaded = match &existing {
            Some(table) if !force && table.version.schema.field_with_name(SOURCE_FILE).is_ok() => {
                self.loaded_files(&name, table, control).await?
            }
            _ => HashSet::new(),
        };
        let new: Vec<_> = files
            .into_iter()
            .filter(|f| !loaded.contains(f.url.as_str()))
            .collect();
        if new.is_empty() {
            return Ok(Output::Command(CommandDone::tag("COPY 0")));
        }
        let count = new.len();
        let source = IngestTable::infer(&self.ctx.state(), format, new).await?;
        let file_schema = Arc::clone(&source.file_schema);
        let files_plan =
            LogicalPlanBuilder::scan(FILES, provider_as_source(Arc::new(source)), None)?;
        let now = chrono::Utc::now().timestamp_micros();
        let ingested_at = lit(ScalarValue::TimestampMicrosecond(
            Some(now),
            Some("UTC".into()),
        ))
        .alias(INGESTED_AT);
        let file_column = |name: &str| Expr::Column(Column::new(Some(FILES), name));
        let rows = match existing {
            None => {
                let mut columns: Vec<Expr> = file_schema
                    .fields()
                    .iter()
                    .map(|f| file_column(f.name()))
                    .collect();
                columns.push(file_column(SOURCE_FILE));
                columns.push(ingested_at);
                let input = files_plan.project(columns)?.build()?;
                let mut fields: Vec<Field> = file_schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                fields.push(Field::new(SOURCE_FILE, DataType::Utf8, true));
                fields.push(Field::new(
                    INGESTED_AT,
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ));
                self.create_lake_table_from(
                    &target,
                    Schema::new(fields),
                    LakeCreate::default(),
                    Some(input),
                    control,
                )
                .await?
                .unwrap_or(0)
            }
            Some(mut table) => {
                let extra: Vec<Field> = file_schema
                    .fields()
                    .iter()
                    .filter(|f| table.version.schema.field_with_name(f.name()).is_err())
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                if !extra.is_empty() {
                    if !merge_schema {
                        let names: Vec<&str> = extra.iter().map(|f| f.name().as_str()).collect();
                        return Err(StrataError::Lake(
                            strata_connectors::lake::LakeError::UndefinedColumn {
                                table: target.qualified(),
                                column: format!(
                                    "{} (the files have it; COPY_OPTIONS ('mergeSchema' = 'true') adds it)",
                                    names.join("\", \"")
                                ),
                            },
                        ));
                    }
                    let url = target.schema.table_url(&target.table)?;
                    alter::add_columns(&target.qualified(), &url, extra).await?;
                    table = target
                        .schema
                        .lake_table(&target.table)
                        .await?
                        .ok_or_else(|| StrataError::UndefinedTable(target.qualified()))?;
                }
                let columns: Vec<Expr> = table
                    .version
                    .schema
                    .fields()
                    .iter()
                    .map(|field| {
                        let value = if field.name() == INGESTED_AT {
                            ingested_at.clone().unalias()
                        } else if field.name() == SOURCE_FILE
                            || file_schema.field_with_name(field.name()).is_ok()
                        {
                            file_column(field.name())
                        } else {
                            Expr::Literal(ScalarValue::Null, None)
                        };
                        cast(value, field.data_type().clone()).alias(field.name())
                    })
                    .collect();
                let input = files_plan.project(columns)?.build()?;
                self.write_lake(input, &table, CommitMode::Append, control)
                    .await?
            }
        };
        tracing::info!(table = %target.qualified(), files = count, rows, "COPY INTO");
        Ok(Output::Command(CommandDone::tag(format!("COPY {rows}"))))
    }

    /// The files rows of `table` came from.
    async fn loaded_files(
        &self,
        name: &TableReference,
        table: &LakeTable,
        control: &QueryControl,
    ) -> Result<HashSet<String>> {
        let plan = LogicalPlanBuilder::scan(
            name.clone(),
            provider_as_source(Arc::new(table.clone())),
            None,
        )?
        .aggregate(
            vec![col(Column::new(Some(name.clone()), SOURCE_FILE))],
            Vec::<Expr>::new(),
        )?
        .build()?;
        let (_, stream) = self.start(plan, control).await?;
        let batches = datafusion::physical_plan::common::collect(stream).await?;
        let mut loaded = HashSet::new();
        for batch in &batches {
            let column = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)
                .map_err(datafusion::error::DataFusionError::from)?;
            loaded.extend(
                column
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_owned),
            );
        }
        Ok(loaded)
    }
}

/// How files of `format` are read, from `FORMAT_OPTIONS`.
fn ingest_format(format: &str, options: &[(String, String)]) -> Result<IngestFormat> {
    let byte = |key: &str, value: &str| -> Result<u8> {
        match value.as_bytes() {
            [b] => Ok(*b),
            b"\\t" => Ok(b'\t'),
            _ => Err(StrataError::InvalidParameterValue(format!(
                "FORMAT_OPTIONS {key} must be one character, not \"{value}\""
            ))),
        }
    };
    match format {
        "csv" => {
            let (mut header, mut delimiter, mut quote, mut escape, mut infer) =
                (false, b',', b'"', None, false);
            for (key, value) in options {
                match key.as_str() {
                    "header" => header = flag(key, value)?,
                    "delimiter" | "sep" => delimiter = byte(key, value)?,
                    "quote" => quote = byte(key, value)?,
                    "escape" => escape = Some(byte(key, value)?),
                    "inferschema" => infer = flag(key, value)?,
                    other => {
                        return Err(StrataError::InvalidParameterValue(format!(
                            "unknown FORMAT_OPTIONS option \"{other}\" for CSV \
                             (header, delimiter, quote, escape, inferSchema)"
                        )));
                    }
                }
            }
            Ok(IngestFormat::Csv {
                header,
                delimiter,
                quote,
                escape,
                all_text: !infer,
            })
        }
        "json" | "parquet" => {
            if let Some((key, _)) = options.first() {
                return Err(StrataError::InvalidParameterValue(format!(
                    "unknown FORMAT_OPTIONS option \"{key}\" for {}",
                    format.to_ascii_uppercase()
                )));
            }
            Ok(if format == "json" {
                IngestFormat::Json
            } else {
                IngestFormat::Parquet
            })
        }
        other => Err(StrataError::InvalidParameterValue(format!(
            "FILEFORMAT {other} (CSV, JSON or PARQUET)"
        ))),
    }
}

fn flag(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(StrataError::InvalidParameterValue(format!(
            "option {key} takes true or false, not \"{value}\""
        ))),
    }
}
