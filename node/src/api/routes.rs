//! The route handlers, each annotated for the OpenAPI document, and the one table the
//! router and the document's check are both built from.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::handler::Handler;
use axum::http::{Method, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, on};
use meshpay_protocol::AccountId;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;
use super::types::{
    BalanceQuery, BalanceView, BlockRequest, ConflictView, DEFAULT_HISTORY_LIMIT, ErrorBody,
    HistoryEntry, HistoryQuery, MAX_HISTORY_LIMIT, Mint, MintRequest, PayReceipt, PayRequest,
    Payment, PeerView, StatusView, parse_account,
};
use super::{Backend, MAX_BODY_BYTES};

/// The content type of Prometheus text in the OpenMetrics format prometheus-client writes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// Reads.
    Get,
    /// Actions.
    Post,
}

impl Verb {
    /// The method.
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }
}

/// One route: method, path and handler.
pub struct Route<B> {
    /// The method it answers.
    pub verb: Verb,
    /// Its path, in the `{param}` form axum and OpenAPI share.
    pub path: &'static str,
    /// The handler.
    pub handler: MethodRouter<B>,
}

fn route<B, H, T>(verb: Verb, path: &'static str, handler: H) -> Route<B>
where
    B: Backend,
    H: Handler<T, B>,
    T: 'static,
{
    Route {
        verb,
        path,
        handler: on(verb.filter(), handler),
    }
}

/// Every route the API serves.
pub fn table<B: Backend>() -> Vec<Route<B>> {
    vec![
        route(Verb::Get, "/v1/status", status::<B>),
        route(Verb::Get, "/v1/balances", balances::<B>),
        route(Verb::Get, "/v1/history", history::<B>),
        route(Verb::Get, "/v1/conflicts", conflicts::<B>),
        route(Verb::Get, "/v1/peers", peers::<B>),
        route(Verb::Post, "/v1/payments", pay::<B>),
        route(Verb::Post, "/v1/mints", mint::<B>),
        route(Verb::Post, "/v1/peers/blocked", block::<B>),
        route(Verb::Get, "/metrics", metrics::<B>),
        route(Verb::Get, "/openapi.json", openapi),
    ]
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshpay node API",
        description = "The local API of a meshpay node, on 127.0.0.1 only. Every request \
                       carries `Authorization: Bearer <token>` with the token the daemon \
                       writes to `<data_dir>/api.cookie` at start."
    ),
    paths(status, balances, history, conflicts, peers, pay, mint, block, metrics, openapi),
    modifiers(&CookieAuth),
    security(("cookie" = []))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the `security` requirement names.
struct CookieAuth;

impl Modify for CookieAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "cookie",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The node's status.
#[utoipa::path(
    get, path = "/v1/status", tag = "node",
    responses(
        (status = 200, description = "The node at a glance", body = StatusView),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn status<B: Backend>(State(b): State<B>) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(b.status().await?))
}

/// Balances of one account, or of every wallet of this node.
#[utoipa::path(
    get, path = "/v1/balances", tag = "wallet",
    params(BalanceQuery),
    responses(
        (status = 200, description = "Balances", body = Vec<BalanceView>),
        (status = 400, description = "Bad account hex or query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown account", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn balances<B: Backend>(
    State(b): State<B>,
    query: Result<Query<BalanceQuery>, QueryRejection>,
) -> Result<Json<Vec<BalanceView>>, ApiError> {
    let Query(q) = query?;
    let account = optional_account(q.account.as_deref())?;
    Ok(Json(b.balance(account).await?))
}

/// An account's records, newest first.
#[utoipa::path(
    get, path = "/v1/history", tag = "wallet",
    params(HistoryQuery),
    responses(
        (status = 200, description = "History, newest first", body = Vec<HistoryEntry>),
        (status = 400, description = "Bad account hex, limit or query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown account", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn history<B: Backend>(
    State(b): State<B>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let Query(q) = query?;
    let account = optional_account(q.account.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            format!("limit must be 1 to {MAX_HISTORY_LIMIT}"),
        ));
    }
    Ok(Json(b.history(account, limit).await?))
}

/// Every fork found, each with a proof anyone can check.
#[utoipa::path(
    get, path = "/v1/conflicts", tag = "ledger",
    responses(
        (status = 200, description = "Conflicts with their proofs", body = Vec<ConflictView>),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn conflicts<B: Backend>(State(b): State<B>) -> Result<Json<Vec<ConflictView>>, ApiError> {
    Ok(Json(b.conflicts().await?))
}

/// Connected peers, per link.
#[utoipa::path(
    get, path = "/v1/peers", tag = "node",
    responses(
        (status = 200, description = "Connected peers", body = Vec<PeerView>),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn peers<B: Backend>(State(b): State<B>) -> Result<Json<Vec<PeerView>>, ApiError> {
    Ok(Json(b.peers().await?))
}

/// Pays from one of this node's wallets; answers once the payment is durable and released.
#[utoipa::path(
    post, path = "/v1/payments", tag = "wallet",
    request_body = PayRequest,
    responses(
        (status = 200, description = "Durable and released", body = PayReceipt),
        (status = 400, description = "Malformed JSON, unknown field, bad hex or amount", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such wallet", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 422, description = "The wallet refused; `error` is its reason code", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn pay<B: Backend>(
    State(b): State<B>,
    body: Result<Json<PayRequest>, JsonRejection>,
) -> Result<Json<PayReceipt>, ApiError> {
    let Json(request) = body.map_err(|r| ApiError::from_json(r, MAX_BODY_BYTES))?;
    let payment = Payment::try_from(request)?;
    Ok(Json(b.pay(payment).await?))
}

/// Creates money with this node's issuer key; answers once the record is durable.
#[utoipa::path(
    post, path = "/v1/mints", tag = "issuer",
    request_body = MintRequest,
    responses(
        (status = 200, description = "Durable and released", body = PayReceipt),
        (status = 400, description = "Malformed JSON, unknown field, bad hex or amount", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 422, description = "Refused: `not_issuer` on a node without an issuer key, or the ledger's rule", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn mint<B: Backend>(
    State(b): State<B>,
    body: Result<Json<MintRequest>, JsonRejection>,
) -> Result<Json<PayReceipt>, ApiError> {
    let Json(request) = body.map_err(|r| ApiError::from_json(r, MAX_BODY_BYTES))?;
    let mint = Mint::try_from(request)?;
    Ok(Json(b.mint(mint).await?))
}

/// Disconnects and refuses a peer, or accepts it again: the node's partition control.
#[utoipa::path(
    post, path = "/v1/peers/blocked", tag = "node",
    request_body = BlockRequest,
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "Malformed JSON, unknown field or peer id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn block<B: Backend>(
    State(b): State<B>,
    body: Result<Json<BlockRequest>, JsonRejection>,
) -> Result<axum::http::StatusCode, ApiError> {
    let Json(request) = body.map_err(|r| ApiError::from_json(r, MAX_BODY_BYTES))?;
    b.block(request).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The node's metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "node",
    responses(
        (status = 200, description = "Prometheus metrics", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node cannot answer now", body = ErrorBody),
    )
)]
async fn metrics<B: Backend>(State(b): State<B>) -> Result<impl IntoResponse, ApiError> {
    let text = b.metrics_text().await?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text))
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "node",
    responses(
        (status = 200, description = "The OpenAPI document of this API", body = Object),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    )
)]
async fn openapi() -> impl IntoResponse {
    // The document never changes while the process runs: build it once.
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"internal\",\"reason\":\"{e}\"}}"))
    });
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

/// Answers a path no route serves.
pub(super) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

/// Answers a known path asked with another method.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The `account` query parameter, when given.
fn optional_account(account: Option<&str>) -> Result<Option<AccountId>, ApiError> {
    account.map(|a| parse_account("account", a)).transpose()
}
