//! Reading a table's history and removing the files no retained version
//! reads (`VACUUM`).

use futures::TryStreamExt;
use url::Url;

use super::snapshot::{VersionSpec, open};
use super::{LakeError, delta_error};

/// One commit of a table, as `DESCRIBE HISTORY` shows it.
#[derive(Debug, Clone)]
pub struct CommitEntry {
    pub version: i64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub operation: Option<String>,
    /// The operation's parameters, as JSON.
    pub parameters: Option<String>,
    pub read_version: Option<i64>,
    pub isolation_level: Option<String>,
    pub blind_append: Option<bool>,
    /// Row and file counts, as JSON.
    pub metrics: Option<String>,
    pub engine: Option<String>,
}

/// The commits of the table at `location`, newest first (at most `limit`).
pub async fn history(
    name: &str,
    location: &Url,
    limit: Option<usize>,
) -> Result<Vec<CommitEntry>, LakeError> {
    let table = open(name, location, VersionSpec::Latest).await?;
    let mut commits = commits(name, &table).await?;
    commits.truncate(limit.unwrap_or(usize::MAX));
    Ok(commits)
}

/// Every retained commit of `table`, newest first.
///
/// A commit's time is the one its writer recorded in `commitInfo` (to the
/// millisecond, where object stores keep seconds), else the log file's
/// modification time; like Delta for Spark, a time that is not later than
/// the previous commit's counts as a millisecond after it, so times grow
/// with versions and `TIMESTAMP AS OF` any of them reads exactly that version.
pub(crate) async fn commits(
    name: &str,
    table: &deltalake_core::DeltaTable,
) -> Result<Vec<CommitEntry>, LakeError> {
    let latest = table.version().map_or(0, |v| v as i64);
    let state = table.snapshot().map_err(|e| delta_error(name, e))?;
    let infos: Vec<_> = table
        .history(None)
        .try_collect()
        .await
        .map_err(|e| delta_error(name, e))?;
    let mut commits: Vec<CommitEntry> = infos
        .into_iter()
        .enumerate()
        .map(|(i, commit)| {
            let version = latest - i as i64;
            CommitEntry {
                version,
                timestamp: commit
                    .timestamp
                    .or_else(|| state.version_timestamp(version as u64)),
                operation: commit.operation,
                parameters: commit
                    .operation_parameters
                    .as_ref()
                    .and_then(|p| serde_json::to_string(p).ok()),
                read_version: commit.read_version.map(|v| v as i64),
                isolation_level: commit.isolation_level.map(|l| format!("{l:?}")),
                blind_append: commit.is_blind_append,
                metrics: commit.info.get("operationMetrics").map(|m| m.to_string()),
                engine: commit.engine_info,
            }
        })
        .collect();
    let mut previous: Option<i64> = None;
    for commit in commits.iter_mut().rev() {
        if let (Some(time), Some(before)) = (commit.timestamp, previous) {
            commit.timestamp = Some(time.max(before + 1));
        }
        previous = commit.timestamp.or(previous);
    }
    Ok(commits)
}

/// How a `VACUUM` runs.
#[derive(Debug, Clone, Copy)]
pub struct Vacuum {
    /// Keep files that versions of this age still read; the table's
    /// `delta.deletedFileRetentionDuration` (7 days) when `None`.
    pub retention: Option<chrono::Duration>,
    /// Refuse a retention shorter than the table's (a write in progress
    /// may still add files younger than that).
    pub enforce_retention: bool,
    /// Only list what would be deleted.
    pub dry_run: bool,
}

/// Deletes the files under the table's folder that no version within the
/// retention period reads, including those of writes that never
/// committed; returns their paths.
pub async fn vacuum(name: &str, location: &Url, how: Vacuum) -> Result<Vec<String>, LakeError> {
    use deltalake_core::operations::vacuum::VacuumMode;
    use deltalake_core::table::config::TablePropertiesExt;
    let table = open(name, location, VersionSpec::Latest).await?;
    let minimum = table
        .snapshot()
        .map_err(|e| delta_error(name, e))?
        .table_config()
        .deleted_file_retention_duration();
    if let Some(retention) = how.retention
        && how.enforce_retention
        && retention.to_std().unwrap_or_default() < minimum
    {
        return Err(LakeError::RetentionTooShort {
            table: name.to_owned(),
            asked: format!("{} hours", retention.num_minutes() as f64 / 60.0),
            minimum: format!("{} hours", minimum.as_secs_f64() / 3600.0),
        });
    }
    let mut builder = table
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_dry_run(how.dry_run)
        .with_enforce_retention_duration(false);
    if let Some(retention) = how.retention {
        builder = builder.with_retention_period(retention);
    }
    let (_, metrics) = builder.await.map_err(|e| delta_error(name, e))?;
    Ok(metrics.files_deleted)
}
