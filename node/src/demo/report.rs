//! What the demo tells: each step with its timing as it ends, then every node's view of
//! the double spend and the balances; or all of it as one JSON document.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::api::BalanceView;
use crate::output::{Align, Table, heading, yes_no};

/// One step of the story.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its short name.
    pub name: String,
    /// What happened.
    pub what: String,
    /// How long it took, in milliseconds.
    pub ms: f64,
}

impl Step {
    /// A step that began at `since` and ends now.
    pub fn new(name: &str, what: impl Into<String>, since: Instant) -> Self {
        Step {
            name: name.into(),
            what: what.into(),
            ms: since.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// One node's view at the end.
#[derive(Debug, Clone, Serialize)]
pub struct NodeOutcome {
    /// The node's name.
    pub node: String,
    /// Records it holds.
    pub records: usize,
    /// Its state digest, hex.
    pub digest: String,
    /// Conflicts it reports.
    pub conflicts: usize,
    /// Whether it reports the demo's double spend.
    pub conflict_found: bool,
    /// Whether that conflict's proof checks on its own.
    pub proof_verified: bool,
    /// The proof's size in bytes.
    pub proof_bytes: usize,
    /// The wallets' balances as this node derives them.
    pub balances: Vec<BalanceView>,
}

/// One of the two payments of the same money.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentStanding {
    /// What it was.
    pub what: String,
    /// Its id, hex.
    pub id: String,
    /// Its standing in the ledger after the heal.
    pub status: String,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Every node found the double spend, its proof checks and the nodes agree.
    pub ok: bool,
    /// How long the demo took.
    pub seconds: f64,
    /// The account that spent twice, hex.
    pub culprit: String,
    /// The seq it signed twice.
    pub seq: u64,
    /// The two payments of the same money, and where the ledger put them.
    pub payments: Vec<PaymentStanding>,
    /// The story.
    pub steps: Vec<Step>,
    /// Each node's view at the end.
    pub nodes: Vec<NodeOutcome>,
}

/// A step as one terminal line.
pub fn step_line(step: &Step) -> String {
    format!("[{:>8.1} ms] {:<12} {}\n", step.ms, step.name, step.what)
}

/// The ending: what each node reports, and the balances the fork left.
pub fn summary(r: &DemoReport) -> String {
    let mut out = String::new();
    heading(&mut out, "what every node reports");
    let mut t = Table::new(&[
        ("NODE", Align::Left),
        ("RECORDS", Align::Right),
        ("CONFLICT", Align::Left),
        ("PROOF", Align::Left),
        ("DIGEST", Align::Left),
    ]);
    for n in &r.nodes {
        t.row(vec![
            n.node.clone(),
            n.records.to_string(),
            yes_no(n.conflict_found).into(),
            if n.proof_verified {
                format!("{} bytes, checks", n.proof_bytes)
            } else {
                "missing".into()
            },
            n.digest.get(..16).unwrap_or(&n.digest).to_owned(),
        ]);
    }
    t.render(&mut out, 2);
    heading(&mut out, "the same money, paid twice");
    for p in &r.payments {
        let _ = writeln!(
            out,
            "  {:<28} {}  {}",
            p.what,
            p.id.get(..16).unwrap_or(&p.id),
            p.status
        );
    }
    if let Some(first) = r.nodes.first() {
        heading(
            &mut out,
            &format!(
                "balances after the heal (as {} derives them; every node agrees)",
                first.node
            ),
        );
        let mut t = Table::new(&[
            ("WALLET", Align::Left),
            ("STATED", Align::Right),
            ("SHORTFALL", Align::Right),
            ("EFFECTIVE", Align::Right),
            ("INCOMING", Align::Right),
            ("DEBT", Align::Right),
            ("FROZEN", Align::Left),
        ]);
        for b in &first.balances {
            t.row(vec![
                b.wallet.clone().unwrap_or_default(),
                b.stated.to_string(),
                b.shortfall.to_string(),
                b.effective.to_string(),
                b.incoming.to_string(),
                b.debt.to_string(),
                yes_no(b.frozen).into(),
            ]);
        }
        t.render(&mut out, 2);
        for b in &first.balances {
            let name = b.wallet.as_deref().unwrap_or("?");
            if b.debt > 0 {
                let _ = writeln!(
                    out,
                    "  {name} owes {}: both payments of the same money are void, and the account is frozen until an issuer settles it",
                    b.debt
                );
            }
            if b.shortfall > 0 {
                let _ = writeln!(
                    out,
                    "  {name} is short {}: a payment this wallet claimed and passed on turned out void",
                    b.shortfall
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} in {:.1} s: culprit {} at seq {}",
        if r.ok {
            "double spend detected on every node"
        } else {
            "FAILED: not every node reports the double spend with a proof that checks, in agreement"
        },
        r.seconds,
        r.culprit.get(..16).unwrap_or(&r.culprit),
        r.seq
    );
    out
}
