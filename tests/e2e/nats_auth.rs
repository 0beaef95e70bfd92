//! Connecting to NATS as production servers require, each against a nats-server configured
//! for it: user and password in `NATS_URL`, an nkey (`NATS_NKEY_FILE`), a credentials file
//! (`NATS_CREDS`; the operator, account and user keys made and their JWTs signed by the test),
//! TLS with the server's CA and a client certificate (`NATS_TLS_CA`, `NATS_TLS_CERT`,
//! `NATS_TLS_KEY`; certificates made by the test). Where the secret is wrong, start refuses, naming NATS, with the password
//! hidden.

use std::path::PathBuf;

use natter_testkit::{Api, NatterProcess, PrivateNats, TestEnv};

use crate::identity::run;

/// `natter up` starts on `env` and chats: a message sent is in history.
async fn chats(env: &TestEnv) {
    let up = NatterProcess::spawn(env, "up").await;
    let alice = Api::register(&up.base, "alice").await;
    let room = alice.create_room("r", "public").await;
    alice
        .send(room, "1", "over an authenticated connection")
        .await;
    crate::wait_history(&alice, room, 1).await;
    up.kill().await;
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("natter-{:08x}-{name}", rand::random::<u32>()));
        std::fs::write(&path, contents).expect("temp file");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn user_and_password_in_the_url() {
    let nats =
        PrivateNats::start_with(r#"authorization { user: natter, password: "s3cret-pw" }"#).await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = format!("nats://natter:s3cret-pw@127.0.0.1:{}", nats.port());
    chats(&env).await;

    env.conn.nats_url = format!("nats://natter:wrong-pw@127.0.0.1:{}", nats.port());
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("cannot reach NATS"), "{err}");
    assert!(!err.contains("wrong-pw"), "the password stays out: {err}");
    env.conn.nats_url = nats.url();
    env.cleanup().await;
}

#[tokio::test]
async fn an_nkey() {
    let user = nkeys::KeyPair::new_user();
    let nats = PrivateNats::start_with(
        format!(
            "authorization {{ users: [ {{ nkey: {} }} ] }}",
            user.public_key()
        )
        .as_str(),
    )
    .await;
    let seed = TempFile::new("nkey", &user.seed().expect("seed"));
    let mut env = TestEnv::new().await;
    env.conn.nats_url = nats.url();
    env.conn.nats_nkey_file = Some(seed.0.clone());
    chats(&env).await;

    let other = TempFile::new("nkey", &nkeys::KeyPair::new_user().seed().expect("seed"));
    env.conn.nats_nkey_file = Some(other.0.clone());
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "another nkey is refused: {out}{err}");
    assert!(err.contains("cannot reach NATS"), "{err}");
    env.cleanup().await;
}

/// A CA, and a certificate it signed for `names` (the first the common name).
fn signed(
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
    names: &[rcgen::SanType],
) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = names.to_vec();
    let cert = params.signed_by(&key, ca, ca_key).expect("signed");
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn tls_with_a_client_certificate() {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "natter test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let (server_cert, server_key) = signed(
        &ca,
        &ca_key,
        &[
            rcgen::SanType::IpAddress(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            rcgen::SanType::DnsName("localhost".try_into().expect("name")),
        ],
    );
    let (client_cert, client_key) = signed(
        &ca,
        &ca_key,
        &[rcgen::SanType::DnsName("natter".try_into().expect("name"))],
    );
    let files = [
        TempFile::new("ca.pem", &ca.pem()),
        TempFile::new("server.pem", &server_cert),
        TempFile::new("server-key.pem", &server_key),
        TempFile::new("client.pem", &client_cert),
        TempFile::new("client-key.pem", &client_key),
    ];
    let [ca_file, server, server_key, client, client_key] = &files;
    let nats = PrivateNats::start_with(
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true, timeout: 5 }}",
            server.0.display(),
            server_key.0.display(),
            ca_file.0.display()
        )
        .as_str(),
    )
    .await;
    let mut env = TestEnv::new().await;
    env.conn.nats_url = format!("tls://127.0.0.1:{}", nats.port());
    env.conn.nats_tls_ca = Some(ca_file.0.clone());
    env.conn.nats_tls_cert = Some(client.0.clone());
    env.conn.nats_tls_key = Some(client_key.0.clone());
    chats(&env).await;

    // Without the client certificate the server refuses the connection.
    env.conn.nats_tls_cert = None;
    env.conn.nats_tls_key = None;
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("cannot reach NATS"), "{err}");
    env.cleanup().await;
}

/// A NATS JWT (v2) for `claims` of `subject`, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let jti: String = (0..52)
        .map(|_| {
            char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rand::random::<u8>() as usize % 32])
        })
        .collect();
    let claims = serde_json::json!({
        "jti": jti,
        "iat": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = b64(claims.to_string().as_bytes());
    let signature = issuer
        .sign(format!("{header}.{payload}").as_bytes())
        .expect("sign");
    format!("{header}.{payload}.{}", b64(&signature))
}

/// A server run with an operator and accounts (a memory resolver preloaded with the account
/// JWTs, JetStream enabled in the account, a system account): natter connects with the
/// credentials file `nsc` would write for a user of the account.
#[tokio::test]
async fn a_credentials_file() {
    let operator = nkeys::KeyPair::new_operator();
    let system = nkeys::KeyPair::new_account();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
    });
    let mut with_jetstream = unlimited.clone();
    for (k, v) in [
        ("mem_storage", -1),
        ("disk_storage", -1),
        ("streams", -1),
        ("consumer", -1),
    ] {
        with_jetstream[k] = serde_json::json!(v);
    }
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "natter-test",
        serde_json::json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
    );
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2, "limits": unlimited}),
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "natter",
        serde_json::json!({"type": "account", "version": 2, "limits": with_jetstream}),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "natter",
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    let nats = PrivateNats::start_with(
        format!(
            "operator: {operator_jwt}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {system_jwt}\n  {}: {account_jwt}\n}}",
            system.public_key(),
            system.public_key(),
            account.public_key(),
        )
        .as_str(),
    )
    .await;
    let creds = TempFile::new(
        "user.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().expect("seed")
        ),
    );
    let mut env = TestEnv::new().await;
    env.conn.nats_url = nats.url();
    env.conn.nats_creds = Some(creds.0.clone());
    chats(&env).await;

    // Without them the server refuses the connection.
    env.conn.nats_creds = None;
    let (code, out, err) = run(&env, &["up"]).await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("cannot reach NATS"), "{err}");
    env.cleanup().await;
}
