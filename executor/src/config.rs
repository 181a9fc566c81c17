//! `strata-executor` settings: defaults < TOML file (`--config`) <
//! `STRATA_*` environment variables < command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;
use strata_connectors::lake::storage::S3Options;
use strata_connectors::node::{
    CommonArgs, FileBytes, LogFormat, Logging, S3Args, SettingsError, advertised_host, parse_bytes,
};

use crate::ExecutorOptions;

/// The scheduler an executor looks for when nothing says otherwise.
pub const DEFAULT_SCHEDULER: &str = "127.0.0.1:50050";
/// Where the Flight service listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Where the task gRPC service listens when nothing says otherwise.
pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:50052";

/// Command-line flags; each has a `STRATA_*` environment twin.
#[derive(Debug, Default, Parser)]
#[command(
    name = "strata-executor",
    version,
    about = "Strata's executor: runs the tasks its scheduler hands it and serves their results"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub s3: S3Args,
    /// The scheduler to register with, host:port [default: 127.0.0.1:50050].
    #[arg(long, env = "STRATA_SCHEDULER")]
    pub scheduler: Option<String>,
    /// Address the Flight service (results and shuffle data) listens on [default: 127.0.0.1:50051].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address the task gRPC service listens on [default: 127.0.0.1:50052].
    #[arg(long, env = "STRATA_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    /// Host name the scheduler, servers and other executors use to reach this one
    /// [default: the listen address, or the machine's host name when that is a wildcard].
    #[arg(long, env = "STRATA_ADVERTISE")]
    pub advertise: Option<String>,
    /// Tasks run at once [default: the number of CPUs].
    #[arg(long, env = "STRATA_SLOTS")]
    pub slots: Option<usize>,
    /// Folder for shuffle files [default: a temporary folder].
    #[arg(long, env = "STRATA_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory for query execution, in bytes or with a unit (8GiB) [default: 70% of the machine's or container's memory].
    #[arg(long, env = "STRATA_MEMORY_LIMIT", value_parser = parse_bytes)]
    pub memory_limit: Option<u64>,
    /// Address to serve /metrics (Prometheus) on [default: none].
    #[arg(long, env = "STRATA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The settings a TOML file may hold; the same names as the flags.
/// `[sources.*]` tables are for the connectors every node shares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    scheduler: Option<String>,
    listen: Option<SocketAddr>,
    grpc_listen: Option<SocketAddr>,
    advertise: Option<String>,
    slots: Option<usize>,
    work_dir: Option<PathBuf>,
    memory_limit: Option<FileBytes>,
    metrics_listen: Option<SocketAddr>,
    cluster_secret_file: Option<PathBuf>,
    s3: Option<S3Options>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    sources: Option<toml::Table>,
}

/// Errors in the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] SettingsError),
    #[error("scheduler address `{0}` is not host:port")]
    SchedulerAddress(String),
    #[error("memory_limit: {0}")]
    MemoryLimit(String),
}

/// The resolved executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub options: ExecutorOptions,
    pub logging: Logging,
}

impl ExecutorConfig {
    /// Resolves flags and environment (already merged by clap) over the TOML
    /// file over the defaults.
    pub fn resolve(args: Args) -> Result<Self, ConfigError> {
        let file: FileSettings = args.common.read()?;
        let _ = file.sources;
        let scheduler = args
            .scheduler
            .or(file.scheduler)
            .unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned());
        let (scheduler_host, scheduler_port) = split_host_port(&scheduler)
            .ok_or_else(|| ConfigError::SchedulerAddress(scheduler.clone()))?;
        let flight_addr = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| parse_default(DEFAULT_LISTEN, 50051));
        let grpc_addr = args
            .grpc_listen
            .or(file.grpc_listen)
            .unwrap_or_else(|| parse_default(DEFAULT_GRPC_LISTEN, 50052));
        let memory_limit = match args.memory_limit {
            Some(bytes) => Some(bytes),
            None => file
                .memory_limit
                .map(|bytes| bytes.bytes())
                .transpose()
                .map_err(ConfigError::MemoryLimit)?,
        };
        let defaults = ExecutorOptions::default();
        let membership = args.common.membership(file.cluster_secret_file)?;
        Ok(Self {
            options: ExecutorOptions {
                scheduler_host,
                scheduler_port,
                flight_addr,
                grpc_addr,
                advertise_host: Some(
                    args.advertise
                        .or(file.advertise)
                        .unwrap_or_else(|| advertised_host(flight_addr)),
                ),
                slots: args.slots.or(file.slots).unwrap_or(defaults.slots),
                work_dir: args.work_dir.or(file.work_dir),
                memory_limit,
                metrics_addr: args.metrics_listen.or(file.metrics_listen),
                s3: Some(args.s3.resolve(file.s3)),
                membership,
                ..defaults
            },
            logging: args.common.logging(file.log_level, file.log_format),
        })
    }
}

fn parse_default(text: &str, port: u16) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Splits `host:port`, where the host may be a name or a bracketed IPv6 address.
fn split_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("executor.toml");
        std::fs::write(
            &path,
            "scheduler = \"sched:7000\"\nlisten = \"0.0.0.0:7001\"\nslots = 3\n\
             memory_limit = \"2GiB\"\n[sources.pg]\nkind = \"postgres\"\n",
        )
        .unwrap();
        let config = ExecutorConfig::resolve(Args {
            common: CommonArgs {
                config: Some(path.clone()),
                ..Default::default()
            },
            slots: Some(5),
            advertise: Some("worker-1".into()),
            ..Default::default()
        })
        .unwrap();
        let options = config.options;
        assert_eq!(options.scheduler_host, "sched");
        assert_eq!(options.scheduler_port, 7000);
        assert_eq!(options.flight_addr.port(), 7001);
        assert_eq!(options.grpc_addr.to_string(), DEFAULT_GRPC_LISTEN);
        assert_eq!(options.slots, 5);
        assert_eq!(options.memory_limit, Some(2 << 30));
        assert_eq!(options.advertise_host.as_deref(), Some("worker-1"));

        let config = ExecutorConfig::resolve(Args::default()).unwrap();
        assert_eq!(config.options.scheduler_port, 50050);
        assert_eq!(config.options.advertise_host.as_deref(), Some("127.0.0.1"));

        for bad in [
            "scheduler = \"nowhere\"\n",
            "memory_limit = \"many\"\n",
            "slot = 1\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                ExecutorConfig::resolve(Args {
                    common: CommonArgs {
                        config: Some(path.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn host_port_splits() {
        assert_eq!(split_host_port("a:1"), Some(("a".into(), 1)));
        assert_eq!(split_host_port("[::1]:2"), Some(("::1".into(), 2)));
        assert_eq!(split_host_port(":2"), None);
        assert_eq!(split_host_port("a"), None);
    }
}
