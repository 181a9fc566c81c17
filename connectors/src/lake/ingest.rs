//! Files read by `COPY INTO`: CSV, JSON or Parquet files found under a path
//! or glob, read as one file scan (spread over executors like any other)
//! in which every row carries the file it came from (`_source_file`).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use url::Url;

use super::LakeError;
use super::storage::{store_for, store_path, store_url};

/// The column naming each row's file.
pub const SOURCE_FILE: &str = "_source_file";
/// The column holding when a row was loaded.
pub const INGESTED_AT: &str = "_ingested_at";

/// How the files are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IngestFormat {
    Csv {
        header: bool,
        delimiter: u8,
        quote: u8,
        escape: Option<u8>,
        /// Read every column as text (Spark's default, `inferSchema` off).
        all_text: bool,
    },
    Json,
    Parquet,
}

impl IngestFormat {
    fn file_format(&self) -> Arc<dyn FileFormat> {
        match self {
            IngestFormat::Csv {
                header,
                delimiter,
                quote,
                escape,
                ..
            } => Arc::new(
                CsvFormat::default()
                    .with_has_header(*header)
                    .with_delimiter(*delimiter)
                    .with_quote(*quote)
                    .with_escape(*escape),
            ),
            IngestFormat::Json => Arc::new(JsonFormat::default()),
            IngestFormat::Parquet => Arc::new(ParquetFormat::default()),
        }
    }
}

/// A file to load: its URL and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestFile {
    pub url: Url,
    pub size: u64,
}

/// The files of one `COPY INTO`, as a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestTable {
    pub format: IngestFormat,
    pub files: Vec<IngestFile>,
    /// The files' columns.
    pub file_schema: SchemaRef,
}

impl IngestTable {
    /// The files' columns read from the files themselves.
    pub async fn infer(
        state: &dyn Session,
        format: IngestFormat,
        files: Vec<IngestFile>,
    ) -> Result<Self, LakeError> {
        let first = files
            .first()
            .ok_or_else(|| LakeError::InvalidParameter("no files to read".to_owned()))?;
        let store = store_for(&first.url)?;
        let objects = files
            .iter()
            .map(|f| {
                Ok(ObjectMeta {
                    location: store_path(&f.url)?,
                    last_modified: chrono::Utc::now(),
                    size: f.size,
                    e_tag: None,
                    version: None,
                })
            })
            .collect::<Result<Vec<_>, LakeError>>()?;
        let file_schema = match &format {
            // Spark's default: every column text, named by the header.
            IngestFormat::Csv { all_text: true, .. } => {
                let reader = match &format {
                    IngestFormat::Csv {
                        header,
                        delimiter,
                        quote,
                        escape,
                        ..
                    } => CsvFormat::default()
                        .with_has_header(*header)
                        .with_delimiter(*delimiter)
                        .with_quote(*quote)
                        .with_escape(*escape)
                        .with_schema_infer_max_rec(0),
                    _ => CsvFormat::default(),
                };
                let names = reader.infer_schema(state, &store, &objects).await?;
                Arc::new(Schema::new(
                    names
                        .fields()
                        .iter()
                        .map(|f| Field::new(f.name(), DataType::Utf8, true))
                        .collect::<Vec<_>>(),
                ))
            }
            IngestFormat::Parquet => {
                format
                    .file_format()
                    .infer_schema(state, &store, &objects)
                    .await?
            }
            // Files may disagree on a column's type (a number in one, text
            // in another): each is read alone, and the types reconciled.
            _ => {
                let file_format = format.file_format();
                let mut merged: Vec<Field> = Vec::new();
                for object in &objects {
                    let schema = file_format
                        .infer_schema(state, &store, std::slice::from_ref(object))
                        .await?;
                    for field in schema.fields() {
                        match merged.iter_mut().find(|m| m.name() == field.name()) {
                            Some(existing) => {
                                let wider = wider_type(existing.data_type(), field.data_type());
                                *existing = Field::new(field.name(), wider, true);
                            }
                            None => merged.push(field.as_ref().clone().with_nullable(true)),
                        }
                    }
                }
                Arc::new(Schema::new(merged))
            }
        };
        Ok(Self {
            format,
            files,
            file_schema,
        })
    }
}

#[async_trait]
impl TableProvider for IngestTable {
    fn schema(&self) -> SchemaRef {
        let mut fields: Vec<FieldRef> = self.file_schema.fields().iter().cloned().collect();
        fields.push(source_field());
        Arc::new(Schema::new(fields))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(first) = self.files.first() else {
            return Err(DataFusionError::Plan(
                "COPY INTO has no files to read".to_owned(),
            ));
        };
        let files = self
            .files
            .iter()
            .map(|f| {
                let mut part = PartitionedFile::new(String::new(), f.size)
                    .with_partition_values(vec![ScalarValue::Utf8(Some(f.url.to_string()))]);
                part.object_meta.location = store_path(&f.url)?;
                Ok(part)
            })
            .collect::<Result<Vec<_>, LakeError>>()?;
        let groups = state.config().target_partitions().max(1);
        let mut grouped: Vec<Vec<PartitionedFile>> =
            (0..groups.min(files.len())).map(|_| Vec::new()).collect();
        let count = grouped.len();
        for (i, file) in files.into_iter().enumerate() {
            grouped[i % count].push(file);
        }
        let format = self.format.file_format();
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(vec![source_field()])
            .build();
        let config =
            FileScanConfigBuilder::new(store_url(&first.url), format.file_source(table_schema))
                .with_file_groups(grouped.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}

/// A type both `a` and `b` read as: the same, a wider number, or text.
fn wider_type(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    match (a, b) {
        (a, b) if a == b => a.clone(),
        (Null, other) | (other, Null) => other.clone(),
        (Int64, Float64) | (Float64, Int64) => Float64,
        _ => Utf8,
    }
}

fn source_field() -> FieldRef {
    Arc::new(Field::new(SOURCE_FILE, DataType::Utf8, false))
}

/// The files `location` names: a file, every file under a folder (hidden
/// ones, starting with `.` or `_`, left out), or those matching a glob
/// (`*` and `?` within a name, `**` across folders); then only those whose
/// path under the folder matches `pattern`, when given.
pub async fn list_files(
    location: &str,
    pattern: Option<&str>,
) -> Result<Vec<IngestFile>, LakeError> {
    let (base, glob) = split_glob(location);
    let url = to_url(base)?;
    let store = store_for(&url)?;
    let prefix = store_path(&url)?;
    // A single file?
    if glob.is_none()
        && !location.ends_with('/')
        && let Ok(meta) = store.head(&prefix).await
    {
        return Ok(vec![IngestFile {
            url,
            size: meta.size,
        }]);
    }
    let mut files: Vec<IngestFile> = store
        .list(Some(&prefix))
        .map_err(LakeError::from)
        .try_filter_map(|meta| {
            let relative = relative_path(&prefix, &meta.location);
            let wanted = !relative.is_empty()
                && !relative
                    .split('/')
                    .any(|part| part.starts_with('.') || part.starts_with('_'))
                && glob.is_none_or(|g| glob_match(g, &relative))
                && pattern.is_none_or(|p| glob_match(p, &relative));
            let url = file_url(&url, &meta.location);
            futures::future::ready(Ok(wanted.then_some(IngestFile {
                url,
                size: meta.size,
            })))
        })
        .try_collect()
        .await?;
    files.sort_by(|a, b| a.url.as_str().cmp(b.url.as_str()));
    Ok(files)
}

/// `/data/in/*.csv` -> (`/data/in`, Some(`*.csv`)).
fn split_glob(location: &str) -> (&str, Option<&str>) {
    let Some(first) = location.find(['*', '?', '[']) else {
        return (location, None);
    };
    match location[..first].rfind('/') {
        Some(slash) => (&location[..slash + 1], Some(&location[slash + 1..])),
        None => ("", Some(location)),
    }
}

fn to_url(location: &str) -> Result<Url, LakeError> {
    match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 => Ok(url),
        _ => {
            let path = std::path::absolute(if location.is_empty() { "." } else { location })
                .map_err(|e| LakeError::InvalidParameter(format!("{location}: {e}")))?;
            let url = if location.ends_with('/') || path.is_dir() {
                Url::from_directory_path(&path)
            } else {
                Url::from_file_path(&path)
            };
            url.map_err(|()| LakeError::InvalidParameter(format!("{location} is not a path")))
        }
    }
}

fn relative_path(prefix: &Path, location: &Path) -> String {
    let prefix = prefix.as_ref();
    let full = location.as_ref();
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .trim_start_matches('/')
        .to_owned()
}

/// The URL of an object listed under `base`'s store.
fn file_url(base: &Url, location: &Path) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("/{}", location.as_ref()));
    url
}

/// Matches `text` against a glob: `*` any run within a name, `**` any run
/// across names, `?` one character, `[abc]` one of them.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => {
                let rest = &p[2..];
                let rest = rest.strip_prefix(&['/']).unwrap_or(rest);
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|c| *c != '/') && go(&p[1..], &t[1..]),
            Some('[') => match p.iter().position(|c| *c == ']') {
                Some(end) => {
                    t.first().is_some_and(|c| p[1..end].contains(c)) && go(&p[end + 1..], &t[1..])
                }
                None => t.first() == Some(&'[') && go(&p[1..], &t[1..]),
            },
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        assert!(glob_match("*.csv", "a.csv"));
        assert!(!glob_match("*.csv", "x/a.csv"));
        assert!(glob_match("**/*.csv", "x/y/a.csv"));
        assert!(glob_match("**/*.csv", "a.csv"));
        assert!(glob_match(
            "day=2024-0?-*/part[12].json",
            "day=2024-01-05/part2.json"
        ));
        assert!(!glob_match("part[12].json", "part3.json"));
        assert_eq!(split_glob("/data/in/*.csv"), ("/data/in/", Some("*.csv")));
        assert_eq!(split_glob("s3://b/raw/2024/"), ("s3://b/raw/2024/", None));
    }
}
