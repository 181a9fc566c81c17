//! The persisted catalog: schemas, external tables and views that survive a
//! restart.
//!
//! DataFusion keeps catalogs in memory. Strata records every catalog object a
//! user creates in `<data dir>/catalog.json` and replays the definitions on
//! start. The file is rewritten whole through a temporary file and a rename, so
//! a crash leaves either the old or the new catalog, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use datafusion::sql::parser::CreateExternalTable;
use serde::{Deserialize, Serialize};
use strata_connectors::postgres::options::{ReadOptions, TableOptions};
use strata_connectors::postgres::quote_literal;
use strata_connectors::postgres::source::PgSource;

use crate::error::{Result, StrataError};

const FILE_NAME: &str = "catalog.json";
const FORMAT_VERSION: u32 = 1;

/// A schema created by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaEntry {
    pub catalog: String,
    pub schema: String,
}

/// What kind of object a definition creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    ExternalTable,
    View,
}

/// A table or view, with the SQL that recreates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub kind: ObjectKind,
    /// A statement that recreates the object under its fully qualified name.
    pub sql: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    schemas: Vec<SchemaEntry>,
    objects: Vec<ObjectEntry>,
    /// Sources attached with SQL (`ATTACH`); their definitions hold no secret.
    #[serde(default)]
    sources: Vec<PgSource>,
    /// Read options set with `ALTER TABLE ... SET (...)`, by source, then
    /// `schema.table`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    table_options: BTreeMap<String, TableOptions>,
    /// The oids given to databases, schemas and relations, by
    /// [`object_key`], so that clients that keep oids (pgjdbc, DBeaver) find
    /// the same objects after a restart.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    oids: BTreeMap<String, u32>,
}

/// The first oid PostgreSQL gives to user objects (`FirstNormalObjectId`).
pub const FIRST_USER_OID: u32 = 16384;

/// The key an object's oid is recorded under: its kind and its quoted,
/// dot-separated name (`rel lake.silver."Orders"`).
pub fn object_key(kind: &str, name: &[&str]) -> String {
    let parts: Vec<String> = name.iter().map(|part| quote_ident(part)).collect();
    format!("{kind} {}", parts.join("."))
}

/// The persisted definitions, kept in step with the file.
#[derive(Debug)]
pub struct CatalogStore {
    path: PathBuf,
    file: Mutex<CatalogFile>,
}

impl CatalogStore {
    /// Opens (or starts) the catalog kept in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<CatalogFile>(&bytes).map_err(|e| {
                StrataError::Internal(format!("catalog file {} is damaged: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CatalogFile {
                version: FORMAT_VERSION,
                ..Default::default()
            },
            Err(e) => return Err(e.into()),
        };
        if file.version != FORMAT_VERSION {
            return Err(StrataError::Internal(format!(
                "catalog file {} has format version {}, this server reads {FORMAT_VERSION}",
                path.display(),
                file.version
            )));
        }
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// User-created schemas, in creation order.
    pub fn schemas(&self) -> Vec<SchemaEntry> {
        self.lock().schemas.clone()
    }

    /// Tables and views, in creation order.
    pub fn objects(&self) -> Vec<ObjectEntry> {
        self.lock().objects.clone()
    }

    /// Records a schema.
    pub fn add_schema(&self, entry: SchemaEntry) -> Result<()> {
        self.update(|file| {
            if !file.schemas.contains(&entry) {
                file.schemas.push(entry);
            }
        })
    }

    /// Forgets a schema and everything recorded in it.
    pub fn remove_schema(&self, catalog: &str, schema: &str) -> Result<()> {
        self.update(|file| {
            file.schemas
                .retain(|s| !(s.catalog == catalog && s.schema == schema));
            file.objects
                .retain(|o| !(o.catalog == catalog && o.schema == schema));
        })
    }

    /// Records a table or view, replacing an earlier one of the same name.
    pub fn sources(&self) -> Vec<PgSource> {
        self.lock().sources.clone()
    }

    /// Records a source attached with SQL, replacing one of the same name.
    pub fn add_source(&self, source: PgSource) -> Result<()> {
        self.update(|file| {
            file.sources.retain(|s| s.name != source.name);
            file.sources.push(source);
        })
    }

    /// Forgets a source attached with SQL, and its tables' read options.
    pub fn remove_source(&self, name: &str) -> Result<()> {
        self.update(|file| {
            file.sources.retain(|s| s.name != name);
            file.table_options.remove(name);
        })
    }

    /// The read options set with SQL on the tables of `source`.
    pub fn table_options(&self, source: &str) -> TableOptions {
        self.lock()
            .table_options
            .get(source)
            .cloned()
            .unwrap_or_default()
    }

    /// Records the read options of `source`'s table `key` (`schema.table`);
    /// empty options are forgotten.
    pub fn set_table_options(&self, source: &str, key: &str, options: ReadOptions) -> Result<()> {
        self.update(|file| {
            let tables = file.table_options.entry(source.to_owned()).or_default();
            if options.is_empty() {
                tables.remove(key);
            } else {
                tables.insert(key.to_owned(), options);
            }
            if tables.is_empty() {
                file.table_options.remove(source);
            }
        })
    }

    pub fn add_object(&self, entry: ObjectEntry) -> Result<()> {
        self.update(|file| {
            file.objects.retain(|o| {
                !(o.catalog == entry.catalog && o.schema == entry.schema && o.name == entry.name)
            });
            file.objects.push(entry);
        })
    }

    /// Forgets a table or view.
    pub fn remove_object(&self, catalog: &str, schema: &str, name: &str) -> Result<()> {
        self.update(|file| {
            file.objects
                .retain(|o| !(o.catalog == catalog && o.schema == schema && o.name == name));
        })
    }

    /// The oids of the objects `keys` name ([`object_key`]); objects seen
    /// for the first time get the next free oids, recorded before they are
    /// returned. A dropped object's oid is kept: an object created again
    /// under its name gets it back.
    pub fn oids(&self, keys: &[String]) -> Result<Vec<u32>> {
        let known = |file: &CatalogFile| -> Option<Vec<u32>> {
            keys.iter().map(|key| file.oids.get(key).copied()).collect()
        };
        if let Some(oids) = known(&self.lock()) {
            return Ok(oids);
        }
        self.update(|file| {
            let mut next = file
                .oids
                .values()
                .max()
                .map_or(FIRST_USER_OID, |oid| oid + 1);
            for key in keys {
                file.oids.entry(key.clone()).or_insert_with(|| {
                    next += 1;
                    next - 1
                });
            }
        })?;
        Ok(known(&self.lock()).unwrap_or_default())
    }

    /// The key the object with `oid` is recorded under, if one is.
    pub fn object_of(&self, oid: u32) -> Option<String> {
        self.lock()
            .oids
            .iter()
            .find(|(_, recorded)| **recorded == oid)
            .map(|(key, _)| key.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CatalogFile> {
        // A panic while holding the lock cannot leave the in-memory copy torn:
        // every update builds the new state before writing it.
        self.file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut CatalogFile)) -> Result<()> {
        let mut file = self.lock();
        let mut next = CatalogFile {
            version: FORMAT_VERSION,
            schemas: file.schemas.clone(),
            objects: file.objects.clone(),
            sources: file.sources.clone(),
            table_options: file.table_options.clone(),
            oids: file.oids.clone(),
        };
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| StrataError::Internal(format!("cannot encode the catalog: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)?;
        *file = next;
        Ok(())
    }
}

/// Renders a `CREATE EXTERNAL TABLE` statement that recreates `table` under
/// `qualified_name` with its locations made absolute. DataFusion's own
/// `Display` leaves out columns, partitioning and options, so it cannot be
/// stored as is.
pub fn external_table_sql(table: &CreateExternalTable, qualified_name: &str) -> String {
    let mut sql = format!("CREATE EXTERNAL TABLE {qualified_name}");
    if !table.columns.is_empty() {
        let columns: Vec<String> = table.columns.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(" ({})", columns.join(", ")));
    }
    sql.push_str(&format!(" STORED AS {}", table.file_type));
    if !table.table_partition_cols.is_empty() {
        let cols: Vec<String> = table
            .table_partition_cols
            .iter()
            .map(|c| quote_ident(c))
            .collect();
        sql.push_str(&format!(" PARTITIONED BY ({})", cols.join(", ")));
    }
    let locations: Vec<String> = table.locations.iter().map(|l| quote_literal(l)).collect();
    match locations.as_slice() {
        [one] => sql.push_str(&format!(" LOCATION {one}")),
        many => sql.push_str(&format!(" LOCATION ({})", many.join(", "))),
    }
    if !table.options.is_empty() {
        let options: Vec<String> = table
            .options
            .iter()
            .map(|(k, v)| format!("{} {}", quote_literal(k), v))
            .collect();
        sql.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    sql
}

/// Quotes an identifier the way PostgreSQL would need it.
pub use strata_connectors::format::quote_ident;

/// Makes a local path absolute against the server's working directory, so a
/// table keeps pointing at the same files whatever directory the server is
/// restarted from. URLs (`s3://...`, `file:///...`) are left as they are.
pub fn absolute_location(location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let path = Path::new(location);
    if path.is_absolute() {
        return location.to_owned();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return location.to_owned();
    };
    let mut joined = cwd.join(path).to_string_lossy().into_owned();
    // A trailing slash marks a folder for DataFusion; keep it.
    if location.ends_with('/') && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = CatalogStore::open(dir.path()).unwrap();
        store
            .add_schema(SchemaEntry {
                catalog: "lake".into(),
                schema: "raw".into(),
            })
            .unwrap();
        store
            .add_object(ObjectEntry {
                catalog: "lake".into(),
                schema: "raw".into(),
                name: "t".into(),
                kind: ObjectKind::ExternalTable,
                sql: "CREATE EXTERNAL TABLE lake.raw.t STORED AS PARQUET LOCATION '/x'".into(),
            })
            .unwrap();
        let reopened = CatalogStore::open(dir.path()).unwrap();
        assert_eq!(reopened.schemas().len(), 1);
        assert_eq!(reopened.objects()[0].name, "t");

        reopened.remove_schema("lake", "raw").unwrap();
        let again = CatalogStore::open(dir.path()).unwrap();
        assert!(again.schemas().is_empty());
        assert!(
            again.objects().is_empty(),
            "dropping a schema drops its tables"
        );
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("orders"), "orders");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
