//! Three `meshpay run` processes find each other and converge; a partition with a double
//! spend across it; the heal; every node reports the conflict with its proof through
//! the API. As root the nodes live in network namespaces joined by a bridge, find each
//! other by mDNS, and the partition takes one node's link down; otherwise they run on
//! loopback with static peers and the partition is their own block lists.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Node, can_make_netns, eventually, init};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(90);

/// A hub namespace with a bridge and one namespace per node, each joined to the bridge
/// by a veth pair; all removed on drop.
struct Lan {
    hub: String,
    nodes: Vec<(String, String, String)>,
}

impl Lan {
    fn make(n: usize) -> Result<Lan, String> {
        let id = std::process::id() % 10_000;
        let subnet = id % 250 + 1;
        let hub = format!("mpc-hub{id}");
        let mut lan = Lan {
            hub: hub.clone(),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..n {
            let ns = format!("mpc-n{i}-{id}");
            let (inner, outer) = (format!("mpc{i}i{id}"), format!("mpc{i}o{id}"));
            let addr = format!("10.214.{subnet}.{}", i + 1);
            ip(&["netns", "add", &ns])?;
            lan.nodes.push((ns.clone(), outer.clone(), addr.clone()));
            ip(&[
                "-n", &ns, "link", "add", &inner, "type", "veth", "peer", "name", &outer, "netns",
                &hub,
            ])?;
            ip(&["-n", &hub, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &hub, "link", "set", &outer, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", &inner])?;
        }
        Ok(lan)
    }

    /// Takes node `i`'s link down (`cut`) or up again.
    fn cut(&self, i: usize, cut: bool) {
        let state = if cut { "down" } else { "up" };
        ip(&["-n", &self.hub, "link", "set", &self.nodes[i].1, state]).expect("link state");
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for (ns, _, _) in &self.nodes {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.hub])
            .status();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn lan_peers(node: &Node) -> u64 {
    node.status()["peers"]["lan"].as_u64().unwrap_or(0)
}

/// Waits until every node holds the same ledger; returns the record count.
fn converge(nodes: &[Node], what: &str) -> u64 {
    let mut records = 0;
    eventually(TIMEOUT, what, || {
        let s: Vec<Value> = nodes.iter().map(Node::status).collect();
        let same = s
            .windows(2)
            .all(|w| w[0]["state_digest"] == w[1]["state_digest"]);
        records = s[0]["records"].as_u64().unwrap_or(0);
        if same {
            Ok(())
        } else {
            Err(s
                .iter()
                .map(|s| format!("{} records {}", s["node"], s["records"]))
                .collect::<Vec<_>>()
                .join(", "))
        }
    });
    records
}

fn write_secret(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("alice.secret");
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("randomness");
    std::fs::write(&path, hex::encode(secret)).expect("secret file");
    path
}

#[test]
fn three_processes_converge_and_all_report_a_double_spend_across_a_partition() {
    let root = tempfile::tempdir().expect("temp dir");
    let lan = match can_make_netns().and_then(|()| Lan::make(3)) {
        Ok(lan) => {
            println!("partition by network namespaces (veth to a bridge); discovery by mDNS");
            Some(lan)
        }
        Err(reason) => {
            println!(
                "partition by the nodes' own block lists, on loopback: no namespaces ({reason})"
            );
            None
        }
    };
    let names = ["harbour", "ship", "camp"];
    let mut nodes: Vec<Node> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Node::new(root.path(), n, lan.as_ref().map(|l| l.nodes[i].0.clone())))
        .collect();

    let made = init(&nodes[0], Some("cluster-test"), None, &[]);
    let spec = nodes[0].data.join("chain.spec");
    init(&nodes[1], None, Some(&spec), &["bob"]);
    init(&nodes[2], None, Some(&spec), &["carol"]);
    assert!(made["issuer"].is_string(), "{made}");
    // One key on two devices: the harbour's wallet, copied to the camp.
    let secret = write_secret(root.path());
    for i in [0, 2] {
        let out = nodes[i].output(&[
            "wallet",
            "import",
            "alice",
            "--secret-file",
            secret.to_str().expect("utf-8"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut dial: Vec<String> = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let listen = match &lan {
            Some(l) => format!("/ip4/{}/tcp/0", l.nodes[i].2),
            None => "/ip4/127.0.0.1/tcp/0".into(),
        };
        let mut args = vec!["--lan-listen".to_owned(), listen];
        if lan.is_none() {
            args.push("--no-mdns".into());
            for d in &dial {
                args.extend(["--peer".into(), d.clone()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        node.start(&args);
        dial.push(node.dial_addr());
    }
    eventually(TIMEOUT, "every node sees both others", || {
        let peers: Vec<u64> = nodes.iter().map(lan_peers).collect();
        if peers.iter().all(|p| *p >= 2) {
            Ok(())
        } else {
            Err(format!("{peers:?}"))
        }
    });

    let wallet_of = |node: &Node, name: &str| -> String {
        let s = node.status();
        s["wallets"]
            .as_array()
            .expect("wallets")
            .iter()
            .find(|w| w["name"] == name)
            .and_then(|w| w["account"].as_str())
            .expect("wallet")
            .to_owned()
    };
    let (alice, bob, carol) = (
        wallet_of(&nodes[0], "alice"),
        wallet_of(&nodes[1], "bob"),
        wallet_of(&nodes[2], "carol"),
    );
    nodes[0].json(&["mint", "--to", &alice, "--amount", "1000", "--json"]);
    nodes[0].json(&["mint", "--to", &bob, "--amount", "300", "--json"]);
    let paid = nodes[0].json(&[
        "pay", "--from", "alice", "--to", &bob, "--amount", "100", "--json",
    ]);
    assert_eq!(paid["seq"], 1);
    let records = converge(&nodes, "the three nodes agree");
    assert_eq!(records, 3, "two mints and a payment");

    // The partition: the camp alone.
    match &lan {
        Some(l) => l.cut(2, true),
        None => {
            let ids: Vec<String> = nodes.iter().map(Node::peer_id).collect();
            for (a, b) in [(0, 2), (1, 2), (2, 0), (2, 1)] {
                let out = nodes[a].output(&["peers", "block", &ids[b]]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            eventually(TIMEOUT, "the camp is cut off", || {
                match lan_peers(&nodes[2]) {
                    0 => Ok(()),
                    n => Err(format!("{n} peers")),
                }
            });
        }
    }
    let at_harbour = nodes[0].json(&[
        "pay", "--from", "alice", "--to", &bob, "--amount", "800", "--memo", "boat", "--json",
    ]);
    let at_camp = nodes[2].json(&[
        "pay", "--from", "alice", "--to", &carol, "--amount", "800", "--memo", "fuel", "--json",
    ]);
    assert_eq!(
        at_harbour["seq"], at_camp["seq"],
        "the same seq signed twice"
    );
    assert_ne!(at_harbour["id"], at_camp["id"]);
    converge(
        &nodes[..2],
        "the harbour and the ship agree inside their side",
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_ne!(
        nodes[0].status()["state_digest"],
        nodes[2].status()["state_digest"],
        "the partition held: the camp has not heard the harbour's payment"
    );
    assert!(
        nodes[2]
            .json(&["conflicts", "--json"])
            .as_array()
            .expect("list")
            .is_empty()
    );

    // The heal.
    match &lan {
        Some(l) => l.cut(2, false),
        None => {
            let ids: Vec<String> = nodes.iter().map(Node::peer_id).collect();
            for (a, b) in [(0, 2), (1, 2), (2, 0), (2, 1)] {
                let out = nodes[a].output(&["peers", "unblock", &ids[b]]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let records = converge(&nodes, "the three nodes agree after the heal");
    assert_eq!(records, 5);
    for node in &nodes {
        let conflicts = node.json(&["conflicts", "--json"]);
        let list = conflicts.as_array().expect("list");
        assert_eq!(list.len(), 1, "{}: {conflicts}", node.name);
        assert_eq!(list[0]["culprit"], alice.as_str());
        assert_eq!(list[0]["seq"], at_harbour["seq"]);
        assert_eq!(
            list[0]["proof"]["verified"], true,
            "{}: {conflicts}",
            node.name
        );
        let balances = node.json(&["balance", "--account", &alice, "--json"]);
        assert_eq!(balances[0]["frozen"], true, "{}: {balances}", node.name);
    }
    for node in &mut nodes {
        node.stop();
    }
}
