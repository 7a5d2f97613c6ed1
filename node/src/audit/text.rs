//! The audit as tables for a terminal: section headings, aligned columns, short ids,
//! amounts as integers in minor units.

use meshpay_protocol::ledger::Status;
use meshpay_protocol::{AccountId, RecordId};

use super::{Audit, ProofCheck, RecordRow, Standing};
use crate::output::{self, Align, Table, yes_no};

/// The audit as tables for a terminal.
pub fn render_text(a: &Audit) -> String {
    let mut out = String::new();
    let title = match &a.file {
        Some(f) => format!("meshpay audit of {f}"),
        None => "meshpay audit".to_owned(),
    };
    output::heading(&mut out, &title);

    output::heading(&mut out, "NETWORK");
    let w = 14;
    output::field(&mut out, w, "name", &a.network.name);
    output::field(&mut out, w, "chain id", &a.network.chain_id);
    for (i, k) in a.network.issuers.iter().enumerate() {
        let label = if i == 0 { "issuers" } else { "" };
        output::field(&mut out, w, label, &format!("{}. {}", i + 1, k.to_hex()));
    }
    let l = a.network.limits;
    output::field(
        &mut out,
        w,
        "limits",
        &format!(
            "single {}, cumulative {}, count {} (since the last checkpoint)",
            l.max_single, l.max_cumulative, l.max_count
        ),
    );

    output::heading(&mut out, "BUNDLE");
    let b = &a.bundle;
    output::field(&mut out, w, "size", &format!("{} bytes", b.bytes));
    output::field(
        &mut out,
        w,
        "items",
        &format!(
            "{} ({} records, {} undecodable)",
            b.items, b.records, b.undecodable
        ),
    );
    let reading = match &b.framing_error {
        None => "complete".to_owned(),
        Some(e) => format!("STOPPED EARLY: {e}; the rest of the file was not read"),
    };
    output::field(&mut out, w, "reading", &reading);
    let t = &a.totals;
    output::field(
        &mut out,
        w,
        "standing",
        &format!(
            "{} canonical, {} void, {} refused, {} orphan, {} undecodable, {} duplicate",
            t.canonical, t.void, t.refused, t.orphan, t.undecodable, t.duplicates
        ),
    );
    output::field(
        &mut out,
        w,
        "in ledger",
        &format!("{} records", t.in_ledger),
    );

    output::heading(&mut out, &format!("ACCOUNTS ({})", a.accounts.len()));
    if a.accounts.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = Table::new(&[
            ("ACCOUNT", Align::Left),
            ("ROLE", Align::Left),
            ("STATED", Align::Right),
            ("SHORTFALL", Align::Right),
            ("EFFECTIVE", Align::Right),
            ("INCOMING", Align::Right),
            ("DEBT", Align::Right),
            ("GOVERNING", Align::Left),
            ("REVOKED AFTER", Align::Right),
            ("FROZEN", Align::Left),
        ]);
        for r in &a.accounts {
            let v = &r.view;
            table.row(vec![
                v.account.short(),
                r.role.to_owned(),
                v.stated.to_string(),
                v.shortfall.to_string(),
                v.effective.to_string(),
                v.incoming.to_string(),
                v.debt.to_string(),
                v.governing.map_or_else(|| "-".to_owned(), |g| g.short()),
                v.revoked_after
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                yes_no(v.frozen).to_owned(),
            ]);
        }
        table.render(&mut out, 2);
    }

    output::heading(
        &mut out,
        &format!("RECORDS ({}, in bundle order)", a.records.len()),
    );
    if a.records.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = Table::new(&[
            ("#", Align::Right),
            ("ID", Align::Left),
            ("SIGNER", Align::Left),
            ("SEQ", Align::Right),
            ("KIND", Align::Left),
            ("AMOUNT", Align::Right),
            ("TO", Align::Left),
            ("DETAIL", Align::Left),
            ("STANDING", Align::Left),
        ]);
        for r in &a.records {
            let short = |a: Option<AccountId>| a.map_or_else(|| "-".to_owned(), |a| a.short());
            table.row(vec![
                r.index.to_string(),
                r.id.map_or_else(|| "-".to_owned(), |id| id.short()),
                r.signer.map_or_else(|| "?".to_owned(), |s| s.short()),
                r.seq.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                r.kind.unwrap_or("?").to_owned(),
                r.amount.map_or_else(|| "-".to_owned(), |x| x.to_string()),
                short(r.to),
                detail_text(r),
                standing_text(&r.standing),
            ]);
        }
        table.render(&mut out, 2);
    }

    output::heading(&mut out, &format!("CONFLICTS ({})", a.conflicts.len()));
    if a.conflicts.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = Table::new(&[
            ("ACCOUNT", Align::Left),
            ("SEQ", Align::Right),
            ("ISSUER", Align::Left),
            ("RECORDS", Align::Left),
            ("PROOF", Align::Left),
        ]);
        for c in &a.conflicts {
            let ids: Vec<String> = c.conflict.records.iter().map(RecordId::short).collect();
            let proof = match &c.proof {
                ProofCheck::Verified { culprit, seq } => {
                    format!("verifies on its own: culprit {culprit} at seq {seq}")
                }
                ProofCheck::Failed { message } => format!("DOES NOT VERIFY: {message}"),
                ProofCheck::Missing => "no proof available".to_owned(),
            };
            table.row(vec![
                c.conflict.account.short(),
                c.conflict.seq.to_string(),
                yes_no(c.conflict.issuer).to_owned(),
                ids.join(" "),
                proof,
            ]);
        }
        table.render(&mut out, 2);
    }

    output::heading(&mut out, "STATE DIGEST");
    out.push_str("  ");
    out.push_str(&a.state_digest);
    out.push('\n');
    out
}

/// The record's kind-specific detail for the text table.
fn detail_text(r: &RecordRow) -> String {
    let mut parts = Vec::new();
    match r.kind {
        Some("transfer") if !r.claims.is_empty() => {
            let ids: Vec<String> = r.claims.iter().map(RecordId::short).collect();
            parts.push(format!("claims {}", ids.join(",")));
        }
        Some("checkpoint") => parts.push(format!(
            "settles {} at seq {}, balance {}",
            r.about.map_or_else(|| "?".to_owned(), |a| a.short()),
            r.about_seq.unwrap_or(0),
            r.settled_balance.unwrap_or(0)
        )),
        Some("revoke") => parts.push(format!(
            "revokes {} after seq {}",
            r.about.map_or_else(|| "?".to_owned(), |a| a.short()),
            r.about_seq.unwrap_or(0)
        )),
        _ => {}
    }
    if let Some(first) = r.duplicate_of {
        parts.push(format!("duplicate of #{first}"));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join("; ")
    }
}

/// A standing in words.
fn standing_text(s: &Standing) -> String {
    match s {
        Standing::Canonical => Status::Canonical.label().to_owned(),
        Standing::Void { reason } => Status::Void(*reason).label().to_owned(),
        Standing::Refused { rule, message, .. } => format!("refused [{rule}]: {message}"),
        Standing::Orphan { missing } => {
            const SHOWN: usize = 4;
            let mut ids: Vec<String> = missing.iter().take(SHOWN).map(RecordId::short).collect();
            if missing.len() > SHOWN {
                ids.push(format!("and {} more", missing.len() - SHOWN));
            }
            format!("orphan: waits for {}", ids.join(", "))
        }
        Standing::Evicted => "orphan: dropped while waiting (orphan pool full)".to_owned(),
        Standing::Undecodable {
            offset, message, ..
        } => {
            let why = message.strip_prefix("undecodable: ").unwrap_or(message);
            format!("undecodable at byte {offset}: {why}")
        }
        Standing::Unknown => "unknown to the ledger".to_owned(),
    }
}
