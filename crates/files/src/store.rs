//! Where file bytes live: a local directory by default, any S3-compatible store by
//! configuration, both through `object_store`. The bytes never go through NATS; the log holds
//! each file's metadata.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::sign::Variant;

/// Where uploads are kept.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StoreConfig {
    /// Where natter keeps what it writes to disk (uploads, unless an S3 bucket is set);
    /// created on start and logged in full.
    #[arg(long, env = "NATTER_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// Directory for uploaded files (created on start), unless an S3 bucket is set; unset:
    /// `uploads` in the data directory.
    #[arg(long, env = "NATTER_UPLOAD_DIR")]
    pub upload_dir: Option<PathBuf>,
    /// Keep uploads in this S3 bucket instead of the directory (any S3-compatible store).
    #[arg(long, env = "NATTER_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// The S3 endpoint (`http://127.0.0.1:9000` for a local store); unset: AWS.
    #[arg(long, env = "NATTER_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "NATTER_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    #[arg(long, env = "NATTER_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    #[arg(long, env = "NATTER_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
}

/// The data directory when none is named: `$XDG_DATA_HOME/natter`, else
/// `~/.local/share/natter`, else (no home) `/var/lib/natter`; never relative to wherever natter
/// was started.
pub fn default_data_dir() -> PathBuf {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(data) = absolute("XDG_DATA_HOME") {
        return data.join("natter");
    }
    if let Some(home) = absolute("HOME") {
        return home.join(".local/share/natter");
    }
    PathBuf::from("/var/lib/natter")
}

impl StoreConfig {
    /// Where uploads go when kept on disk: `NATTER_UPLOAD_DIR`, else `uploads` in the data
    /// directory.
    pub fn upload_dir(&self) -> PathBuf {
        self.upload_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }
}

impl Default for StoreConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

/// A store failed (unreachable, full, refused).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the file's bytes are not in the store")]
    NotFound,
    #[error("file store: {0}")]
    Store(#[from] object_store::Error),
    #[error("file store: {0}")]
    Io(#[from] std::io::Error),
}

fn from_store(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Store(other),
    }
}

/// The file store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Where it is, for logs.
    describe: String,
    /// Size of each part a streaming upload writes.
    part_bytes: usize,
}

/// Size of each part of a large upload to S3 (it refuses parts under 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Size of each part of an upload to a directory (any size will do): what a streaming upload
/// holds in memory stays small however many run at once.
const LOCAL_PART_BYTES: usize = 256 * 1024;
/// Parts of one upload being written at once: with the part being filled, what a streaming
/// upload holds in memory is about (1 + this) parts, whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

impl Store {
    /// Opens the configured store; a directory is created when missing.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        if let Some(bucket) = &config.s3_bucket {
            natter_common::tls::install_crypto();
            let mut builder = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&config.s3_region);
            if let Some(endpoint) = &config.s3_endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(key) = &config.s3_access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &config.s3_secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            let describe = format!(
                "s3 bucket {bucket} at {}",
                config.s3_endpoint.as_deref().unwrap_or("AWS")
            );
            return Ok(Self {
                inner: Arc::new(builder.build()?),
                describe,
                part_bytes: PART_BYTES,
            });
        }
        let dir = config.upload_dir();
        std::fs::create_dir_all(&dir)?;
        // Said in full: a relative directory is relative to wherever natter was started.
        let dir = std::fs::canonicalize(&dir)?;
        let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)?
            .with_automatic_cleanup(true);
        Ok(Self {
            inner: Arc::new(local),
            describe: format!("directory {}", dir.display()),
            part_bytes: LOCAL_PART_BYTES,
        })
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Where a file's variant is kept.
    pub fn path(file: Uuid, variant: Variant) -> Path {
        match variant {
            Variant::Original => Path::from(format!("files/{file}")),
            Variant::Thumbnail => Path::from(format!("files/{file}.thumb")),
        }
    }

    /// Starts writing `file`'s `variant`: bytes are sent on as they come, at most a part
    /// held in memory; nothing is visible until [`Upload::finish`].
    pub fn upload(&self, file: Uuid, variant: Variant) -> Upload {
        Upload(
            BufWriter::with_capacity(
                self.inner.clone(),
                Self::path(file, variant),
                self.part_bytes,
            )
            .with_max_concurrency(PARTS_IN_FLIGHT),
        )
    }

    /// Writes a small object whole.
    pub async fn put(&self, file: Uuid, variant: Variant, bytes: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(&Self::path(file, variant), bytes.into())
            .await
            .map_err(from_store)?;
        Ok(())
    }

    /// `file`'s `variant`, or the `range` of it (end exclusive), as a stream of chunks; and
    /// its whole size.
    pub async fn get(
        &self,
        file: Uuid,
        variant: Variant,
        range: Option<Range<u64>>,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StoreError>>), StoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&Self::path(file, variant), options)
            .await
            .map_err(from_store)?;
        let size = result.meta.size;
        Ok((size, result.into_stream().map_err(from_store).boxed()))
    }

    /// Removes every variant of `file` (those already gone are fine).
    pub async fn delete(&self, file: Uuid) -> Result<(), StoreError> {
        for variant in [Variant::Original, Variant::Thumbnail] {
            match self.inner.delete(&Self::path(file, variant)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StoreError::Store(e)),
            }
        }
        Ok(())
    }

    /// Every file id with bytes in the store, and when they were last written.
    pub fn list(&self) -> BoxStream<'static, Result<(Uuid, DateTime<Utc>), StoreError>> {
        self.inner
            .list(Some(&Path::from("files")))
            .map_err(from_store)
            .try_filter_map(|meta| async move {
                let name = meta.location.filename().unwrap_or_default();
                let id = name.strip_suffix(".thumb").unwrap_or(name);
                Ok(Uuid::parse_str(id).ok().map(|id| (id, meta.last_modified)))
            })
            .boxed()
    }
}

/// A file being written.
pub struct Upload(BufWriter);

impl Upload {
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.0.put(bytes).await.map_err(from_store)
    }

    /// Makes the file visible, whole.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        self.0.shutdown().await?;
        Ok(())
    }

    /// Drops what was written.
    pub async fn abort(mut self) {
        if let Err(e) = self.0.abort().await {
            tracing::warn!(error = %e, "an unfinished upload was not cleaned up");
        }
    }
}
