//! The process's TLS crypto: ring, as async-nats uses it. reqwest (S3 through natter-files,
//! the bench and test clients) is built without a default provider, so every process installs
//! this one before it makes an HTTP client.

/// Installs ring as the process's rustls provider (once; later calls do nothing).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another provider installed first is as good: nothing to do then.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
