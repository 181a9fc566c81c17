//! Strata's own settings that travel with a query to every node:
//! `SET strata.<name> = ...` in a session, shipped by Ballista with each
//! job's configuration and read where the work runs. Every node registers
//! them ([`crate::session::session_config`]), so a node that receives one
//! knows it.

use std::any::Any;
use std::fmt;

use datafusion::common::config::{
    ConfigEntry, ConfigExtension, ConfigField, ExtensionOptions, Visit,
};
use datafusion::error::{DataFusionError, Result};

use crate::node::parse_bytes;

/// A byte count written plainly or with a unit (`256MB`, `1GiB`: powers of
/// 1024, as in PostgreSQL); 0 means none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCount(pub u64);

impl fmt::Display for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 4] = [(40, "TB"), (30, "GB"), (20, "MB"), (10, "kB")];
        let bytes = self.0;
        for (shift, unit) in UNITS {
            if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{unit}", bytes >> shift);
            }
        }
        write!(f, "{bytes}")
    }
}

impl ConfigField for ByteCount {
    fn visit<V: Visit>(&self, visitor: &mut V, key: &str, description: &'static str) {
        visitor.some(key, self, description)
    }

    fn set(&mut self, _key: &str, value: &str) -> Result<()> {
        self.0 = parse_bytes(value).map_err(DataFusionError::Configuration)?;
        Ok(())
    }
}

/// Settings under `strata.`. Their entries carry the prefix (as
/// Ballista's own do), so a job ships them under the names a session set.
#[derive(Debug, Clone)]
pub struct StrataOptions {
    /// Memory one query may hold on each executor (sorts, joins and
    /// aggregations spill to disk to stay under it, else the query fails
    /// with 53200); 0 leaves only the executor's own pool as the limit.
    pub query_memory_limit: ByteCount,
    /// Progress NOTICEs for long statements (`SET strata.progress = on`).
    pub progress: bool,
    /// Whether queries with small inputs run in the server.
    pub fast_path: FastPath,
    /// The most rows a query's inputs may have for the fast path.
    pub fast_path_max_rows: u64,
    /// The most bytes a query's inputs may have for the fast path.
    pub fast_path_max_bytes: ByteCount,
}

/// Default of `strata.fast_path_max_rows`.
pub const FAST_PATH_MAX_ROWS: u64 = 1_000_000;
/// Default of `strata.fast_path_max_bytes`.
pub const FAST_PATH_MAX_BYTES: u64 = 128 << 20;

impl Default for StrataOptions {
    fn default() -> Self {
        Self {
            query_memory_limit: ByteCount::default(),
            progress: false,
            fast_path: FastPath::default(),
            fast_path_max_rows: FAST_PATH_MAX_ROWS,
            fast_path_max_bytes: ByteCount(FAST_PATH_MAX_BYTES),
        }
    }
}

/// Where a query whose tables the cluster could read runs
/// (`strata.fast_path`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FastPath {
    /// In the server when its inputs' statistics say they are small.
    #[default]
    Auto,
    /// Always in the server.
    On,
    /// Always on the cluster.
    Off,
}

impl fmt::Display for FastPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FastPath::Auto => "auto",
            FastPath::On => "on",
            FastPath::Off => "off",
        })
    }
}

impl std::str::FromStr for FastPath {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "auto" => Ok(FastPath::Auto),
            "on" | "true" | "always" => Ok(FastPath::On),
            "off" | "false" | "never" => Ok(FastPath::Off),
            _ => Err(format!(
                "invalid value \"{value}\" for strata.fast_path: auto, on or off"
            )),
        }
    }
}

impl ConfigField for FastPath {
    fn visit<V: Visit>(&self, visitor: &mut V, key: &str, description: &'static str) {
        visitor.some(key, self, description)
    }

    fn set(&mut self, _key: &str, value: &str) -> Result<()> {
        *self = value.parse().map_err(DataFusionError::Configuration)?;
        Ok(())
    }
}

/// The full name of the query memory limit.
pub const QUERY_MEMORY_LIMIT: &str = "strata.query_memory_limit";
/// Its name under the `strata.` prefix.
const QUERY_MEMORY_LIMIT_FIELD: &str = "query_memory_limit";
/// The session setting that asks for progress NOTICEs.
pub const PROGRESS: &str = "strata.progress";
const PROGRESS_FIELD: &str = "progress";
/// The session setting that chooses the fast path.
pub const FAST_PATH: &str = "strata.fast_path";
const FAST_PATH_FIELD: &str = "fast_path";
const FAST_PATH_MAX_ROWS_FIELD: &str = "fast_path_max_rows";
const FAST_PATH_MAX_BYTES_FIELD: &str = "fast_path_max_bytes";

impl StrataOptions {
    /// True if `name` (any case) is one of these settings; other `strata.`
    /// names are the server's session variables.
    pub fn knows(name: &str) -> bool {
        Self::default()
            .entries()
            .iter()
            .any(|entry| entry.key.eq_ignore_ascii_case(name))
    }
}

impl ConfigExtension for StrataOptions {
    const PREFIX: &'static str = "strata";
}

impl ExtensionOptions for StrataOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            QUERY_MEMORY_LIMIT_FIELD => self.query_memory_limit.set(key, value),
            PROGRESS_FIELD => self.progress.set(key, value),
            FAST_PATH_FIELD => self.fast_path.set(key, value),
            FAST_PATH_MAX_ROWS_FIELD => self.fast_path_max_rows.set(key, value),
            FAST_PATH_MAX_BYTES_FIELD => self.fast_path_max_bytes.set(key, value),
            _ => Err(DataFusionError::Configuration(format!(
                "unrecognized configuration parameter \"{}.{key}\"",
                Self::PREFIX
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: QUERY_MEMORY_LIMIT.to_owned(),
                value: Some(self.query_memory_limit.to_string()),
                description: "memory one query may hold on each executor; 0 for no limit of its own",
            },
            ConfigEntry {
                key: PROGRESS.to_owned(),
                value: Some(self.progress.to_string()),
                description: "send NOTICEs with the progress of long statements",
            },
            ConfigEntry {
                key: FAST_PATH.to_owned(),
                value: Some(self.fast_path.to_string()),
                description: "run queries with small inputs in the server: auto (by their \
                              statistics), on (always) or off (always on the cluster)",
            },
            ConfigEntry {
                key: format!("{}.{FAST_PATH_MAX_ROWS_FIELD}", Self::PREFIX),
                value: Some(self.fast_path_max_rows.to_string()),
                description: "the most input rows of a query on the fast path",
            },
            ConfigEntry {
                key: format!("{}.{FAST_PATH_MAX_BYTES_FIELD}", Self::PREFIX),
                value: Some(self.fast_path_max_bytes.to_string()),
                description: "the most input bytes of a query on the fast path",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_units_and_show_the_largest_whole_one() {
        let mut count = ByteCount::default();
        count.set("k", "256MB").expect("a count");
        assert_eq!(count, ByteCount(256 << 20));
        assert_eq!(count.to_string(), "256MB");
        count.set("k", "1536kB").expect("a count");
        assert_eq!(count.to_string(), "1536kB");
        count.set("k", "1000").expect("a count");
        assert_eq!(count.to_string(), "1000");
        // What is shown reads back as the same count (jobs ship it as text).
        let mut again = ByteCount::default();
        again.set("k", &count.to_string()).expect("a count");
        assert_eq!(again, count);
        assert!(count.set("k", "lots").is_err());
    }

    #[test]
    fn settings_are_listed_and_set_under_their_prefix() {
        let mut config = datafusion::prelude::SessionConfig::new()
            .with_option_extension(StrataOptions::default());
        config
            .options_mut()
            .set("strata.query_memory_limit", "64MB")
            .expect("set");
        let entry = config
            .options()
            .entries()
            .into_iter()
            .find(|e| e.key == "strata.query_memory_limit")
            .expect("listed with its prefix");
        assert_eq!(entry.value.as_deref(), Some("64MB"));
        assert!(config.options_mut().set("strata.no_such", "1").is_err());
    }
}
