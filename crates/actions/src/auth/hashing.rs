//! Password hashing (argon2id) on threads of its own.

use crate::error::ApiError;

/// Password hashing is CPU- and memory-hard on purpose (argon2id: about 19 MiB each). It runs
/// on a few dedicated threads, one per core: a burst of registrations or logins neither
/// starves the other work nor balloons memory (each short-lived blocking thread would keep its
/// own 19 MiB malloc arena).
type Job = Box<dyn FnOnce() + Send>;

fn hashers() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<Job>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("natter-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        std::sync::Mutex::new(tx)
    })
}

/// Runs `work` on a hashing thread.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(work());
    });
    hashers().lock().ok()?.send(job).ok()?;
    rx.await.ok()
}

/// argon2id with the crate's default (OWASP) parameters.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    on_hasher(move || {
        use argon2::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .ok_or_else(|| ApiError::internal(&"the password hashing threads are gone"))?
    .map_err(|e| ApiError::internal(&format_args!("hashing a password: {e}")))
}

/// Whether `password` is the one `hash` was made from. A stored hash that cannot be read (or
/// no hashing thread) is logged, and the password refused.
pub async fn verify_password(password: String, hash: String) -> bool {
    let verified = on_hasher(move || {
        use argon2::PasswordVerifier;
        use argon2::password_hash::Error;
        match argon2::Argon2::default().verify_password(password.as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await;
    match verified {
        Some(Ok(ok)) => ok,
        Some(Err(e)) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            false
        }
        None => {
            tracing::error!("the password hashing threads are gone");
            false
        }
    }
}
