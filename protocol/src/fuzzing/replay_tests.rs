//! Replays every file under `fuzz/corpus/<target>/`, `fuzz/artifacts/<target>/` and
//! `fuzz/regressions/<target>/` through the target's body, and every seed, on stable
//! Rust: CI guards the corpora and the crashes found without a nightly toolchain.

use std::path::{Path, PathBuf};

use super::{Body, TARGETS, seeds::seeds, target};

/// The directories of `fuzz/` that hold inputs, one subdirectory per target.
const DIRS: [&str; 3] = ["corpus", "artifacts", "regressions"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs `body` on every file in `dir`: how many ran, and those it panicked on.
fn replay(dir: &Path, body: Body) -> (usize, Vec<PathBuf>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            failed.push(f.clone());
        }
    }
    (files.len(), failed)
}

#[test]
fn every_corpus_and_crash_file_replays() {
    let mut failed = Vec::new();
    let mut corpus_sizes = Vec::new();
    for dir in DIRS {
        let root = fuzz_dir().join(dir);
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in entries {
            let path = e.expect("directory entry").path();
            if !path.is_dir() {
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            // A directory no target claims would be skipped silently: refuse it.
            let body =
                target(name).unwrap_or_else(|| panic!("{} names no fuzz target", path.display()));
            let (n, f) = replay(&path, body);
            if dir == "corpus" {
                corpus_sizes.push((name.to_owned(), n));
            }
            failed.extend(f);
        }
    }
    for (name, _) in TARGETS {
        assert!(
            corpus_sizes.iter().any(|(n, size)| n == name && *size > 0),
            "fuzz/corpus/{name} is missing or empty"
        );
    }
    assert!(failed.is_empty(), "fuzz bodies panicked on {failed:#?}");
}

#[test]
fn every_seed_replays() {
    for (name, body) in TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for s in seeds {
            body(&s);
        }
    }
}

#[test]
fn a_panicking_body_fails_the_replay() {
    let dir = std::env::temp_dir().join(format!("meshpay-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("fine"), b"ok").expect("write");
    std::fs::write(dir.join("crash-1"), b"boom").expect("write");
    let (n, failed) = replay(&dir, |d| assert_ne!(d, b"boom"));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(n, 2);
    assert_eq!(failed, vec![dir.join("crash-1")]);
}

/// Writes every target's seeds to `$MESHPAY_FUZZ_SEEDS/<target>/seed-<n>`, for a
/// fuzzer to start from: `MESHPAY_FUZZ_SEEDS=fuzz/seeds cargo test -p
/// meshpay-protocol --lib write_seeds -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to seed a fuzzer"]
fn write_seeds() {
    let root = PathBuf::from(std::env::var("MESHPAY_FUZZ_SEEDS").expect("MESHPAY_FUZZ_SEEDS"));
    for (name, _) in TARGETS {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("seed dir");
        for (i, s) in seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).expect("write seed");
        }
    }
}
