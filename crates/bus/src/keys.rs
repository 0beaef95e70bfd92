//! The key bucket: a JetStream key-value bucket beside the log (`<ns>_KEYS`), as available as
//! the log itself, holding one value per key name and no history (a replaced or purged value is
//! gone from the bucket's stream). What it holds is wrapped by the vault (`natter-vault`):
//! NATS only stores bytes.
//!
//! nats-server 2.9 cannot create a bucket through async-nats 0.51 (its account info does not
//! parse), so the bucket's stream is created here as a bucket's would be, then opened.

use async_nats::jetstream::kv;
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use bytes::Bytes;
use futures::TryStreamExt;

use crate::{Bus, BusError, BusErrorKind};

/// The bucket, open.
#[derive(Clone)]
pub struct KeyBucket {
    store: kv::Store,
    /// How long an unanswered request is asked again ([`crate::StreamSettings::resend_bound`]).
    bound: std::time::Duration,
    /// Nothing is read or written once the log is lost (another NATS, or a store lost).
    watch: std::sync::Arc<crate::watch::Watch>,
}

/// The header a key-value delete or purge carries (`DEL`, `PURGE`; none on a put).
const KV_OPERATION: &str = "KV-Operation";

/// Where the log records which key bucket is its own (in the stream's description).
const KEYS_MARK: &str = " [keys: ";

impl Bus {
    /// The creation time of the key bucket this log's events were sealed with, as the log
    /// records it; None for a log that never had one.
    pub fn recorded_key_bucket(&self) -> Result<Option<String>, BusError> {
        let description = self.stream()?.cached_info().config.description.clone();
        Ok(description.and_then(|d| {
            let (_, rest) = d.split_once(KEYS_MARK)?;
            rest.strip_suffix(']').map(str::to_owned)
        }))
    }

    /// Records in the log that `bucket_epoch` is its key bucket.
    pub async fn record_key_bucket(&self, bucket_epoch: &str) -> Result<(), BusError> {
        let mut config = self.stream()?.cached_info().config.clone();
        let base = config.description.clone().unwrap_or_default();
        let base = base.split(KEYS_MARK).next().unwrap_or_default().to_owned();
        config.description = Some(format!("{base}{KEYS_MARK}{bucket_epoch}]"));
        self.js
            .update_stream(config)
            .await
            .map_err(|e| BusError::unavailable(format!("record the key bucket in the log: {e}")))?;
        Ok(())
    }

    /// Whether the key bucket's stream exists, and its creation time (its epoch).
    pub async fn key_bucket_epoch(&self) -> Result<Option<String>, BusError> {
        let name = format!("KV_{}", self.subjects().key_bucket());
        match self.js.get_stream(&name).await {
            Ok(mut stream) => {
                let info = stream
                    .info()
                    .await
                    .map_err(|e| BusError::unavailable(format!("key bucket info: {e}")))?;
                Ok(Some(info.created.timestamp_micros().to_string()))
            }
            Err(e) if crate::error::stream_not_found(&e) => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("key bucket: {e}"))),
        }
    }

    /// Opens the key bucket, creating it (with `replicas`) when it is missing.
    pub async fn key_bucket(&self, replicas: usize) -> Result<KeyBucket, BusError> {
        let bucket = self.subjects().key_bucket();
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            discard: DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            storage: StorageType::File,
            num_replicas: replicas,
            description: Some("natter keys: wrapped, one per user and per block of slots".into()),
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::unavailable(format!("create the key bucket: {e}")))?;
        let store = self
            .js
            .get_key_value(bucket)
            .await
            .map_err(|e| BusError::unavailable(format!("open the key bucket: {e}")))?;
        Ok(KeyBucket {
            store,
            bound: self.resend_bound(),
            watch: self.watch.clone(),
        })
    }
}

impl KeyBucket {
    /// The value under `key` and its revision; None when there is none (or it was purged).
    /// Asked again while the bucket does not answer (a leader being elected), for up to
    /// the resend bound.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, u64)>, BusError> {
        crate::within(&format!("read key {key}"), self.bound, || {
            self.get_once(key)
        })
        .await
    }

    /// Read from the bucket's leader, never a replica's direct answer: a replica that is
    /// behind (a node back from a pause, or catching up after its store was lost) would say
    /// a key written a moment ago is not there (a message read as erased), or hold a block as
    /// it was before slots were destroyed in it (an erased message read back).
    async fn get_once(&self, key: &str) -> Result<Option<(Bytes, u64)>, BusError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        self.watch.refuse_if_lost()?;
        let subject = format!("{}{key}", self.store.prefix);
        match self
            .store
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) => {
                let removed = message
                    .headers
                    .get(KV_OPERATION)
                    .is_some_and(|op| op.as_str() != "PUT");
                Ok((!removed).then_some((message.payload, message.sequence)))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(BusError::unavailable(format!("read key {key}: {e}"))),
        }
    }

    /// Stores `value` under `key` unless something is there (then [`BusErrorKind::Conflict`]).
    /// Tried again while the bucket does not answer, for up to the resend bound; a try
    /// whose answer was lost may have landed, so a conflict after one is read back and taken
    /// as this write when the key holds `value`.
    pub async fn create(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        let mut tried = false;
        crate::within(&format!("create key {key}"), self.bound, || {
            let again = std::mem::replace(&mut tried, true);
            let value = value.clone();
            async move {
                match self.create_once(key, value.clone()).await {
                    Err(e) if again && e.kind == BusErrorKind::Conflict => {
                        self.ours(key, &value).await?.ok_or(e)
                    }
                    other => other,
                }
            }
        })
        .await
    }

    /// The revision under `key` when it holds `value` (a write of ours whose answer was lost).
    async fn ours(&self, key: &str, value: &Bytes) -> Result<Option<u64>, BusError> {
        Ok(self
            .get_once(key)
            .await?
            .filter(|(held, _)| held == value)
            .map(|(_, revision)| revision))
    }

    async fn create_once(&self, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.watch.refuse_if_lost()?;
        self.store.create(key, value).await.map_err(|e| {
            let kind = match e.kind() {
                kv::CreateErrorKind::AlreadyExists => BusErrorKind::Conflict,
                _ => BusErrorKind::Unavailable,
            };
            BusError::new(kind, format!("create key {key}: {e}"))
        })
    }

    /// Replaces the value under `key` if it is still at `revision` (else
    /// [`BusErrorKind::Conflict`]); tried again as [`KeyBucket::create`] is.
    pub async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, BusError> {
        let mut tried = false;
        crate::within(&format!("update key {key}"), self.bound, || {
            let again = std::mem::replace(&mut tried, true);
            let value = value.clone();
            async move {
                match self.update_once(key, value.clone(), revision).await {
                    Err(e) if again && e.kind == BusErrorKind::Conflict => {
                        self.ours(key, &value).await?.ok_or(e)
                    }
                    other => other,
                }
            }
        })
        .await
    }

    async fn update_once(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, BusError> {
        self.watch.refuse_if_lost()?;
        self.store.update(key, value, revision).await.map_err(|e| {
            let kind = match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => BusErrorKind::Conflict,
                _ => BusErrorKind::Unavailable,
            };
            BusError::new(kind, format!("update key {key}: {e}"))
        })
    }

    /// Removes `key`'s value for good (no revision of it stays in the bucket).
    pub async fn purge(&self, key: &str) -> Result<(), BusError> {
        self.watch.refuse_if_lost()?;
        self.store
            .purge(key)
            .await
            .map_err(|e| BusError::unavailable(format!("purge key {key}: {e}")))
    }

    /// Every key name with a value.
    pub async fn keys(&self) -> Result<Vec<String>, BusError> {
        self.store
            .keys()
            .await
            .map_err(|e| BusError::unavailable(format!("list keys: {e}")))?
            .try_collect()
            .await
            .map_err(|e| BusError::unavailable(format!("list keys: {e}")))
    }
}
