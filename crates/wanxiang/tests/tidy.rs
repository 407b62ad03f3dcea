//! Style and architecture rules checked mechanically, in the manner of rust-analyzer's `tidy`.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn dependencies(krate: &str) -> Vec<String> {
    let manifest =
        fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

/// Crates that can do I/O (files, sockets, databases, HTTP, async runtimes) and so must never
/// reach the pure crates.
const IO_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "axum",
    "hyper",
    "reqwest",
    "tower",
    "tower-http",
    "rumqttd",
    "rumqttc",
    "async-nats",
    "tracing-subscriber",
    "metrics-exporter-prometheus",
    "figment",
    "csv",
    "indicatif",
    "async-trait",
];

#[test]
fn the_core_does_no_io() {
    // The core may only grow dependencies on this list; adding one is a deliberate decision
    // recorded in ARCHITECTURE.md, not an accident.
    let allowed = ["wanxiang-core", "geo-types", "thiserror", "chrono"];
    for dep in dependencies("core") {
        assert!(
            allowed.contains(&dep.as_str()),
            "wanxiang-core gained dependency {dep:?}; the core does no I/O"
        );
    }
    // chrono may only come without its `clock` feature, so the core cannot read the time.
    let core: toml::Table = fs::read_to_string(workspace().join("crates/core/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let chrono = &core["dependencies"]["chrono"];
    assert!(
        chrono.get("features").is_none(),
        "wanxiang-core must not enable chrono features (clock reads the time)"
    );
    let root: toml::Table = fs::read_to_string(workspace().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let ws_chrono = &root["workspace"]["dependencies"]["chrono"];
    assert_eq!(ws_chrono["default-features"].as_bool(), Some(false));
    let features: Vec<&str> = ws_chrono["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        !features.contains(&"clock"),
        "the workspace's chrono must not have `clock`; crates at the edge add it"
    );
    for krate in ["core", "geo", "classify", "rules"] {
        for dep in dependencies(krate) {
            assert!(
                !IO_CRATES.contains(&dep.as_str()),
                "crates/{krate} depends on I/O crate {dep:?}"
            );
        }
        let mut files = Vec::new();
        rust_files(
            &workspace().join("crates").join(krate).join("src"),
            &mut files,
        );
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for banned in [
                "std::fs",
                "std::net",
                "std::process",
                "std::env",
                "File::open",
                "SystemTime::now",
                "Instant::now",
                "Utc::now",
                "Local::now",
            ] {
                assert!(
                    !text.contains(banned),
                    "{} uses {banned}; crates/{krate} does no I/O and reads no clock",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_store_interface_names_no_database() {
    for dep in dependencies("store") {
        assert!(
            !IO_CRATES.contains(&dep.as_str()) || dep == "tokio" || dep == "async-trait",
            "wanxiang-store depends on {dep:?}"
        );
    }
    for dep in dependencies("api") {
        assert!(
            !dep.starts_with("wanxiang-store-") && dep != "sqlx",
            "the API must reach storage only through the Store trait, not {dep:?}"
        );
    }
}

#[test]
fn every_module_says_what_it_owns() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 10);
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with a `//!` comment saying what it owns",
            file.display()
        );
    }
}

#[test]
fn no_ignored_or_should_panic_tests() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    let (ignore, should_panic) = (concat!("#[", "ignore"), concat!("#[", "should_panic"));
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(ignore) && !text.contains(should_panic),
            "{}: assert today's behaviour with a FIXME instead",
            file.display()
        );
    }
}
