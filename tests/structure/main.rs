//! The house rules, checked on the product code's sources (no servers needed): no import
//! cycle between the files of a crate (from their `crate::`, `super::` and `self::` paths),
//! libraries never import services, every file says its one job in its first line (a `//!`
//! doc), a file past 400 lines says why, and every relative link of the docs leads somewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod graph;

/// The workspace's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The product crates: every workspace member but the tests and the test kit.
fn product_crates() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the workspace's members");
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty() && *m != "tests" && *m != "crates/testkit")
        .map(|m| root().join(m))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_crate_has_an_import_cycle() {
    let mut found = Vec::new();
    let mut files = 0;
    for krate in product_crates() {
        let src = krate.join("src");
        let graph = graph::Graph::of(&src);
        files += graph.files();
        for cycle in graph.cycles() {
            found.push(format!(
                "{}: {}",
                krate.strip_prefix(root()).unwrap_or(&krate).display(),
                cycle
            ));
        }
    }
    assert!(
        files > 100,
        "only {files} files read: is the workspace where it was?"
    );
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn libraries_never_import_services() {
    let services: BTreeSet<String> = product_crates()
        .iter()
        .filter(|c| c.starts_with(root().join("services")))
        .filter_map(|c| package_name(c))
        .collect();
    assert!(services.contains("natter-gateway"), "{services:?}");
    let mut wrong = BTreeMap::new();
    for krate in product_crates()
        .iter()
        .filter(|c| !c.starts_with(root().join("services")))
    {
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).expect("manifest");
        // The [dependencies] table only (dev-dependencies may use anything).
        let deps = manifest
            .split("\n[")
            .find(|t| t.starts_with("dependencies]"))
            .unwrap_or_default();
        for line in deps.lines() {
            let name = line.split(['.', '=', ' ']).next().unwrap_or_default();
            if services.contains(name) {
                wrong.insert(krate.display().to_string(), name.to_owned());
            }
        }
    }
    assert!(wrong.is_empty(), "libraries importing services: {wrong:?}");
}

/// The gateway is transport: what a chat action means is `natter-actions`, which knows
/// neither HTTP nor sockets, and the gateway appends nothing to the log itself.
#[test]
fn the_gateway_is_transport_over_the_actions() {
    let manifest =
        std::fs::read_to_string(root().join("crates/actions/Cargo.toml")).expect("manifest");
    let deps = manifest
        .split("\n[")
        .find(|t| t.starts_with("dependencies]"))
        .unwrap_or_default();
    for transport in [
        "axum",
        "hyper",
        "tower",
        "tokio-tungstenite",
        "natter-gateway",
    ] {
        assert!(
            !deps
                .lines()
                .any(|l| l.split(['.', '=', ' ']).next() == Some(transport)),
            "natter-actions depends on {transport}"
        );
    }
    let mut files = Vec::new();
    rust_files(&root().join("services/gateway/src"), &mut files);
    let appending: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .contains(".append(")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        appending.is_empty(),
        "the gateway appends to the log itself (an action belongs in natter-actions): {appending:?}"
    );
}

fn package_name(krate: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).ok()?;
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_owned())
}

#[test]
fn every_file_says_its_job_and_a_long_one_why() {
    let mut undocumented = Vec::new();
    let mut long = Vec::new();
    for krate in product_crates() {
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            let name = file
                .strip_prefix(root())
                .unwrap_or(&file)
                .display()
                .to_string();
            if !text.starts_with("//!") {
                undocumented.push(name.clone());
            }
            let lines = text.lines().count();
            let doc: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ");
            if lines > 400 && !doc.contains("Longer than 400 lines:") {
                long.push(format!("{name} ({lines} lines)"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "files whose first line is not a `//!` saying their job: {undocumented:?}"
    );
    assert!(
        long.is_empty(),
        "files past 400 lines that do not say why (`Longer than 400 lines: ...` in their doc): {long:?}"
    );
}

/// Every relative link in the README and the pages of `docs/` names a file or folder that is
/// there (anchors and web addresses aside).
#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let mut pages = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs"))
        .expect("docs")
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("page");
        let dir = page.parent().expect("a folder");
        for target in links(&text) {
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            if !dir.join(path).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(checked > 10, "only {checked} links checked");
    assert!(broken.is_empty(), "links that lead nowhere: {broken:#?}");
}

/// The targets of a page's Markdown links, `[text](target)` and `![alt](target)`, outside
/// code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// The graph finds a cycle where there is one (so that the test above can fail), through a
/// `use` list and `super::`, and none in a test module.
#[test]
fn a_cycle_is_found_where_there_is_one() {
    let dir = std::env::temp_dir().join(format!("natter-structure-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).expect("dir");
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).expect("write");
    write("lib.rs", "//! A crate.\nmod a;\nmod b;\nmod c;\n");
    write("a/mod.rs", "//! A.\nmod x;\nuse crate::{b::B, c};\n");
    write("a/x.rs", "//! X.\n");
    write(
        "b.rs",
        "//! B.\npub struct B(super::a::A, super::a::x::X);\n",
    );
    write(
        "c.rs",
        "//! C.\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n",
    );
    let graph = graph::Graph::of(&src);
    let cycles = graph.cycles();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(graph.files(), 5);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("a/mod.rs -> b.rs"), "{cycles:?}");
    assert!(
        !cycles[0].contains("c.rs"),
        "tests are left out: {cycles:?}"
    );
}

/// `docker-compose.yml` and `scripts/cluster` run the same topology: three NATS nodes, two
/// gateways behind HAProxy, and each of natter's other roles as a process of its own. Where
/// `docker compose` is installed, it validates the compose file too.
#[test]
fn compose_and_scripts_cluster_run_the_same_topology() {
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).expect("compose");
    let script = std::fs::read_to_string(root().join("scripts/cluster")).expect("script");
    let workers: Vec<&str> = script
        .lines()
        .find_map(|l| l.strip_prefix("WORKERS=("))
        .and_then(|l| l.strip_suffix(')'))
        .expect("scripts/cluster names its WORKERS")
        .split_whitespace()
        .collect();
    assert_eq!(workers, ["projector", "fanout", "previews", "push"]);
    let services: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' ') && !name.contains(' '))
        .collect();
    for service in workers.iter().copied().chain([
        "nats-1",
        "nats-2",
        "nats-3",
        "gateway-1",
        "gateway-2",
        "haproxy",
    ]) {
        assert!(
            services.contains(&service),
            "docker-compose.yml has no `{service}`: {services:?}"
        );
    }
    for role in workers.iter().chain(&["gateway"]) {
        assert!(
            compose.contains(&format!("command: [\"{role}\"]")),
            "docker-compose.yml runs no `natter {role}`"
        );
    }
    assert!(compose.contains("NATTER_STREAM_REPLICAS: \"3\""));
    assert!(script.contains("NATTER_STREAM_REPLICAS=3"));
    for text in [&compose, &script] {
        assert!(
            text.contains("timeout tunnel") || text.contains("./haproxy:"),
            "HAProxy's tunnel timeout is set"
        );
    }
    let haproxy = std::fs::read_to_string(root().join("haproxy/haproxy.cfg")).expect("haproxy");
    assert!(haproxy.contains("timeout tunnel 1h") && haproxy.contains("GET /readyz"));
    let docker = std::process::Command::new("docker")
        .args(["compose", "version"])
        .output();
    if docker.is_ok_and(|o| o.status.success()) {
        let check = std::process::Command::new("docker")
            .args(["compose", "config", "--quiet"])
            .current_dir(root())
            .output()
            .expect("docker compose config");
        assert!(
            check.status.success(),
            "docker compose config: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
