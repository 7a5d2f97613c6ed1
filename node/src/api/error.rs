//! The API's errors: each maps to an HTTP status and the JSON body
//! `{ "error": "<code>", "reason": "<text>" }`, including axum's own rejections, so a
//! client never has to parse plain-text error pages.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meshpay_protocol::wallet::WalletError;

use super::types::ErrorBody;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No token, or not the cookie's.
    #[error("missing or wrong API token: send `Authorization: Bearer <token from api.cookie>`")]
    Unauthorized,
    /// The request is malformed: `code` says how.
    #[error("{reason}")]
    BadRequest {
        /// A stable code (`bad_json`, `invalid_body`, `bad_hex`, ...).
        code: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The body is not JSON by its content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the API accepts.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The ledger does not know the account.
    #[error("unknown account {0}")]
    UnknownAccount(String),
    /// This node has no wallet by that name or account.
    #[error("no wallet {0:?} on this node")]
    UnknownWallet(String),
    /// No such route.
    #[error("no route {0}")]
    NotFound(String),
    /// The route exists for another method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The wallet would not make the payment; `code` is its reason.
    #[error("{reason}")]
    Refused {
        /// The wallet's reason code (`insufficient`, `frozen`, `limit`, ...).
        code: String,
        /// The wallet's reason, for people.
        reason: String,
    },
    /// The node cannot answer now (shutting down, store failing).
    #[error("the node is unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A malformed request.
    pub fn bad_request(code: &'static str, reason: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            reason: reason.into(),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadRequest { code, .. } => code,
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooLarge { .. } => "body_too_large",
            ApiError::UnknownAccount(_) => "unknown_account",
            ApiError::UnknownWallet(_) => "unknown_wallet",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Refused { code, .. } => code,
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnknownAccount(_) | ApiError::UnknownWallet(_) | ApiError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code().to_owned(),
            reason: self.to_string(),
        }
    }

    /// Maps a JSON body rejection, keeping its size limit in the answer.
    pub(crate) fn from_json(rejection: JsonRejection, limit: usize) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge { limit },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            _ => match rejection {
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::bad_request("bad_json", e.body_text())
                }
                JsonRejection::JsonDataError(e) => {
                    ApiError::bad_request("invalid_body", e.body_text())
                }
                other => ApiError::bad_request("bad_body", other.body_text()),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("bad_query", rejection.body_text())
    }
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        let code = match &e {
            WalletError::Frozen => "frozen",
            WalletError::Unmerged { .. } => "unmerged",
            WalletError::Insufficient { .. } => "insufficient",
            WalletError::Limit(_) => "limit",
            WalletError::NothingToDo => "nothing_to_do",
            WalletError::PaysItself => "pays_itself",
            WalletError::MemoTooLong => "memo_too_long",
            WalletError::SeqExhausted { .. } => "seq_exhausted",
            // Nothing was released; the node, not the payment, is at fault.
            WalletError::Store(why) => {
                return ApiError::Unavailable(format!("the store failed: {why}"));
            }
        };
        ApiError::Refused {
            code: code.to_owned(),
            reason: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), reason = %self, "API request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
