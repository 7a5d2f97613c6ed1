//! What a peer's Automerge changes may do to a record document, checked before any of them
//! is applied: put into the root map, under a new key or one holding the same bytes, the
//! wire bytes of a record whose id is the key. Nothing else: no delete, no overwrite, no
//! other object or operation, and a history that continues each actor's own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, Change, ChangeHash, ExpandedChange, ReadDoc, ScalarValue};
use meshpay_protocol::id::RecordId;
use meshpay_protocol::record::{self, Parsed};
use meshpay_protocol::reject::Reject;
use prost::Message;

use super::{AutomergeSet, Staged};

/// Byte at which an Automerge chunk names its type (after 4 magic and 4 checksum bytes).
const CHUNK_TYPE_AT: usize = 8;
/// Chunk type of an uncompressed change.
const CHUNK_CHANGE: u8 = 1;

/// How much a merge takes from a peer.
#[derive(Clone, Copy, Debug)]
pub struct MergeLimits {
    /// Most changes in one merge.
    pub max_changes: usize,
    /// Most bytes of changes (uncompressed) in one merge.
    pub max_bytes: usize,
}

impl Default for MergeLimits {
    /// 65 536 changes, 64 MiB: a few hundred thousand records.
    fn default() -> Self {
        MergeLimits {
            max_changes: 65_536,
            max_bytes: 64 << 20,
        }
    }
}

/// Why a peer's changes were refused; the document is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// More changes than a merge takes.
    #[error("peer sent {count} changes, more than the {max} a merge takes")]
    TooManyChanges { count: usize, max: usize },
    /// More bytes than a merge takes.
    #[error("peer's changes hold {bytes} bytes, more than the {max} a merge takes")]
    TooManyBytes { bytes: usize, max: usize },
    /// Bytes that are not an uncompressed Automerge change.
    #[error("change {index} does not decode: {reason}")]
    Undecodable { index: usize, reason: String },
    /// A change whose dependency neither this document nor the merge holds.
    #[error("change {hash} depends on {missing}, which this document lacks")]
    MissingDependency {
        hash: ChangeHash,
        missing: ChangeHash,
    },
    /// A change made under this document's own actor.
    #[error("change {hash} claims this document's own actor")]
    OwnActor { hash: ChangeHash },
    /// A change that does not continue its actor's history.
    #[error("change {hash} of actor {actor} has seq {seq}, expected {expected}")]
    OutOfSequence {
        hash: ChangeHash,
        actor: ActorId,
        seq: u64,
        expected: u64,
    },
    /// A change whose operation counters do not follow its actor's last change.
    #[error("change {hash} starts at op {start_op}, not after its actor's op {max_op}")]
    ReusedCounters {
        hash: ChangeHash,
        start_op: u64,
        max_op: u64,
    },
    /// A change carrying an author footer (record documents never set one).
    #[error("change {hash} carries an author")]
    Author { hash: ChangeHash },
    /// A delete.
    #[error("change {hash} deletes {key:?}")]
    Delete { hash: ChangeHash, key: String },
    /// A put that supersedes an earlier value.
    #[error("change {hash} overwrites {key:?}")]
    Overwrite { hash: ChangeHash, key: String },
    /// A put of other bytes under a key that holds a record.
    #[error("change {hash} puts other bytes under {key:?}, which holds a record")]
    ConflictingRecord { hash: ChangeHash, key: String },
    /// A record under a key that is not its id in lowercase hex.
    #[error("change {hash} puts record {id} under {key:?}")]
    WrongKey {
        hash: ChangeHash,
        key: String,
        id: RecordId,
    },
    /// A value other than bytes.
    #[error("change {hash} puts a value that is not bytes under {key:?}")]
    NotBytes { hash: ChangeHash, key: String },
    /// Bytes that are not a record's canonical wire encoding.
    #[error("change {hash} puts bytes under {key:?} that are not a record: {why}")]
    NotARecord {
        hash: ChangeHash,
        key: String,
        why: Reject,
    },
    /// A nested object.
    #[error("change {hash} makes an object")]
    NestedObject { hash: ChangeHash },
    /// An operation on anything but the root map.
    #[error("change {hash} writes into an object other than the root map")]
    ForeignObject { hash: ChangeHash },
    /// An operation other than a put of a map key.
    #[error("change {hash} holds an operation of another kind ({op})")]
    ForeignOp { hash: ChangeHash, op: &'static str },
    /// The document moved since the changes were checked.
    #[error("the document changed since the peer's changes were checked")]
    Stale,
    /// Automerge refused changes that passed the checks.
    #[error("automerge refused checked changes: {0}")]
    Apply(#[from] automerge::AutomergeError),
}

/// An actor's last change this document holds.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ActorTip {
    pub seq: u64,
    pub max_op: u64,
}

impl AutomergeSet {
    /// Decodes change chunks, bounding count and bytes first.
    pub(super) fn decode_changes(&self, raw: Vec<Vec<u8>>) -> Result<Vec<Change>, MergeError> {
        self.bound(raw.len(), raw.iter().map(Vec::len).sum())?;
        raw.into_iter()
            .enumerate()
            .map(|(index, bytes)| {
                // A compressed chunk inflates to a size its bytes do not bound.
                if bytes.get(CHUNK_TYPE_AT) != Some(&CHUNK_CHANGE) {
                    return Err(MergeError::Undecodable {
                        index,
                        reason: "not an uncompressed change chunk".into(),
                    });
                }
                Change::from_bytes(bytes).map_err(|e| MergeError::Undecodable {
                    index,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Checks every change against this document; nothing is applied.
    pub(super) fn check(&mut self, changes: Vec<Change>) -> Result<Staged, MergeError> {
        self.commit();
        let bytes = changes.iter().map(|c| c.raw_bytes().len()).sum();
        self.bound(changes.len(), bytes)?;
        let changes = self.in_dependency_order(changes)?;
        let own = self.doc.get_actor().clone();
        let mut tips: HashMap<ActorId, ActorTip> = HashMap::new();
        let mut records: Vec<Parsed> = Vec::new();
        let mut staged_keys: HashMap<RecordId, usize> = HashMap::new();
        for c in &changes {
            let hash = c.hash();
            if *c.actor_id() == own {
                return Err(MergeError::OwnActor { hash });
            }
            if c.author().is_some() {
                return Err(MergeError::Author { hash });
            }
            let tip = tips
                .get(c.actor_id())
                .or_else(|| self.tips.get(c.actor_id()))
                .copied()
                .unwrap_or_default();
            if c.seq() != tip.seq + 1 {
                return Err(MergeError::OutOfSequence {
                    hash,
                    actor: c.actor_id().clone(),
                    seq: c.seq(),
                    expected: tip.seq + 1,
                });
            }
            if c.start_op().get() <= tip.max_op {
                return Err(MergeError::ReusedCounters {
                    hash,
                    start_op: c.start_op().get(),
                    max_op: tip.max_op,
                });
            }
            tips.insert(
                c.actor_id().clone(),
                ActorTip {
                    seq: c.seq(),
                    max_op: c.max_op(),
                },
            );
            for op in expand(c)?.operations {
                if let Some(p) = self.check_op(hash, op, &records, &staged_keys)? {
                    staged_keys.insert(p.id, records.len());
                    records.push(p);
                }
            }
        }
        Ok(Staged {
            heads: self.doc.get_heads(),
            changes,
            records,
            tips: tips.into_iter().collect(),
            bytes,
        })
    }

    fn bound(&self, count: usize, bytes: usize) -> Result<(), MergeError> {
        if count > self.limits.max_changes {
            return Err(MergeError::TooManyChanges {
                count,
                max: self.limits.max_changes,
            });
        }
        if bytes > self.limits.max_bytes {
            return Err(MergeError::TooManyBytes {
                bytes,
                max: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    /// Drops changes the document holds and orders the rest so each comes after its
    /// dependencies (input order where free); every dependency outside the batch must be
    /// in the document, or Automerge would hold the change back unapplied.
    fn in_dependency_order(&mut self, changes: Vec<Change>) -> Result<Vec<Change>, MergeError> {
        let mut fresh: Vec<Change> = Vec::with_capacity(changes.len());
        let mut at: HashMap<ChangeHash, usize> = HashMap::with_capacity(changes.len());
        for c in changes {
            let hash = c.hash();
            if !at.contains_key(&hash) && !self.holds(&hash) {
                at.insert(hash, fresh.len());
                fresh.push(c);
            }
        }
        let mut waiting = vec![0usize; fresh.len()];
        let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, c) in fresh.iter().enumerate() {
            for d in c.deps() {
                match at.get(d) {
                    Some(&j) => {
                        waiting[i] += 1;
                        dependents.entry(j).or_default().push(i);
                    }
                    None if self.holds(d) => {}
                    None => {
                        return Err(MergeError::MissingDependency {
                            hash: c.hash(),
                            missing: *d,
                        });
                    }
                }
            }
        }
        let mut ready: VecDeque<usize> = (0..fresh.len()).filter(|&i| waiting[i] == 0).collect();
        let mut order = Vec::with_capacity(fresh.len());
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &k in dependents.get(&i).into_iter().flatten() {
                waiting[k] -= 1;
                if waiting[k] == 0 {
                    ready.push_back(k);
                }
            }
        }
        // Hashes cover dependencies, so the graph has no cycle; a change left waiting
        // would mean one did.
        if let Some(i) = (0..fresh.len()).find(|&i| waiting[i] > 0) {
            let c = &fresh[i];
            let missing = c.deps().first().copied().unwrap_or_else(|| c.hash());
            return Err(MergeError::MissingDependency {
                hash: c.hash(),
                missing,
            });
        }
        let mut slots: Vec<Option<Change>> = fresh.into_iter().map(Some).collect();
        Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
    }

    fn holds(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Checks one operation; a record under a new key is returned.
    fn check_op(
        &self,
        hash: ChangeHash,
        op: automerge::legacy::Op,
        staged: &[Parsed],
        staged_keys: &HashMap<RecordId, usize>,
    ) -> Result<Option<Parsed>, MergeError> {
        let value = match op.action {
            OpType::Put(v) => v,
            OpType::Delete => {
                return Err(MergeError::Delete {
                    hash,
                    key: key_text(&op.key),
                });
            }
            OpType::Make(_) => return Err(MergeError::NestedObject { hash }),
            OpType::Increment(_) => {
                return Err(MergeError::ForeignOp {
                    hash,
                    op: "increment",
                });
            }
            OpType::MarkBegin(_) | OpType::MarkEnd(_) => {
                return Err(MergeError::ForeignOp { hash, op: "mark" });
            }
        };
        if op.obj != ObjectId::Root {
            return Err(MergeError::ForeignObject { hash });
        }
        let key = match (&op.key, op.insert) {
            (Key::Map(k), false) => k.to_string(),
            _ => {
                return Err(MergeError::ForeignOp {
                    hash,
                    op: "list insert",
                });
            }
        };
        if !op.pred.is_empty() {
            return Err(MergeError::Overwrite { hash, key });
        }
        let ScalarValue::Bytes(bytes) = value else {
            return Err(MergeError::NotBytes { hash, key });
        };
        let parsed = parse_record(&bytes).map_err(|why| MergeError::NotARecord {
            hash,
            key: key.clone(),
            why,
        })?;
        if parsed.id.to_hex() != key {
            return Err(MergeError::WrongKey {
                hash,
                key,
                id: parsed.id,
            });
        }
        let same =
            |body: &[u8], sig: &[u8; 64]| body == parsed.body_bytes() && sig == parsed.signature();
        if let Some(held) = self.index.get(&parsed.id) {
            return if same(held.body_bytes(), held.signature()) {
                Ok(None)
            } else {
                Err(MergeError::ConflictingRecord { hash, key })
            };
        }
        if let Some(&i) = staged_keys.get(&parsed.id) {
            return if same(staged[i].body_bytes(), staged[i].signature()) {
                Ok(None)
            } else {
                Err(MergeError::ConflictingRecord { hash, key })
            };
        }
        Ok(Some(parsed))
    }
}

/// A record's canonical wire bytes, parsed (signature not checked).
pub(super) fn parse_record(bytes: &[u8]) -> Result<Parsed, Reject> {
    let signed = record::decode_signed(bytes)?;
    // One record, one byte string: otherwise two encodings of one record would be two
    // values under one key.
    if signed.encode_to_vec() != bytes {
        return Err(Reject::Undecodable {
            reason: "not the canonical encoding of a signed record".into(),
        });
    }
    record::parse(signed)
}

/// Expands a change's operations. Automerge's expansion trusts the actor indices in the
/// change's columns, which its decoder does not check; a hostile change must not bring
/// the node down, so a panic there is caught and reported as an undecodable change.
fn expand(c: &Change) -> Result<ExpandedChange, MergeError> {
    catch_unwind(AssertUnwindSafe(|| c.decode())).map_err(|_| MergeError::Undecodable {
        index: 0,
        reason: format!("change {} does not expand", c.hash()),
    })
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Map(s) => s.to_string(),
        Key::Seq(_) => "<list element>".into(),
    }
}

/// Every record the document's root map holds, read back and checked: the index is
/// derived from this.
pub(super) fn read_records(
    doc: &automerge::AutoCommit,
) -> Result<Vec<(RecordId, Parsed)>, super::LoadError> {
    use super::LoadError;
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for key in doc.keys(automerge::ROOT) {
        let values = doc.get_all(automerge::ROOT, key.as_str())?;
        let mut record: Option<Parsed> = None;
        for (v, _) in values {
            let bytes = v.as_bytes().ok_or_else(|| LoadError::Invalid {
                key: key.clone(),
                reason: "not bytes".into(),
            })?;
            let p = parse_record(bytes).map_err(|e| LoadError::Invalid {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            if p.id.to_hex() != key {
                return Err(LoadError::Invalid {
                    key,
                    reason: format!("holds record {}", p.id),
                });
            }
            match &record {
                Some(r) if r.body_bytes() != p.body_bytes() || r.signature() != p.signature() => {
                    return Err(LoadError::Invalid {
                        key,
                        reason: "conflicting values".into(),
                    });
                }
                Some(_) => {}
                None => record = Some(p),
            }
        }
        if let Some(p) = record {
            ids.insert(p.id);
            out.push((p.id, p));
        }
    }
    Ok(out)
}
