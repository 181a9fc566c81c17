//! Where the lake lives and how every node reaches it.
//!
//! The lake root is a local folder (the default, under the data folder) or an
//! object store URL (`s3://bucket/prefix` for S3 or MinIO). Plans carry table
//! URLs only; each process builds its own object store for a URL from its own
//! settings and environment, so S3 keys (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`) never travel in plans and must be set on every node.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{
    DefaultObjectStoreRegistry, ObjectStoreRegistry, ObjectStoreUrl,
};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use url::Url;

use super::LakeError;

/// The folder or bucket prefix holding the lake's schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeRoot {
    url: Url,
}

impl LakeRoot {
    /// A root from a URL (`s3://bucket/prefix`, `file:///abs/path`) or a
    /// local path, made absolute.
    pub fn parse(location: &str) -> Result<Self, LakeError> {
        let invalid =
            |why: String| LakeError::InvalidParameter(format!("lake root {location}: {why}"));
        let url = match Url::parse(location) {
            Ok(url) if url.scheme().len() > 1 => url,
            _ => {
                let path = std::path::absolute(location).map_err(|e| invalid(e.to_string()))?;
                std::fs::create_dir_all(&path).map_err(|e| invalid(e.to_string()))?;
                let path = path.canonicalize().map_err(|e| invalid(e.to_string()))?;
                Url::from_directory_path(&path).map_err(|()| invalid("not a path".to_owned()))?
            }
        };
        match url.scheme() {
            "file" | "s3" | "s3a" => {}
            other => return Err(invalid(format!("unsupported scheme {other}"))),
        }
        Ok(Self {
            url: directory(url),
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The folder of schema `schema`.
    pub fn schema_url(&self, schema: &str) -> Result<Url, LakeError> {
        join(&self.url, schema)
    }

    /// The folder of table `schema.table`.
    pub fn table_url(&self, schema: &str, table: &str) -> Result<Url, LakeError> {
        join(&self.schema_url(schema)?, table)
    }
}

/// `url` with one more path segment, as a folder.
pub fn join(url: &Url, segment: &str) -> Result<Url, LakeError> {
    if !super::valid_name(segment) {
        return Err(LakeError::InvalidParameter(format!(
            "\"{segment}\" cannot name a lake schema or table"
        )));
    }
    let mut joined = url.clone();
    joined
        .path_segments_mut()
        .map_err(|()| LakeError::InvalidParameter(format!("{url} cannot hold folders")))?
        .pop_if_empty()
        .push(segment)
        .push("");
    Ok(joined)
}

fn directory(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// S3 settings every process applies to `s3://` URLs. Keys come from the
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), never from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// An S3-compatible endpoint (MinIO, a test server), path-style.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint.
    #[serde(default)]
    pub allow_http: bool,
}

static S3_OPTIONS: LazyLock<RwLock<S3Options>> = LazyLock::new(Default::default);
static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
    LazyLock::new(Default::default);

/// Sets this process's S3 settings; stores built before are dropped.
pub fn configure_s3(options: S3Options) {
    *S3_OPTIONS.write().unwrap_or_else(|p| p.into_inner()) = options;
    STORES.lock().unwrap_or_else(|p| p.into_inner()).clear();
    register_s3_log_store();
}

/// The object store holding `url`, rooted at the store's root (a bucket, or
/// the local file system).
pub fn store_for(url: &Url) -> Result<Arc<dyn ObjectStore>, LakeError> {
    let key = store_url(url).as_str().to_owned();
    let mut stores = STORES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = stores.get(&key) {
        return Ok(Arc::clone(store));
    }
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        // Emptied folders go too, as they do in object stores.
        "file" => Arc::new(LocalFileSystem::new().with_automatic_cleanup(true)),
        "s3" | "s3a" => {
            let bucket = url
                .host_str()
                .ok_or_else(|| LakeError::InvalidParameter(format!("{url} names no bucket")))?;
            let options = S3_OPTIONS.read().unwrap_or_else(|p| p.into_inner()).clone();
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &options.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            if let Some(region) = &options.region {
                builder = builder.with_region(region);
            }
            if options.allow_http {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build()?)
        }
        other => {
            return Err(LakeError::NotSupported(format!(
                "lake storage with the {other} scheme"
            )));
        }
    };
    stores.insert(key, Arc::clone(&store));
    Ok(store)
}

/// The URL DataFusion knows `url`'s store by (`file://`, `s3://bucket`).
pub fn store_url(url: &Url) -> ObjectStoreUrl {
    let text = match url.scheme() {
        "file" => "file://".to_owned(),
        scheme => format!("{scheme}://{}", url.host_str().unwrap_or_default()),
    };
    ObjectStoreUrl::parse(text).unwrap_or_else(|_| ObjectStoreUrl::local_filesystem())
}

/// `url`'s path inside its store.
pub fn store_path(url: &Url) -> Result<Path, LakeError> {
    Path::from_url_path(url.path()).map_err(|e| LakeError::InvalidParameter(e.to_string()))
}

/// DataFusion's object store registry with the lake's stores: a URL no
/// store was registered for is resolved by [`store_for`].
#[derive(Debug, Default)]
pub struct LakeStores {
    registered: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.registered.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.registered.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) if matches!(url.scheme(), "s3" | "s3a") => store_for(url)
                .map_err(|lake| DataFusionError::Context(lake.to_string(), Box::new(e))),
            Err(e) => Err(e),
        }
    }
}

/// Delta's log stores for `s3://`: commits by put-if-absent (S3's
/// conditional writes), the same as on a local disk.
fn register_s3_log_store() {
    use deltalake_core::logstore::{LogStore, LogStoreFactory, StorageConfig, default_logstore};

    #[derive(Debug)]
    struct PutIfAbsent;

    impl LogStoreFactory for PutIfAbsent {
        fn with_options(
            &self,
            prefixed_store: Arc<dyn ObjectStore>,
            root_store: Arc<dyn ObjectStore>,
            location: &Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
            Ok(default_logstore(
                prefixed_store,
                root_store,
                location,
                options,
            ))
        }
    }

    let factories = deltalake_core::logstore::logstore_factories();
    for scheme in ["s3://", "s3a://"] {
        if let Ok(url) = Url::parse(scheme) {
            factories.insert(url, Arc::new(PutIfAbsent));
        }
    }
}
