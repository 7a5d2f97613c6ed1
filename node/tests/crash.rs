//! Kill -9 at random moments: a node pays in a stream while records flow in from a peer;
//! it is killed with SIGKILL and restarted, again and again. Every payment it
//! acknowledged and every record it had reported holding is there after each restart,
//! and its wallet never signs two records at one seq.
//!
//! `MESHPAY_CRASH_CYCLES` sets the cycles (20 by default); `scripts/crash-loop.sh` runs
//! 100 or more.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Node, eventually};
use meshpay_node::api::{MintRequest, PayRequest};
use meshpay_node::client::Client;

/// A small PRNG (xorshift), seeded from the OS and printed, so a failing run can be
/// repeated with `MESHPAY_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The record count a restart replayed, from its log line.
fn replayed(node: &Node) -> u64 {
    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains("ledger rebuilt from the store"))
        .unwrap_or_else(|| panic!("no replay line:\n{}", node.tail_log()));
    let at = line.find("records=").expect("records field") + "records=".len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a count")
}

#[test]
fn acknowledged_payments_and_records_survive_sigkill() {
    let cycles: usize = std::env::var("MESHPAY_CRASH_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("MESHPAY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).expect("randomness");
            u64::from_le_bytes(b) | 1
        });
    println!("crash loop: {cycles} cycles, MESHPAY_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let root = tempfile::tempdir().expect("temp dir");
    let mut feeder = Node::new(root.path(), "feeder", None);
    let mut victim = Node::new(root.path(), "victim", None);
    // Offline limits high enough that the wallet pays through every cycle.
    let made = feeder.json(&[
        "init",
        "--create",
        "crash-test",
        "--wallet",
        "bob",
        "--max-count",
        "1000000",
        "--json",
    ]);
    let bob = made["wallets"][0][1].as_str().expect("bob").to_owned();
    let spec = feeder.data.join("chain.spec");
    let joined = {
        let out = victim.output(&[
            "init",
            "--join",
            spec.to_str().expect("utf-8"),
            "--wallet",
            "alice",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let alice = joined["wallets"][0][1].as_str().expect("alice").to_owned();
    feeder.start(&["--no-mdns", "--lan-listen", "/ip4/127.0.0.1/tcp/0"]);
    let feeder_addr = feeder.dial_addr();
    let victim_args = [
        "--no-mdns",
        "--lan-listen",
        "/ip4/127.0.0.1/tcp/0",
        "--peer",
        feeder_addr.as_str(),
    ];
    let feeder_api = Client::from_data_dir(&feeder.data).expect("feeder API");
    feeder_api
        .mint(&MintRequest {
            to: alice.clone(),
            amount: 9_000,
            memo: None,
        })
        .expect("fund alice");

    // Records flowing in: the feeder mints to its own wallet every few milliseconds; they
    // reach the victim over the LAN.
    let stop = Arc::new(AtomicBool::new(false));
    let minted = Arc::new(Mutex::new(Vec::<String>::new()));
    let feeding = {
        let (stop, minted, data, bob) = (
            stop.clone(),
            minted.clone(),
            feeder.data.clone(),
            bob.clone(),
        );
        std::thread::spawn(move || {
            let api = Client::from_data_dir(&data).expect("feeder API");
            while !stop.load(Ordering::Relaxed) {
                let r = api
                    .mint(&MintRequest {
                        to: bob.clone(),
                        amount: 1,
                        memo: None,
                    })
                    .expect("mint");
                minted.lock().expect("lock").push(r.id);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Acknowledged payments: id by seq; a seq acknowledged twice is a failure at once.
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let mut last_seen_records = 0u64;
    let mut checked = 0usize;
    for cycle in 0..=cycles {
        victim.start(&victim_args);
        let replay = replayed(&victim);
        assert!(
            replay >= last_seen_records,
            "cycle {cycle}: the node reported {last_seen_records} records before the kill and replayed {replay}"
        );
        // The payments acknowledged since the last check: each cycle adds far fewer than
        // the newest 1000 entries the history holds.
        let history: BTreeSet<String> = Client::from_data_dir(&victim.data)
            .expect("victim API")
            .history(Some(&alice), Some(1_000))
            .expect("history")
            .into_iter()
            .map(|e| e.id)
            .collect();
        let acked_now = acked.lock().expect("lock").clone();
        for (seq, id) in acked_now.iter().skip(checked) {
            assert!(
                history.contains(id),
                "cycle {cycle}: acknowledged payment at seq {seq} ({id}) is lost"
            );
        }
        checked = acked_now.len();
        if cycle == cycles {
            break;
        }
        // Wait for the peer before paying, so payments also race records coming in.
        eventually(
            Duration::from_secs(30),
            "the victim reaches the feeder",
            || match victim.status()["peers"]["lan"].as_u64() {
                Some(n) if n >= 1 => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        let paying = Arc::new(AtomicBool::new(true));
        let payer = {
            let (paying, acked, data, bob) = (
                paying.clone(),
                acked.clone(),
                victim.data.clone(),
                bob.clone(),
            );
            std::thread::spawn(move || {
                let Ok(api) = Client::from_data_dir(&data) else {
                    return 0;
                };
                let mut records = 0u64;
                while paying.load(Ordering::Relaxed) {
                    match api.pay(&PayRequest {
                        from: None,
                        to: bob.clone(),
                        amount: 1,
                        memo: None,
                    }) {
                        Ok(r) => {
                            let mut acked = acked.lock().expect("lock");
                            if let Some(before) = acked.insert(r.seq, r.id.clone()) {
                                panic!("seq {} acknowledged twice: {before} and {}", r.seq, r.id);
                            }
                        }
                        Err(_) => return records,
                    }
                    if let Ok(s) = api.status() {
                        records = s.records as u64;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                records
            })
        };
        std::thread::sleep(Duration::from_millis(rng.between(150, 1_500)));
        victim.kill();
        paying.store(false, Ordering::Relaxed);
        last_seen_records = last_seen_records.max(payer.join().expect("payer thread"));
    }
    stop.store(true, Ordering::Relaxed);
    feeding.join().expect("feeder thread");

    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= cycles, "payments were made: {}", acked.len());
    let minted = minted.lock().expect("lock").clone();
    eventually(Duration::from_secs(60), "the two nodes agree", || {
        let (a, b) = (victim.status(), feeder.status());
        if a["state_digest"] == b["state_digest"] {
            Ok(())
        } else {
            Err(format!("{} vs {}", a["records"], b["records"]))
        }
    });
    for node in [&victim, &feeder] {
        let conflicts = node.json(&["conflicts", "--json"]);
        assert_eq!(
            conflicts.as_array().map(Vec::len),
            Some(0),
            "{}: a seq signed twice: {conflicts}",
            node.name
        );
    }
    println!(
        "{cycles} kills: {} payments acknowledged, {} records fed, all present",
        acked.len(),
        minted.len()
    );
    victim.stop();
    feeder.stop();
}
