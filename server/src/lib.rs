//! Strata's server: the PostgreSQL wire protocol front end, sessions, the
//! catalog and query routing, and the embedded default (an in-process
//! Ballista scheduler and executor).

pub mod config;
pub mod engine;
pub mod error;
pub mod server;
pub mod wire;

pub use config::{Args, ServerConfig};
pub use server::{RunningServer, start};

/// Sets up logging: `RUST_LOG` overrides `level`.
pub fn init_tracing(level: &str, format: config::LogFormat) {
    // Ballista reports every job and task at info; a plain level keeps its
    // crates one step quieter unless they are named.
    let directives = if level.contains('=') || level.contains(',') {
        level.to_owned()
    } else {
        format!(
            "{level},ballista_scheduler=warn,ballista_executor=warn,ballista_core=warn,ballista=warn"
        )
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder.json().try_init(),
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}
