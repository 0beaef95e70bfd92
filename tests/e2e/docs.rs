//! The docs' shell blocks run: every ```sh block of the README and of `docs/` runs, against a
//! natter of this test's own (`localhost:8080` in a block is this natter's address, `natter`
//! the binary under test, `$TOKEN` a signed-in user's token, the working directory a fresh
//! folder with a `photo.jpg`), and must exit 0; a block preceded by `<!-- not run: why -->`
//! is skipped, and the test says how many ran and how many were skipped, and why.

use std::path::{Path, PathBuf};

use crate::Setup;
use crate::files::png_bytes;

/// A shell block: where it is, its text, and why it is not run (if it is not).
struct Block {
    at: String,
    text: String,
    skipped: Option<String>,
}

fn blocks(page: &Path, root: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).expect("page");
    let name = page
        .strip_prefix(root)
        .unwrap_or(page)
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut last_note: Option<String> = None;
    while let Some((n, line)) = lines.next() {
        if let Some(why) = line
            .trim()
            .strip_prefix("<!-- not run:")
            .and_then(|l| l.strip_suffix("-->"))
        {
            last_note = Some(why.trim().to_owned());
            continue;
        }
        if line.trim() == "```sh" {
            let mut body = Vec::new();
            for (_, line) in lines.by_ref() {
                if line.trim_start().starts_with("```") {
                    break;
                }
                body.push(line);
            }
            out.push(Block {
                at: format!("{name}:{}", n + 1),
                text: body.join("\n"),
                skipped: last_note.take(),
            });
            continue;
        }
        if !line.trim().is_empty() {
            last_note = None;
        }
    }
    out
}

fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[tokio::test]
async fn the_docs_shell_blocks_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let all: Vec<Block> = pages(&root).iter().flat_map(|p| blocks(p, &root)).collect();
    let s = Setup::new().await;
    let alice = s.user("reader").await;
    let dir = std::env::temp_dir().join(format!("natter-docs-{}", s.env.conn.namespace.as_str()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("photo.jpg"), png_bytes(3000)).expect("photo");
    let binary = natter_testkit::natter_binary();
    let bin_dir = binary.parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let address = s.natter.base.trim_start_matches("http://").to_owned();
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for block in &all {
        if let Some(why) = &block.skipped {
            skipped.push(format!("{} ({why})", block.at));
            continue;
        }
        let script = block.text.replace("localhost:8080", &address);
        let output = tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("TOKEN", alice.token())
            .env("NATTER_NAMESPACE", s.env.conn.namespace.as_str())
            .env("NATS_URL", &s.env.conn.nats_url)
            .env("DATABASE_URL", &s.env.conn.database_url)
            .env("REDIS_URL", &s.env.conn.redis_url)
            .env("NATTER_LOG", "warn")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
            .await
            .unwrap_or_else(|_| panic!("{}: did not finish in 2 minutes", block.at))
            .expect("bash");
        assert!(
            output.status.success(),
            "{} failed ({}):\n{}\n--- stdout\n{}\n--- stderr\n{}",
            block.at,
            output.status,
            block.text,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ran.push(block.at.clone());
    }
    println!(
        "docs: {} shell blocks ran ({}); {} skipped: {}",
        ran.len(),
        ran.join(", "),
        skipped.len(),
        skipped.join("; ")
    );
    assert!(!ran.is_empty(), "no block ran");
    let _ = std::fs::remove_dir_all(&dir);
    s.env.cleanup().await;
}
