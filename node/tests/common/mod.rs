//! Running `meshpay` processes from tests: data directories, `init`, `run` in the
//! background, and the CLI's read commands as JSON. A node may live in a network
//! namespace; then every command runs inside it (`ip netns exec`), because the API
//! listens on that namespace's loopback.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The passphrase every test node's keystore uses.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The meshpay binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_meshpay")
}

/// One node: its data directory, its namespace if any, and its process when running.
pub struct Node {
    pub name: String,
    pub data: PathBuf,
    pub netns: Option<String>,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    /// A node whose data directory is `root/name`.
    pub fn new(root: &Path, name: &str, netns: Option<String>) -> Node {
        Node {
            name: name.into(),
            data: root.join(name),
            netns,
            child: None,
            log: root.join(format!("{name}.log")),
        }
    }

    /// A `meshpay` command for this node, inside its namespace when it has one.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin()]);
                c
            }
            None => Command::new(bin()),
        };
        c.arg("--data").arg(&self.data).args(args);
        c.env("MESHPAY_PASSPHRASE", PASSPHRASE);
        c.env_remove("RUST_LOG");
        c
    }

    /// Runs a command to its end.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("meshpay runs")
    }

    /// Runs a command that must succeed and print JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr),
            self.tail_log()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{} {args:?}: not JSON ({e}): {}",
                self.name,
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `meshpay run` in the background, logs to a file; waits for its API.
    pub fn start(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(&self.log).expect("log file");
        let _ = std::fs::remove_file(self.data.join("api.addr"));
        let mut args = vec!["run", "--api-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let child = self
            .command(&args)
            .env("RUST_LOG", "info,libp2p=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("meshpay run starts");
        self.child = Some(child);
        self.wait_api(Duration::from_secs(60));
    }

    /// Waits until the API answers.
    pub fn wait_api(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            if self.data.join("api.addr").exists()
                && self.output(&["status", "--json"]).status.success()
            {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("{} exited with {status}:\n{}", self.name, self.tail_log());
            }
            assert!(
                Instant::now() < until,
                "{} API never came up:\n{}",
                self.name,
                self.tail_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The node's status.
    pub fn status(&self) -> Value {
        self.json(&["status", "--json"])
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY-free: kill(1) by pid through the shell's utility keeps the test std-only.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(
                        status.success(),
                        "{} exited with {status}:\n{}",
                        self.name,
                        self.tail_log()
                    );
                    return;
                }
                if Instant::now() > until {
                    let _ = c.kill();
                    panic!(
                        "{} did not stop on SIGTERM:\n{}",
                        self.name,
                        self.tail_log()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL, at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last lines of the node's log.
    pub fn tail_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The node's LAN peer id.
    pub fn peer_id(&self) -> String {
        self.status()["lan"]["peer"]
            .as_str()
            .expect("lan peer")
            .to_owned()
    }

    /// A TCP address the node listens on, with its peer id, for others to dial.
    pub fn dial_addr(&self) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.status();
            let tcp = s["lan"]["listen"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|a| a.contains("/tcp/"))
                .map(str::to_owned);
            if let Some(a) = tcp {
                return format!("{a}/p2p/{}", s["lan"]["peer"].as_str().expect("peer"));
            }
            assert!(Instant::now() < until, "{} never listened", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes a node's data directory: a new network, or one joined from `spec`.
#[track_caller]
pub fn init(node: &Node, create: Option<&str>, join: Option<&Path>, wallets: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["init".into(), "--json".into()];
    if let Some(name) = create {
        args.extend(["--create".into(), name.into()]);
    }
    if let Some(spec) = join {
        args.extend(["--join".into(), spec.display().to_string()]);
    }
    for w in wallets {
        args.extend(["--wallet".into(), (*w).into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.json(&args)
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; panics with `what`.
#[track_caller]
pub fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let until = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if Instant::now() >= until => {
                panic!("{what}: gave up after {timeout:?}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Whether this process may make network namespaces (root, with `ip`).
pub fn can_make_netns() -> Result<(), String> {
    if std::env::var_os("MESHPAY_TEST_NO_NETNS").is_some() {
        return Err("MESHPAY_TEST_NO_NETNS is set".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Err("not running as root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("no `ip` command: {e}")),
    }
}
