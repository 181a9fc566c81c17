//! A table version read as an ordinary Parquet file scan: Ballista hands
//! each task its share of the files, partition values come from the log,
//! and files a filter cannot match (by partition value or by their
//! statistics) are left out before the scan is planned.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use object_store::path::Path;

use super::LakeError;
use super::snapshot::{LakeFile, TableVersion};
use super::stats::{FileStats, FilesStatistics};
use super::storage::{store_path, store_url};
use super::types::partition_value;

/// The hidden column that names each row's file, for statements that
/// rewrite the files holding certain rows (DELETE, UPDATE, MERGE).
pub const FILE_COLUMN: &str = "__strata_file";

/// What a scan reads.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions<'a> {
    /// Add [`FILE_COLUMN`] after the table's columns.
    pub file_column: bool,
    /// Read only these files (paths under the table folder).
    pub only: Option<&'a HashSet<String>>,
}

/// The columns a scan of `version` offers. All of them are nullable to
/// DataFusion: the writer checks NOT NULL itself, so a violation is
/// reported as one (23502) naming the table's column.
pub fn scan_schema(version: &TableVersion, file_column: bool) -> SchemaRef {
    let mut fields: Vec<FieldRef> = version
        .schema
        .fields()
        .iter()
        .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
        .collect();
    if file_column {
        fields.push(Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false)));
    }
    Arc::new(Schema::new_with_metadata(
        fields,
        version.schema.metadata().clone(),
    ))
}

/// Plans the scan of `version`.
pub fn plan_scan(
    state: &dyn Session,
    version: &TableVersion,
    options: ScanOptions<'_>,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = scan_schema(version, options.file_column);
    let projected = match projection {
        Some(indices) => Arc::new(schema.project(indices)?),
        None => Arc::clone(&schema),
    };
    let partition_columns: Vec<&str> = version
        .partition_columns
        .iter()
        .map(String::as_str)
        .collect();
    let partition_fields: Vec<FieldRef> = partition_columns
        .iter()
        .map(|name| Ok(Arc::new(schema.field_with_name(name)?.clone())))
        .collect::<Result<_>>()?;
    let file_fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .filter(|f| !partition_columns.contains(&f.name().as_str()) && f.name() != FILE_COLUMN)
        .cloned()
        .collect();

    let candidates: Vec<&LakeFile> = version
        .files
        .iter()
        .filter(|f| options.only.is_none_or(|only| only.contains(&f.path)))
        .collect();
    let files = prune(state, version, &candidates, filters)?;
    if files.is_empty() {
        return Ok(Arc::new(EmptyExec::new(projected)));
    }

    let table_path = store_path(&version.location)?;
    let mut partitioned = Vec::with_capacity(files.len());
    for file in &files {
        let mut values = partition_fields
            .iter()
            .map(|field| {
                let text = file.partition_values.get(field.name()).cloned().flatten();
                partition_value(text.as_deref(), field.data_type())
            })
            .collect::<Result<Vec<_>, LakeError>>()?;
        if options.file_column {
            values.push(ScalarValue::Utf8(Some(file.path.clone())));
        }
        let mut part = PartitionedFile::new(String::new(), file.size.max(0) as u64)
            .with_partition_values(values);
        part.object_meta.location = object_path(&table_path, &file.path);
        let stats = file
            .stats
            .as_deref()
            .map(|json| FileStats::parse(json, &version.schema));
        if let Some(rows) = stats.as_ref().and_then(|s| s.rows) {
            let mut statistics = Statistics::new_unknown(&schema_of(
                &file_fields,
                &partition_fields,
                options.file_column,
            ));
            statistics.num_rows = Precision::Exact(rows as usize);
            statistics.total_byte_size = Precision::Inexact(file.size.max(0) as usize);
            part = part.with_statistics(Arc::new(statistics));
        }
        partitioned.push(part);
    }

    let all_counted = partitioned.iter().all(|file| file.statistics.is_some());
    let mut groups = balanced_groups(partitioned, state.config().target_partitions());
    // The planner orders joins and picks a shared hash table by these; a
    // table with any file of unknown rows gets none.
    let mut statistics = None;
    if all_counted {
        let schema = schema_of(&file_fields, &partition_fields, options.file_column);
        groups = groups
            .into_iter()
            .map(|group| {
                let merged = Statistics::try_merge_iter(
                    group.iter().filter_map(|file| file.statistics.as_deref()),
                    &schema,
                )?;
                Ok(group.with_statistics(Arc::new(merged)))
            })
            .collect::<Result<_>>()?;
        let merged = Statistics::try_merge_iter(
            groups
                .iter()
                .filter_map(|group| group.file_statistics(None)),
            &schema,
        )?;
        statistics = Some(merged.to_inexact());
    }
    let mut table_partition_cols = partition_fields.clone();
    if options.file_column {
        table_partition_cols.push(Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false)));
    }
    let file_schema = Arc::new(Schema::new(file_fields.clone()));
    let table_schema = TableSchema::builder(file_schema)
        .with_table_partition_cols(table_partition_cols)
        .build();
    let source = ParquetSource::new(table_schema)
        .with_table_parquet_options(state.table_options().parquet.clone());

    // The scan's columns are the file's, then the partition columns, then
    // the file column; the table's order maps onto them.
    let scan_order: Vec<&str> = file_fields
        .iter()
        .map(|f| f.name().as_str())
        .chain(partition_columns.iter().copied())
        .chain(options.file_column.then_some(FILE_COLUMN))
        .collect();
    let wanted: Vec<usize> = match projection {
        Some(indices) => indices.clone(),
        None => (0..schema.fields().len()).collect(),
    };
    let indices = wanted
        .iter()
        .map(|&i| {
            let name = schema.field(i).name();
            scan_order.iter().position(|n| n == name).ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!(
                    "no column {name} in the scan"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut config = FileScanConfigBuilder::new(store_url(&version.location), Arc::new(source))
        .with_file_groups(groups)
        .with_projection_indices(Some(indices))?
        .with_limit(limit);
    if let Some(statistics) = statistics {
        config = config.with_statistics(statistics);
    }
    Ok(DataSourceExec::from_data_source(config.build()))
}

fn schema_of(file: &[FieldRef], partition: &[FieldRef], file_column: bool) -> Schema {
    let mut fields: Vec<FieldRef> = file.iter().chain(partition).cloned().collect();
    if file_column {
        fields.push(Arc::new(Field::new(FILE_COLUMN, DataType::Utf8, false)));
    }
    Schema::new(fields)
}

/// The object path of a file under the table folder.
pub fn object_path(table: &Path, relative: &str) -> Path {
    let full = if table.as_ref().is_empty() {
        relative.to_owned()
    } else {
        format!("{}/{}", table.as_ref(), relative)
    };
    Path::parse(&full).unwrap_or_else(|_| Path::from(full.as_str()))
}

/// The files some row of which may pass `filters`.
fn prune<'a>(
    state: &dyn Session,
    version: &TableVersion,
    files: &[&'a LakeFile],
    filters: &[Expr],
) -> Result<Vec<&'a LakeFile>> {
    let Some(predicate) = conjunction(filters.iter().cloned()) else {
        return Ok(files.to_vec());
    };
    // Filters on the hidden file column are not the table's to prune with.
    if predicate
        .column_refs()
        .iter()
        .any(|c| version.schema.field_with_name(&c.name).is_err())
    {
        return Ok(files.to_vec());
    }
    let df_schema = DFSchema::try_from(Arc::clone(&version.schema))?;
    let physical = state.create_physical_expr(predicate, &df_schema)?;
    let Some(pruning) = PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(&version.schema))
        .build(physical)
    else {
        return Ok(files.to_vec());
    };
    let stats: Vec<FileStats> = files
        .iter()
        .map(|f| {
            f.stats
                .as_deref()
                .map(|json| FileStats::parse(json, &version.schema))
                .unwrap_or_default()
        })
        .collect();
    let mut entries = Vec::with_capacity(files.len());
    for (file, stats) in files.iter().zip(&stats) {
        let mut partition: HashMap<&str, ScalarValue> = HashMap::new();
        for name in &version.partition_columns {
            let field = version.schema.field_with_name(name)?;
            let text = file.partition_values.get(name).cloned().flatten();
            partition.insert(
                name.as_str(),
                partition_value(text.as_deref(), field.data_type())?,
            );
        }
        entries.push((partition, stats));
    }
    let statistics = FilesStatistics {
        schema: &version.schema,
        files: entries,
    };
    let keep = pruning.prune(&statistics)?;
    Ok(files
        .iter()
        .zip(keep)
        .filter_map(|(file, keep)| keep.then_some(*file))
        .collect())
}

/// Files in `count` groups of about the same size.
fn balanced_groups(mut files: Vec<PartitionedFile>, count: usize) -> Vec<FileGroup> {
    let count = count.max(1).min(files.len().max(1));
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
        (0..count).map(|_| (0, Vec::new())).collect();
    for file in files {
        if let Some(smallest) = groups.iter_mut().min_by_key(|(size, _)| *size) {
            smallest.0 += file.object_meta.size.max(1);
            smallest.1.push(file);
        }
    }
    groups
        .into_iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(_, files)| FileGroup::new(files))
        .collect()
}
