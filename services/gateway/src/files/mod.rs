//! Files: uploads (`POST /v1/uploads`), downloads (`GET /v1/files/{id}`, with a Bearer token
//! or a signed URL), and the signed URLs messages name their files by.
//!
//! The bytes go to the file store (a directory, or S3) as they arrive and never through NATS;
//! once they are stored, `file.uploaded` records the file in the log. A crash in between
//! leaves bytes that no event names: the sweeper removes them. See `access` for who may read
//! a file.

mod access;
mod download;
mod sweep;
mod upload;

use std::sync::Arc;

use natter_common::config::Checks;
use natter_files::{Signer, Store, StoreConfig, Variant, window_expiry};
use natter_schemas::files::FileUrls;
use uuid::Uuid;

pub use access::readable;
pub use download::download_routes;
pub use sweep::{sweep_files, sweep_once};
pub use upload::upload_routes;

/// Files' settings.
#[derive(Debug, Clone, clap::Args)]
pub struct FilesConfig {
    #[command(flatten)]
    pub store: StoreConfig,
    /// Largest upload, in bytes; larger is 413 `payload_too_large`.
    #[arg(long, env = "NATTER_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Bytes of files one user may keep (those not removed); an upload past it is 413.
    #[arg(long, env = "NATTER_UPLOAD_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub upload_quota_bytes: u64,
    /// Secret of signed file URLs and file hashes. Unset: derived from NATTER_JWT_SECRET.
    #[arg(long, env = "NATTER_FILES_SECRET", hide_env_values = true)]
    pub files_secret: Option<String>,
    /// Shortest life of a signed file URL, in seconds (URLs are minted per window of this
    /// length, so they live one to two windows).
    #[arg(long, env = "NATTER_FILE_URL_TTL_SECS", default_value_t = 3600)]
    pub file_url_ttl_secs: u64,
    /// Most pixels of an image natter decodes for its size and thumbnail; a larger one is
    /// kept as a plain file.
    #[arg(long, env = "NATTER_MAX_IMAGE_PIXELS", default_value_t = 40_000_000)]
    pub max_image_pixels: u64,
    /// Images processed at once (each read back from the store into memory while it is):
    /// the rest wait.
    #[arg(long, env = "NATTER_IMAGE_WORKERS", default_value_t = 2)]
    pub image_workers: usize,
    /// Seconds an upload may wait to be attached to a message before it is removed (also how
    /// old bytes no file names must be before they are removed).
    #[arg(long, env = "NATTER_UNATTACHED_FILE_SECS", default_value_t = 86_400)]
    pub unattached_file_secs: u64,
    /// How often each gateway sweeps files nobody can read any more, in seconds.
    #[arg(long, env = "NATTER_FILE_SWEEP_SECS", default_value_t = 300)]
    pub file_sweep_secs: u64,
}

impl Default for FilesConfig {
    /// The defaults the flags declare (one place: [`natter_common::config::defaults`]).
    fn default() -> Self {
        natter_common::config::defaults()
    }
}

impl FilesConfig {
    /// Adds the settings that cannot work to `checks`.
    pub fn check(&self, checks: &mut Checks) {
        const GIB: u64 = 1024 * 1024 * 1024;
        checks.require(
            (1..=100 * GIB).contains(&self.max_upload_bytes),
            "NATTER_MAX_UPLOAD_BYTES",
            || format!("{} bytes: use 1 to {}", self.max_upload_bytes, 100 * GIB),
        );
        checks.require(
            (60..=7 * 86_400).contains(&self.file_url_ttl_secs),
            "NATTER_FILE_URL_TTL_SECS",
            || format!("{} s: use 60 to 604800", self.file_url_ttl_secs),
        );
        let secret_len = self.files_secret.as_ref().map_or(usize::MAX, String::len);
        checks.require(secret_len >= 32, "NATTER_FILES_SECRET", || {
            format!("{secret_len} bytes: use at least 32 random bytes")
        });
        checks.require(
            (1..=1_000_000_000).contains(&self.max_image_pixels),
            "NATTER_MAX_IMAGE_PIXELS",
            || format!("{}: use 1 to 1000000000", self.max_image_pixels),
        );
        checks.require(
            (1..=30 * 86_400).contains(&self.unattached_file_secs),
            "NATTER_UNATTACHED_FILE_SECS",
            || format!("{} s: use 1 to 2592000", self.unattached_file_secs),
        );
        checks.require(
            (1..=86_400).contains(&self.file_sweep_secs),
            "NATTER_FILE_SWEEP_SECS",
            || format!("{} s: use 1 to 86400", self.file_sweep_secs),
        );
        checks.require(
            (1..=64).contains(&self.image_workers),
            "NATTER_IMAGE_WORKERS",
            || format!("{}: use 1 to 64", self.image_workers),
        );
        checks.require(
            self.store.s3_bucket.is_some() || !self.store.upload_dir().as_os_str().is_empty(),
            "NATTER_UPLOAD_DIR",
            || "empty: name a directory, or set NATTER_S3_BUCKET".into(),
        );
        checks.require(
            !self.store.data_dir.as_os_str().is_empty(),
            "NATTER_DATA_DIR",
            || "empty: name a directory".into(),
        );
    }
}

impl FilesConfig {
    /// What decoding an image may take.
    pub fn image_limits(&self) -> natter_files::ImageLimits {
        natter_files::ImageLimits {
            max_pixels: self.max_image_pixels,
            // A decode holds about 4 bytes a pixel, and as much again for the turned copy.
            max_alloc: self.max_image_pixels.saturating_mul(8) + (64 << 20),
        }
    }
}

/// The file store and the keys of its URLs.
pub struct Files {
    pub config: FilesConfig,
    pub store: Store,
    pub signer: Signer,
    pub urls: Arc<SignedUrls>,
    /// Images held and processed at once.
    images: Arc<tokio::sync::Semaphore>,
}

impl Files {
    /// Opens the store (creating its directory); `jwt_secret` keys the URLs unless
    /// `NATTER_FILES_SECRET` is set.
    pub fn open(config: FilesConfig, jwt_secret: &str) -> Result<Self, natter_files::StoreError> {
        let store = Store::open(&config.store)?;
        let secret = match &config.files_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => [b"files:".as_slice(), jwt_secret.as_bytes()].concat(),
        };
        let signer = Signer::new(&secret);
        let urls = Arc::new(SignedUrls {
            signer: signer.clone(),
            ttl: config.file_url_ttl_secs,
        });
        tracing::info!(store = store.describe(), "files");
        let images = Arc::new(tokio::sync::Semaphore::new(config.image_workers.max(1)));
        Ok(Self {
            config,
            store,
            signer,
            urls,
            images,
        })
    }

    /// One of the `NATTER_IMAGE_WORKERS` turns at image work, waited for before an image's
    /// bytes are read into memory and held until the last of them is let go: the memory for
    /// images in flight is bounded by the workers, not by the uploads waiting.
    pub async fn image_turn(&self) -> ImageTurn {
        match self.images.clone().acquire_owned().await {
            Ok(turn) => ImageTurn {
                _held: Arc::new(turn),
            },
            Err(_) => unreachable!("the image semaphore is never closed"),
        }
    }

    /// Strips an image's metadata and makes its thumbnail on a blocking thread, in `turn`:
    /// the turn goes with the work too, so a client that leaves mid-way does not free it
    /// while its image is still being decoded.
    pub async fn process_image(
        &self,
        turn: &ImageTurn,
        kind: natter_files::ImageKind,
        bytes: bytes::Bytes,
    ) -> natter_files::Processed {
        let limits = self.config.image_limits();
        let turn = turn.clone();
        let work = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            natter_files::image::process(kind, bytes, limits)
        });
        match work.await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "image processing failed");
                natter_files::Processed {
                    bytes: None,
                    size: None,
                    thumbnail: None,
                }
            }
        }
    }
}

/// A turn at image work ([`Files::image_turn`]); shared by the request and its blocking work,
/// given back when both are done.
#[derive(Clone)]
pub struct ImageTurn {
    _held: Arc<tokio::sync::OwnedSemaphorePermit>,
}

/// Counts bytes of images held in memory (`natter_image_bytes_in_flight`) while it lives.
pub struct InFlight(f64);

impl InFlight {
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes as f64;
        metrics::gauge!("natter_image_bytes_in_flight").increment(bytes);
        Self(bytes)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("natter_image_bytes_in_flight").decrement(self.0);
    }
}

/// Mints signed URLs: the same for every reader within one window (see
/// [`natter_files::sign`]).
pub struct SignedUrls {
    signer: Signer,
    ttl: u64,
}

impl FileUrls for SignedUrls {
    fn url(&self, file: Uuid, thumbnail: bool) -> String {
        let expires = window_expiry(natter_actions::auth::now_secs(), self.ttl);
        let (variant, suffix) = if thumbnail {
            (Variant::Thumbnail, "/thumbnail")
        } else {
            (Variant::Original, "")
        };
        let sig = self.signer.sign(file, variant, expires);
        format!("/v1/files/{file}{suffix}?exp={expires}&sig={sig}")
    }
}
