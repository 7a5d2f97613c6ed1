//! Runs the built `meshpay` binary's `audit` on the committed example bundle, on damaged
//! copies and on garbage: right exit codes, clear messages, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/split-double-spend.bundle"
);

fn meshpay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshpay"))
        .args(args)
        .output()
        .expect("the meshpay binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "the binary panicked:\n{err}");
}

/// A directory under the system temp dir, unique to this test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "meshpay-audit-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write temp file");
        p
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn audits_the_example_as_text() {
    let o = meshpay(&["audit", EXAMPLE]);
    assert_no_panic(&o);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "NETWORK",
        "example-island",
        "ACCOUNTS (5)",
        "CONFLICTS (1)",
        "void: fork",
        "STATE DIGEST",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn audits_the_example_as_json() {
    let o = meshpay(&["audit", "--json", EXAMPLE]);
    assert_no_panic(&o);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["network"]["name"], "example-island");
    assert_eq!(v["bundle"]["records"], 7);
    assert_eq!(v["bundle"]["framing_error"], serde_json::Value::Null);
    let conflicts = v["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["proof"]["verdict"], "verified");
    assert_eq!(conflicts[0]["proof"]["culprit"], conflicts[0]["account"]);
    let voids = v["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["standing"] == "void" && r["reason"] == "fork")
        .count();
    assert_eq!(voids, 2);
    let digest = v["state_digest"].as_str().expect("digest");
    assert_eq!(digest.len(), 64);

    // The text output shows the same digest, and a second run agrees.
    let t = meshpay(&["audit", EXAMPLE]);
    assert!(stdout(&t).contains(digest));
}

#[test]
fn expect_chain_checks_the_network() {
    let o = meshpay(&["audit", "--json", EXAMPLE]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let chain = v["network"]["chain_id"]
        .as_str()
        .expect("chain id")
        .to_owned();

    let ok = meshpay(&["audit", "--expect-chain", &chain, EXAMPLE]);
    assert!(ok.status.success(), "stderr: {}", stderr(&ok));

    let other = format!(
        "{}{}",
        if chain.starts_with('0') { "1" } else { "0" },
        &chain[1..]
    );
    let bad = meshpay(&["audit", "--expect-chain", &other, EXAMPLE]);
    assert_no_panic(&bad);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("wrong network"), "{}", stderr(&bad));
    assert!(bad.stdout.is_empty());

    let malformed = meshpay(&["audit", "--expect-chain", "xyz", EXAMPLE]);
    assert_no_panic(&malformed);
    assert!(!malformed.status.success());
    assert!(
        stderr(&malformed).contains("64 hex digits"),
        "{}",
        stderr(&malformed)
    );
}

#[test]
fn truncated_copy_is_audited_and_flagged() {
    let bytes = std::fs::read(EXAMPLE).expect("example bundle");
    let dir = TempDir::new("truncated");
    let cut = dir.write("cut.bundle", &bytes[..bytes.len() - 10]);

    let o = meshpay(&["audit", text(&cut)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));
    assert!(stdout(&o).contains("STOPPED EARLY"), "{}", stdout(&o));
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));

    let j = meshpay(&["audit", "--json", text(&cut)]);
    assert_eq!(j.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).expect("JSON even when damaged");
    assert!(
        v["bundle"]["framing_error"]
            .as_str()
            .expect("framing error")
            .contains("truncated")
    );
    assert_eq!(v["bundle"]["records"], 6);
}

#[test]
fn garbage_and_missing_files_are_clear_errors() {
    let dir = TempDir::new("garbage");
    let garbage = dir.write(
        "garbage.bundle",
        b"this is not a bundle at all\n\x00\xff\x1b[2J",
    );
    let o = meshpay(&["audit", text(&garbage)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a meshpay bundle"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());

    // The magic, then a spec length running past the end.
    let bad_spec = dir.write("bad-spec.bundle", b"meshpay1\xff\xff\x03");
    let o = meshpay(&["audit", text(&bad_spec)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a meshpay bundle"),
        "{}",
        stderr(&o)
    );

    let empty = dir.write("empty.bundle", b"");
    let o = meshpay(&["audit", text(&empty)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));

    // Too large: refused from its size alone (a sparse file, nothing is written).
    let huge = dir.path().join("huge.bundle");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(256 * 1024 * 1024 + 1))
        .expect("sparse file");
    let o = meshpay(&["audit", text(&huge)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("256 MiB"), "{}", stderr(&o));

    let missing = dir.path().join("missing.bundle");
    let o = meshpay(&["audit", text(&missing)]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));

    let o = meshpay(&["audit", text(dir.path())]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("directory"), "{}", stderr(&o));
}
