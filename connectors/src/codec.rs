//! The codecs every node registers.
//!
//! Strata's own table providers and plan nodes (PostgreSQL tables and scans,
//! lake tables and their writers and committers)
//! are encoded here; everything else goes to Ballista's codecs, which in turn
//! delegate to DataFusion's for every built-in node. Because the server, the
//! scheduler and the executors all take their codecs from here, they can
//! never disagree.
//!
//! Strata's encodings are a tag followed by JSON: plans carry a source's
//! definition (its name, URL and where to find the password), never a
//! password.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::lake::commit::LakeCommitExec;
use crate::lake::ingest::IngestTable;
use crate::lake::table::LakeTable;
use crate::lake::write::LakeWriteExec;
use crate::lake::write_node::LakeWriteNode;
use crate::postgres::sliced::{as_sliced, from_sliced};
use crate::postgres::table::{PgScanExec, PgTable};
use crate::postgres::write::PgInsertExec;

const PG_TABLE: &[u8] = b"strata:pg-table:";
const PG_SCAN: &[u8] = b"strata:pg-scan:";
const PG_INSERT: &[u8] = b"strata:pg-insert:";
const PG_SLICED: &[u8] = b"strata:pg-sliced:";
const LAKE_TABLE: &[u8] = b"strata:lake-table:";
const LAKE_INGEST: &[u8] = b"strata:lake-ingest:";
const LAKE_WRITE: &[u8] = b"strata:lake-write:";
const LAKE_COMMIT: &[u8] = b"strata:lake-commit:";
const LAKE_WRITE_NODE: &[u8] = b"strata:lake-write-node:";

/// The logical codec: serialises the plans the server hands to the scheduler.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(StrataLogicalCodec::default())
}

/// The physical codec: serialises the stage plans the scheduler hands to executors.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(StrataPhysicalCodec::default())
}

fn encode<T: Serialize>(tag: &[u8], value: &T, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(tag);
    serde_json::to_writer(buf, value).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T> {
    serde_json::from_slice(json).map_err(|e| DataFusionError::External(Box::new(e)))
}

/// The one input of a plan node that takes one (decoded, or given to
/// `with_new_children`).
pub fn one_input(inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    match inputs {
        [input] => Ok(Arc::clone(input)),
        _ => Err(DataFusionError::Internal(format!(
            "a plan node with one input arrived with {}",
            inputs.len()
        ))),
    }
}

/// Strata's table providers, then Ballista's codec.
#[derive(Debug, Default)]
pub struct StrataLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for StrataLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        if let Some(json) = buf.strip_prefix(LAKE_WRITE_NODE) {
            let [input] = inputs else {
                return Err(DataFusionError::Internal(format!(
                    "LakeWrite arrived with {} inputs",
                    inputs.len()
                )));
            };
            let node = LakeWriteNode {
                spec: decode(json)?,
                input: input.clone(),
            };
            return Ok(Extension {
                node: Arc::new(node),
            });
        }
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        if let Some(write) = node.node.as_any().downcast_ref::<LakeWriteNode>() {
            return encode(LAKE_WRITE_NODE, &write.spec, buf);
        }
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        if let Some(json) = buf.strip_prefix(PG_TABLE) {
            return Ok(Arc::new(decode::<PgTable>(json)?));
        }
        if let Some(json) = buf.strip_prefix(LAKE_TABLE) {
            return Ok(Arc::new(decode::<LakeTable>(json)?));
        }
        if let Some(json) = buf.strip_prefix(LAKE_INGEST) {
            return Ok(Arc::new(decode::<IngestTable>(json)?));
        }
        self.ballista
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<PgTable>() {
            return encode(PG_TABLE, table, buf);
        }
        if let Some(table) = node.downcast_ref::<LakeTable>() {
            return encode(LAKE_TABLE, table, buf);
        }
        if let Some(table) = node.downcast_ref::<IngestTable>() {
            return encode(LAKE_INGEST, table, buf);
        }
        self.ballista
            .try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

/// Strata's plan nodes, then Ballista's codec.
#[derive(Debug, Default)]
pub struct StrataPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for StrataPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(json) = buf.strip_prefix(PG_SCAN) {
            return Ok(Arc::new(PgScanExec::from_spec(decode(json)?)));
        }
        if let Some(json) = buf.strip_prefix(PG_SLICED) {
            let (spec, groups) = decode(json)?;
            return Ok(from_sliced(spec, groups));
        }
        if let Some(json) = buf.strip_prefix(PG_INSERT) {
            return Ok(Arc::new(PgInsertExec::new(
                decode(json)?,
                one_input(inputs)?,
            )));
        }
        if let Some(json) = buf.strip_prefix(LAKE_WRITE) {
            return Ok(Arc::new(LakeWriteExec::new(
                decode(json)?,
                one_input(inputs)?,
            )));
        }
        if let Some(json) = buf.strip_prefix(LAKE_COMMIT) {
            return Ok(Arc::new(LakeCommitExec::new(
                decode(json)?,
                one_input(inputs)?,
            )));
        }
        self.ballista.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<PgScanExec>() {
            return encode(PG_SCAN, &scan.spec(), buf);
        }
        if let Some(sliced) = as_sliced(&node) {
            return encode(PG_SLICED, &sliced, buf);
        }
        if let Some(insert) = node.downcast_ref::<PgInsertExec>() {
            return encode(PG_INSERT, insert.spec(), buf);
        }
        if let Some(write) = node.downcast_ref::<LakeWriteExec>() {
            return encode(LAKE_WRITE, write.spec(), buf);
        }
        if let Some(commit) = node.downcast_ref::<LakeCommitExec>() {
            return encode(LAKE_COMMIT, commit.spec(), buf);
        }
        self.ballista.try_encode(node, buf, proto_converter)
    }
}
