//! Strata's server: the PostgreSQL wire protocol front end, sessions, the
//! catalog and query routing, and the embedded default (an in-process
//! Ballista scheduler and executor).

pub mod auth;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod server;
pub mod wire;

pub use config::{Args, ServerConfig};
pub use server::{RunningServer, start};

pub use strata_connectors::node::init_tracing;
