//! natter-common: what every role shares.
//!
//! - [`Namespace`]: the one name every stream, subject, consumer, database and key derives from.
//! - [`config`]: the connection settings every role takes (flags and env vars).
//! - [`telemetry`]: tracing setup (text or JSON logs).
//! - [`shutdown`]: SIGINT/SIGTERM into a cloneable shutdown notice.
//! - [`tls`]: the process's TLS crypto provider.

pub mod bloom;
pub mod config;
pub mod ready;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

mod namespace;

pub use namespace::{Namespace, NamespaceError};
pub use ready::Ready;
pub use shutdown::Shutdown;
