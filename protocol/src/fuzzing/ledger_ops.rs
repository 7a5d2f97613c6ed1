//! The ledger fed a structured sequence of operations (decoded with `arbitrary`): honest
//! payments, claims and settlements by the fixture's wallets and issuers, and hostile
//! records signed with the same fixed keys, with seqs, amounts, balances and references
//! picked to sit on the rules' edges, plus replays, tampered copies and raw bytes. The
//! records are really signed, so the fuzzer reaches the chain rules, not only the
//! signature check. At the end the ledger must meet [`check_ledger`], and a ledger that
//! took the same records in reverse, in one batch, must derive the same state.

use arbitrary::{Arbitrary, Unstructured};

use super::check_ledger;
use super::fixture::{self, ACCOUNTS, ISSUERS, account_key, fixture, issuer_key, party, party_key};
use crate::id::{AccountId, RecordId};
use crate::issuer::Issuer;
use crate::ledger::Ledger;
use crate::maps::Map;
use crate::record::{self, Body, Checkpoint, Kind, MAX_CLAIMS, MAX_SEQ, Mint, Revoke, Transfer};
use crate::wallet::{MemorySeqStore, Wallet};
use crate::wire;

/// Most operations taken from one input.
const MAX_OPS: usize = 48;

/// One step of the body.
#[derive(Arbitrary, Debug)]
enum Op {
    /// An honest payment by a fixture wallet.
    Pay { from: u8, to: u8, amount: u16 },
    /// An honest claim of what a wallet was paid.
    Claim { who: u8 },
    /// An honest settlement of an account by a fixture issuer.
    Settle { issuer: u8, account: u8 },
    /// A mint, signed by any fixture key.
    Mint {
        signer: u8,
        seq: Seq,
        prev: Ref,
        to: u8,
        amount: Amount,
    },
    /// A transfer, signed by any fixture key.
    Transfer {
        signer: u8,
        seq: Seq,
        prev: Ref,
        claims: Vec<Ref>,
        to: Option<u8>,
        amount: Amount,
        balance: Balance,
        request: bool,
        memo: u8,
    },
    /// A checkpoint, signed by any fixture key.
    Checkpoint {
        signer: u8,
        seq: Seq,
        prev: Ref,
        account: u8,
        at_seq: Seq,
        head: Ref,
        balance: Amount,
        previous: Option<Ref>,
    },
    /// A revocation, signed by any fixture key.
    Revoke {
        signer: u8,
        seq: Seq,
        prev: Ref,
        account: u8,
        after_seq: Seq,
    },
    /// A record made before, sent again.
    Replay { which: u8 },
    /// A copy of a record made before with one byte of its body or signature changed.
    Tamper { which: u8, at: u16, xor: u8 },
    /// Raw bytes, as a `SignedRecord`.
    Raw(Vec<u8>),
    /// Hands the records made so far to the ledger, one by one or in one batch.
    Deliver { batch: bool },
}

/// A seq, picked relative to the signer's chain or on an edge.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seq {
    /// Where the signer's chain goes next (for `at_seq` and `after_seq`: where it ends).
    Next,
    /// A small seq (0 included).
    Small(u8),
    /// `u64::MAX` minus a little.
    Top(u8),
    /// Around [`MAX_SEQ`].
    AroundBound(i8),
    /// Anything.
    Any(u64),
}

/// An amount, small or on an edge.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Amount {
    Small(u16),
    Top(u8),
    Any(u64),
}

/// A transfer's stated balance.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Balance {
    /// What the rules say follows from its prev, claims and amount.
    Follows,
    /// That, off by a little.
    Off(i16),
    /// Anything.
    Any(u64),
}

/// A reference to a record.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ref {
    /// None (an empty `prev`, say).
    None,
    /// A record made by this input.
    Made(u8),
    /// A record of the fixture history.
    Fixture(u8),
    /// The natural one: the signer's tip as `prev`, the next unclaimed payment as claim.
    Tip,
    /// An id no record has.
    Unknown(u8),
}

struct State {
    ledger: Ledger,
    wallets: Vec<Wallet>,
    issuers: Vec<Issuer>,
    store: MemorySeqStore,
    /// Every record this input made, in order.
    made: Vec<wire::SignedRecord>,
    /// Bodies of the records made or held, to work out what balance would follow.
    bodies: Map<RecordId, Body>,
    /// Made but not yet handed to the ledger.
    pending: Vec<wire::SignedRecord>,
}

/// The body: operations decoded from the input, then the checks.
pub fn ledger_ops(data: &[u8]) {
    let fx = fixture();
    let ledger = fx.full_ledger();
    let wallets = (0..ACCOUNTS)
        .map(|i| {
            let key = account_key(i);
            let next = ledger.tip(&record::account_of(key)).map_or(1, |t| t.seq);
            Wallet::new(key.clone(), &fx.spec, next)
        })
        .collect();
    let issuers = (0..ISSUERS)
        .map(|i| {
            let key = issuer_key(i);
            let me = record::account_of(key);
            let next = ledger.account(&me).map_or(1, |v| v.next_seq);
            let prev = ledger.records_of(&me).last().map(|(_, id, _)| *id);
            Issuer::new(key.clone(), &fx.spec, next, prev)
        })
        .collect();
    let bodies = fx
        .records
        .iter()
        .map(|r| (r.id(), r.body().clone()))
        .collect();
    let mut s = State {
        ledger,
        wallets,
        issuers,
        store: MemorySeqStore::default(),
        made: Vec::new(),
        bodies,
        pending: Vec::new(),
    };
    let mut u = Unstructured::new(data);
    for _ in 0..MAX_OPS {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        s.apply(op);
    }
    s.deliver(false);
    check_ledger(&s.ledger);

    // The CRDT law: the same records in another order and batching, same state.
    let mut other = fx.full_ledger();
    other.merge(s.made.iter().rev().cloned().collect(), &mut fixture::rng());
    assert_eq!(
        other.state_digest(),
        s.ledger.state_digest(),
        "order or batching changed the derived state"
    );
}

impl State {
    fn apply(&mut self, op: Op) {
        match op {
            Op::Pay { from, to, amount } => {
                self.deliver(false);
                let w = &mut self.wallets[usize::from(from) % ACCOUNTS];
                let to = party(usize::from(to));
                let r = w.pay(
                    &self.ledger,
                    &mut self.store,
                    to,
                    amount.into(),
                    None,
                    "",
                    0,
                );
                self.honest(r.ok());
            }
            Op::Claim { who } => {
                self.deliver(false);
                let w = &mut self.wallets[usize::from(who) % ACCOUNTS];
                let r = w.claim(&self.ledger, &mut self.store, 0);
                self.honest(r.ok());
            }
            Op::Settle { issuer, account } => {
                self.deliver(false);
                let i = &mut self.issuers[usize::from(issuer) % ISSUERS];
                let account = party(ISSUERS + usize::from(account) % ACCOUNTS);
                let r = i.settle(&self.ledger, &mut self.store, account, 0);
                self.honest(r.ok().flatten());
            }
            Op::Mint {
                signer,
                seq,
                prev,
                to,
                amount,
            } => {
                let kind = Kind::Mint(Mint {
                    to: party(usize::from(to)),
                    amount: amount.value(),
                    memo: String::new(),
                });
                self.hostile(signer, seq, prev, kind);
            }
            Op::Transfer {
                signer,
                seq,
                prev,
                claims,
                to,
                amount,
                balance,
                request,
                memo,
            } => {
                let me = party(usize::from(signer));
                let prev_id = self.reference(me, prev);
                let mut unclaimed = self.ledger.unclaimed(&me).into_iter();
                let claims: Vec<RecordId> = claims
                    .into_iter()
                    .take(MAX_CLAIMS + 1)
                    .filter_map(|c| match c {
                        Ref::Tip => unclaimed.next(),
                        c => self.reference(me, c),
                    })
                    .collect();
                let amount = amount.value();
                let balance = match balance {
                    Balance::Any(b) => b,
                    Balance::Follows => self.follows(prev_id, &claims, amount),
                    Balance::Off(d) => self
                        .follows(prev_id, &claims, amount)
                        .wrapping_add_signed(i64::from(d)),
                };
                let kind = Kind::Transfer(Transfer {
                    claims,
                    to: to.map(|t| party(usize::from(t))),
                    amount,
                    balance,
                    request: request.then_some([1; 16]),
                    memo: "m".repeat(usize::from(memo % 80)),
                });
                let seq = self.seq(me, seq);
                self.sign(signer, seq, prev_id, kind);
            }
            Op::Checkpoint {
                signer,
                seq,
                prev,
                account,
                at_seq,
                head,
                balance,
                previous,
            } => {
                let account = party(ISSUERS + usize::from(account) % ACCOUNTS);
                let kind = Kind::Checkpoint(Checkpoint {
                    account,
                    at_seq: self.chain_end(account, at_seq),
                    head: self.reference(account, head).unwrap_or(RecordId([0; 32])),
                    balance: balance.value(),
                    previous: previous.and_then(|p| self.reference(account, p)),
                });
                self.hostile(signer, seq, prev, kind);
            }
            Op::Revoke {
                signer,
                seq,
                prev,
                account,
                after_seq,
            } => {
                let account = party(ISSUERS + usize::from(account) % ACCOUNTS);
                let kind = Kind::Revoke(Revoke {
                    account,
                    after_seq: self.chain_end(account, after_seq),
                    reason: String::new(),
                });
                self.hostile(signer, seq, prev, kind);
            }
            Op::Replay { which } => {
                if let Some(r) = self.pick(which) {
                    self.made.push(r.clone());
                    self.pending.push(r);
                }
            }
            Op::Tamper { which, at, xor } => {
                let Some(mut r) = self.pick(which) else {
                    return;
                };
                let at = usize::from(at);
                let xor = xor.max(1);
                if at < r.body.len() {
                    r.body[at] ^= xor;
                } else if let Some(b) = r.signature.get_mut((at - r.body.len()) % 64) {
                    *b ^= xor;
                }
                self.made.push(r.clone());
                self.pending.push(r);
            }
            Op::Raw(bytes) => {
                if let Ok(r) = record::decode_signed(&bytes) {
                    self.made.push(r.clone());
                    self.pending.push(r);
                }
            }
            Op::Deliver { batch } => self.deliver(batch),
        }
    }

    /// An issuer-kind record by any key, at a picked seq with a picked prev.
    fn hostile(&mut self, signer: u8, seq: Seq, prev: Ref, kind: Kind) {
        let me = party(usize::from(signer));
        let seq = self.seq(me, seq);
        let prev = self.reference(me, prev);
        self.sign(signer, seq, prev, kind);
    }

    fn sign(&mut self, signer: u8, seq: u64, prev: Option<RecordId>, kind: Kind) {
        let key = party_key(usize::from(signer));
        let body = Body {
            signer: record::account_of(key),
            seq,
            prev,
            timestamp_ms: 0,
            kind,
        };
        let r = record::sign(key, &fixture().spec.chain_id(), &body);
        self.bodies.insert(RecordId::of_body(&r.body), body);
        self.made.push(r.clone());
        self.pending.push(r);
    }

    /// A record an honest wallet or issuer made: it enters at once (the next honest
    /// record builds on it).
    fn honest(&mut self, r: Option<wire::SignedRecord>) {
        let Some(r) = r else {
            return;
        };
        if let Ok(p) = record::parse(r.clone()) {
            self.bodies.insert(p.id, p.body);
        }
        self.made.push(r.clone());
        self.ledger.insert(r);
    }

    fn deliver(&mut self, batch: bool) {
        let pending = std::mem::take(&mut self.pending);
        if batch {
            self.ledger.merge(pending, &mut fixture::rng());
        } else {
            for r in pending {
                self.ledger.insert(r);
            }
        }
    }

    fn pick(&self, which: u8) -> Option<wire::SignedRecord> {
        let all = &fixture().history;
        let n = self.made.len() + all.len();
        let i = usize::from(which) % n;
        Some(
            self.made
                .get(i)
                .unwrap_or_else(|| &all[i - self.made.len()])
                .clone(),
        )
    }

    fn reference(&self, me: AccountId, r: Ref) -> Option<RecordId> {
        match r {
            Ref::None => None,
            Ref::Made(i) => self.pick(i).map(|r| RecordId::of_body(&r.body)),
            Ref::Fixture(i) => {
                let h = &fixture().history;
                Some(RecordId::of_body(&h[usize::from(i) % h.len()].body))
            }
            Ref::Tip => self.tip_prev(me),
            Ref::Unknown(b) => Some(RecordId([b; 32])),
        }
    }

    /// What an honest record of `me` would name as `prev`.
    fn tip_prev(&self, me: AccountId) -> Option<RecordId> {
        if fixture().spec.is_issuer(&me) {
            self.ledger.records_of(&me).last().map(|(_, id, _)| *id)
        } else {
            self.ledger.tip(&me).and_then(|t| t.prev)
        }
    }

    /// Where `me`'s chain goes next.
    fn next_seq(&self, me: AccountId) -> u64 {
        if fixture().spec.is_issuer(&me) {
            self.ledger.account(&me).map_or(1, |v| v.next_seq)
        } else {
            self.ledger.tip(&me).map_or(1, |t| t.seq)
        }
    }

    fn seq(&self, me: AccountId, s: Seq) -> u64 {
        match s {
            Seq::Next => self.next_seq(me),
            other => edge(other),
        }
    }

    /// A seq for a checkpoint or revocation of `account`: `Next` is where its chain ends.
    fn chain_end(&self, account: AccountId, s: Seq) -> u64 {
        match s {
            Seq::Next => self.next_seq(account).saturating_sub(1).max(1),
            other => edge(other),
        }
    }

    /// The balance the rules would expect (wrapping where they would refuse).
    fn follows(&self, prev: Option<RecordId>, claims: &[RecordId], amount: u64) -> u64 {
        let start = prev
            .and_then(|p| self.bodies.get(&p))
            .map_or(0, |b| match &b.kind {
                Kind::Transfer(t) => t.balance,
                Kind::Checkpoint(c) => c.balance,
                _ => 0,
            });
        claims
            .iter()
            .filter_map(|c| self.bodies.get(c).and_then(Body::payment))
            .fold(start, |acc, (_, a)| acc.wrapping_add(a))
            .wrapping_sub(amount)
    }
}

/// A seq that does not depend on any chain.
fn edge(s: Seq) -> u64 {
    match s {
        Seq::Next => 1,
        Seq::Small(n) => u64::from(n),
        Seq::Top(n) => u64::MAX - u64::from(n),
        Seq::AroundBound(d) => MAX_SEQ.wrapping_add_signed(i64::from(d)),
        Seq::Any(v) => v,
    }
}

impl Amount {
    fn value(self) -> u64 {
        match self {
            Amount::Small(a) => u64::from(a),
            Amount::Top(n) => u64::MAX - u64::from(n),
            Amount::Any(a) => a,
        }
    }
}
