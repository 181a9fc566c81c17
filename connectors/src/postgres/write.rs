//! Writing to PostgreSQL tables: `INSERT INTO <source>.<schema>.<table>`
//! and `INSERT OVERWRITE`.
//!
//! Rows travel by binary `COPY ... FROM STDIN` inside one transaction:
//! straight into the target when every column's binary form is the target
//! type's own, otherwise into a temporary staging table whose columns have
//! the types Strata encodes (text for the types it reads as text), from
//! which one statement moves them into the target, casting each column to
//! the target's exact type. A failure anywhere -- a constraint violated by
//! the last row, a value out of range, the writer dying -- rolls the
//! transaction back and leaves the target as it was.
//!
//! The write runs as one task: the insert plan asks for a single input
//! partition, so one transaction covers every row.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::compute::CastOptions;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, Schema, SchemaRef, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use bytes::{BufMut, Bytes, BytesMut};
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
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::numeric::{decimal_text, write_numeric};
use super::source::PgSource;
use super::table::to_datafusion;
use super::types::{PG_EPOCH_DAYS, PG_EPOCH_MICROS, PgKind};
use super::{PgColumn, ReadError, quote_ident};

/// Bytes gathered before they are sent to PostgreSQL.
const CHUNK: usize = 1 << 20;

/// What a [`PgInsertExec`] is made of, as it travels in plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgInsertSpec {
    pub source: PgSource,
    pub schema_name: String,
    pub table_name: String,
    pub columns: Vec<PgColumn>,
    /// Empty the table first, in the same transaction (`INSERT OVERWRITE`).
    pub overwrite: bool,
}

/// Writes its input into a PostgreSQL table in one transaction; yields one
/// row with the count written.
#[derive(Debug)]
pub struct PgInsertExec {
    spec: PgInsertSpec,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl PgInsertExec {
    pub fn new(spec: PgInsertSpec, input: Arc<dyn ExecutionPlan>) -> Self {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            spec,
            input,
            properties,
        }
    }

    pub fn spec(&self) -> &PgInsertSpec {
        &self.spec
    }
}

impl DisplayAs for PgInsertExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PgInsertExec: source={}, table={}.{}{}",
            self.spec.source.name,
            quote_ident(&self.spec.schema_name),
            quote_ident(&self.spec.table_name),
            if self.spec.overwrite {
                ", overwrite"
            } else {
                ""
            }
        )
    }
}

impl ExecutionPlan for PgInsertExec {
    fn name(&self) -> &str {
        "PgInsertExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
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
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "PgInsertExec has one partition, not {partition}"
            )));
        }
        let input = self.input.execute(0, context)?;
        let spec = self.spec.clone();
        let schema = self.schema();
        let out = Arc::clone(&schema);
        let stream = futures::stream::once(async move {
            let count = write(&spec, input).await?;
            RecordBatch::try_new(out, vec![Arc::new(UInt64Array::from(vec![count]))])
                .map_err(DataFusionError::from)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The whole write: staging, move, commit. Any error rolls back.
async fn write(spec: &PgInsertSpec, mut input: SendableRecordBatchStream) -> Result<u64> {
    let client = spec
        .source
        .connect()
        .await
        .map_err(|e| to_datafusion(e.into()))?;
    let target = format!(
        "{}.{}",
        quote_ident(&spec.schema_name),
        quote_ident(&spec.table_name)
    );
    let names: Vec<String> = spec.columns.iter().map(|c| quote_ident(&c.name)).collect();
    // Rows go straight into the target when every column's binary form is
    // the target type's own; a type read as text, or an array (whose binary
    // form names its element type), goes through a staging table and a cast.
    let direct = spec
        .columns
        .iter()
        .all(|c| !matches!(c.kind, PgKind::TextFallback | PgKind::Array(_)));
    let sql = |e: tokio_postgres::Error| to_datafusion(ReadError::Postgres(e));
    let stage = "strata_stage";
    let mut begin = "BEGIN".to_owned();
    if direct {
        if spec.overwrite {
            begin.push_str(&format!("; TRUNCATE {target}"));
        }
    } else {
        let staged_columns: Vec<String> = spec
            .columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), stage_type(&c.kind)))
            .collect();
        begin.push_str(&format!(
            "; CREATE TEMPORARY TABLE {stage} ({}) ON COMMIT DROP",
            staged_columns.join(", ")
        ));
    }
    let finish = if direct {
        "COMMIT".to_owned()
    } else {
        let targets =
            target_types(&client, &spec.schema_name, &spec.table_name, &spec.columns).await?;
        let casts: Vec<String> = spec
            .columns
            .iter()
            .zip(&targets)
            .map(|(c, target_type)| format!("{}::{target_type}", quote_ident(&c.name)))
            .collect();
        let truncate = if spec.overwrite {
            format!("TRUNCATE {target}; ")
        } else {
            String::new()
        };
        format!(
            "{truncate}INSERT INTO {target} ({}) SELECT {} FROM {stage}; COMMIT",
            names.join(", "),
            casts.join(", ")
        )
    };
    let copy_into = if direct { target.as_str() } else { stage };

    client.batch_execute(&begin).await.map_err(sql)?;
    let result = async {
        let sink = client
            .copy_in::<_, Bytes>(&format!(
                "COPY {copy_into} ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ))
            .await
            .map_err(sql)?;
        futures::pin_mut!(sink);
        let encoder = CopyEncoder::new(spec.columns.iter().map(|c| c.kind.clone()).collect());
        let mut buffer = BytesMut::with_capacity(CHUNK);
        encoder.header(&mut buffer);
        while let Some(batch) = input.next().await {
            encoder.encode(&batch?, &mut buffer)?;
            if buffer.len() >= CHUNK {
                sink.send(buffer.split().freeze()).await.map_err(sql)?;
            }
        }
        buffer.put_i16(-1);
        sink.send(buffer.freeze()).await.map_err(sql)?;
        let rows = sink.as_mut().finish().await.map_err(sql)?;
        client.batch_execute(&finish).await.map_err(sql)?;
        Ok(rows)
    }
    .await;
    if result.is_err() {
        // The connection may be gone already; PostgreSQL rolls back then too.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// The exact type of each target column (`numeric(10,2)`, `inet`, ...).
async fn target_types(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[PgColumn],
) -> Result<Vec<String>> {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&qualified],
        )
        .await
        .map_err(|e| to_datafusion(ReadError::Postgres(e)))?;
    columns
        .iter()
        .map(|c| {
            rows.iter()
                .find(|row| row.get::<_, String>(0) == c.name)
                .map(|row| row.get::<_, String>(1))
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "column \"{}\" of {qualified} no longer exists",
                        c.name
                    ))
                })
        })
        .collect()
}

/// The staging column type for a kind: the type the encoder writes.
fn stage_type(kind: &PgKind) -> String {
    match kind {
        PgKind::Bool => "boolean".to_owned(),
        PgKind::Int2 => "smallint".to_owned(),
        PgKind::Int4 => "integer".to_owned(),
        PgKind::Int8 => "bigint".to_owned(),
        PgKind::Float4 => "real".to_owned(),
        PgKind::Float8 => "double precision".to_owned(),
        PgKind::Numeric { .. } => "numeric".to_owned(),
        PgKind::Text | PgKind::TextFallback => "text".to_owned(),
        PgKind::Bytea => "bytea".to_owned(),
        PgKind::Date => "date".to_owned(),
        PgKind::Time => "time".to_owned(),
        PgKind::Timestamp => "timestamp".to_owned(),
        PgKind::TimestampTz => "timestamptz".to_owned(),
        PgKind::Interval => "interval".to_owned(),
        PgKind::Uuid => "uuid".to_owned(),
        PgKind::Json => "json".to_owned(),
        PgKind::Jsonb => "jsonb".to_owned(),
        PgKind::Array(element) => format!("{}[]", stage_type(element)),
    }
}

/// The oid of a kind's staging type, which binary arrays name.
fn stage_oid(kind: &PgKind) -> u32 {
    match kind {
        PgKind::Bool => 16,
        PgKind::Int2 => 21,
        PgKind::Int4 => 23,
        PgKind::Int8 => 20,
        PgKind::Float4 => 700,
        PgKind::Float8 => 701,
        PgKind::Numeric { .. } => 1700,
        PgKind::Text | PgKind::TextFallback => 25,
        PgKind::Bytea => 17,
        PgKind::Date => 1082,
        PgKind::Time => 1083,
        PgKind::Timestamp => 1114,
        PgKind::TimestampTz => 1184,
        PgKind::Interval => 1186,
        PgKind::Uuid => 2950,
        PgKind::Json => 114,
        PgKind::Jsonb => 3802,
        // Arrays of arrays are not read or written.
        PgKind::Array(_) => 0,
    }
}

/// Encodes record batches as binary COPY rows of the given kinds.
pub struct CopyEncoder {
    kinds: Vec<PgKind>,
}

impl CopyEncoder {
    pub fn new(kinds: Vec<PgKind>) -> Self {
        Self { kinds }
    }

    /// The stream's signature, flags and header extension.
    pub fn header(&self, out: &mut BytesMut) {
        out.put_slice(b"PGCOPY\n\xff\r\n\0");
        out.put_i32(0);
        out.put_i32(0);
    }

    /// Appends the rows of `batch`, each column first cast to its kind's
    /// Arrow type (an error names the column if a value does not fit).
    pub fn encode(&self, batch: &RecordBatch, out: &mut BytesMut) -> Result<()> {
        if batch.num_columns() != self.kinds.len() {
            return Err(DataFusionError::Internal(format!(
                "{} columns to write into {}",
                batch.num_columns(),
                self.kinds.len()
            )));
        }
        let schema = batch.schema();
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(&self.kinds)
            .zip(schema.fields())
            .map(|((array, kind), field)| {
                let target = kind.field(field.name());
                arrow::compute::cast_with_options(
                    array,
                    target.data_type(),
                    &CastOptions {
                        safe: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| {
                    DataFusionError::Execution(format!("column \"{}\": {e}", field.name()))
                })
            })
            .collect::<Result<_>>()?;
        for row in 0..batch.num_rows() {
            out.put_i16(self.kinds.len() as i16);
            for (array, kind) in columns.iter().zip(&self.kinds) {
                encode_value(array.as_ref(), row, kind, out)?;
            }
        }
        Ok(())
    }
}

/// Writes one length-prefixed value (or -1 for NULL).
fn encode_value(array: &dyn Array, row: usize, kind: &PgKind, out: &mut BytesMut) -> Result<()> {
    if array.is_null(row) {
        out.put_i32(-1);
        return Ok(());
    }
    let at = out.len();
    out.put_i32(0);
    match kind {
        PgKind::Bool => out.put_u8(u8::from(array.as_boolean().value(row))),
        PgKind::Int2 => out.put_i16(array.as_primitive::<Int16Type>().value(row)),
        PgKind::Int4 => out.put_i32(array.as_primitive::<Int32Type>().value(row)),
        PgKind::Int8 => out.put_i64(array.as_primitive::<Int64Type>().value(row)),
        PgKind::Float4 => out.put_f32(array.as_primitive::<Float32Type>().value(row)),
        PgKind::Float8 => out.put_f64(array.as_primitive::<Float64Type>().value(row)),
        PgKind::Numeric { scale, .. } => {
            let value = array.as_primitive::<Decimal128Type>().value(row);
            write_numeric(&decimal_text(value, *scale), out);
        }
        PgKind::Text | PgKind::TextFallback | PgKind::Json => {
            out.put_slice(array.as_string::<i32>().value(row).as_bytes())
        }
        PgKind::Jsonb => {
            out.put_u8(1);
            out.put_slice(array.as_string::<i32>().value(row).as_bytes());
        }
        PgKind::Bytea => out.put_slice(array.as_binary::<i32>().value(row)),
        PgKind::Uuid => out.put_slice(array.as_fixed_size_binary().value(row)),
        PgKind::Date => out.put_i32(array.as_primitive::<Date32Type>().value(row) - PG_EPOCH_DAYS),
        PgKind::Time => out.put_i64(array.as_primitive::<Time64MicrosecondType>().value(row)),
        PgKind::Timestamp | PgKind::TimestampTz => out
            .put_i64(array.as_primitive::<TimestampMicrosecondType>().value(row) - PG_EPOCH_MICROS),
        PgKind::Interval => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            if v.nanoseconds % 1_000 != 0 {
                return Err(DataFusionError::Execution(
                    "an interval with nanoseconds has no PostgreSQL form".to_owned(),
                ));
            }
            out.put_i64(v.nanoseconds / 1_000);
            out.put_i32(v.days);
            out.put_i32(v.months);
        }
        PgKind::Array(element) => {
            let list = array.as_list::<i32>().value(row);
            out.put_i32(1); // dimensions
            out.put_i32(i32::from(list.null_count() > 0));
            out.put_u32(stage_oid(element));
            out.put_i32(list.len() as i32);
            out.put_i32(1); // lower bound
            for item in 0..list.len() {
                encode_value(list.as_ref(), item, element, out)?;
            }
        }
    }
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}
