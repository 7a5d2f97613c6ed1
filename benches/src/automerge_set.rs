//! An Automerge-backed record set, measured beside the native one: the records live in an
//! Automerge document's root map (key: the record id in lowercase hex; value: the
//! record's wire bytes), and the document is the source of truth. The decoded index kept
//! beside it is derived from it ([`AutomergeSet::load`] rebuilds it from the bytes).
//!
//! A peer's document is merged with Automerge's own machinery (the peer's changes this
//! document lacks, then applied), but only after every change passed the checks in
//! `check`. A grow-only document can never drop what it took in, and the ledger's digest
//! and sync read the set, so a set inside a ledger takes a peer's changes only once the
//! ledger admitted every record they carry ([`merge_peer`]).

mod check;
#[cfg(test)]
mod laws;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, Change, ChangeHash, ROOT, ScalarValue};
use meshpay_protocol::id::RecordId;
use meshpay_protocol::ledger::{Changes, Ledger, RecordSet};
use meshpay_protocol::record::{Parsed, Record};
use meshpay_protocol::wire;
use prost::Message;
use rand_core::CryptoRng;

pub use check::{MergeError, MergeLimits};

use check::ActorTip;

/// Why a saved document could not be loaded as a record set.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Automerge could not load the bytes.
    #[error("not an Automerge document: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A root key that does not hold its record.
    #[error("key {key:?}: {reason}")]
    Invalid { key: String, reason: String },
}

/// The records as a map in an Automerge document, with an id-ordered index derived from it.
pub struct AutomergeSet {
    doc: AutoCommit,
    index: BTreeMap<RecordId, Arc<Record>>,
    /// Each peer actor's last change in the document.
    tips: HashMap<ActorId, ActorTip>,
    limits: MergeLimits,
    /// During [`merge_peer`]: the records the peer's changes carry, which the ledger's
    /// inserts index without putting (the peer's changes will bring them) ...
    awaited: HashSet<RecordId>,
    /// ... and those of them the ledger inserted so far.
    deferred: Vec<RecordId>,
}

/// A peer's changes that passed every check, with the records they would add.
pub struct Staged {
    /// This document's heads when the changes were checked.
    heads: Vec<ChangeHash>,
    /// The changes, dependencies first.
    changes: Vec<Change>,
    /// Records under keys this document does not hold, in change order.
    records: Vec<Parsed>,
    /// Each actor's last change among them.
    tips: Vec<(ActorId, ActorTip)>,
    /// Bytes of the changes.
    bytes: usize,
}

impl Staged {
    /// The records the merge would add, as they travel.
    pub fn signed_records(&self) -> Vec<wire::SignedRecord> {
        self.records
            .iter()
            .map(|p| wire::SignedRecord {
                body: p.body_bytes().to_vec(),
                signature: p.signature().to_vec(),
            })
            .collect()
    }

    /// How many records the merge would add.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the merge would add no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many changes would be applied.
    pub fn changes(&self) -> usize {
        self.changes.len()
    }

    /// Bytes of those changes (uncompressed).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// What merging a peer's document into a ledger did.
#[derive(Debug)]
pub struct PeerMerge {
    /// The ledger's account of the records.
    pub changes: Changes,
    /// Whether the peer's own changes were applied (every record they carry admitted);
    /// otherwise the admitted records were put as this document's own changes.
    pub adopted: bool,
}

impl AutomergeSet {
    /// An empty set whose own changes are made as `actor` (unique per node).
    pub fn new(actor: [u8; 16]) -> Self {
        AutomergeSet {
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
            index: BTreeMap::new(),
            tips: HashMap::new(),
            limits: MergeLimits::default(),
            awaited: HashSet::new(),
            deferred: Vec::new(),
        }
    }

    /// The same set taking at most `limits` from a peer per merge.
    pub fn with_limits(mut self, limits: MergeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Loads a saved document (this node's own store), rebuilding the index from it.
    pub fn load(bytes: &[u8], actor: [u8; 16]) -> Result<Self, LoadError> {
        let mut doc = AutoCommit::load(bytes)?.with_actor(ActorId::from(actor));
        let index = check::read_records(&doc)?
            .into_iter()
            .map(|(id, p)| (id, Arc::new(p.into_trusted())))
            .collect();
        let own = doc.get_actor().clone();
        let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
        for m in doc.get_changes_meta(&[]) {
            if *m.actor != own {
                let t = tips.entry(m.actor.into_owned()).or_default();
                t.seq = t.seq.max(m.seq);
                t.max_op = t.max_op.max(m.max_op);
            }
        }
        Ok(AutomergeSet {
            doc,
            index,
            tips,
            limits: MergeLimits::default(),
            awaited: HashSet::new(),
            deferred: Vec::new(),
        })
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.commit();
        self.doc.save()
    }

    /// A copy of the set making its own changes as `actor`.
    pub fn fork(&mut self, actor: [u8; 16]) -> Self {
        self.commit();
        AutomergeSet {
            doc: self.doc.fork().with_actor(ActorId::from(actor)),
            index: self.index.clone(),
            tips: self.tips.clone(),
            limits: self.limits,
            awaited: HashSet::new(),
            deferred: Vec::new(),
        }
    }

    /// Closes the open transaction: the records inserted since become one change.
    pub fn commit(&mut self) {
        self.doc.commit();
    }

    /// The document's heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.commit();
        self.doc.get_heads()
    }

    /// The document, for reading (Automerge's sync messages are generated from it).
    pub fn document(&mut self) -> &Automerge {
        self.commit();
        self.doc.document()
    }

    /// The document itself, leaving the set: for measurements that drive Automerge
    /// directly (what comes back into a set goes through [`AutomergeSet::load`]).
    pub fn into_document(mut self) -> Automerge {
        self.commit();
        self.doc.document().clone()
    }

    /// The changes `peer` holds and this document lacks (Automerge's own reckoning).
    pub fn changes_missing_from(&mut self, peer: &mut AutomergeSet) -> Vec<Change> {
        self.commit();
        peer.commit();
        self.doc.get_changes_added(&mut peer.doc)
    }

    /// Checks the changes `peer` holds and this document lacks; nothing is applied.
    pub fn check_peer(&mut self, peer: &mut AutomergeSet) -> Result<Staged, MergeError> {
        let changes = self.changes_missing_from(peer);
        self.check(changes)
    }

    /// Checks changes from anywhere; nothing is applied.
    pub fn check_changes(&mut self, changes: Vec<Change>) -> Result<Staged, MergeError> {
        self.check(changes)
    }

    /// Checks changes as they travel (uncompressed change chunks), bounding their count
    /// and bytes before decoding; nothing is applied.
    pub fn check_change_bytes(&mut self, raw: Vec<Vec<u8>>) -> Result<Staged, MergeError> {
        let changes = self.decode_changes(raw)?;
        self.check(changes)
    }

    /// Applies checked changes whose records the caller vouches for (it signed them, or
    /// its ledger admitted them), and indexes their records. Returns the ids added.
    pub fn apply_trusted(&mut self, staged: Staged) -> Result<Vec<RecordId>, MergeError> {
        self.commit();
        if self.doc.get_heads() != staged.heads {
            return Err(MergeError::Stale);
        }
        let Staged {
            changes,
            records,
            tips,
            ..
        } = staged;
        self.apply(changes, tips)?;
        let mut added = Vec::with_capacity(records.len());
        for p in records {
            let id = p.id;
            if self.index.insert(id, Arc::new(p.into_trusted())).is_none() {
                added.push(id);
            }
        }
        Ok(added)
    }

    /// Ends a merge into a ledger over this set: if the ledger admitted every record of
    /// `staged`, applies the peer's own changes (so the two documents share history);
    /// otherwise puts the records it admitted as this document's own. Returns whether it
    /// applied the peer's changes.
    fn settle_awaited(&mut self, staged: Staged) -> Result<bool, MergeError> {
        self.awaited.clear();
        let deferred = std::mem::take(&mut self.deferred);
        let mut outcome = Ok(false);
        if staged
            .records
            .iter()
            .all(|p| self.index.contains_key(&p.id))
        {
            // Puts made since the check (records the merge woke beside the peer's) hold
            // other keys and no peer actor's history: the checks still hold.
            outcome = self.apply(staged.changes, staged.tips).map(|()| true);
            if let Ok(true) = outcome {
                return outcome;
            }
        }
        // Whatever the ledger took in must be in the document.
        for id in deferred {
            if let Some(r) = self.index.get(&id).cloned() {
                self.put(&r);
            }
        }
        self.commit();
        outcome
    }

    fn apply(
        &mut self,
        changes: Vec<Change>,
        tips: Vec<(ActorId, ActorTip)>,
    ) -> Result<(), MergeError> {
        self.doc.apply_changes(changes)?;
        self.tips.extend(tips);
        Ok(())
    }

    fn put(&mut self, record: &Record) {
        let bytes = record.to_signed().encode_to_vec();
        self.doc
            .put(ROOT, record.id().to_hex(), ScalarValue::Bytes(bytes))
            .expect("the root map takes any key");
    }
}

impl AutomergeSet {
    /// Whether the id is present.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.index.contains_key(id)
    }

    /// The record with this id.
    pub fn get(&self, id: &RecordId) -> Option<Arc<Record>> {
        self.index.get(id).cloned()
    }
}

impl RecordSet for AutomergeSet {
    fn insert(&mut self, record: &Arc<Record>) {
        let id = record.id();
        if self.index.contains_key(&id) {
            return;
        }
        if self.awaited.contains(&id) {
            self.deferred.push(id);
        } else {
            self.put(record);
        }
        self.index.insert(id, record.clone());
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn ids(&self) -> Box<dyn Iterator<Item = RecordId> + '_> {
        Box::new(self.index.keys().copied())
    }
}

/// Merges a peer's document into a ledger over an Automerge set: the peer's changes are
/// checked (a bad one refuses the merge, nothing changed), the records they carry go
/// through the ledger's intake (signatures in one batch drawn from `rng`), and the
/// peer's changes are applied only if the ledger admitted every record.
pub fn merge_peer<R: CryptoRng>(
    ledger: &mut Ledger<AutomergeSet>,
    peer: &mut AutomergeSet,
    rng: &mut R,
) -> Result<PeerMerge, MergeError> {
    let set = ledger.set_mut();
    let staged = set.check_peer(peer)?;
    set.awaited = staged.records.iter().map(|p| p.id).collect();
    let changes = ledger.merge(staged.signed_records(), rng);
    let adopted = ledger.set_mut().settle_awaited(staged)?;
    Ok(PeerMerge { changes, adopted })
}
