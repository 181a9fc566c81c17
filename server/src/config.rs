//! Server settings: defaults < TOML file (`--config`) < `STRATA_*`
//! environment variables < command-line flags. Every key is documented in
//! the README's Settings section.

use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use serde::Deserialize;

/// Where the server listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";
/// The data folder when nothing says otherwise.
pub const DEFAULT_DATA_DIR: &str = "strata-data";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Command-line flags; each has a `STRATA_*` environment twin.
#[derive(Debug, Default, Parser)]
#[command(
    name = "strata-server",
    version,
    about = "Strata: a SQL-first distributed query server speaking the PostgreSQL protocol"
)]
pub struct Args {
    /// TOML file with settings (flags and environment variables override it).
    #[arg(long, env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the PostgreSQL protocol listens on [default: 127.0.0.1:5433].
    #[arg(long, env = "STRATA_LISTEN")]
    pub listen: Option<String>,
    /// Folder for Strata's catalog and data [default: ./strata-data].
    #[arg(long, env = "STRATA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A Ballista scheduler (host:port) to run queries on; without it the
    /// server starts its own scheduler and executor in-process.
    #[arg(long, env = "STRATA_SCHEDULER")]
    pub scheduler: Option<String>,
    /// Log level or filter (`info`, `debug`, `strata_server=debug,info`) [default: info].
    #[arg(long, env = "STRATA_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "STRATA_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Task slots of the embedded executor [default: the number of CPUs].
    #[arg(long, env = "STRATA_EXECUTOR_SLOTS")]
    pub executor_slots: Option<usize>,
}

/// The settings a TOML file may hold; the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    scheduler: Option<String>,
    log_level: Option<String>,
    log_format: Option<LogFormat>,
    executor_slots: Option<usize>,
}

/// Errors reading the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

/// The resolved server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub scheduler: Option<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub executor_slots: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            scheduler: None,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            executor_slots: None,
        }
    }
}

impl ServerConfig {
    /// Resolves flags and environment (already merged by clap) over the TOML
    /// file over the defaults.
    pub fn resolve(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let defaults = ServerConfig::default();
        Ok(Self {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            data_dir: args.data_dir.or(file.data_dir).unwrap_or(defaults.data_dir),
            scheduler: args.scheduler.or(file.scheduler),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or(defaults.log_level),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            executor_slots: args.executor_slots.or(file.executor_slots),
        })
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/tmp/from-file\"\n",
        )
        .unwrap();
        let args = Args {
            config: Some(path.clone()),
            data_dir: Some(PathBuf::from("/tmp/from-flag")),
            ..Default::default()
        };
        let config = ServerConfig::resolve(args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:6000");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/from-flag"));
        assert_eq!(config.log_level, "info");

        std::fs::write(&path, "listen = 5\n").unwrap();
        let args = Args {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(
            ServerConfig::resolve(args),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let args = Args {
            config: Some(path),
            ..Default::default()
        };
        assert!(ServerConfig::resolve(args).is_err());
    }
}
