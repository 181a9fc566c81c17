//! What every Strata process does the same way at start: read its TOML
//! settings file and set up logging.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::membership::{ClusterSecret, Membership, MembershipError};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Flags every Strata process takes; each has a `STRATA_*` environment twin.
#[derive(Debug, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML file with settings (flags and environment variables override it).
    #[arg(long, env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log level or filter (`info`, `debug`, `strata_server=debug,info`) [default: info].
    #[arg(long, env = "STRATA_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "STRATA_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// File holding the cluster secret every member shares (instead of
    /// `STRATA_CLUSTER_SECRET`); with it, cluster ports speak mutual TLS.
    #[arg(long, env = "STRATA_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
}

impl CommonArgs {
    /// The settings file named by `--config`, or the defaults.
    pub fn read<T: DeserializeOwned + Default>(&self) -> Result<T, SettingsError> {
        read_settings(self.config.as_deref())
    }

    /// This process's cluster membership, from `--cluster-secret-file`
    /// over the file's `cluster_secret_file` over `STRATA_CLUSTER_SECRET`;
    /// `None` without a secret. The process joins with it
    /// ([`crate::membership::join`]).
    pub fn membership(
        &self,
        file: Option<PathBuf>,
    ) -> Result<Option<Arc<Membership>>, SettingsError> {
        let path = self.cluster_secret_file.clone().or(file);
        let Some(secret) = ClusterSecret::resolve(path.as_deref())? else {
            return Ok(None);
        };
        let membership = Arc::new(Membership::derive(&secret)?);
        Ok(Some(crate::membership::join(membership)))
    }

    /// Logging from these flags over the file's `log_level` / `log_format`.
    pub fn logging(&self, level: Option<String>, format: Option<LogFormat>) -> Logging {
        Logging {
            level: self
                .log_level
                .clone()
                .or(level)
                .unwrap_or_else(|| "info".to_owned()),
            format: self.log_format.or(format).unwrap_or_default(),
        }
    }
}

/// Flags for reaching the lake in S3 (or MinIO, or any S3-compatible
/// store); keys come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Default, clap::Args)]
pub struct S3Args {
    /// An S3-compatible endpoint, e.g. http://minio:9000 [default: AWS].
    #[arg(long, env = "STRATA_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The S3 region [default: AWS_REGION, else us-east-1].
    #[arg(long, env = "STRATA_S3_REGION")]
    pub s3_region: Option<String>,
    /// Allow plain HTTP to the endpoint (a local MinIO).
    #[arg(long, env = "STRATA_S3_ALLOW_HTTP")]
    pub s3_allow_http: Option<bool>,
}

impl S3Args {
    /// These flags over the settings file's `[s3]` table.
    pub fn resolve(
        &self,
        file: Option<crate::lake::storage::S3Options>,
    ) -> crate::lake::storage::S3Options {
        let file = file.unwrap_or_default();
        crate::lake::storage::S3Options {
            endpoint: self.s3_endpoint.clone().or(file.endpoint),
            region: self.s3_region.clone().or(file.region),
            allow_http: self.s3_allow_http.unwrap_or(file.allow_http),
        }
    }
}

/// How a process logs.
#[derive(Debug, Clone)]
pub struct Logging {
    pub level: String,
    pub format: LogFormat,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Errors reading a settings file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
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
    #[error(transparent)]
    Membership(#[from] MembershipError),
}

/// Reads the TOML settings file at `path`, or the defaults when there is none.
pub fn read_settings<T: DeserializeOwned + Default>(
    path: Option<&Path>,
) -> Result<T, SettingsError> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| SettingsError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Sets up logging: `RUST_LOG` overrides `level`.
pub fn init_tracing(level: &str, format: LogFormat) {
    // Ballista reports every job and task at info, Delta every snapshot it
    // reads: a plain level keeps their crates one step quieter unless they
    // are named.
    let directives = if level.contains('=') || level.contains(',') {
        level.to_owned()
    } else {
        format!(
            "{level},ballista_scheduler=warn,ballista_executor=warn,ballista_core=warn,ballista=warn,\
             deltalake_core=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn"
        )
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    // Logs go to stderr, leaving stdout to the one line that says where the
    // process listens; colours only on a terminal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}

/// A binary's main after its settings are resolved: sets up logging and
/// runs `body` on a multi-threaded runtime (with more stack than tokio's
/// default: deep plans need it).
pub fn run_main(
    name: &str,
    logging: &Logging,
    body: impl std::future::Future<Output = std::process::ExitCode>,
) -> std::process::ExitCode {
    init_tracing(&logging.level, logging.format);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(runtime) => runtime.block_on(body),
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// The host others reach `listen` by: the address itself, or the machine's
/// host name when it is a wildcard.
pub fn advertised_host(listen: std::net::SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "localhost".to_owned())
    } else {
        listen.ip().to_string()
    }
}

/// A byte count in a TOML file: a number or a string with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileBytes {
    Number(u64),
    Text(String),
}

impl FileBytes {
    /// The count of bytes, or why the text is not one.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            FileBytes::Number(bytes) => Ok(*bytes),
            FileBytes::Text(text) => parse_bytes(text),
        }
    }
}

/// A byte count written plainly (`1073741824`) or with a binary unit
/// (`512MiB`, `4G`, `2GB`: all units are powers of 1024, as in PostgreSQL).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count such as 4294967296 or 4GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit `{other}` in `{text}`")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_binary_units() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("2 kB"), Ok(2048));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }

    #[test]
    fn settings_files_are_read_or_defaulted() {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Settings {
            listen: Option<String>,
        }
        let none: Settings = read_settings(None).unwrap();
        assert!(none.listen.is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "listen = \"x:1\"\n").unwrap();
        let read: Settings = read_settings(Some(&path)).unwrap();
        assert_eq!(read.listen.as_deref(), Some("x:1"));
        std::fs::write(&path, "lisen = 1\n").unwrap();
        assert!(matches!(
            read_settings::<Settings>(Some(&path)),
            Err(SettingsError::Parse { .. })
        ));
        assert!(matches!(
            read_settings::<Settings>(Some(&dir.path().join("missing.toml"))),
            Err(SettingsError::Read { .. })
        ));
    }
}
