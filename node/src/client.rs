//! The command line's client of the local API: finds the running daemon through the
//! cookie and address files in its data directory and calls the routes, turning the
//! API's JSON errors into messages an operator can act on.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::api::{
    self, BalanceView, BlockRequest, ConflictView, CookieError, ErrorBody, HistoryEntry,
    MintRequest, PayReceipt, PayRequest, PeerView, StatusView, Token,
};

/// How long one call may take in all; a payment waits for a synced write, never longer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer the client reads.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon answers: no cookie, no address file, or the connection was refused.
    #[error("cannot reach the node's API ({why}); is `meshpay run --data {data}` running?")]
    NotRunning {
        /// What failed.
        why: String,
        /// The data directory, as the operator should pass it.
        data: String,
    },
    /// The API answered with an error.
    #[error("the node refused the request: {reason} [{code}, HTTP {status}]")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's stable error code.
        code: String,
        /// The API's reason.
        reason: String,
    },
    /// The cookie or address file is unreadable or damaged.
    #[error("{0}; restart the daemon to rewrite it")]
    Cookie(CookieError),
    /// The call failed on the way.
    #[error("the call to the node's API failed: {0}")]
    Transport(String),
    /// The answer is not what this client expects.
    #[error(
        "the node's answer is not understood ({0}); are the daemon and this command the same version?"
    )]
    Decode(String),
}

/// A client of one daemon's API.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Token,
    data: String,
}

impl Client {
    /// The client of the daemon running on `dir`, from its `api.cookie` and `api.addr`.
    pub fn from_data_dir(dir: &Path) -> Result<Self, ClientError> {
        let data = dir.display().to_string();
        let token = api::read_cookie(dir).map_err(|e| unreadable(e, &data))?;
        let addr = api::read_addr(dir).map_err(|e| unreadable(e, &data))?;
        let mut client = Client::new(addr, token);
        client.data = data;
        Ok(client)
    }

    /// A client of the API at `addr` with `token`.
    pub fn new(addr: SocketAddr, token: Token) -> Self {
        let agent = ureq::Agent::config_builder()
            // The API's JSON errors are read, not turned into bare status codes.
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        Client {
            agent,
            base: format!("http://{addr}"),
            token,
            data: "DIR".into(),
        }
    }

    /// The node's status.
    pub fn status(&self) -> Result<StatusView, ClientError> {
        self.get("/v1/status", &[])
    }

    /// One account's balances (hex), or every wallet's.
    pub fn balances(&self, account: Option<&str>) -> Result<Vec<BalanceView>, ClientError> {
        let q: Vec<(&str, String)> = account
            .map(|a| ("account", a.to_owned()))
            .into_iter()
            .collect();
        self.get("/v1/balances", &q)
    }

    /// History of one account (hex) or every wallet, newest first.
    pub fn history(
        &self,
        account: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<HistoryEntry>, ClientError> {
        let mut q = Vec::new();
        if let Some(a) = account {
            q.push(("account", a.to_owned()));
        }
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        self.get("/v1/history", &q)
    }

    /// Every conflict with its proof.
    pub fn conflicts(&self) -> Result<Vec<ConflictView>, ClientError> {
        self.get("/v1/conflicts", &[])
    }

    /// The connected peers.
    pub fn peers(&self) -> Result<Vec<PeerView>, ClientError> {
        self.get("/v1/peers", &[])
    }

    /// Makes a payment; returns once the node holds it durably and released it.
    pub fn pay(&self, request: &PayRequest) -> Result<PayReceipt, ClientError> {
        let response = self.post("/v1/payments", request)?;
        self.answer(response)
    }

    /// Creates money with the node's issuer key; returns once it is durable.
    pub fn mint(&self, request: &MintRequest) -> Result<PayReceipt, ClientError> {
        let response = self.post("/v1/mints", request)?;
        self.answer(response)
    }

    /// Disconnects and refuses a peer, or accepts it again.
    pub fn block(&self, peer: &str, blocked: bool) -> Result<(), ClientError> {
        let request = BlockRequest {
            peer: peer.to_owned(),
            blocked,
        };
        let response = self.post("/v1/peers/blocked", &request)?;
        self.check(response).map(drop)
    }

    fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        self.agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .send_json(body)
            .map_err(|e| self.transport(e))
    }

    /// The metrics, as Prometheus text.
    pub fn metrics(&self) -> Result<String, ClientError> {
        let response = self.call_get("/metrics", &[])?;
        let mut response = self.check(response)?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token.expose())
    }

    fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let response = self.call_get(path, query)?;
        self.answer(response)
    }

    fn call_get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let mut request = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.bearer());
        for (k, v) in query {
            request = request.query(*k, v);
        }
        request.call().map_err(|e| self.transport(e))
    }

    /// Reads a successful answer as `T`, or the API's error.
    fn answer<T: DeserializeOwned>(
        &self,
        response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ClientError> {
        let mut response = self.check(response)?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_json()
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Passes a successful answer through; turns an error answer into [`ClientError::Api`].
    fn check(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Result<ErrorBody, _> = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_json();
        Err(match body {
            Ok(b) => ClientError::Api {
                status: status.as_u16(),
                code: b.error,
                reason: b.reason,
            },
            Err(_) => ClientError::Api {
                status: status.as_u16(),
                code: "http".into(),
                reason: status
                    .canonical_reason()
                    .unwrap_or("unexpected status")
                    .to_owned(),
            },
        })
    }

    fn transport(&self, e: ureq::Error) -> ClientError {
        let refused = match &e {
            ureq::Error::ConnectionFailed => true,
            ureq::Error::Io(io) => matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ),
            _ => false,
        };
        if refused {
            ClientError::NotRunning {
                why: format!("{} refused the connection", self.base),
                data: self.data.clone(),
            }
        } else {
            ClientError::Transport(e.to_string())
        }
    }
}

/// A missing cookie or address file means no daemon runs on the directory.
fn unreadable(e: CookieError, data: &str) -> ClientError {
    match e {
        CookieError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            ClientError::NotRunning {
                why: format!("{} does not exist", path.display()),
                data: data.to_owned(),
            }
        }
        e => ClientError::Cookie(e),
    }
}
