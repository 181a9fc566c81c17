//! One version of a lake table, resolved from its Delta log: the schema, the
//! partition columns and every live data file. This is what a scan reads and
//! what travels in plans, so the scheduler and executors never read the log
//! to answer a query.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use chrono::{DateTime, Utc};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use super::storage::store_for;
use super::{LakeError, delta_error};

/// A live data file of a table version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeFile {
    /// The path under the table's folder (as the log holds it, decoded).
    pub path: String,
    pub size: i64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    /// Partition column values as the log keeps them (text; `None` is NULL).
    pub partition_values: BTreeMap<String, Option<String>>,
    /// Delta's statistics JSON, if the writer recorded any.
    pub stats: Option<String>,
}

/// Which version of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Version(i64),
    /// The version current at this time.
    Timestamp(DateTime<Utc>),
}

/// One version of a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableVersion {
    /// The table's folder.
    pub location: Url,
    /// The version read; -1 for a table a statement is about to create.
    pub version: i64,
    /// The columns, with the types Delta stores.
    pub schema: SchemaRef,
    pub partition_columns: Vec<String>,
    pub files: Vec<LakeFile>,
    /// `COMMENT ON TABLE`.
    pub comment: Option<String>,
}

impl TableVersion {
    /// The state of a table a statement will create.
    pub fn new_table(location: Url, schema: Schema, partition_columns: Vec<String>) -> Self {
        Self {
            location,
            version: -1,
            schema: Arc::new(schema),
            partition_columns,
            files: Vec::new(),
            comment: None,
        }
    }

    /// True for a table that does not exist yet.
    pub fn is_new(&self) -> bool {
        self.version < 0
    }

    /// The rows the files hold, if every file says.
    pub fn rows(&self) -> Option<u64> {
        self.files
            .iter()
            .map(|f| {
                f.stats
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                    .and_then(|v| v.get("numRecords").and_then(|n| n.as_u64()))
            })
            .sum()
    }
}

/// Opens the Delta table at `location` (`name` is what errors call it).
///
/// A time resolves to the last version committed at or before it, by the
/// commit times `DESCRIBE HISTORY` shows (see [`super::maintenance::history`]),
/// so every time that history prints reads its own version.
pub async fn open(name: &str, location: &Url, spec: VersionSpec) -> Result<DeltaTable, LakeError> {
    let time = match spec {
        VersionSpec::Latest => return load_delta(name, location, None).await,
        VersionSpec::Version(version) => return load_delta(name, location, Some(version)).await,
        VersionSpec::Timestamp(time) => time,
    };
    let latest = load_delta(name, location, None).await?;
    let commits = super::maintenance::commits(name, &latest).await?;
    let target = time.timestamp_millis();
    let version = commits
        .iter()
        .filter(|c| c.timestamp.is_some_and(|t| t <= target))
        .map(|c| c.version)
        .max()
        .ok_or_else(|| LakeError::UndefinedVersion {
            table: name.to_owned(),
            version: describe(spec),
            reason: "the table was created later".to_owned(),
        })?;
    if latest.version() == Some(version as u64) {
        return Ok(latest);
    }
    load_delta(name, location, Some(version)).await
}

/// Loads the table at `version`, or its latest version.
async fn load_delta(
    name: &str,
    location: &Url,
    version: Option<i64>,
) -> Result<DeltaTable, LakeError> {
    let builder = builder(name, location)?;
    let spec = version.map_or(VersionSpec::Latest, VersionSpec::Version);
    let builder = match version {
        None => builder,
        Some(version) => builder.with_version(u64::try_from(version).map_err(|_| {
            LakeError::UndefinedVersion {
                table: name.to_owned(),
                version: version.to_string(),
                reason: "versions start at 0".to_owned(),
            }
        })?),
    };
    builder.load().await.map_err(|e| match e {
        DeltaTableError::NotATable(_) => LakeError::UndefinedTable(name.to_owned()),
        DeltaTableError::InvalidVersion(_) | DeltaTableError::InvalidDateTimeString { .. } => {
            LakeError::UndefinedVersion {
                table: name.to_owned(),
                version: describe(spec),
                reason: e.to_string(),
            }
        }
        e if spec != VersionSpec::Latest && is_missing_version(&e) => LakeError::UndefinedVersion {
            table: name.to_owned(),
            version: describe(spec),
            reason: e.to_string(),
        },
        other => delta_error(name, other),
    })
}

/// A table handle that has not read the log (for creating a table).
pub fn unloaded(name: &str, location: &Url) -> Result<DeltaTable, LakeError> {
    builder(name, location)?
        .build()
        .map_err(|e| delta_error(name, e))
}

fn builder(name: &str, location: &Url) -> Result<DeltaTableBuilder, LakeError> {
    let store = store_for(location)?;
    Ok(DeltaTableBuilder::from_url(location.clone())
        .map_err(|e| delta_error(name, e))?
        .with_storage_backend(store, location.clone()))
}

fn describe(spec: VersionSpec) -> String {
    match spec {
        VersionSpec::Latest => "latest".to_owned(),
        VersionSpec::Version(v) => v.to_string(),
        VersionSpec::Timestamp(t) => format!("as of {}", t.to_rfc3339()),
    }
}

fn is_missing_version(error: &DeltaTableError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("version") && (text.contains("not") || text.contains("invalid"))
}

/// Resolves `spec` of the table at `location`.
pub async fn load(
    name: &str,
    location: &Url,
    spec: VersionSpec,
) -> Result<TableVersion, LakeError> {
    let table = open(name, location, spec).await?;
    resolve(name, &table).await
}

/// The loaded version of `table`, refusing what a plain Parquet scan would
/// read wrongly (deletion vectors, column mapping).
pub async fn resolve(name: &str, table: &DeltaTable) -> Result<TableVersion, LakeError> {
    let state = table.snapshot().map_err(|e| delta_error(name, e))?;
    let metadata = state.metadata();
    if let Some(mode) = metadata.configuration().get("delta.columnMapping.mode")
        && !mode.eq_ignore_ascii_case("none")
    {
        return Err(LakeError::NotSupported(format!(
            "reading \"{name}\", a Delta table with column mapping ({mode})"
        )));
    }
    let log_store = table.log_store();
    let files: Vec<LakeFile> = state
        .snapshot()
        .file_views(log_store.as_ref(), None)
        .map_ok(|view| {
            let deleted = view.deletion_vector_descriptor().is_some();
            (
                deleted,
                LakeFile {
                    path: view.path().into_owned(),
                    size: view.size(),
                    modification_time: view.modification_time(),
                    partition_values: view.partition_values_map().into_iter().collect(),
                    stats: view.stats(),
                },
            )
        })
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| delta_error(name, e))?
        .into_iter()
        .map(|(deleted, file)| {
            if deleted {
                Err(LakeError::NotSupported(format!(
                    "reading \"{name}\", a Delta table with deletion vectors"
                )))
            } else {
                Ok(file)
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(TableVersion {
        location: table.table_url().clone(),
        version: state.version() as i64,
        schema: state.snapshot().arrow_schema(),
        partition_columns: metadata.partition_columns().to_vec(),
        files,
        comment: metadata.description().map(str::to_owned),
    })
}

/// What identifies a table's latest commit: its version and its log
/// file's size, time and tag (a table made again under the same name starts
/// again at version 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCommit {
    pub version: i64,
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    e_tag: Option<String>,
}

/// The latest commit in the log of the table at `location`, by one listing
/// of its `_delta_log`; `None` without a commit file.
pub async fn latest_commit(location: &Url) -> Result<Option<LatestCommit>, LakeError> {
    Ok(log_files(location)
        .await?
        .into_iter()
        .filter_map(|object| {
            let version = object
                .location
                .filename()?
                .strip_suffix(".json")?
                .parse::<i64>()
                .ok()?;
            Some(LatestCommit {
                version,
                size: object.size,
                modified: object.last_modified,
                e_tag: object.e_tag,
            })
        })
        .max_by_key(|commit| commit.version))
}

/// The files of the table's `_delta_log` at `location`; none without one.
async fn log_files(location: &Url) -> Result<Vec<object_store::ObjectMeta>, LakeError> {
    let store = store_for(location)?;
    let log = super::storage::store_path(location)?.join("_delta_log");
    match store.list_with_delimiter(Some(&log)).await {
        Ok(listed) => Ok(listed.objects),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// True if a Delta table lives at `location`.
pub async fn exists(location: &Url) -> Result<bool, LakeError> {
    Ok(log_files(location).await?.iter().any(|object| {
        object
            .location
            .filename()
            .is_some_and(|name| name.ends_with(".json") || name.contains(".checkpoint"))
    }))
}
