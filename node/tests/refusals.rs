//! What an operator or a local program can get wrong, against the real binary: a corrupt
//! config, a wrong passphrase, a missing or locked data directory, API requests without
//! the token or with malformed bodies. Each gets a clear error; the running node keeps
//! serving.

mod common;

use std::time::Duration;

use common::{Node, init};
use serde_json::Value;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A raw HTTP call to the node's API: status and JSON body.
fn call(
    node: &Node,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let addr = std::fs::read_to_string(node.data.join("api.addr")).expect("api.addr");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("http://{}{path}", addr.trim());
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut response = match method {
        "GET" => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        _ => {
            let mut r = agent.post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send(body.unwrap_or_default())
        }
    }
    .expect("the API answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn operator_mistakes_get_clear_errors_and_the_node_keeps_serving() {
    let root = tempfile::tempdir().expect("temp dir");

    // A directory that holds no node.
    let missing = Node::new(root.path(), "nothing-here", None);
    let out = missing.output(&["run", "--no-mdns"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("meshpay init"),
        "{}",
        stderr_of(&out)
    );

    let mut node = Node::new(root.path(), "n", None);
    let made = init(&node, Some("refusals"), None, &["alice"]);
    let alice = made["wallets"][0][1].as_str().expect("alice").to_owned();

    // A corrupt config, named field by field.
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, "[lan]\nmax_connections = 0\n").expect("write");
    let out = node.output(&["run", "--config", bad.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("lan.max_connections"),
        "{}",
        stderr_of(&out)
    );
    std::fs::write(&bad, "[lan]\nmdns = \"yes\"\nbogus = 1\n").expect("write");
    let out = node.output(&["run", "--config", bad.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("bad.toml"), "{}", stderr_of(&out));

    // A wrong passphrase.
    let out = node
        .command(&["run", "--no-mdns"])
        .env("MESHPAY_PASSPHRASE", "not the passphrase")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("wrong passphrase"),
        "{}",
        stderr_of(&out)
    );

    // An empty passphrase variable is a mistake, not a passphrase.
    let out = node
        .command(&["run", "--no-mdns"])
        .env("MESHPAY_PASSPHRASE", "")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("passphrase is empty"),
        "{}",
        stderr_of(&out)
    );

    node.start(&["--no-mdns", "--lan-listen", "/ip4/127.0.0.1/tcp/0"]);

    // A second node on the same directory.
    let out = node.output(&["run", "--no-mdns", "--api-listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("in use by another meshpay node"),
        "{}",
        stderr_of(&out)
    );

    // The API: no token, a wrong token, malformed bodies.
    let token = std::fs::read_to_string(node.data.join("api.cookie")).expect("cookie");
    let token = token.trim();
    let (status, body) = call(&node, "GET", "/v1/status", None, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );
    let (status, _) = call(&node, "GET", "/v1/status", Some("0000"), None);
    assert_eq!(status, 401);
    for (body, code) in [
        ("{", "bad_json"),
        (r#"{"to":"00","amount":1}"#, "bad_hex"),
        (r#"{"to":5}"#, "invalid_body"),
        (&format!(r#"{{"to":"{alice}","amount":0}}"#), "bad_amount"),
        (
            &format!(r#"{{"to":"{alice}","amount":1,"extra":true}}"#),
            "invalid_body",
        ),
    ] {
        let (status, answer) = call(&node, "POST", "/v1/payments", Some(token), Some(body));
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{body}: {answer}"
        );
    }
    let huge = format!(
        r#"{{"to":"{alice}","amount":1,"memo":"{}"}}"#,
        "x".repeat(100_000)
    );
    let (status, answer) = call(&node, "POST", "/v1/payments", Some(token), Some(&huge));
    assert_eq!(status, 413, "{answer}");
    // A payment to itself is the wallet's refusal, with its reason.
    let (status, answer) = call(
        &node,
        "POST",
        "/v1/payments",
        Some(token),
        Some(&format!(r#"{{"to":"{alice}","amount":1}}"#)),
    );
    assert_eq!(status, 422, "{answer}");

    // Still serving, and it stops cleanly.
    let s = node.status();
    assert_eq!(s["chain"]["name"], "refusals");
    node.stop();
    assert!(
        !node.data.join("api.cookie").exists(),
        "the cookie goes with the node"
    );
}
