//! `meshpay audit FILE`: reads a bundle, merges every record into a fresh ledger for the
//! bundle's network, and reports what an officer needs after a heal or when a bundle
//! arrives by hand: the network, every account's balances, every record's standing,
//! the conflicts with their proofs, and the state digest to compare with other nodes.
//!
//! Exit codes: 0 the audit is complete; 1 the file could not be audited; 2 the bundle is
//! for another network than `--expect-chain` (clap also uses 2 for usage errors); 3 the
//! audit ran but the file is damaged (reading stopped early, or records undecodable).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use getrandom::SysRng;
use getrandom::rand_core::{TryRng, UnwrapErr};
use meshpay_protocol::bundle::{self, BundleError};
use meshpay_protocol::ledger::{AccountView, Conflict, Lookup, Status, VoidReason};
use meshpay_protocol::record::{self, Body, Kind};
use meshpay_protocol::{AccountId, ChainId, Ledger, Limits, RecordId, Reject};
use serde::Serialize;

use crate::output;

pub use text::render_text;

mod text;

/// Largest bundle file the audit reads.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
/// Exit code when the bundle belongs to another network than expected.
pub const EXIT_CHAIN_MISMATCH: u8 = 2;
/// Exit code when the audit ran but the file is damaged.
pub const EXIT_DAMAGED: u8 = 3;

/// Arguments of `meshpay audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The bundle file to audit.
    pub file: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Fail with exit code 2 unless the bundle is for this chain id (64 hex digits).
    #[arg(long, value_name = "HEX", value_parser = parse_chain_id)]
    pub expect_chain: Option<ChainId>,
}

/// The bundle is for another network than the operator expected.
#[derive(Debug)]
pub struct ChainMismatch {
    /// The network name the bundle states.
    pub name: String,
    /// The bundle's chain id.
    pub found: ChainId,
    /// The chain id asked for.
    pub expected: ChainId,
}

impl fmt::Display for ChainMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrong network: the bundle is for \"{}\" with chain id {}, but {} was expected; \
             do not merge it here, and check where it came from",
            output::clean(&self.name),
            self.found.to_hex(),
            self.expected.to_hex()
        )
    }
}

impl std::error::Error for ChainMismatch {}

/// Everything the audit found, as printed (tables or JSON).
#[derive(Debug, Serialize)]
pub struct Audit {
    /// The file audited, when it came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The network the bundle is for.
    pub network: Network,
    /// What was read from the file.
    pub bundle: BundleSummary,
    /// How the records stand, counted.
    pub totals: Totals,
    /// Every account the ledger knows, in key order.
    pub accounts: Vec<AccountRow>,
    /// Every item of the bundle, in file order.
    pub records: Vec<RecordRow>,
    /// Every fork: several records of one signer at one seq.
    pub conflicts: Vec<ConflictRow>,
    /// The ledger's state digest, hex: equal on every node holding the same records.
    pub state_digest: String,
}

/// The bundle's network.
#[derive(Debug, Serialize)]
pub struct Network {
    /// Its human name (as stated by the file).
    pub name: String,
    /// Its chain id, hex.
    pub chain_id: String,
    /// Issuer keys, in priority order.
    pub issuers: Vec<AccountId>,
    /// Offline limits.
    pub limits: Limits,
}

/// What was read from the file.
#[derive(Debug, Serialize)]
pub struct BundleSummary {
    /// File size.
    pub bytes: usize,
    /// Items read (records and undecodable items).
    pub items: usize,
    /// Items that decoded as signed records.
    pub records: usize,
    /// Items that did not decode.
    pub undecodable: usize,
    /// Why reading stopped before the end of the file, if it did.
    pub framing_error: Option<String>,
}

/// How the bundle's records stand with the ledger.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// Records the ledger holds after the merge.
    pub in_ledger: usize,
    /// Items that take effect.
    pub canonical: usize,
    /// Items that are valid but take no effect.
    pub void: usize,
    /// Items refused by a rule.
    pub refused: usize,
    /// Items waiting for records the bundle lacks.
    pub orphan: usize,
    /// Items that did not decode.
    pub undecodable: usize,
    /// Items repeating an earlier item's record id.
    pub duplicates: usize,
}

/// One account's derived state.
#[derive(Debug, Serialize)]
pub struct AccountRow {
    /// "issuer" or "account".
    pub role: &'static str,
    /// The ledger's view.
    #[serde(flatten)]
    pub view: AccountView,
}

/// One item of the bundle and where it stands.
#[derive(Debug, Serialize)]
pub struct RecordRow {
    /// Position in the bundle, from 1.
    pub index: usize,
    /// The record id (BLAKE3 of the body), when the item decoded.
    pub id: Option<RecordId>,
    /// The signer, when the body parsed.
    pub signer: Option<AccountId>,
    /// The seq in the signer's chain.
    pub seq: Option<u64>,
    /// transfer, mint, checkpoint or revoke.
    pub kind: Option<&'static str>,
    /// What a transfer pays or a mint creates.
    pub amount: Option<u64>,
    /// Who is paid.
    pub to: Option<AccountId>,
    /// The records a transfer claims.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<RecordId>,
    /// The account a checkpoint settles or a revocation cuts off.
    pub about: Option<AccountId>,
    /// The seq a checkpoint settles at or a revocation cuts after.
    pub about_seq: Option<u64>,
    /// The balance a checkpoint settles.
    pub settled_balance: Option<u64>,
    /// The earlier item (by index) with the same record id.
    pub duplicate_of: Option<usize>,
    /// Where it stands.
    #[serde(flatten)]
    pub standing: Standing,
}

/// Where an item stands after the merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "standing", rename_all = "snake_case")]
pub enum Standing {
    /// In the ledger and takes effect.
    Canonical,
    /// In the ledger, valid, but takes no effect.
    Void {
        /// Why.
        reason: VoidReason,
    },
    /// Refused by a rule: never stored or relayed.
    Refused {
        /// The rule's stable name.
        rule: &'static str,
        /// The rule, for people.
        message: String,
        /// The rule and its details.
        reason: Reject,
    },
    /// Valid on its own, waiting for records the bundle does not hold.
    Orphan {
        /// The ids it waits for.
        missing: Vec<RecordId>,
    },
    /// Was waiting, dropped to make room for other orphans.
    Evicted,
    /// The item's bytes are not a signed record.
    Undecodable {
        /// Byte offset of the item in the file.
        offset: usize,
        /// The rule's stable name.
        rule: &'static str,
        /// Why, for people.
        message: String,
    },
    /// The ledger does not know it (should not happen).
    Unknown,
}

/// A fork and whether its proof holds on its own.
#[derive(Debug, Serialize)]
pub struct ConflictRow {
    /// The conflict as the ledger reports it.
    #[serde(flatten)]
    pub conflict: Conflict,
    /// The proof's check with nothing but the chain id.
    pub proof: ProofCheck,
}

/// The outcome of checking a conflict proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ProofCheck {
    /// The proof holds: two valid records of `culprit` at `seq`.
    Verified {
        /// Who signed two histories.
        culprit: AccountId,
        /// Where.
        seq: u64,
    },
    /// The proof does not hold.
    Failed {
        /// Why.
        message: String,
    },
    /// The ledger gave no proof.
    Missing,
}

impl Audit {
    /// Whether the file is damaged: reading stopped early or items did not decode.
    pub fn is_damaged(&self) -> bool {
        self.bundle.framing_error.is_some() || self.bundle.undecodable > 0
    }

    /// The conflicts whose proof verified, with their culprit.
    #[cfg(test)]
    pub fn culprits(&self) -> Vec<(AccountId, u64)> {
        self.conflicts
            .iter()
            .filter_map(|c| match c.proof {
                ProofCheck::Verified { culprit, seq } => Some((culprit, seq)),
                _ => None,
            })
            .collect()
    }
}

/// Runs the command: reads, audits and prints; returns the process exit code.
pub fn run(args: &AuditArgs) -> Result<u8> {
    let bytes = read_bounded(&args.file)?;
    let mut audit = audit(&bytes, args.expect_chain)
        .with_context(|| format!("cannot audit {}", args.file.display()))?;
    audit.file = Some(args.file.display().to_string());
    let text = if args.json {
        let mut s =
            serde_json::to_string_pretty(&audit).context("cannot encode the audit as JSON")?;
        s.push('\n');
        s
    } else {
        render_text(&audit)
    };
    crate::write_stdout(&text)?;
    if audit.is_damaged() {
        let mut why = Vec::new();
        if let Some(e) = &audit.bundle.framing_error {
            why.push(format!("reading stopped early ({e})"));
        }
        if audit.bundle.undecodable > 0 {
            why.push(format!(
                "{} item(s) did not decode",
                audit.bundle.undecodable
            ));
        }
        eprintln!(
            "warning: {} is damaged: {}; the audit covers only what could be read. \
             Ask the sender for a fresh copy.",
            args.file.display(),
            why.join(", ")
        );
        return Ok(EXIT_DAMAGED);
    }
    Ok(0)
}

/// Reads a bundle file, refusing anything above [`MAX_BUNDLE_BYTES`] before reading it.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow!("cannot read {shown}: {e}; check the path and its permissions"))?;
    if meta.is_dir() {
        bail!("cannot read {shown}: it is a directory; give the path of a bundle file");
    }
    if meta.len() > MAX_BUNDLE_BYTES {
        bail!(
            "refusing {shown}: it holds {} bytes, more than the {} MiB a bundle may hold; \
             check that it really is a meshpay bundle",
            meta.len(),
            MAX_BUNDLE_BYTES / (1024 * 1024)
        );
    }
    let file =
        File::open(path).map_err(|e| anyhow!("cannot read {shown}: {e}; check its permissions"))?;
    // The bound holds even if the file grows meanwhile or is not a regular file.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_BUNDLE_BYTES {
        bail!(
            "refusing {shown}: it grew past {} MiB while being read; audit a copy that is not being written",
            MAX_BUNDLE_BYTES / (1024 * 1024)
        );
    }
    Ok(bytes)
}

/// Audits a bundle's bytes: decodes them, merges every record into a fresh ledger for
/// the bundle's network (batch signature checks draw from the OS CSPRNG) and reports.
/// Fails with [`ChainMismatch`] when `expect_chain` is given and differs.
pub fn audit(bytes: &[u8], expect_chain: Option<ChainId>) -> Result<Audit> {
    let (spec, items, framing) = bundle::decode(bytes).map_err(not_a_bundle)?;
    let chain_id = spec.chain_id();
    if let Some(expected) = expect_chain
        && expected != chain_id
    {
        return Err(ChainMismatch {
            name: spec.name.clone(),
            found: chain_id,
            expected,
        }
        .into());
    }
    let mut ledger = Ledger::new(spec.clone())
        .map_err(|e| anyhow!("not a meshpay bundle: its network description is invalid ({e})"))?;

    // What each item says, read before the records move into the ledger.
    let mut described = Vec::with_capacity(items.len());
    let mut batch = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(signed) => {
                let id = RecordId::of_body(&signed.body);
                let body = record::parse(signed.clone()).ok().map(|p| p.body);
                described.push(Ok((id, body)));
                batch.push(signed);
            }
            Err((offset, why)) => described.push(Err((offset, why))),
        }
    }
    let mut rng = os_rng()?;
    let changes = ledger.merge(batch, &mut rng);
    // Refusals the ledger does not remember by id (a bad signature says nothing about
    // the body) and orphans evicted for room are only in the merge's changes.
    let refused_now: HashMap<RecordId, Reject> = changes.refused.into_iter().collect();
    let evicted: HashSet<RecordId> = changes.evicted.into_iter().collect();

    let mut totals = Totals {
        in_ledger: ledger.len(),
        ..Totals::default()
    };
    let mut first_seen: HashMap<RecordId, usize> = HashMap::new();
    let mut records = Vec::with_capacity(described.len());
    let mut undecodable = 0;
    for (i, d) in described.into_iter().enumerate() {
        let index = i + 1;
        let row = match d {
            Ok((id, body)) => {
                let standing = standing_of(&ledger, &id, &refused_now, &evicted);
                let duplicate_of = match first_seen.get(&id) {
                    Some(&first) => Some(first),
                    None => {
                        first_seen.insert(id, index);
                        None
                    }
                };
                record_row(index, id, body.as_ref(), duplicate_of, standing)
            }
            Err((offset, why)) => {
                undecodable += 1;
                RecordRow {
                    index,
                    id: None,
                    signer: None,
                    seq: None,
                    kind: None,
                    amount: None,
                    to: None,
                    claims: Vec::new(),
                    about: None,
                    about_seq: None,
                    settled_balance: None,
                    duplicate_of: None,
                    standing: Standing::Undecodable {
                        offset,
                        rule: why.rule(),
                        message: why.to_string(),
                    },
                }
            }
        };
        if row.duplicate_of.is_some() {
            totals.duplicates += 1;
        }
        match row.standing {
            Standing::Canonical => totals.canonical += 1,
            Standing::Void { .. } => totals.void += 1,
            Standing::Refused { .. } => totals.refused += 1,
            Standing::Orphan { .. } | Standing::Evicted => totals.orphan += 1,
            Standing::Undecodable { .. } => totals.undecodable += 1,
            Standing::Unknown => {}
        }
        records.push(row);
    }

    let accounts = ledger
        .accounts()
        .into_iter()
        .map(|view| AccountRow {
            role: if view.issuer { "issuer" } else { "account" },
            view,
        })
        .collect();
    let conflicts = ledger
        .conflicts()
        .into_iter()
        .map(|conflict| {
            let proof = match ledger.proof(&conflict) {
                None => ProofCheck::Missing,
                Some(p) => match p.verify(ledger.chain_id()) {
                    Ok((culprit, seq)) if culprit == conflict.account && seq == conflict.seq => {
                        ProofCheck::Verified { culprit, seq }
                    }
                    Ok((culprit, seq)) => ProofCheck::Failed {
                        message: format!(
                            "the proof names {culprit} at seq {seq}, not this conflict"
                        ),
                    },
                    Err(e) => ProofCheck::Failed {
                        message: e.to_string(),
                    },
                },
            };
            ConflictRow { conflict, proof }
        })
        .collect();

    Ok(Audit {
        file: None,
        network: Network {
            name: spec.name.clone(),
            chain_id: chain_id.to_hex(),
            issuers: spec.issuers.clone(),
            limits: spec.limits,
        },
        bundle: BundleSummary {
            bytes: bytes.len(),
            items: records.len(),
            records: records.len() - undecodable,
            undecodable,
            framing_error: framing.map(|e| e.to_string()),
        },
        totals,
        accounts,
        records,
        conflicts,
        state_digest: output::hex(&ledger.state_digest()),
    })
}

/// Parses `--expect-chain`: 64 hex digits.
fn parse_chain_id(s: &str) -> Result<ChainId, String> {
    ChainId::from_hex(s).ok_or_else(|| "a chain id is 64 hex digits".to_owned())
}

/// The OS CSPRNG, checked once so a failing generator is an error, not a panic later.
fn os_rng() -> Result<UnwrapErr<SysRng>> {
    let mut probe = [0u8; 32];
    SysRng
        .try_fill_bytes(&mut probe)
        .map_err(|e| anyhow!("the operating system's random number generator failed: {e}"))?;
    Ok(UnwrapErr(SysRng))
}

/// Explains why a file is not a readable bundle.
fn not_a_bundle(e: BundleError) -> anyhow::Error {
    match e {
        BundleError::NotABundle => anyhow!(
            "not a meshpay bundle: the file does not start with the bundle tag \"meshpay1\"; \
             check that this is the file you were handed"
        ),
        e => anyhow!(
            "not a meshpay bundle: its network description is damaged ({e}); \
             ask the sender for a fresh copy"
        ),
    }
}

/// Where one record id stands after the merge.
fn standing_of<S: meshpay_protocol::ledger::RecordSet>(
    ledger: &Ledger<S>,
    id: &RecordId,
    refused_now: &HashMap<RecordId, Reject>,
    evicted: &HashSet<RecordId>,
) -> Standing {
    let refused = |reason: Reject| Standing::Refused {
        rule: reason.rule(),
        message: reason.to_string(),
        reason,
    };
    match ledger.lookup(id) {
        Lookup::InSet {
            status: Status::Canonical,
        } => Standing::Canonical,
        Lookup::InSet {
            status: Status::Void(reason),
        } => Standing::Void { reason },
        Lookup::Waiting { missing } => Standing::Orphan { missing },
        Lookup::Refused { reason } => refused(reason),
        Lookup::Unknown => match refused_now.get(id) {
            Some(reason) => refused(reason.clone()),
            None if evicted.contains(id) => Standing::Evicted,
            None => Standing::Unknown,
        },
    }
}

/// A record's row from its parsed body (absent when the body did not parse).
fn record_row(
    index: usize,
    id: RecordId,
    body: Option<&Body>,
    duplicate_of: Option<usize>,
    standing: Standing,
) -> RecordRow {
    let mut row = RecordRow {
        index,
        id: Some(id),
        signer: body.map(|b| b.signer),
        seq: body.map(|b| b.seq),
        kind: body.map(|b| b.kind.name()),
        amount: None,
        to: None,
        claims: Vec::new(),
        about: None,
        about_seq: None,
        settled_balance: None,
        duplicate_of,
        standing,
    };
    match body.map(|b| &b.kind) {
        Some(Kind::Transfer(t)) => {
            row.amount = Some(t.amount);
            row.to = t.to;
            row.claims = t.claims.clone();
        }
        Some(Kind::Mint(m)) => {
            row.amount = Some(m.amount);
            row.to = Some(m.to);
        }
        Some(Kind::Checkpoint(c)) => {
            row.about = Some(c.account);
            row.about_seq = Some(c.at_seq);
            row.settled_balance = Some(c.balance);
        }
        Some(Kind::Revoke(r)) => {
            row.about = Some(r.account);
            row.about_seq = Some(r.after_seq);
        }
        None => {}
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example;
    use meshpay_protocol::wire;

    /// The example's records, in bundle order.
    fn example_records() -> (meshpay_protocol::ChainSpec, Vec<wire::SignedRecord>) {
        let (spec, items, err) = bundle::decode(&example::split_double_spend()).expect("decodes");
        assert!(err.is_none());
        (
            spec,
            items.into_iter().map(|i| i.expect("record")).collect(),
        )
    }

    #[test]
    fn every_kind_of_standing_is_reported() {
        let (spec, recs) = example_records();
        let mint_alice = RecordId::of_body(&recs[0].body);
        let mut bad_sig = recs[6].clone();
        bad_sig.signature[0] ^= 1;
        // Without alice's mint her payments wait for it, and so does what builds on them;
        // the mint to bob comes twice; bob's last payment carries a broken signature.
        let mut bytes = bundle::encode(&spec, [&recs[1], &recs[3], &recs[4], &recs[4], &bad_sig]);
        // An item that is not a signed record.
        bytes.extend_from_slice(&[2, 0xff, 0xff]);
        let a = audit(&bytes, None).expect("audits");
        assert!(a.is_damaged());
        assert_eq!(a.bundle.undecodable, 1);
        assert_eq!(a.bundle.framing_error, None);

        let standings: Vec<&Standing> = a.records.iter().map(|r| &r.standing).collect();
        assert_eq!(
            standings[0],
            &Standing::Orphan {
                missing: vec![mint_alice]
            }
        );
        assert_eq!(
            standings[1],
            &Standing::Orphan {
                missing: vec![mint_alice]
            }
        );
        assert_eq!(standings[2], &Standing::Canonical);
        assert_eq!(standings[3], &Standing::Canonical);
        assert_eq!(a.records[3].duplicate_of, Some(3));
        assert!(
            matches!(
                standings[4],
                Standing::Refused {
                    rule: "bad_signature",
                    ..
                }
            ),
            "{:?}",
            standings[4]
        );
        assert!(
            matches!(standings[5], Standing::Undecodable { offset, .. } if *offset == bytes.len() - 3)
        );
        assert_eq!(a.totals.orphan, 2);
        assert_eq!(a.totals.duplicates, 1);
        assert_eq!(a.totals.refused, 1);
        assert_eq!(a.totals.in_ledger, 1);

        // Both renderings carry it all.
        let text = render_text(&a);
        for needle in [
            "orphan: waits for",
            "refused [bad_signature]",
            "undecodable at byte",
            "duplicate of #3",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let json = serde_json::to_value(&a).expect("JSON");
        assert_eq!(json["records"][4]["standing"], "refused");
        assert_eq!(json["records"][4]["rule"], "bad_signature");
        assert_eq!(json["records"][0]["missing"][0], mint_alice.to_hex());
    }

    #[test]
    fn hostile_text_is_escaped() {
        let (mut spec, recs) = example_records();
        spec.name = "evil\u{1b}[2J\rname".into();
        let a = audit(&bundle::encode(&spec, &recs), None).expect("audits");
        let text = render_text(&a);
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
        assert!(text.contains("evil\\u{1b}[2J\\rname"));
    }

    #[test]
    fn chain_ids_parse_as_hex() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_chain_id(&hex), Ok(ChainId([0xab; 32])));
        assert!(parse_chain_id("ab").is_err());
        assert!(parse_chain_id(&"zz".repeat(32)).is_err());
    }
}
