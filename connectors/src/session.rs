//! The session configuration and state shared by the server, the scheduler and
//! the executors.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::codec::{logical_codec, physical_codec};
use crate::lake::storage::LakeStores;
use crate::lake::write_node::StrataQueryPlanner;
use crate::postgres::topn::PgTopN;

/// The catalog a connection lands in when it names no database.
pub const DEFAULT_CATALOG: &str = "lake";
/// The schema unqualified names resolve in.
pub const DEFAULT_SCHEMA: &str = "public";

/// Strata's session configuration: Ballista's settings, Strata's codecs and
/// PostgreSQL-friendly defaults; in a process that joined a cluster with a
/// secret, Ballista's clients connect with the cluster's TLS identity.
pub fn session_config() -> SessionConfig {
    let config = match crate::membership::joined() {
        Some(membership) => SessionConfig::new_with_ballista()
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(membership.endpoint_override()),
        None => SessionConfig::new_with_ballista(),
    };
    config
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec())
        .with_option_extension(crate::options::StrataOptions::default())
        .with_information_schema(true)
        .with_default_catalog_and_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true)
        // Ballista collects partitions over Flight; a few large partitions move
        // faster than many small ones on the small clusters Strata targets.
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A session state built from `config`, with every function and file format
/// Strata supports. The scheduler and executors call this with the
/// configuration the client sent, so settings made in a session reach them.
pub fn session_state(config: SessionConfig) -> Result<datafusion::execution::SessionState> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LakeStores::default()))
        .build_arc()?;
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_physical_optimizer_rule(Arc::new(PgTopN))
        .with_query_planner(Arc::new(StrataQueryPlanner))
        .build();
    state.register_udf(crate::postgres::defaults::udf())?;
    state.register_udf(Arc::new(crate::format::udf()))?;
    Ok(state)
}

/// Every function Strata's sessions know (DataFusion's with the nested and
/// Strata's own), for executors decoding the plans of tasks: Ballista's
/// default registry holds DataFusion's core functions only, and a task
/// calling `array_length` or `pg_format` would be refused.
pub fn function_registry() -> Result<BallistaFunctionRegistry> {
    let state = session_state(session_config())?;
    Ok(BallistaFunctionRegistry {
        scalar_functions: state.scalar_functions().clone(),
        aggregate_functions: state.aggregate_functions().clone(),
        window_functions: state.window_functions().clone(),
        higher_order_functions: state.higher_order_functions().clone(),
    })
}

/// A plain DataFusion context over Strata's session state, for code that runs
/// in one process (tests, tools).
pub fn local_context() -> Result<SessionContext> {
    Ok(SessionContext::new_with_state(session_state(
        session_config(),
    )?))
}

/// The producer Ballista asks for a fresh configuration.
pub fn config_producer() -> Arc<dyn Fn() -> SessionConfig + Send + Sync> {
    Arc::new(session_config)
}
