//! The writer stage of a lake write: each task writes its rows into Parquet
//! files under the table's folder (one set per partition value, rolled at a
//! target size) and yields one row per file it wrote. Nothing is visible
//! until the committer adds the files to the log; a task that dies leaves
//! files no version refers to.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use url::Url;

use super::LakeError;
use super::snapshot::LakeFile;
use super::stats::StatsCollector;
use super::storage::{store_for, store_path};
use super::types::partition_text;

/// Files are closed once about this large.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// What a [`LakeWriteExec`] writes, as it travels in plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteSpec {
    /// The table's name, for messages.
    pub table: String,
    pub location: Url,
    /// The table's columns: the rows arrive in this shape.
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    pub target_file_size: u64,
    /// Write every row from one task (compaction: each partition's rows
    /// into as few files as the target size allows).
    #[serde(default)]
    pub single_writer: bool,
}

/// The rows a writer yields: one per file written.
pub fn written_files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("modification_time", DataType::Int64, false),
        Field::new("partition_values", DataType::Utf8, false),
        Field::new("stats", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
    ]))
}

/// The files described by a batch of [`written_files_schema`] rows.
pub fn read_written_files(batch: &RecordBatch) -> Result<Vec<(LakeFile, u64)>> {
    let strings = |i: usize| -> Result<&StringArray> {
        batch
            .column(i)
            .as_string_opt::<i32>()
            .ok_or_else(|| DataFusionError::Internal("written file rows of the wrong shape".into()))
    };
    let ints = |i: usize| -> Result<&Int64Array> {
        batch
            .column(i)
            .as_primitive_opt()
            .ok_or_else(|| DataFusionError::Internal("written file rows of the wrong shape".into()))
    };
    let (path, size, time, partitions, stats, rows) = (
        strings(0)?,
        ints(1)?,
        ints(2)?,
        strings(3)?,
        strings(4)?,
        ints(5)?,
    );
    (0..batch.num_rows())
        .map(|i| {
            let partition_values = serde_json::from_str(partitions.value(i))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok((
                LakeFile {
                    path: path.value(i).to_owned(),
                    size: size.value(i),
                    modification_time: time.value(i),
                    partition_values,
                    stats: Some(stats.value(i).to_owned()),
                },
                rows.value(i).max(0) as u64,
            ))
        })
        .collect()
}

/// Writes its input into Parquet files of a lake table.
#[derive(Debug)]
pub struct LakeWriteExec {
    spec: WriteSpec,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl LakeWriteExec {
    pub fn new(spec: WriteSpec, input: Arc<dyn ExecutionPlan>) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(written_files_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            spec,
            input,
            properties,
        }
    }

    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }
}

impl DisplayAs for LakeWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeWriteExec: table={}", self.spec.table)?;
        if !self.spec.partition_columns.is_empty() {
            write!(
                f,
                ", partitioned by {}",
                self.spec.partition_columns.join(", ")
            )?;
        }
        Ok(())
    }
}

impl ExecutionPlan for LakeWriteExec {
    fn name(&self) -> &str {
        "LakeWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![if self.spec.single_writer {
            Distribution::SinglePartition
        } else {
            Distribution::UnspecifiedDistribution
        }]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(
            self.spec.clone(),
            crate::codec::one_input(&children)?,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let spec = self.spec.clone();
        let stream = futures::stream::once(async move {
            write_all(spec, input).await.map_err(DataFusionError::from)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            written_files_schema(),
            stream,
        )))
    }
}

/// Writes every batch of `input`, then describes the files written.
async fn write_all(
    spec: WriteSpec,
    mut input: SendableRecordBatchStream,
) -> Result<RecordBatch, LakeError> {
    let mut writer = TableWriter::new(spec)?;
    while let Some(batch) = input.next().await {
        writer.write(batch?).await?;
    }
    writer.finish().await
}

/// The open files of one writer task, by partition.
struct TableWriter {
    spec: WriteSpec,
    store: Arc<dyn ObjectStore>,
    table_path: Path,
    /// Positions of the partition columns, and of the others.
    partition_indices: Vec<usize>,
    file_indices: Vec<usize>,
    file_schema: SchemaRef,
    open: HashMap<Vec<u8>, OpenFile>,
    written: Vec<(LakeFile, u64)>,
    converter: Option<RowConverter>,
}

struct OpenFile {
    relative: String,
    partition_values: std::collections::BTreeMap<String, Option<String>>,
    writer: AsyncArrowWriter<BufWriter>,
    stats: StatsCollector,
}

impl TableWriter {
    fn new(spec: WriteSpec) -> Result<Self, LakeError> {
        let store = store_for(&spec.location)?;
        let table_path = store_path(&spec.location)?;
        let mut partition_indices = Vec::new();
        for name in &spec.partition_columns {
            partition_indices.push(spec.schema.index_of(name).map_err(DataFusionError::from)?);
        }
        let file_indices: Vec<usize> = (0..spec.schema.fields().len())
            .filter(|i| !partition_indices.contains(i))
            .collect();
        let file_schema = Arc::new(
            spec.schema
                .project(&file_indices)
                .map_err(DataFusionError::from)?,
        );
        let converter = if partition_indices.is_empty() {
            None
        } else {
            Some(
                RowConverter::new(
                    partition_indices
                        .iter()
                        .map(|&i| SortField::new(spec.schema.field(i).data_type().clone()))
                        .collect(),
                )
                .map_err(DataFusionError::from)?,
            )
        };
        Ok(Self {
            spec,
            store,
            table_path,
            partition_indices,
            file_indices,
            file_schema,
            open: HashMap::new(),
            written: Vec::new(),
            converter,
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        let Some(converter) = &self.converter else {
            let data = batch
                .project(&self.file_indices)
                .map_err(DataFusionError::from)?;
            return self.write_to(Vec::new(), &batch, 0, data).await;
        };
        let keys: Vec<ArrayRef> = self
            .partition_indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let rows = converter
            .convert_columns(&keys)
            .map_err(DataFusionError::from)?;
        let mut groups: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            groups
                .entry(row.as_ref().to_vec())
                .or_default()
                .push(i as u32);
        }
        for (key, indices) in groups {
            let indices = UInt32Array::from(indices);
            let columns = self
                .file_indices
                .iter()
                .map(|&i| take(batch.column(i), &indices, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(DataFusionError::from)?;
            let data = RecordBatch::try_new(Arc::clone(&self.file_schema), columns)
                .map_err(DataFusionError::from)?;
            let first = indices.value(0) as usize;
            self.write_to(key, &batch, first, data).await?;
        }
        Ok(())
    }

    /// The batch in the table's exact types, with its NOT NULL columns checked.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch, LakeError> {
        let schema = &self.spec.schema;
        if batch.num_columns() != schema.fields().len() {
            return Err(DataFusionError::Internal(format!(
                "{} columns arrived to write into {}, which has {}",
                batch.num_columns(),
                self.spec.table,
                schema.fields().len()
            ))
            .into());
        }
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, field) in batch.columns().iter().zip(schema.fields()) {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(LakeError::NotNull {
                    table: self.spec.table.clone(),
                    column: field.name().clone(),
                });
            }
            columns.push(if column.data_type() == field.data_type() {
                Arc::clone(column)
            } else {
                cast(column, field.data_type()).map_err(DataFusionError::from)?
            });
        }
        RecordBatch::try_new(Arc::clone(schema), columns)
            .map_err(|e| DataFusionError::from(e).into())
    }

    /// Appends `data` to the open file of partition `key` (whose values are
    /// those of row `row` of `batch`), opening or rolling files as needed.
    async fn write_to(
        &mut self,
        key: Vec<u8>,
        batch: &RecordBatch,
        row: usize,
        data: RecordBatch,
    ) -> Result<(), LakeError> {
        if !self.open.contains_key(&key) {
            let file = self.open_file(batch, row)?;
            self.open.insert(key.clone(), file);
        }
        let target = self.spec.target_file_size;
        let full = {
            let Some(file) = self.open.get_mut(&key) else {
                return Ok(());
            };
            file.stats.update(&data)?;
            file.writer
                .write(&data)
                .await
                .map_err(DataFusionError::from)?;
            (file.writer.bytes_written() + file.writer.in_progress_size()) as u64 >= target
        };
        if full && let Some(file) = self.open.remove(&key) {
            self.close(file).await?;
        }
        Ok(())
    }

    fn open_file(&self, batch: &RecordBatch, row: usize) -> Result<OpenFile, LakeError> {
        let mut partition_values = std::collections::BTreeMap::new();
        let mut folder = String::new();
        for &i in &self.partition_indices {
            let name = self.spec.schema.field(i).name();
            let value =
                ScalarValue::try_from_array(batch.column(i), row).map_err(LakeError::from)?;
            let text = partition_text(&value)?;
            folder.push_str(&escape(name));
            folder.push('=');
            folder.push_str(&text.as_deref().map_or_else(|| HIVE_NULL.to_owned(), escape));
            folder.push('/');
            partition_values.insert(name.clone(), text);
        }
        let relative = format!("{folder}part-{}-c000.snappy.parquet", uuid::Uuid::new_v4());
        let path = super::scan::object_path(&self.table_path, &relative);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("Strata {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = AsyncArrowWriter::try_new(
            BufWriter::new(Arc::clone(&self.store), path),
            Arc::clone(&self.file_schema),
            Some(properties),
        )
        .map_err(DataFusionError::from)?;
        Ok(OpenFile {
            relative,
            partition_values,
            writer,
            stats: StatsCollector::new(Arc::clone(&self.file_schema))?,
        })
    }

    async fn close(&mut self, mut file: OpenFile) -> Result<(), LakeError> {
        file.writer.finish().await.map_err(DataFusionError::from)?;
        let size = file.writer.bytes_written() as i64;
        let rows = file.stats.rows();
        self.written.push((
            LakeFile {
                path: file.relative,
                size,
                modification_time: chrono::Utc::now().timestamp_millis(),
                partition_values: file.partition_values,
                stats: Some(file.stats.to_json()?),
            },
            rows,
        ));
        Ok(())
    }

    async fn finish(mut self) -> Result<RecordBatch, LakeError> {
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        for file in open {
            self.close(file).await?;
        }
        let files = &self.written;
        let partitions = files
            .iter()
            .map(|(f, _)| serde_json::to_string(&f.partition_values))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|(f, _)| f.path.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|(f, _)| f.size),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|(f, _)| f.modification_time),
            )),
            Arc::new(StringArray::from(partitions)),
            Arc::new(StringArray::from_iter_values(
                files
                    .iter()
                    .map(|(f, _)| f.stats.clone().unwrap_or_default()),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|(_, rows)| *rows as i64),
            )),
        ];
        RecordBatch::try_new(written_files_schema(), columns)
            .map_err(|e| DataFusionError::from(e).into())
    }
}

/// Hive's folder name for a NULL partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// A partition folder name part: characters that are unsafe in paths are
/// written as `%XX`, as Hive and Spark do.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b' ') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_folders_escape_what_paths_cannot_hold() {
        assert_eq!(escape("2024-01-02"), "2024-01-02");
        assert_eq!(escape("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape("é"), "%C3%A9");
    }
}
