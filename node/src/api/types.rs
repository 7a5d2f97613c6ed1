//! The API's JSON shapes: what the routes answer and accept. Keys and ids travel as
//! lowercase hex, as the audit prints them; amounts as integers.

use std::collections::BTreeMap;

use meshpay_protocol::ledger::{AccountView, Conflict, ConflictProof};
use meshpay_protocol::{AccountId, ChainId};
use prost::Message;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// How many history entries a request gets when it names no limit.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;
/// The most history entries one request may ask for.
pub const MAX_HISTORY_LIMIT: usize = 1000;

/// The node at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// The node's name.
    pub node: String,
    /// The network it serves.
    pub chain: ChainView,
    /// Records the ledger holds.
    pub records: usize,
    /// Accounts the ledger knows.
    pub accounts: usize,
    /// Forks found.
    pub conflicts: usize,
    /// Records waiting for dependencies.
    pub orphans: usize,
    /// Peers connected, per link name.
    pub peers: BTreeMap<String, usize>,
    /// The ledger's state digest, hex: equal on every node holding the same records.
    pub state_digest: String,
    /// This node's wallets.
    pub wallets: Vec<WalletView>,
    /// This node on the LAN link, when it runs one.
    #[serde(default)]
    pub lan: Option<LanView>,
}

/// This node on the LAN link: what peers dial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LanView {
    /// Its libp2p peer id.
    pub peer: String,
    /// The addresses it listens on.
    pub listen: Vec<String>,
}

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainView {
    /// Its chain id, hex.
    pub id: String,
    /// Its human name.
    pub name: String,
}

/// One of this node's wallets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalletView {
    /// The wallet's local name.
    pub name: String,
    /// The account it signs for, hex.
    pub account: String,
}

/// An account's balances, as the ledger derives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BalanceView {
    /// The account, hex.
    pub account: String,
    /// The local wallet's name, when this node signs for the account.
    pub wallet: Option<String>,
    /// Governing balance plus claims minus payments since it.
    pub stated: i128,
    /// Claims of void records, and records claimed twice, since the governing checkpoint.
    pub shortfall: i128,
    /// stated - shortfall: what the account really holds (negative: it owes).
    pub effective: i128,
    /// Canonical payments to it not yet claimed.
    pub incoming: i128,
    /// Its void transfers that others claimed.
    pub debt: i128,
    /// What the wallet could pay now (0 for accounts this node does not sign for).
    pub spendable: u64,
    /// Frozen by a fork until settled.
    pub frozen: bool,
}

impl BalanceView {
    /// The view of a ledger account, with the local wallet's name and spendable amount.
    pub fn new(view: &AccountView, wallet: Option<String>, spendable: u64) -> Self {
        BalanceView {
            account: view.account.to_hex(),
            wallet,
            stated: view.stated,
            shortfall: view.shortfall,
            effective: view.effective,
            incoming: view.incoming,
            debt: view.debt,
            spendable,
            frozen: view.frozen,
        }
    }
}

/// Which way a payment went, seen from the account asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The account paid.
    Out,
    /// The account was paid.
    In,
}

/// One record in an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// The record id, hex.
    pub id: String,
    /// The account whose history this is, hex.
    pub account: String,
    /// The signer's seq.
    pub seq: u64,
    /// transfer, mint, checkpoint or revoke.
    pub kind: String,
    /// Paid or received.
    pub direction: Direction,
    /// The other side, hex, when there is one.
    pub counterparty: Option<String>,
    /// The amount moved.
    pub amount: u64,
    /// The payer's memo.
    pub memo: Option<String>,
    /// canonical or void.
    pub status: String,
    /// Why a void record takes no effect.
    pub void_reason: Option<String>,
}

/// A fork and the proof anyone can check with the chain id alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConflictView {
    /// The account that signed two histories, hex.
    pub culprit: String,
    /// Where its chain forks.
    pub seq: u64,
    /// Whether the culprit is an issuer (reported, voids nothing).
    pub issuer: bool,
    /// Every record at that seq, by id, hex.
    pub records: Vec<String>,
    /// Two of those records, signed, when the node holds them.
    pub proof: Option<ProofView>,
}

/// Two signed records of one signer at one seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProofView {
    /// One signed record, its wire encoding in hex.
    pub first: String,
    /// Another signed record at the same seq, its wire encoding in hex.
    pub second: String,
    /// Both as one wire-encoded conflict proof, hex.
    pub encoded: String,
    /// Whether the proof checked out here with nothing but the chain id.
    pub verified: bool,
}

impl ConflictView {
    /// The view of a ledger conflict and its proof, checked against `chain`.
    pub fn new(conflict: &Conflict, proof: Option<&ConflictProof>, chain: ChainId) -> Self {
        ConflictView {
            culprit: conflict.account.to_hex(),
            seq: conflict.seq,
            issuer: conflict.issuer,
            records: conflict.records.iter().map(|id| id.to_hex()).collect(),
            proof: proof.map(|p| ProofView {
                first: hex::encode(p.first.encode_to_vec()),
                second: hex::encode(p.second.encode_to_vec()),
                encoded: hex::encode(p.encode()),
                verified: p
                    .verify(chain)
                    .is_ok_and(|(who, seq)| who == conflict.account && seq == conflict.seq),
            }),
        }
    }
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeerView {
    /// The link it is reached over (lan, lora, ble).
    pub link: String,
    /// Its identity on that link.
    pub peer: String,
    /// Its address, when the link has one.
    pub address: Option<String>,
    /// Bytes received from it.
    pub bytes_in: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Frames received from it.
    pub frames_in: u64,
    /// Frames sent to it.
    pub frames_out: u64,
}

/// A payment to make, as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The paying wallet: an account (64 hex digits) or a wallet name; the node's only
    /// wallet when absent.
    #[serde(default)]
    pub from: Option<String>,
    /// The payee's account, 64 hex digits.
    pub to: String,
    /// What to pay, more than 0.
    pub amount: u64,
    /// A memo for the payee.
    #[serde(default)]
    pub memo: Option<String>,
}

/// Which wallet pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    /// The wallet signing for this account.
    Account(AccountId),
    /// The wallet with this local name.
    Wallet(String),
}

/// A payment request whose fields were checked: what the backend receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The paying wallet; the node's only wallet when `None`.
    pub from: Option<Payer>,
    /// The payee.
    pub to: AccountId,
    /// What to pay, more than 0.
    pub amount: u64,
    /// The memo, empty when none.
    pub memo: String,
}

impl TryFrom<PayRequest> for Payment {
    type Error = ApiError;

    fn try_from(r: PayRequest) -> Result<Self, ApiError> {
        let to = parse_account("to", &r.to)?;
        if r.amount == 0 {
            return Err(ApiError::bad_request(
                "bad_amount",
                "amount must be more than 0",
            ));
        }
        let from = match r.from {
            None => None,
            Some(s) if s.is_empty() => {
                return Err(ApiError::bad_request(
                    "bad_payer",
                    "from must be an account (64 hex digits) or a wallet name",
                ));
            }
            Some(s) => Some(match AccountId::from_hex(&s) {
                Some(a) => Payer::Account(a),
                None => Payer::Wallet(s),
            }),
        };
        Ok(Payment {
            from,
            to,
            amount: r.amount,
            memo: r.memo.unwrap_or_default(),
        })
    }
}

/// A payment made: durable in the store and released to the links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PayReceipt {
    /// The payment record's id, hex.
    pub id: String,
    /// Its seq in the payer's chain.
    pub seq: u64,
    /// The payer's account, hex.
    pub from: String,
    /// The payee's account, hex.
    pub to: String,
    /// What it pays.
    pub amount: u64,
}

/// Money to create, as a client sends it; only a node holding an issuer key mints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// The account credited, 64 hex digits.
    pub to: String,
    /// What to create, more than 0.
    pub amount: u64,
    /// A memo for the holder.
    #[serde(default)]
    pub memo: Option<String>,
}

/// A mint whose fields were checked: what the backend receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mint {
    /// The account credited.
    pub to: AccountId,
    /// What to create, more than 0.
    pub amount: u64,
    /// The memo, empty when none.
    pub memo: String,
}

impl TryFrom<MintRequest> for Mint {
    type Error = ApiError;

    fn try_from(r: MintRequest) -> Result<Self, ApiError> {
        let to = parse_account("to", &r.to)?;
        if r.amount == 0 {
            return Err(ApiError::bad_request(
                "bad_amount",
                "amount must be more than 0",
            ));
        }
        Ok(Mint {
            to,
            amount: r.amount,
            memo: r.memo.unwrap_or_default(),
        })
    }
}

/// A peer to refuse or accept again on its link: the node's own partition control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// The peer's identity on its link (a libp2p peer id on the LAN).
    pub peer: String,
    /// True to disconnect and refuse it, false to accept it again.
    pub blocked: bool,
}

/// An error, as every route reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code for programs (`unauthorized`, `bad_hex`, `insufficient`, ...).
    pub error: String,
    /// What went wrong, for people.
    pub reason: String,
}

/// Which account's balances to show.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    /// One account, 64 hex digits; all of this node's wallets when absent.
    pub account: Option<String>,
}

/// Whose history, and how much of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// One account, 64 hex digits; all of this node's wallets when absent.
    pub account: Option<String>,
    /// The most entries to return, newest first (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// Parses an account given as hex, naming the field on failure.
pub(crate) fn parse_account(field: &str, s: &str) -> Result<AccountId, ApiError> {
    AccountId::from_hex(s)
        .ok_or_else(|| ApiError::bad_request("bad_hex", format!("{field} must be 64 hex digits")))
}
