//! The API served on loopback over a fake backend, called over real HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use meshpay_protocol::ledger::ConflictProof;
use meshpay_protocol::wallet::WalletError;
use meshpay_protocol::{AccountId, Ledger, bundle};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::*;
use crate::client::{Client, ClientError};
use crate::example;

const ALICE: AccountId = AccountId([0xa1; 32]);
const BOB: AccountId = AccountId([0xb0; 32]);

/// A node that knows one wallet (alice), holds what it is told, and can be "down".
#[derive(Clone, Default)]
struct Fake {
    paid: Arc<Mutex<Vec<Payment>>>,
    conflicts: Vec<ConflictView>,
    down: bool,
}

impl Fake {
    fn balance_of(account: AccountId) -> BalanceView {
        BalanceView {
            account: account.to_hex(),
            wallet: Some("alice".into()),
            stated: 700,
            shortfall: 0,
            effective: 700,
            incoming: 300,
            debt: 0,
            spendable: 1000,
            frozen: false,
        }
    }
}

impl Backend for Fake {
    async fn status(&self) -> Result<StatusView, ApiError> {
        if self.down {
            return Err(ApiError::Unavailable("the node is shutting down".into()));
        }
        Ok(StatusView {
            node: "field-1".into(),
            chain: ChainView {
                id: "cd".repeat(32),
                name: "village".into(),
            },
            records: 12,
            accounts: 4,
            conflicts: self.conflicts.len(),
            orphans: 1,
            peers: BTreeMap::from([("lan".into(), 2), ("lora".into(), 1)]),
            state_digest: "ef".repeat(32),
            wallets: vec![WalletView {
                name: "alice".into(),
                account: ALICE.to_hex(),
            }],
            lan: None,
        })
    }

    async fn balance(&self, account: Option<AccountId>) -> Result<Vec<BalanceView>, ApiError> {
        match account {
            None => Ok(vec![Fake::balance_of(ALICE)]),
            Some(a) if a == ALICE => Ok(vec![Fake::balance_of(ALICE)]),
            Some(a) => Err(ApiError::UnknownAccount(a.to_hex())),
        }
    }

    async fn history(
        &self,
        account: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ApiError> {
        let account = account.unwrap_or(ALICE);
        Ok((1..=3u64)
            .rev()
            .take(limit)
            .map(|seq| HistoryEntry {
                id: format!("{seq:02x}").repeat(32),
                account: account.to_hex(),
                seq,
                kind: "transfer".into(),
                direction: Direction::Out,
                counterparty: Some(BOB.to_hex()),
                amount: 10 * seq,
                memo: None,
                status: "canonical".into(),
                void_reason: None,
            })
            .collect())
    }

    async fn conflicts(&self) -> Result<Vec<ConflictView>, ApiError> {
        Ok(self.conflicts.clone())
    }

    async fn peers(&self) -> Result<Vec<PeerView>, ApiError> {
        Ok(vec![PeerView {
            link: "lan".into(),
            peer: "12D3KooWpeer".into(),
            address: Some("/ip4/192.168.1.7/tcp/4100".into()),
            bytes_in: 1200,
            bytes_out: 800,
            frames_in: 12,
            frames_out: 9,
        }])
    }

    async fn pay(&self, payment: Payment) -> Result<PayReceipt, ApiError> {
        match &payment.from {
            None => {}
            Some(Payer::Account(a)) if *a == ALICE => {}
            Some(Payer::Wallet(w)) if w == "alice" => {}
            Some(Payer::Account(a)) => return Err(ApiError::UnknownWallet(a.to_hex())),
            Some(Payer::Wallet(w)) => return Err(ApiError::UnknownWallet(w.clone())),
        }
        if payment.amount > 1000 {
            return Err(WalletError::Insufficient {
                available: 1000,
                amount: payment.amount,
            }
            .into());
        }
        let mut paid = self.paid.lock().expect("not poisoned");
        paid.push(payment.clone());
        Ok(PayReceipt {
            id: "ab".repeat(32),
            seq: paid.len() as u64,
            from: ALICE.to_hex(),
            to: payment.to.to_hex(),
            amount: payment.amount,
        })
    }

    async fn mint(&self, mint: Mint) -> Result<PayReceipt, ApiError> {
        if mint.to == BOB {
            return Err(ApiError::Refused {
                code: "not_issuer".into(),
                reason: "this node holds no issuer key".into(),
            });
        }
        Ok(PayReceipt {
            id: "cd".repeat(32),
            seq: 1,
            from: "ee".repeat(32),
            to: mint.to.to_hex(),
            amount: mint.amount,
        })
    }

    async fn block(&self, request: BlockRequest) -> Result<(), ApiError> {
        if request.peer.starts_with("12D3") {
            Ok(())
        } else {
            Err(ApiError::bad_request("bad_peer", "not a peer id"))
        }
    }

    async fn metrics_text(&self) -> Result<String, ApiError> {
        let m = crate::metrics::Metrics::new();
        m.set_ledger(12, 4, 0, 1);
        Ok(m.encode())
    }
}

/// An API served on 127.0.0.1 by its own runtime, stopped when dropped.
struct Served {
    addr: SocketAddr,
    token: Token,
    _runtime: tokio::runtime::Runtime,
}

fn serve_fake(fake: Fake) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let token = Token::generate().expect("token");
    let listener = runtime
        .block_on(bind("127.0.0.1:0".parse().expect("addr")))
        .expect("binds loopback");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(serve_on(
        listener,
        fake,
        token.clone(),
        std::future::pending(),
    ));
    Served {
        addr,
        token,
        _runtime: runtime,
    }
}

/// A bare HTTP call: status and body as JSON (or a string when not JSON).
fn call(
    s: &Served,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("http://{}{path}", s.addr);
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (m, body) => {
            let mut r = match m {
                "POST" => agent.post(&url),
                "PUT" => agent.put(&url),
                other => panic!("method {other}"),
            };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            if let Some(ct) = content_type {
                r = r.header("Content-Type", ct);
            }
            r.send(body.unwrap_or_default())
        }
    };
    let mut response = result.expect("the server answers");
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn get(s: &Served, path: &str) -> (u16, Value) {
    call(s, "GET", path, Some(s.token.expose()), None, None)
}

fn post_json(s: &Served, path: &str, body: &str) -> (u16, Value) {
    call(
        s,
        "POST",
        path,
        Some(s.token.expose()),
        Some("application/json"),
        Some(body.as_bytes().to_vec()),
    )
}

#[track_caller]
fn assert_error(answer: (u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["error"], code, "{answer:?}");
    assert!(
        answer.1["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{answer:?}"
    );
}

/// The conflict of the example bundle, with its proof, as the daemon would report it.
fn example_conflict() -> (ConflictView, meshpay_protocol::ChainId) {
    let (spec, items, err) = bundle::decode(&example::split_double_spend()).expect("decodes");
    assert!(err.is_none());
    let mut ledger = Ledger::new(spec).expect("valid spec");
    ledger.merge(
        items.into_iter().map(|i| i.expect("record")).collect(),
        &mut UnwrapErr(SysRng),
    );
    let conflict = ledger.conflicts().into_iter().next().expect("a conflict");
    let proof = ledger.proof(&conflict);
    let chain = ledger.chain_id();
    (ConflictView::new(&conflict, proof.as_ref(), chain), chain)
}

#[test]
fn requests_without_the_token_are_refused() {
    let s = serve_fake(Fake::default());
    for path in ["/v1/status", "/metrics", "/openapi.json", "/no/such/route"] {
        assert_error(call(&s, "GET", path, None, None, None), 401, "unauthorized");
        let wrong = Token::generate().expect("token");
        assert_error(
            call(&s, "GET", path, Some(wrong.expose()), None, None),
            401,
            "unauthorized",
        );
    }
    // A payment without the token is refused before its body is looked at.
    assert_error(
        call(
            &s,
            "POST",
            "/v1/payments",
            None,
            Some("application/json"),
            Some(b"{".to_vec()),
        ),
        401,
        "unauthorized",
    );
}

#[test]
fn tokens_compare_whole_and_hide_in_debug() {
    let t = Token::generate().expect("token");
    assert!(t.matches(t.expose()));
    assert!(!t.matches(&t.expose()[..63]));
    assert!(!t.matches(""));
    let mut flipped = t.expose().to_owned().into_bytes();
    flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
    assert!(!t.matches(std::str::from_utf8(&flipped).expect("ascii")));
    assert!(!format!("{t:?}").contains(t.expose()));
    assert_eq!(Token::parse(&format!(" {}\n", t.expose())), Some(t));
    assert_eq!(Token::parse("abc"), None);
}

#[test]
fn read_routes_answer_json() {
    let (conflict, _) = example_conflict();
    let s = serve_fake(Fake {
        conflicts: vec![conflict.clone()],
        ..Fake::default()
    });

    let (code, status) = get(&s, "/v1/status");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["node"], "field-1");
    assert_eq!(status["chain"]["name"], "village");
    assert_eq!(status["peers"]["lan"], 2);
    assert_eq!(status["wallets"][0]["account"], ALICE.to_hex());
    assert_eq!(status["conflicts"], 1);

    let (code, all) = get(&s, "/v1/balances");
    assert_eq!(code, 200, "{all}");
    assert_eq!(all[0]["account"], ALICE.to_hex());
    assert_eq!(all[0]["spendable"], 1000);
    assert_eq!(all[0]["frozen"], false);
    let (code, one) = get(&s, &format!("/v1/balances?account={}", ALICE.to_hex()));
    assert_eq!((code, &one), (200, &all));

    let (code, history) = get(&s, "/v1/history?limit=2");
    assert_eq!(code, 200, "{history}");
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    assert_eq!(history[0]["seq"], 3);
    assert_eq!(history[0]["direction"], "out");

    let (code, conflicts) = get(&s, "/v1/conflicts");
    assert_eq!(code, 200, "{conflicts}");
    assert_eq!(
        conflicts,
        serde_json::to_value(vec![conflict]).expect("JSON")
    );

    let (code, peers) = get(&s, "/v1/peers");
    assert_eq!(code, 200, "{peers}");
    assert_eq!(peers[0]["link"], "lan");
    assert_eq!(peers[0]["bytes_in"], 1200);

    let (code, metrics) = get(&s, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("meshpay_ledger_records 12")),
        "{metrics}"
    );
}

#[test]
fn a_conflict_carries_a_proof_that_checks_on_its_own() {
    let (view, chain) = example_conflict();
    let proof = view.proof.as_ref().expect("a proof");
    assert!(proof.verified);
    let bytes = hex::decode(&proof.encoded).expect("hex");
    let decoded = ConflictProof::decode(&bytes).expect("decodes");
    let (culprit, seq) = decoded.verify(chain).expect("verifies");
    assert_eq!((culprit.to_hex(), seq), (view.culprit.clone(), view.seq));
    assert_eq!(view.records.len(), 2);
}

#[test]
fn queries_are_checked() {
    let s = serve_fake(Fake::default());
    assert_error(get(&s, "/v1/balances?account=xyz"), 400, "bad_hex");
    assert_error(
        get(&s, &format!("/v1/balances?account={}", BOB.to_hex())),
        404,
        "unknown_account",
    );
    assert_error(get(&s, "/v1/history?limit=0"), 400, "bad_limit");
    assert_error(get(&s, "/v1/history?limit=many"), 400, "bad_query");
    assert_error(get(&s, "/v1/history?colour=red"), 400, "bad_query");
    assert_error(get(&s, "/v1/nothing"), 404, "not_found");
    assert_error(
        call(&s, "PUT", "/v1/status", Some(s.token.expose()), None, None),
        405,
        "method_not_allowed",
    );
}

#[test]
fn a_payment_is_made_and_refusals_carry_the_wallet_reason() {
    let fake = Fake::default();
    let s = serve_fake(fake.clone());
    let body = json!({ "from": "alice", "to": BOB.to_hex(), "amount": 25, "memo": "bread" });
    let (code, receipt) = post_json(&s, "/v1/payments", &body.to_string());
    assert_eq!(code, 200, "{receipt}");
    assert_eq!(receipt["to"], BOB.to_hex());
    assert_eq!(receipt["amount"], 25);
    assert_eq!(receipt["seq"], 1);
    let paid = fake.paid.lock().expect("not poisoned").clone();
    assert_eq!(
        paid,
        vec![Payment {
            from: Some(Payer::Wallet("alice".into())),
            to: BOB,
            amount: 25,
            memo: "bread".into(),
        }]
    );

    // From an account, no memo.
    let body = json!({ "from": ALICE.to_hex(), "to": BOB.to_hex(), "amount": 5 });
    let (code, receipt) = post_json(&s, "/v1/payments", &body.to_string());
    assert_eq!((code, &receipt["seq"]), (200, &json!(2)), "{receipt}");

    let too_much = json!({ "to": BOB.to_hex(), "amount": 5000 });
    assert_error(
        post_json(&s, "/v1/payments", &too_much.to_string()),
        422,
        "insufficient",
    );
    let ghost = json!({ "from": "ghost", "to": BOB.to_hex(), "amount": 1 });
    assert_error(
        post_json(&s, "/v1/payments", &ghost.to_string()),
        404,
        "unknown_wallet",
    );
}

#[test]
fn mints_and_blocks_are_checked_and_forwarded() {
    let s = serve_fake(Fake::default());
    let ok = post_json(
        &s,
        "/v1/mints",
        &format!(r#"{{"to":"{}","amount":50}}"#, ALICE.to_hex()),
    );
    assert_eq!(ok.0, 200, "{ok:?}");
    assert_eq!(ok.1["amount"], 50);
    assert_error(
        post_json(
            &s,
            "/v1/mints",
            &format!(r#"{{"to":"{}","amount":5}}"#, BOB.to_hex()),
        ),
        422,
        "not_issuer",
    );
    assert_error(
        post_json(
            &s,
            "/v1/mints",
            &format!(r#"{{"to":"{}","amount":0}}"#, ALICE.to_hex()),
        ),
        400,
        "bad_amount",
    );
    assert_error(
        post_json(&s, "/v1/mints", r#"{"to":"zz","amount":1}"#),
        400,
        "bad_hex",
    );
    let blocked = post_json(
        &s,
        "/v1/peers/blocked",
        r#"{"peer":"12D3Koo","blocked":true}"#,
    );
    assert_eq!(blocked.0, 204, "{blocked:?}");
    assert_error(
        post_json(&s, "/v1/peers/blocked", r#"{"peer":"x","blocked":true}"#),
        400,
        "bad_peer",
    );
    assert_error(
        post_json(&s, "/v1/peers/blocked", r#"{"peer":"12D3Koo"}"#),
        400,
        "invalid_body",
    );
}

#[test]
fn malformed_payments_get_json_errors() {
    let s = serve_fake(Fake::default());
    let bob = BOB.to_hex();
    assert_error(post_json(&s, "/v1/payments", "{\"to\": "), 400, "bad_json");
    assert_error(
        post_json(&s, "/v1/payments", "{\"amount\": 5}"),
        400,
        "invalid_body",
    );
    assert_error(
        post_json(
            &s,
            "/v1/payments",
            &json!({ "to": bob, "amount": 5, "tip": 1 }).to_string(),
        ),
        400,
        "invalid_body",
    );
    assert_error(
        post_json(
            &s,
            "/v1/payments",
            &json!({ "to": bob, "amount": -5 }).to_string(),
        ),
        400,
        "invalid_body",
    );
    assert_error(
        post_json(
            &s,
            "/v1/payments",
            &json!({ "to": "b0b", "amount": 5 }).to_string(),
        ),
        400,
        "bad_hex",
    );
    assert_error(
        post_json(
            &s,
            "/v1/payments",
            &json!({ "to": bob, "amount": 0 }).to_string(),
        ),
        400,
        "bad_amount",
    );
    let body = json!({ "to": bob, "amount": 5 }).to_string().into_bytes();
    assert_error(
        call(
            &s,
            "POST",
            "/v1/payments",
            Some(s.token.expose()),
            Some("text/plain"),
            Some(body.clone()),
        ),
        415,
        "unsupported_media_type",
    );
    assert_error(
        call(
            &s,
            "POST",
            "/v1/payments",
            Some(s.token.expose()),
            None,
            Some(body),
        ),
        415,
        "unsupported_media_type",
    );
    let memo = "x".repeat(MAX_BODY_BYTES);
    let oversize = json!({ "to": bob, "amount": 5, "memo": memo }).to_string();
    assert_error(
        post_json(&s, "/v1/payments", &oversize),
        413,
        "body_too_large",
    );
}

#[test]
fn an_unavailable_node_answers_503() {
    let s = serve_fake(Fake {
        down: true,
        ..Fake::default()
    });
    assert_error(get(&s, "/v1/status"), 503, "unavailable");
}

/// Every (method, path) the router serves, from the table it is built from.
fn served_routes() -> BTreeSet<(String, String)> {
    table::<Fake>()
        .iter()
        .map(|r| {
            (
                r.verb.method().as_str().to_ascii_lowercase(),
                r.path.to_owned(),
            )
        })
        .collect()
}

/// Every (method, path) an OpenAPI document (as JSON) describes.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|k| {
                    matches!(
                        k.as_str(),
                        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                    )
                })
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let s = serve_fake(Fake::default());
    let (code, doc) = get(&s, "/openapi.json");
    assert_eq!(code, 200, "{doc}");
    assert_eq!(
        doc,
        serde_json::to_value(ApiDoc::openapi()).expect("JSON"),
        "the served document is the generated one"
    );
    let served = served_routes();
    assert_eq!(served, documented_routes(&doc));
    assert!(doc["components"]["securitySchemes"]["cookie"].is_object());

    // The router really answers every route of the table, with the method the table says.
    for (method, path) in &served {
        let answer = match method.as_str() {
            "get" => get(&s, path),
            "post" => post_json(&s, path, "{}"),
            other => panic!("unexpected method {other}"),
        };
        assert!(
            answer.0 != 404 && answer.0 != 405,
            "{method} {path}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn only_loopback_is_served() {
    for addr in ["0.0.0.0:0", "192.168.1.7:8080", "[::]:0"] {
        let addr: SocketAddr = addr.parse().expect("addr");
        let err = serve(
            addr,
            Fake::default(),
            Token::generate().expect("token"),
            std::future::ready(()),
        )
        .await
        .expect_err("refused");
        assert!(
            matches!(err, ServeError::NotLoopback(a) if a == addr),
            "{err}"
        );
        assert!(matches!(bind(addr).await, Err(ServeError::NotLoopback(_))));
    }
    // A listener bound elsewhere by the caller is refused too.
    let any = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("binds");
    let err = serve_on(
        any,
        Fake::default(),
        Token::generate().expect("token"),
        std::future::ready(()),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, ServeError::NotLoopback(_)), "{err}");
}

#[tokio::test]
async fn serving_stops_on_shutdown() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        "127.0.0.1:0".parse().expect("addr"),
        Fake::default(),
        Token::generate().expect("token"),
        async {
            let _ = stopped.await;
        },
    ));
    stop.send(()).expect("server waits");
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops in time")
        .expect("task");
    assert!(result.is_ok(), "{result:?}");
}

#[cfg(unix)]
#[test]
fn the_cookie_is_private_and_removed_on_drop() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    // A stale cookie with loose bits, as a killed daemon with another umask might leave.
    std::fs::write(dir.path().join(COOKIE_FILE), "stale").expect("write");
    std::fs::set_permissions(
        dir.path().join(COOKIE_FILE),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");

    let cookie = Cookie::create(dir.path()).expect("created");
    let path = cookie.path();
    let mode = std::fs::metadata(&path)
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(read_cookie(dir.path()).expect("reads"), *cookie.token());

    let addr: SocketAddr = "127.0.0.1:4711".parse().expect("addr");
    cookie.write_addr(addr).expect("written");
    assert_eq!(read_addr(dir.path()).expect("reads"), addr);
    let addr_mode = std::fs::metadata(dir.path().join(ADDR_FILE))
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(addr_mode & 0o777, 0o600);

    // A second start gets a new token.
    let again = Cookie::create(dir.path()).expect("created");
    assert_ne!(again.token(), cookie.token());
    drop(cookie);
    drop(again);
    assert!(!path.exists());
    assert!(!dir.path().join(ADDR_FILE).exists());
}

#[test]
fn the_client_calls_every_route() {
    let fake = Fake {
        conflicts: vec![example_conflict().0],
        ..Fake::default()
    };
    let s = serve_fake(fake.clone());
    let client = Client::new(s.addr, s.token.clone());
    assert_eq!(client.status().expect("status").node, "field-1");
    assert_eq!(client.balances(None).expect("balances").len(), 1);
    assert_eq!(
        client.balances(Some(&ALICE.to_hex())).expect("balances")[0].spendable,
        1000
    );
    assert_eq!(client.history(None, Some(1)).expect("history").len(), 1);
    assert!(
        client.conflicts().expect("conflicts")[0]
            .proof
            .as_ref()
            .is_some_and(|p| p.verified)
    );
    assert_eq!(client.peers().expect("peers")[0].frames_out, 9);
    assert!(
        client
            .metrics()
            .expect("metrics")
            .contains("meshpay_ledger_records")
    );
    let receipt = client
        .pay(&PayRequest {
            from: None,
            to: BOB.to_hex(),
            amount: 40,
            memo: None,
        })
        .expect("paid");
    assert_eq!((receipt.amount, receipt.seq), (40, 1));

    let refused = client
        .pay(&PayRequest {
            from: None,
            to: BOB.to_hex(),
            amount: 4000,
            memo: None,
        })
        .expect_err("refused");
    match &refused {
        ClientError::Api { status, code, .. } => {
            assert_eq!((*status, code.as_str()), (422, "insufficient"))
        }
        other => panic!("{other:?}"),
    }
    assert!(refused.to_string().contains("1000 available"), "{refused}");

    let wrong = Client::new(s.addr, Token::generate().expect("token"));
    assert!(matches!(
        wrong.status(),
        Err(ClientError::Api { status: 401, .. })
    ));
}

#[test]
fn the_client_finds_the_daemon_through_its_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Client::from_data_dir(dir.path()).expect_err("no cookie");
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    let shown = dir.path().display().to_string();
    assert!(
        err.to_string()
            .contains(&format!("is `meshpay run --data {shown}` running?")),
        "{err}"
    );

    let s = serve_fake(Fake::default());
    // The daemon's side: its cookie, and the address it bound.
    let cookie = Cookie::create(dir.path()).expect("cookie");
    cookie.write_addr(s.addr).expect("addr");
    // The fake was served with its own token: the client must send the cookie's.
    let client = Client::from_data_dir(dir.path()).expect("client");
    assert!(matches!(
        client.status(),
        Err(ClientError::Api { status: 401, .. })
    ));
    std::fs::write(dir.path().join(COOKIE_FILE), s.token.expose()).expect("write");
    let client = Client::from_data_dir(dir.path()).expect("client");
    assert_eq!(client.status().expect("status").node, "field-1");

    // Nobody listens on the address any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        l.local_addr().expect("addr")
    };
    cookie.write_addr(closed).expect("addr");
    let err = Client::from_data_dir(dir.path())
        .expect("client")
        .status()
        .expect_err("refused");
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    assert!(err.to_string().contains("running?"), "{err}");
}
