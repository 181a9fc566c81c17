//! Server settings: defaults < TOML file (`--config`) < `STRATA_*`
//! environment variables < command-line flags. Every key is documented in
//! the README's Settings section.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use strata_connectors::lake::storage::S3Options;
use strata_connectors::membership::Membership;
use strata_connectors::node::{CommonArgs, FileBytes, Logging, S3Args, parse_bytes};
use strata_connectors::options::{ByteCount, FastPath, StrataOptions};
use strata_connectors::postgres::options::TableOptions;
use strata_connectors::postgres::source::PgSource;

use crate::auth::AuthConfig;
use crate::auth::roles::Secret;
use crate::http::HttpListen;

/// Where the server listens when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";
/// The data folder when nothing says otherwise.
pub const DEFAULT_DATA_DIR: &str = "strata-data";

pub use strata_connectors::node::LogFormat;

/// Command-line flags; each has a `STRATA_*` environment twin.
#[derive(Debug, Default, Parser)]
#[command(
    name = "strata-server",
    version,
    about = "Strata: a SQL-first distributed query server speaking the PostgreSQL protocol"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub s3: S3Args,
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
    /// Task slots of the embedded executor [default: the number of CPUs].
    #[arg(long, env = "STRATA_EXECUTOR_SLOTS")]
    pub executor_slots: Option<usize>,
    /// Seconds a query waits for the cluster to have an executor before it
    /// fails with SQLSTATE 53000 [default: 15].
    #[arg(long, env = "STRATA_EXECUTOR_WAIT")]
    pub executor_wait: Option<u64>,
    /// Where the lake's schemas and tables live: a folder or an object store
    /// URL such as s3://bucket/prefix [default: the data folder's `lake`].
    #[arg(long, env = "STRATA_LAKE_ROOT")]
    pub lake_root: Option<String>,
    /// PEM certificate chain for TLS on the PostgreSQL port.
    #[arg(long, env = "STRATA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the TLS certificate.
    #[arg(long, env = "STRATA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse unencrypted connections from addresses other than loopback
    /// [default: false].
    #[arg(long, env = "STRATA_REQUIRE_TLS", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    pub require_tls: Option<bool>,
    /// Trust loopback connections of existing roles even once passwords
    /// are set [default: false].
    #[arg(long, env = "STRATA_TRUST_LOOPBACK", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true")]
    pub trust_loopback: Option<bool>,
    /// Connections the server accepts at once [default: 100].
    #[arg(long, env = "STRATA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to log in [default: 60].
    #[arg(long, env = "STRATA_AUTH_TIMEOUT")]
    pub auth_timeout: Option<u64>,
    /// Memory each query may hold on each node, in bytes or with a unit
    /// (256MB); only superusers may set more in a session [default: none].
    #[arg(long, env = "STRATA_QUERY_MEMORY_LIMIT", value_parser = parse_bytes)]
    pub query_memory_limit: Option<u64>,
    /// Where queries run: auto (in the server when their inputs'
    /// statistics say they are small, else on the cluster), on (always in
    /// the server) or off (always on the cluster) [default: on when the
    /// server runs its own executor and sets no query memory limit, else
    /// auto].
    #[arg(long, env = "STRATA_FAST_PATH")]
    pub fast_path: Option<FastPath>,
    /// Address of the web console and /metrics, or `off` [default:
    /// 127.0.0.1:8080, or the next free port up to 8089].
    #[arg(long, env = "STRATA_HTTP")]
    pub http: Option<String>,
}

/// The environment variable holding the administrator's first password.
pub const ADMIN_PASSWORD_ENV: &str = "STRATA_ADMIN_PASSWORD";

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
    executor_wait: Option<u64>,
    lake_root: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<bool>,
    trust_loopback: Option<bool>,
    max_connections: Option<usize>,
    auth_timeout: Option<u64>,
    query_memory_limit: Option<FileBytes>,
    fast_path: Option<String>,
    http: Option<String>,
    cluster_secret_file: Option<PathBuf>,
    s3: Option<S3Options>,
    /// `[sources.<name>]` tables: databases users query as catalogs.
    sources: Option<toml::Table>,
}

/// Errors in the settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] strata_connectors::node::SettingsError),
    #[error("{0}")]
    Source(String),
    #[error("{0}")]
    Invalid(String),
}

/// The resolved server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub scheduler: Option<String>,
    pub logging: Logging,
    pub executor_slots: Option<usize>,
    pub executor_wait: Duration,
    /// Where the lake's schemas and tables live (a folder or an object
    /// store URL); the data folder's `lake` when not set.
    pub lake_root: Option<String>,
    /// How S3 lake roots are reached (`[s3]`, `--s3-*`).
    pub s3: S3Options,
    /// PostgreSQL databases users query as catalogs (`[sources.<name>]`).
    pub sources: Vec<PgSource>,
    /// How the settings file says their tables are read, by source name,
    /// then `schema.table` (`[sources.<name>.tables."schema.table"]`).
    pub source_tables: BTreeMap<String, TableOptions>,
    /// TLS certificate chain and key files for the PostgreSQL port.
    pub tls: Option<TlsFiles>,
    /// Who may connect and how.
    pub auth: AuthConfig,
    /// The administrator's password for a data folder whose administrator
    /// has none yet (`STRATA_ADMIN_PASSWORD`).
    pub admin_password: Option<Secret>,
    /// The memory limit of every session's queries on each node, which only
    /// superusers may raise (`strata.query_memory_limit`).
    pub query_memory_limit: Option<u64>,
    /// The cluster the server's jobs run on, when members share a secret
    /// (`STRATA_CLUSTER_SECRET`, `--cluster-secret-file`): the embedded
    /// scheduler and executor serve members only, and the server connects
    /// as a member.
    pub membership: Option<Arc<Membership>>,
    /// Where the web console and `/metrics` listen.
    pub http: HttpListen,
    /// Every session's `strata.fast_path` to start with.
    pub fast_path: FastPath,
}

/// Where the TLS certificate chain and its key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            scheduler: None,
            logging: Logging::default(),
            executor_slots: None,
            executor_wait: Duration::from_secs(15),
            lake_root: None,
            s3: S3Options::default(),
            sources: Vec::new(),
            source_tables: BTreeMap::new(),
            tls: None,
            auth: AuthConfig::default(),
            admin_password: None,
            query_memory_limit: None,
            membership: None,
            http: HttpListen::Default,
            fast_path: FastPath::default(),
        }
    }
}

impl ServerConfig {
    /// Resolves flags and environment (already merged by clap) over the TOML
    /// file over the defaults.
    pub fn resolve(args: Args) -> Result<Self, ConfigError> {
        let file: FileSettings = args.common.read()?;
        let defaults = ServerConfig::default();
        let (sources, source_tables) = sources(file.sources)?;
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "TLS needs both a certificate (tls_cert) and its key (tls_key)".to_owned(),
                ));
            }
        };
        let require_tls = args.require_tls.or(file.require_tls).unwrap_or(false);
        if require_tls && tls.is_none() {
            return Err(ConfigError::Invalid(
                "require_tls is set but no TLS certificate is: set tls_cert and tls_key".to_owned(),
            ));
        }
        let auth = AuthConfig {
            trust_loopback: args.trust_loopback.or(file.trust_loopback).unwrap_or(false),
            require_tls,
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.auth.max_connections),
            auth_timeout: args
                .auth_timeout
                .or(file.auth_timeout)
                .map_or(defaults.auth.auth_timeout, Duration::from_secs),
        };
        let membership = args.common.membership(file.cluster_secret_file)?;
        let query_memory_limit = match args.query_memory_limit {
            Some(bytes) => Some(bytes),
            None => file
                .query_memory_limit
                .map(|bytes| bytes.bytes())
                .transpose()
                .map_err(|e| ConfigError::Invalid(format!("query_memory_limit: {e}")))?,
        }
        .filter(|&bytes| bytes > 0);
        let admin_password = std::env::var(ADMIN_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        let scheduler = args.scheduler.or(file.scheduler);
        // Embedded, the executor is this process: a job would add a
        // scheduler's round trips and stages over the same CPUs. But under a
        // memory limit a large query is safer as a job: the executor's sorts
        // spill within it where the server's own parallel ones may not.
        let default_fast_path = match (&scheduler, query_memory_limit) {
            (None, None) => FastPath::On,
            _ => FastPath::Auto,
        };
        Ok(Self {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            data_dir: args.data_dir.or(file.data_dir).unwrap_or(defaults.data_dir),
            scheduler,
            logging: args.common.logging(file.log_level, file.log_format),
            executor_slots: args.executor_slots.or(file.executor_slots),
            executor_wait: args
                .executor_wait
                .or(file.executor_wait)
                .map_or(defaults.executor_wait, Duration::from_secs),
            lake_root: args.lake_root.or(file.lake_root),
            s3: args.s3.resolve(file.s3),
            sources,
            source_tables,
            tls,
            auth,
            admin_password,
            query_memory_limit,
            membership,
            http: args
                .http
                .or(file.http)
                .map_or(HttpListen::Default, |h| HttpListen::parse(&h)),
            fast_path: match args.fast_path {
                Some(mode) => mode,
                None => file
                    .fast_path
                    .map(|mode| mode.parse())
                    .transpose()
                    .map_err(ConfigError::Invalid)?
                    .unwrap_or(default_fast_path),
            },
        })
    }
}

/// The sources a settings file declares, and their tables' read options.
impl ServerConfig {
    /// The `strata.*` settings every session starts from.
    pub fn session_defaults(&self) -> StrataOptions {
        StrataOptions {
            query_memory_limit: ByteCount(self.query_memory_limit.unwrap_or(0)),
            fast_path: self.fast_path,
            ..StrataOptions::default()
        }
    }

    /// The lake root: as set, or the `lake` folder of the data folder.
    pub fn lake_root(&self) -> String {
        self.lake_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("lake").to_string_lossy().into_owned())
    }
}

type DeclaredSources = (Vec<PgSource>, BTreeMap<String, TableOptions>);

/// The sources a settings file declares.
fn sources(table: Option<toml::Table>) -> Result<DeclaredSources, ConfigError> {
    let mut sources = Vec::new();
    let mut tables = BTreeMap::new();
    for (name, value) in table.unwrap_or_default() {
        let toml::Value::Table(settings) = value else {
            return Err(ConfigError::Source(format!(
                "[sources.{name}] must be a table of settings"
            )));
        };
        if name == strata_connectors::session::DEFAULT_CATALOG {
            return Err(ConfigError::Source(format!(
                "source \"{name}\": the name is taken by the lake"
            )));
        }
        let (source, options) = PgSource::from_settings(&name, settings)
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        tables.insert(name, options);
        sources.push(source);
    }
    Ok((sources, tables))
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
            common: CommonArgs {
                config: Some(path.clone()),
                ..Default::default()
            },
            data_dir: Some(PathBuf::from("/tmp/from-flag")),
            ..Default::default()
        };
        let config = ServerConfig::resolve(args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:6000");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/from-flag"));
        assert_eq!(config.logging.level, "info");

        std::fs::write(&path, "listen = 5\n").unwrap();
        let args = Args {
            common: CommonArgs {
                config: Some(path),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            ServerConfig::resolve(args),
            Err(ConfigError::File(
                strata_connectors::node::SettingsError::Parse { .. }
            ))
        ));
    }

    #[test]
    fn queries_run_in_the_server_when_it_is_the_executor() {
        let resolve = |scheduler: Option<&str>, fast_path: Option<FastPath>| {
            ServerConfig::resolve(Args {
                scheduler: scheduler.map(str::to_owned),
                fast_path,
                ..Default::default()
            })
            .unwrap()
            .fast_path
        };
        assert_eq!(resolve(None, None), FastPath::On);
        let limited = ServerConfig::resolve(Args {
            query_memory_limit: Some(256 << 20),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(limited.fast_path, FastPath::Auto);
        assert_eq!(resolve(Some("127.0.0.1:50050"), None), FastPath::Auto);
        assert_eq!(resolve(None, Some(FastPath::Auto)), FastPath::Auto);
        assert_eq!(
            resolve(Some("127.0.0.1:50050"), Some(FastPath::Off)),
            FastPath::Off
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let args = Args {
            common: CommonArgs {
                config: Some(path),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(ServerConfig::resolve(args).is_err());
    }
}
