//! Statements on the lake that the server carries out itself: creating and
//! dropping tables and schemas. Writes into lake tables go through
//! DataFusion's INSERT, whose plan ends in the lake's writer and committer.

use std::sync::Arc;

use datafusion::common::{SchemaReference, TableReference};
use datafusion::logical_expr::{CreateMemoryTable, Extension, LogicalPlan, WriteOp};
use datafusion::sql::sqlparser::ast::{
    self, ColumnDef, CommentDef, CreateTableOptions, HiveDistributionStyle,
};
use strata_connectors::lake::catalog::LakeSchema;
use strata_connectors::lake::commit::{CommitMode, commit};
use strata_connectors::lake::snapshot::TableVersion;
use strata_connectors::lake::table::LakeTable;
use strata_connectors::lake::types::stored_schema;
use strata_connectors::lake::write::read_written_files;
use strata_connectors::lake::write_node::LakeWriteNode;
use strata_connectors::lake::{LakeError, valid_name};
use strata_connectors::session::DEFAULT_CATALOG;

use super::control::QueryControl;
use super::{CommandDone, Output, Session, count_rows};
use crate::error::{Result, StrataError};

/// `static` (INSERT OVERWRITE replaces the whole table) or `dynamic` (only
/// the partitions the statement writes rows into).
const PARTITION_OVERWRITE_MODE: &str = "strata.partition_overwrite_mode";
const SPARK_PARTITION_OVERWRITE_MODE: &str = "spark.sql.sources.partitionoverwritemode";

/// How often a lake write is run when its executors are lost after writing.
const WRITE_ATTEMPTS: usize = 3;

/// A lake table (or the name of one to be) a statement is about.
#[derive(Debug, Clone)]
pub struct LakeTarget {
    pub schema: Arc<LakeSchema>,
    pub table: String,
}

impl LakeTarget {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        self.schema.qualified(&self.table)
    }
}

/// What a lake CREATE TABLE says beyond the columns DataFusion plans.
#[derive(Debug, Clone, Default)]
pub struct LakeCreate {
    pub partition_by: Vec<String>,
    pub comment: Option<String>,
}

/// Takes Strata's lake clauses (`PARTITIONED BY`, `PARTITION BY`, `COMMENT`)
/// off a CREATE TABLE, leaving what DataFusion plans.
pub fn split_create(create: &ast::CreateTable) -> Result<(ast::CreateTable, LakeCreate)> {
    let mut plain = create.clone();
    let mut lake = LakeCreate::default();
    if let HiveDistributionStyle::PARTITIONED { columns } = &create.hive_distribution {
        for column in columns {
            let name = normalize(&column.name);
            // Hive declares partition columns here, with their type; Spark's
            // Delta tables name columns declared above.
            if !matches!(column.data_type, ast::DataType::Unspecified)
                && !create.columns.iter().any(|c| normalize(&c.name) == name)
            {
                plain.columns.push(ColumnDef {
                    name: column.name.clone(),
                    data_type: column.data_type.clone(),
                    options: column.options.clone(),
                });
            }
            lake.partition_by.push(name);
        }
        plain.hive_distribution = HiveDistributionStyle::NONE;
    } else if !matches!(create.hive_distribution, HiveDistributionStyle::NONE) {
        return Err(StrataError::NotSupported(
            "this table distribution for a lake table".to_owned(),
        ));
    }
    if let Some(expr) = plain.partition_by.take() {
        lake.partition_by.extend(partition_names(&expr)?);
    }
    if let Some(CommentDef::WithEq(text) | CommentDef::WithoutEq(text)) = plain.comment.take() {
        lake.comment = Some(text);
    }
    let options = match std::mem::replace(&mut plain.table_options, CreateTableOptions::None) {
        CreateTableOptions::None => Vec::new(),
        CreateTableOptions::With(o)
        | CreateTableOptions::Options(o)
        | CreateTableOptions::Plain(o)
        | CreateTableOptions::TableProperties(o) => o,
    };
    for option in options {
        match option {
            ast::SqlOption::Comment(CommentDef::WithEq(text) | CommentDef::WithoutEq(text)) => {
                lake.comment = Some(text);
            }
            other => {
                return Err(StrataError::NotSupported(format!(
                    "the table option {other} on a lake table"
                )));
            }
        }
    }
    Ok((plain, lake))
}

fn normalize(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// The column names of `PARTITION BY (a, b)` / `PARTITION BY a`.
fn partition_names(expr: &ast::Expr) -> Result<Vec<String>> {
    match expr {
        ast::Expr::Identifier(ident) => Ok(vec![normalize(ident)]),
        ast::Expr::Nested(inner) => partition_names(inner),
        ast::Expr::Tuple(items) => items
            .iter()
            .map(partition_names)
            .collect::<Result<Vec<_>>>()
            .map(|names| names.concat()),
        other => Err(StrataError::NotSupported(format!(
            "partitioning a lake table by {other} (name columns)"
        ))),
    }
}

impl Session {
    /// The lake table `name` resolves to, if it resolves into the lake.
    pub(super) fn lake_target(&self, name: &TableReference) -> Option<LakeTarget> {
        let resolved = self.resolve(name);
        if resolved.catalog.as_ref() != DEFAULT_CATALOG {
            return None;
        }
        let schema = self.engine.lake.lake_schema(&resolved.schema)?;
        Some(LakeTarget {
            schema,
            table: resolved.table.to_string(),
        })
    }

    /// The lake schema `name` resolves in, or 3F000.
    fn require_lake_target(&self, name: &TableReference) -> Result<LakeTarget> {
        self.lake_target(name).ok_or_else(|| {
            let resolved = self.resolve(name);
            StrataError::UndefinedSchema(resolved.schema.to_string())
        })
    }

    /// True if `name` resolves into the lake catalog.
    pub(super) fn in_lake(&self, name: &TableReference) -> bool {
        self.resolve(name).catalog.as_ref() == DEFAULT_CATALOG
    }

    /// `CREATE TABLE` and `CREATE TABLE AS` in the lake: a Delta table whose
    /// first version holds the query's rows, committed at once (a failed
    /// query leaves no table).
    pub(super) async fn create_lake_table(
        &self,
        create: &CreateMemoryTable,
        options: LakeCreate,
        control: &QueryControl,
    ) -> Result<Output> {
        let target = self.require_lake_target(&create.name)?;
        let qualified = target.qualified();
        if !valid_name(&target.table) {
            return Err(StrataError::InvalidParameterValue(format!(
                "\"{}\" cannot name a table",
                target.table
            )));
        }
        if target.schema.is_registered(&target.table)
            || target
                .schema
                .lake_table(&target.table)
                .await
                .map_err(StrataError::Lake)?
                .is_some()
        {
            if create.if_not_exists {
                return Ok(Output::Command(CommandDone::tag("CREATE TABLE")));
            }
            return Err(StrataError::DuplicateTable(qualified));
        }
        if create.or_replace {
            return Err(StrataError::NotSupported(
                "CREATE OR REPLACE TABLE in the lake (DROP it, then CREATE)".to_owned(),
            ));
        }
        if !create.column_defaults.is_empty() {
            return Err(StrataError::NotSupported(
                "column defaults on a lake table".to_owned(),
            ));
        }
        let has_rows = !matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(_));
        let mut schema = create.input.schema().as_arrow().clone();
        if has_rows {
            // A query's columns are nullable in the table it creates.
            schema = arrow_nullable(&schema);
        }
        let input = has_rows.then(|| create.input.as_ref().clone());
        let count = self
            .create_lake_table_from(&target, schema, options, input, control)
            .await?;
        Ok(Output::Command(CommandDone::tag(match count {
            Some(rows) => format!("SELECT {rows}"),
            None => "CREATE TABLE".to_owned(),
        })))
    }

    /// Creates the lake table `target` with columns `schema`, holding the
    /// rows of `input` (if any) in its first version; returns how many.
    pub(super) async fn create_lake_table_from(
        &self,
        target: &LakeTarget,
        schema: datafusion::arrow::datatypes::Schema,
        options: LakeCreate,
        input: Option<LogicalPlan>,
        control: &QueryControl,
    ) -> Result<Option<u64>> {
        let qualified = target.qualified();
        let schema = stored_schema(&schema).map_err(StrataError::Lake)?;
        for column in &options.partition_by {
            if schema.field_with_name(column).is_err() {
                return Err(StrataError::Lake(LakeError::InvalidParameter(format!(
                    "partition column \"{column}\" is not a column of {qualified}"
                ))));
            }
        }
        if options.partition_by.len() >= schema.fields().len() {
            return Err(StrataError::InvalidParameterValue(format!(
                "{qualified} needs a column that is not a partition column"
            )));
        }
        let url = target
            .schema
            .table_url(&target.table)
            .map_err(StrataError::Lake)?;
        let version = TableVersion::new_table(url, schema, options.partition_by.clone());
        let mode = CommitMode::Create {
            comment: options.comment.clone(),
        };
        let provider = LakeTable::new(qualified.clone(), version).with_mode(mode.clone());
        let count = match input {
            Some(input) => Some(self.write_lake(input, &provider, mode, control).await?),
            None => {
                let spec = provider.commit_spec(mode);
                control
                    .run(async {
                        commit(&spec, Vec::new(), 0)
                            .await
                            .map_err(StrataError::Lake)
                    })
                    .await?;
                None
            }
        };
        target.schema.note_created(&target.table);
        tracing::info!(table = %qualified, "lake table created");
        Ok(count)
    }

    /// Writes `rows` (in the table's columns) into `table` and commits the
    /// files as `mode` says, in the server once every writer is done;
    /// returns the rows written.
    pub(super) async fn write_lake(
        &self,
        rows: LogicalPlan,
        table: &LakeTable,
        mode: CommitMode,
        control: &QueryControl,
    ) -> Result<u64> {
        let node = LakeWriteNode {
            spec: table.write_spec(&mode),
            input: rows,
        };
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        });
        // Nothing is committed until every writer is done: a job whose
        // written-file list was lost with an executor is simply run again.
        let mut attempt = 0;
        let batches = loop {
            attempt += 1;
            let run = async {
                let (_, stream) = self.start(plan.clone(), control).await?;
                Ok::<_, StrataError>(datafusion::physical_plan::common::collect(stream).await?)
            };
            match run.await {
                Ok(batches) => break batches,
                Err(StrataError::DataFusion(e))
                    if attempt < WRITE_ATTEMPTS
                        && strata_connectors::sqlstate::lost_results(&e) =>
                {
                    tracing::warn!(table = %table.name, error = %e, "a lake write lost its results with an executor; writing again");
                }
                Err(e) => return Err(e),
            }
        };
        let mut files = Vec::new();
        let mut written = 0;
        for batch in &batches {
            for (file, rows) in read_written_files(batch)? {
                files.push(file);
                written += rows;
            }
        }
        let spec = table.commit_spec(mode);
        control
            .run(async {
                commit(&spec, files, written)
                    .await
                    .map_err(StrataError::Lake)
            })
            .await?;
        Ok(written)
    }

    /// Runs a DML statement that writes rows: into a lake table through
    /// [`Session::write_lake`], elsewhere as DataFusion plans it; returns
    /// the rows written.
    pub(super) async fn run_insert(
        &self,
        plan: LogicalPlan,
        control: &QueryControl,
    ) -> Result<u64> {
        if let LogicalPlan::Dml(dml) = &plan
            && let WriteOp::Insert(op) = dml.op
            && let Some(table) = super::lake_table_of(dml)
        {
            let mode = match table.mode_for(op)? {
                CommitMode::Overwrite { removed } if self.dynamic_partition_overwrite()? => {
                    CommitMode::OverwritePartitions { existing: removed }
                }
                mode => mode,
            };
            return self
                .write_lake(dml.input.as_ref().clone(), &table, mode, control)
                .await;
        }
        let (_, stream) = self.start(plan, control).await?;
        count_rows(stream).await
    }

    /// True if INSERT OVERWRITE replaces only the partitions it writes
    /// (`strata.partition_overwrite_mode`, or Spark's
    /// `spark.sql.sources.partitionOverwriteMode`, set to `dynamic`).
    fn dynamic_partition_overwrite(&self) -> Result<bool> {
        let settings = self.read_settings();
        let mode = settings
            .get(PARTITION_OVERWRITE_MODE)
            .or_else(|| settings.get(SPARK_PARTITION_OVERWRITE_MODE));
        match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("static") => Ok(false),
            Some("dynamic") => Ok(true),
            Some(other) => Err(StrataError::InvalidSettingValue {
                name: PARTITION_OVERWRITE_MODE.to_owned(),
                value: other.to_owned(),
            }),
        }
    }

    /// The lake schema a `CREATE SCHEMA name` creates, if it is one.
    pub(super) fn lake_schema_name(&self, name: &str) -> Option<String> {
        let (catalog, schema) = match name.split_once('.') {
            Some((catalog, schema)) => (catalog.to_owned(), schema.to_owned()),
            None => (self.default_catalog(), name.to_owned()),
        };
        (catalog == DEFAULT_CATALOG).then_some(schema)
    }

    /// The lake schema a `DROP SCHEMA name` drops, if it is one.
    pub(super) fn lake_schema_ref(&self, name: &SchemaReference) -> Option<String> {
        match name {
            SchemaReference::Bare { schema } => self.lake_schema_name(schema),
            SchemaReference::Full { catalog, schema } => {
                (catalog.as_ref() == DEFAULT_CATALOG).then(|| schema.to_string())
            }
        }
    }

    pub(super) fn default_catalog(&self) -> String {
        self.ctx
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone()
    }

    /// `DROP SCHEMA` of a lake schema: with CASCADE its tables (and the
    /// views and external tables in it) go too.
    pub(super) async fn drop_lake_schema(
        &self,
        name: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Result<Output> {
        if self.engine.lake.lake_schema(name).is_none() {
            return if if_exists {
                Ok(Output::Command(CommandDone::tag("DROP SCHEMA")))
            } else {
                Err(StrataError::UndefinedSchema(name.to_owned()))
            };
        }
        self.engine.lake.drop_schema(name, cascade).await?;
        self.engine.store.remove_schema(DEFAULT_CATALOG, name)?;
        tracing::info!(schema = %name, "lake schema dropped");
        Ok(Output::Command(CommandDone::tag("DROP SCHEMA")))
    }

    /// `DROP TABLE` of a lake table: its log, then its files.
    pub(super) async fn drop_lake_table(
        &self,
        target: &LakeTarget,
        if_exists: bool,
    ) -> Result<Output> {
        let exists = target
            .schema
            .lake_table(&target.table)
            .await
            .map_err(StrataError::Lake)?
            .is_some();
        if !exists {
            return if if_exists {
                Ok(Output::Command(CommandDone::tag("DROP TABLE")))
            } else {
                Err(StrataError::UndefinedTable(target.qualified()))
            };
        }
        target
            .schema
            .drop_table(&target.table)
            .await
            .map_err(StrataError::Lake)?;
        tracing::info!(table = %target.qualified(), "lake table dropped");
        Ok(Output::Command(CommandDone::tag("DROP TABLE")))
    }
}

fn arrow_nullable(
    schema: &datafusion::arrow::datatypes::Schema,
) -> datafusion::arrow::datatypes::Schema {
    datafusion::arrow::datatypes::Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}
