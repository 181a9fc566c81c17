//! The codecs every node registers.
//!
//! Strata has no plan nodes of its own yet: the codecs are Ballista's, which in
//! turn delegate to DataFusion's for every built-in node. Connectors that add
//! their own scans and sinks extend these two functions, and because the server,
//! the scheduler and the executors all take their codecs from here, they can
//! never disagree.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;

/// The logical codec: serialises the plans the server hands to the scheduler.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(BallistaLogicalExtensionCodec::default())
}

/// The physical codec: serialises the stage plans the scheduler hands to executors.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(BallistaPhysicalExtensionCodec::default())
}
