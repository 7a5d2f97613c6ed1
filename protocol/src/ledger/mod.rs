//! The CRDT ledger: a grow-only, dependency-closed set of valid signed records keyed by
//! id, and the state derived from it (chains, statuses, balances, conflicts). Merge is
//! set union; the derived state is a function of the set alone, never of arrival order,
//! and is kept up to date incrementally.

mod account;
mod arena;
mod conflict;
mod conservation;
mod digest;
mod fault;
mod intake;
mod marks;
mod orphans;
#[cfg(feature = "parallel")]
mod parallel;
#[cfg(all(test, feature = "parallel"))]
mod parallel_tests;
mod refused;
mod seqmap;
mod set;
mod settle;
mod status;
mod view;

#[cfg(any(test, feature = "laws"))]
pub mod history;
#[cfg(any(test, feature = "laws"))]
pub mod laws;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use rand_core::CryptoRng;

pub use conflict::{Conflict, ConflictProof, ProofError};
pub use conservation::ConservationError;
#[cfg(feature = "fault-injection")]
pub use fault::Fault;
pub use intake::{check_alone, dependencies};
pub use set::{NativeSet, RecordSet};
pub use status::{Changes, Status, VoidReason};
pub use view::{AccountView, Lookup, Tip};

use crate::chain::{ChainId, ChainSpec, SpecError};
use crate::id::{AccountId, RecordId};
use crate::maps::{Map, Set, set_with_capacity};
use crate::record::verify::Verifier;
use crate::record::{self, Kind, Record};
use crate::reject::Reject;
use crate::wire;
use arena::{Accounts, Entry, Ix, Ixs, Records};
use orphans::OrphanPool;
use refused::RefusedCache;

/// Signature bytes as a batch holds them to tell copies apart: inline at the usual 64.
type Signature = smallvec::SmallVec<[u8; 64]>;

/// Bounds on what the ledger keeps outside the set.
#[derive(Clone, Copy, Debug)]
pub struct LedgerConfig {
    /// Most records waiting for dependencies.
    pub max_orphans: usize,
    /// Most refused ids remembered.
    pub max_refused: usize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            max_orphans: 10_000,
            max_refused: 65_536,
        }
    }
}

/// A transfer's predecessor in its signer's chain: nothing (seq 1) or a record id (the
/// transfer at seq-1, or the head a checkpoint at seq-1 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parent {
    /// The chain starts here.
    Genesis,
    /// The record at seq-1.
    Record(RecordId),
}

/// What a transfer's window since its chain's last checkpoint holds, itself included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Seq of the window's first record.
    pub start: u64,
    /// Amount sent in the window.
    pub sent: u64,
    /// Transfers with a positive amount in the window.
    pub count: u64,
}

impl Window {
    fn starting_at(seq: u64) -> Self {
        Window {
            start: seq,
            sent: 0,
            count: 0,
        }
    }
}

/// The ledger: record set plus derived state.
pub struct Ledger<S: RecordSet = NativeSet> {
    spec: ChainSpec,
    chain_id: ChainId,
    verifier: Verifier,
    set: S,
    entries: Records,
    /// Accounts by number; the digest and the views sort them by key.
    accounts: Accounts,
    /// head id -> checkpoints naming it.
    heads: Map<RecordId, Vec<RecordId>>,
    /// (account, seq) holding more than one record.
    forks: BTreeSet<(AccountId, u64)>,
    orphans: OrphanPool,
    refused: RefusedCache,
    /// A rule switched off on purpose (only with the `fault-injection` feature).
    fault: Option<fault::Fault>,
    // Work of the operation under way.
    pending: Vec<Ix>,
    /// Accounts to re-walk at the end of the operation.
    dirty: marks::Marks,
    /// Accounts whose stated balance and shortfall to recount at the end.
    balance_dirty: marks::Marks,
    changes: Changes,
}

impl Ledger<NativeSet> {
    /// An empty ledger for the network `spec`, with default bounds.
    pub fn new(spec: ChainSpec) -> Result<Self, SpecError> {
        Self::with_set(spec, LedgerConfig::default(), NativeSet::default())
    }
}

impl<S: RecordSet> Ledger<S> {
    /// An empty ledger over a given record set.
    pub fn with_set(spec: ChainSpec, config: LedgerConfig, set: S) -> Result<Self, SpecError> {
        spec.validate()?;
        let chain_id = spec.chain_id();
        Ok(Ledger {
            verifier: Verifier::new(chain_id),
            spec,
            chain_id,
            set,
            entries: Records::default(),
            accounts: Accounts::default(),
            heads: Map::default(),
            forks: BTreeSet::new(),
            orphans: OrphanPool::new(config.max_orphans),
            refused: RefusedCache::new(config.max_refused),
            fault: None,
            pending: Vec::new(),
            dirty: marks::Marks::default(),
            balance_dirty: marks::Marks::default(),
            changes: Changes::default(),
        })
    }

    /// The network's genesis spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The network's chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Switches one ledger rule off, so a test can show that the invariant checkers
    /// catch a broken ledger. Never for a real node.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// The record set.
    pub fn set(&self) -> &S {
        &self.set
    }

    /// The record set, for work that leaves its records as they are (a document's
    /// history, its sync state). Records enter only through the ledger's merges: one
    /// inserted here would be in the set but not in the derived state.
    pub fn set_mut(&mut self) -> &mut S {
        &mut self.set
    }

    /// How many records the set holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the set holds this record.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.entries.contains_key(id)
    }

    /// Whether this id is known at all: in the set, waiting, or refused before.
    pub fn is_known(&self, id: &RecordId) -> bool {
        self.entries.contains_key(id) || self.orphans.contains(id) || self.refused.get(id).is_some()
    }

    /// A record of the set.
    pub fn get(&self, id: &RecordId) -> Option<&Record> {
        self.entries.get(id).map(|e| e.record.as_ref())
    }

    /// A record's status, if it is in the set.
    pub fn status(&self, id: &RecordId) -> Option<Status> {
        self.entries.get(id).and_then(|e| e.status)
    }

    /// Merges one signed record, checking its signature alone.
    pub fn insert(&mut self, signed: wire::SignedRecord) -> Changes {
        let id = RecordId::of_body(&signed.body);
        if self.is_known(&id) {
            self.changes.known += 1;
        } else {
            match parse_alone(&self.spec, signed, id) {
                Err(e) => self.refuse(id, e),
                Ok(p) => match self.verifier.verify(p.key(), p.signature(), p.body_bytes()) {
                    Ok(()) => self.admit(p.into_checked()),
                    Err(e) => self.refuse(id, e),
                },
            }
        }
        self.finish()
    }

    /// Merges a batch of signed records (set union), checking signatures in one batch.
    /// Records already known are skipped before any signature check. `rng` draws the
    /// batch verifier's coefficients and must be unpredictable to signers.
    pub fn merge<R: CryptoRng>(&mut self, batch: Vec<wire::SignedRecord>, rng: &mut R) -> Changes {
        // Ids first, then the set lookups in a loop of their own: independent lookups let
        // the processor wait for several cache misses at once. Nothing enters the set
        // before the signatures are checked, so those answers hold through the loop
        // below; the orphan pool and the refusals can change in it (a refusal takes the
        // orphans that wait for it along), so it asks them at each record's turn.
        let ids: Vec<RecordId> = batch.iter().map(|s| RecordId::of_body(&s.body)).collect();
        let in_set: Vec<bool> = ids.iter().map(|id| self.entries.contains_key(id)).collect();
        // Room for the records not in the set, not for the whole batch: after a heal most
        // of a batch is known, and a table sized for all of it is pages to fault in.
        let fresh = in_set.iter().filter(|known| !**known).count();
        let mut parsed = Vec::with_capacity(fresh);
        // Copies within the batch are told apart by signature too: a copy with a broken
        // signature must not hide a good copy of the same body that comes after it. Only
        // an id the batch repeats can have copies, so only those are keyed by signature.
        let repeated = repeated_ids(
            ids.iter()
                .zip(&in_set)
                .filter(|(_, k)| !**k)
                .map(|(id, _)| id),
            fresh,
        );
        let mut seen = Set::default();
        for ((signed, id), in_set) in batch.into_iter().zip(ids).zip(in_set) {
            if in_set
                || self.orphans.contains(&id)
                || self.refused.get(&id).is_some()
                || (repeated.contains(&id)
                    && !seen.insert((id, Signature::from_slice(&signed.signature))))
            {
                self.changes.known += 1;
                continue;
            }
            match parse_alone(&self.spec, signed, id) {
                Err(e) => self.refuse(id, e),
                Ok(p) => parsed.push(p),
            }
        }
        drop((seen, repeated));
        // Room for what may enter, not for the whole batch: most of it may be known.
        self.reserve(parsed.len());
        let items: Vec<_> = parsed
            .iter()
            .map(|p| (p.key(), p.signature(), p.body_bytes()))
            .collect();
        let verdicts = self.verifier.verify_batch(&items, rng);
        drop(items);
        for (p, v) in parsed.into_iter().zip(verdicts) {
            match v {
                Ok(()) if self.is_known(&p.id()) => self.changes.known += 1,
                Ok(()) => self.admit(p.into_checked()),
                Err(e) => self.refuse(p.id(), e),
            }
        }
        self.finish()
    }

    /// Merges records whose signatures were verified before (a store replaying what it
    /// acknowledged): everything else is checked as usual.
    pub fn merge_verified(&mut self, records: Vec<Record>) -> Changes {
        self.reserve(records.len());
        for r in records {
            if self.is_known(&r.id()) {
                self.changes.known += 1;
                continue;
            }
            match intake::check_alone(r.body(), &self.spec) {
                Err(e) => self.refuse(r.id(), e),
                Ok(()) => self.admit(Arc::new(r)),
            }
        }
        self.finish()
    }

    /// Room for `n` more records, so a large merge does not grow its tables step by step.
    fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
        self.set.reserve(n);
        self.pending.reserve(n);
        self.changes.added.reserve(n);
        self.changes.canonical.reserve(n);
    }

    fn finish(&mut self) -> Changes {
        self.settle();
        let mut c = std::mem::take(&mut self.changes);
        c.orphaned.retain(|id| self.orphans.contains(id));
        c
    }

    /// Takes a verified record in: orphan pool, refusal, or the set (then wakes the
    /// orphans that waited for it).
    fn admit(&mut self, record: Arc<Record>) {
        // The record first, then the orphans it wakes, in order; the queue allocates
        // only when some orphan wakes. Records move as `Arc`s: a record is a few hundred
        // bytes, placed in its allocation once, when it parses.
        let mut first = Some(record);
        let mut queue = VecDeque::new();
        while let Some(r) = first.take().or_else(|| queue.pop_front()) {
            let id = r.id();
            if let Some(bad) =
                intake::dependencies(r.body()).find(|d| self.refused.get(d).is_some())
            {
                self.refuse(id, Reject::DependsOnRefused { id: *bad });
                continue;
            }
            // Each dependency is looked up once, here; from now on it is a number.
            let mut deps = Ixs::new();
            let mut missing = Vec::new();
            for d in intake::dependencies(r.body()) {
                match self.entries.ix(d) {
                    Some(x) => deps.push(x),
                    None => missing.push(*d),
                }
            }
            if !missing.is_empty() {
                missing.sort();
                missing.dedup();
                let evicted = self.orphans.insert(r, missing);
                self.changes.orphaned.push(id);
                self.changes.evicted.extend(evicted);
                continue;
            }
            if self.fault == Some(fault::Fault::FirstSeenWins) && self.holds_seq(&r) {
                continue;
            }
            let rules = intake::Rules {
                spec: &self.spec,
                entries: &self.entries,
                accounts: &self.accounts,
            };
            match intake::check_rules(r.body(), &deps, &rules) {
                Err(e) => self.refuse(id, e),
                Ok(admitted) => {
                    self.enter(r, admitted);
                    // Settled now, while the record and its neighbours are in cache: a
                    // pass over a large batch's records at the end would miss on each.
                    // The derived state is a function of the set, so when does not matter.
                    self.settle_entered();
                    queue.extend(self.orphans.arrived(&id));
                }
            }
        }
    }

    /// Whether the set holds a record at this record's (signer, seq).
    fn holds_seq(&self, r: &Record) -> bool {
        self.accounts
            .get(&r.signer())
            .is_some_and(|a| a.by_seq.contains(r.seq()))
    }

    /// Refuses a record, and every orphan that waited for it.
    fn refuse(&mut self, id: RecordId, why: Reject) {
        // A bad signature says nothing about the body: another signature over the same
        // body may be good, so only body-level verdicts are remembered by id, and only
        // they refuse the orphans that wait for the body (those keep waiting for a good
        // copy; refusing them would let anyone who saw a record block what builds on it
        // by sending a broken copy first, and make the set depend on arrival order).
        let about_body = why.is_about_body();
        if about_body {
            self.refused.insert(id, why.clone());
        }
        self.changes.refused.push((id, why));
        if !about_body {
            return;
        }
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            for o in self.orphans.refused(&x) {
                let why = Reject::DependsOnRefused { id: x };
                self.refused.insert(o, why.clone());
                self.changes.refused.push((o, why));
                stack.push(o);
            }
        }
    }

    /// The number of an account, met now if it was not before.
    fn intern(&mut self, key: AccountId) -> arena::Acct {
        let issuer = self.spec.is_issuer(&key);
        self.accounts.intern(key, issuer)
    }

    /// Adds an admitted record to the set and its indexes; the caller settles its status
    /// (`settle_entered`).
    fn enter(&mut self, record: Arc<Record>, admitted: intake::Admitted) {
        let id = record.id();
        self.set.insert(&record);
        let body = record.body();
        let (owner, seq) = (body.signer, body.seq);
        let signer = match admitted.signer {
            Some(a) => a,
            None => self.intern(owner),
        };
        let mut payment = None;
        match &body.kind {
            Kind::Transfer(t) => {
                if let Some(to) = t.to {
                    payment = Some((self.intern(to), t.amount));
                }
            }
            Kind::Mint(m) => payment = Some((self.intern(m.to), m.amount)),
            Kind::Checkpoint(c) => {
                let a = self.intern(c.account);
                self.accounts[a].checkpoints.push(id);
                self.heads.entry(c.head).or_default().push(id);
                self.dirty.insert(a);
            }
            Kind::Revoke(r) => {
                let a = self.intern(r.account);
                self.accounts[a].revokes.push(id);
                self.dirty.insert(a);
            }
        }
        let transfer = matches!(body.kind, Kind::Transfer(_));
        let ix = self.entries.push(Entry {
            id,
            signer,
            seq,
            payment,
            transfer,
            status: None,
            parent: admitted.parent,
            prev_in_window: admitted.prev_in_window,
            window: admitted.window,
            canonical_claimers: 0,
            claims: admitted.claims,
            claimers: Ixs::new(),
            record,
        });
        for k in 0..self.entries[ix].claims.len() {
            let c = self.entries[ix].claims[k];
            self.entries[c].claimers.push(ix);
        }
        if let Some((to, _)) = payment {
            self.accounts[to].received.push(ix);
        }
        let at_seq = self.accounts[signer].by_seq.get_or_default(seq);
        at_seq.push(id);
        if at_seq.len() == 2 {
            self.forks.insert((owner, seq));
            self.changes.conflicts.push((owner, seq));
        }
        self.pending.push(ix);
        self.changes.added.push(id);
    }
}

/// The ids that occur more than once among `ids` (`n` of them): the only ones whose
/// copies a merge must tell apart by signature.
fn repeated_ids<'a>(ids: impl Iterator<Item = &'a RecordId>, n: usize) -> Set<RecordId> {
    // References, not ids: the table a whole batch passes through stays small.
    let mut met = set_with_capacity::<&RecordId>(n);
    let mut repeated = Set::default();
    for id in ids {
        if !met.insert(id) {
            repeated.insert(*id);
        }
    }
    repeated
}

/// Intake step 1 for a signed record whose body hashes to `id`: parsing, then the rules
/// on the body alone.
fn parse_alone(
    spec: &ChainSpec,
    signed: wire::SignedRecord,
    id: RecordId,
) -> Result<record::Unverified, Reject> {
    let p = record::parse_as(signed, id)?;
    intake::check_alone(&p.body, spec)?;
    Ok(p.into_unverified())
}

impl Reject {
    /// Whether the verdict follows from the body bytes alone (so it holds for any
    /// signature over them and may be remembered by id).
    pub fn is_about_body(&self) -> bool {
        !matches!(
            self,
            Reject::BadSignature
                | Reject::NonCanonicalR
                | Reject::NonCanonicalS
                | Reject::Oversized { .. }
                | Reject::FieldLength {
                    field: "signature",
                    ..
                }
        )
    }
}
