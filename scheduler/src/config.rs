//! `strata-scheduler` settings: defaults < TOML file (`--config`) <
//! `STRATA_*` environment variables < command-line flags.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use strata_connectors::node::{CommonArgs, LogFormat, Logging, SettingsError, advertised_host};

use crate::SchedulerOptions;

/// Where the scheduler listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50050";

/// Command-line flags; each has a `STRATA_*` environment twin.
#[derive(Debug, Default, Parser)]
#[command(
    name = "strata-scheduler",
    version,
    about = "Strata's scheduler: plans queries into stages and hands their tasks to executors"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address the gRPC and REST services listen on [default: 127.0.0.1:50050].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Host name executors and servers use to reach this scheduler
    /// [default: the listen address, or the machine's host name when that is a wildcard].
    #[arg(long, env = "STRATA_ADVERTISE")]
    pub advertise: Option<String>,
    /// Seconds without a heartbeat before an executor is declared lost and its tasks re-run [default: 8].
    #[arg(long, env = "STRATA_EXECUTOR_TIMEOUT")]
    pub executor_timeout: Option<u64>,
}

/// The settings a TOML file may hold; the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    advertise: Option<String>,
    executor_timeout: Option<u64>,
    cluster_secret_file: Option<std::path::PathBuf>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
}

/// The resolved scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub listen: SocketAddr,
    pub options: SchedulerOptions,
    pub logging: Logging,
}

impl SchedulerConfig {
    /// Resolves flags and environment (already merged by clap) over the TOML
    /// file over the defaults.
    pub fn resolve(args: Args) -> Result<Self, SettingsError> {
        let file: FileSettings = args.common.read()?;
        let listen = args.listen.or(file.listen).unwrap_or_else(|| {
            DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 50050)))
        });
        let defaults = SchedulerOptions::default();
        let advertise = args
            .advertise
            .or(file.advertise)
            .unwrap_or_else(|| advertised_host(listen));
        let executor_timeout = args
            .executor_timeout
            .or(file.executor_timeout)
            .map_or(defaults.executor_timeout, Duration::from_secs);
        let membership = args.common.membership(file.cluster_secret_file)?;
        Ok(Self {
            listen,
            options: SchedulerOptions {
                external_host: advertise,
                executor_timeout,
                membership,
                ..defaults
            },
            logging: args.common.logging(file.log_level, file.log_format),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scheduler.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:6000\"\nadvertise = \"sched\"\nexecutor_timeout = 5\n",
        )
        .unwrap();
        let config = SchedulerConfig::resolve(Args {
            common: CommonArgs {
                config: Some(path.clone()),
                ..Default::default()
            },
            executor_timeout: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.options.external_host, "sched");
        assert_eq!(config.options.executor_timeout, Duration::from_secs(3));

        let config = SchedulerConfig::resolve(Args::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.options.external_host, "127.0.0.1");

        std::fs::write(&path, "slots = 4\n").unwrap();
        assert!(
            SchedulerConfig::resolve(Args {
                common: CommonArgs {
                    config: Some(path),
                    ..Default::default()
                },
                ..Default::default()
            })
            .is_err()
        );
    }
}
