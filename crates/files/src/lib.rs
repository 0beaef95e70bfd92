//! Files for natter: where their bytes live ([`store`]), what they are ([`sniff`]), and the
//! signed URLs and keyed hashes that name them ([`sign`]).

pub mod image;
pub mod sign;
pub mod sniff;
pub mod store;

pub use image::{ImageLimits, Processed, Thumbnail};
pub use sign::{ContentHasher, Signer, Variant, window_expiry};
pub use sniff::{Detected, HEAD_BYTES, ImageKind, detect};
pub use store::{Store, StoreConfig, StoreError, Upload};
