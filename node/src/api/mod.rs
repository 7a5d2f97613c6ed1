//! The local HTTP/JSON API the command line and wallet apps use: status, balances,
//! history, conflicts with their proofs, peers, payments, Prometheus metrics and the
//! OpenAPI document. It binds to loopback only and every request carries the cookie's
//! token, because the API can spend. It talks to the node through a [`Backend`], so it is
//! tested without the daemon; the daemon's backend forwards to the task that owns the
//! ledger.
//!
//! The daemon starts it in this order, so the command line never finds an address
//! without its cookie: [`Cookie::create`] (writes `api.cookie`, 0600), [`bind`] a
//! loopback address (port 0 picks one), [`Cookie::write_addr`] with the listener's
//! `local_addr`, then [`serve_on`] with the cookie's token and the shutdown signal; the
//! cookie is dropped once serving stops, which removes both files.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use meshpay_protocol::AccountId;
use tokio::net::TcpListener;

mod auth;
mod error;
mod routes;
mod types;

#[cfg(test)]
mod tests;

pub use auth::{ADDR_FILE, COOKIE_FILE, Cookie, CookieError, Token, read_addr, read_cookie};
pub use error::ApiError;
pub use routes::{ApiDoc, METRICS_CONTENT_TYPE, Route, Verb, table};
pub use types::{
    BalanceQuery, BalanceView, BlockRequest, ChainView, ConflictView, DEFAULT_HISTORY_LIMIT,
    Direction, ErrorBody, HistoryEntry, HistoryQuery, LanView, MAX_HISTORY_LIMIT, Mint,
    MintRequest, PayReceipt, PayRequest, Payer, Payment, PeerView, ProofView, StatusView,
    WalletView,
};

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API asks of the node. The daemon's implementation sends each call to the task
/// that owns the ledger and waits for its answer; tests use a fake.
pub trait Backend: Clone + Send + Sync + 'static {
    /// The node at a glance.
    fn status(&self) -> impl Future<Output = Result<StatusView, ApiError>> + Send;

    /// One account's balances, or those of every wallet of this node when `None`;
    /// [`ApiError::UnknownAccount`] when the ledger does not know the account.
    fn balance(
        &self,
        account: Option<AccountId>,
    ) -> impl Future<Output = Result<Vec<BalanceView>, ApiError>> + Send;

    /// Up to `limit` records of one account, or of every wallet of this node, newest first.
    fn history(
        &self,
        account: Option<AccountId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, ApiError>> + Send;

    /// Every fork the ledger holds, each with its proof (see [`ConflictView::new`]).
    fn conflicts(&self) -> impl Future<Output = Result<Vec<ConflictView>, ApiError>> + Send;

    /// The connected peers of every link.
    fn peers(&self) -> impl Future<Output = Result<Vec<PeerView>, ApiError>> + Send;

    /// Makes a payment; resolves only once the record is durable and released to the
    /// links. A wallet's refusal is [`ApiError::Refused`] (`From<WalletError>` maps it).
    fn pay(&self, payment: Payment) -> impl Future<Output = Result<PayReceipt, ApiError>> + Send;

    /// Creates money with this node's issuer key; resolves once the record is durable.
    /// A node without an issuer key answers [`ApiError::Refused`] with code `not_issuer`.
    fn mint(&self, mint: Mint) -> impl Future<Output = Result<PayReceipt, ApiError>> + Send;

    /// Disconnects a peer and refuses it (`blocked`), or accepts it again.
    fn block(&self, request: BlockRequest) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// The metrics in the Prometheus text format (`Metrics::encode`).
    fn metrics_text(&self) -> impl Future<Output = Result<String, ApiError>> + Send;
}

/// Why the API could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Only loopback addresses are served: the API can spend.
    #[error(
        "refusing to serve the API on {0}: only loopback addresses (127.0.0.1, ::1) are allowed"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot bind the API to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The server failed while running.
    #[error("the API server failed: {0}")]
    Serve(io::Error),
}

/// The API's router over `backend`, every route behind the token.
pub fn router<B: Backend>(backend: B, token: Token) -> Router {
    let mut router = Router::new();
    for r in table::<B>() {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Outermost, so nothing is read or routed before the token checks out.
        .layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ))
        .with_state(backend)
}

/// Binds a loopback address (port 0 picks a free port; `local_addr` tells which).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves the API on a bound listener until `shutdown` resolves.
pub async fn serve_on<B: Backend>(
    listener: TcpListener,
    backend: B,
    token: Token,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    // A listener bound elsewhere is refused too: the check must not depend on `bind`.
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    tracing::info!(%addr, "local API listening");
    axum::serve(listener, router(backend, token))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

/// Binds `addr` (loopback only) and serves the API until `shutdown` resolves.
pub async fn serve<B: Backend>(
    addr: SocketAddr,
    backend: B,
    token: Token,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_on(bind(addr).await?, backend, token, shutdown).await
}
