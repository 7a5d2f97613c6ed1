//! The commands that talk to a running node through its API: pay, mint, balance,
//! history, conflicts, peers, status. Each prints for people, or JSON with `--json`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::api::{MintRequest, PayReceipt, PayRequest};
use crate::client::Client;
use crate::data_dir::DataDir;
use crate::output::{Align, Table, clean, field, heading};
use crate::write_stdout;

/// `meshpay pay`.
#[derive(Args, Debug, Clone)]
pub struct PayArgs {
    /// The payee's account, 64 hex digits.
    #[arg(long)]
    pub to: String,
    /// What to pay.
    #[arg(long)]
    pub amount: u64,
    /// The paying wallet (name or account); the node's only wallet when absent.
    #[arg(long)]
    pub from: Option<String>,
    /// A memo for the payee.
    #[arg(long)]
    pub memo: Option<String>,
    /// Print the receipt as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `meshpay mint`.
#[derive(Args, Debug, Clone)]
pub struct MintArgs {
    /// The account credited, 64 hex digits.
    #[arg(long)]
    pub to: String,
    /// What to create.
    #[arg(long)]
    pub amount: u64,
    /// A memo for the holder.
    #[arg(long)]
    pub memo: Option<String>,
    /// Print the receipt as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `meshpay balance`.
#[derive(Args, Debug, Clone)]
pub struct BalanceArgs {
    /// One account (64 hex digits); every wallet of the node when absent.
    #[arg(long)]
    pub account: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `meshpay history`.
#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// One account (64 hex digits); every wallet of the node when absent.
    #[arg(long)]
    pub account: Option<String>,
    /// The most entries, newest first (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--json` alone.
#[derive(Args, Debug, Clone)]
pub struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `meshpay peers`.
#[derive(Args, Debug, Clone)]
pub struct PeersArgs {
    /// Block or unblock a peer instead of listing.
    #[command(subcommand)]
    pub action: Option<PeerAction>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What to do to a peer.
#[derive(Subcommand, Debug, Clone)]
pub enum PeerAction {
    /// Disconnect a peer and refuse it (a partition made by hand).
    Block {
        /// Its libp2p peer id.
        peer: String,
    },
    /// Accept a blocked peer again.
    Unblock {
        /// Its libp2p peer id.
        peer: String,
    },
}

fn print_json(value: &impl Serialize) -> Result<u8> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_stdout(&text)?;
    Ok(0)
}

fn print_receipt(what: &str, r: &PayReceipt, json: bool) -> Result<u8> {
    if json {
        return print_json(r);
    }
    let mut out = String::new();
    heading(&mut out, &format!("{what}: durable and released"));
    field(&mut out, 6, "id", &r.id);
    field(&mut out, 6, "seq", &r.seq.to_string());
    field(&mut out, 6, "from", &r.from);
    field(&mut out, 6, "to", &r.to);
    field(&mut out, 6, "amount", &r.amount.to_string());
    write_stdout(&out)?;
    Ok(0)
}

/// Pays, printing the receipt once the payment is durable.
pub fn pay(data: &DataDir, a: &PayArgs) -> Result<u8> {
    let client = Client::from_data_dir(data.path())?;
    let receipt = client.pay(&PayRequest {
        from: a.from.clone(),
        to: a.to.clone(),
        amount: a.amount,
        memo: a.memo.clone(),
    })?;
    print_receipt("payment", &receipt, a.json)
}

/// Mints with the node's issuer key.
pub fn mint(data: &DataDir, a: &MintArgs) -> Result<u8> {
    let client = Client::from_data_dir(data.path())?;
    let receipt = client.mint(&MintRequest {
        to: a.to.clone(),
        amount: a.amount,
        memo: a.memo.clone(),
    })?;
    print_receipt("mint", &receipt, a.json)
}

/// Prints balances.
pub fn balance(data: &DataDir, a: &BalanceArgs) -> Result<u8> {
    let balances = Client::from_data_dir(data.path())?.balances(a.account.as_deref())?;
    if a.json {
        return print_json(&balances);
    }
    let mut t = Table::new(&[
        ("WALLET", Align::Left),
        ("ACCOUNT", Align::Left),
        ("STATED", Align::Right),
        ("EFFECTIVE", Align::Right),
        ("SPENDABLE", Align::Right),
        ("SHORTFALL", Align::Right),
        ("DEBT", Align::Right),
        ("FROZEN", Align::Left),
    ]);
    for b in &balances {
        t.row(vec![
            clean(b.wallet.as_deref().unwrap_or("-")),
            short(&b.account),
            b.stated.to_string(),
            b.effective.to_string(),
            b.spendable.to_string(),
            b.shortfall.to_string(),
            b.debt.to_string(),
            crate::output::yes_no(b.frozen).to_owned(),
        ]);
    }
    let mut out = String::new();
    t.render(&mut out, 0);
    write_stdout(&out)?;
    Ok(0)
}

/// Prints history, newest first.
pub fn history(data: &DataDir, a: &HistoryArgs) -> Result<u8> {
    let entries =
        Client::from_data_dir(data.path())?.history(a.account.as_deref(), Some(a.limit))?;
    if a.json {
        return print_json(&entries);
    }
    let mut t = Table::new(&[
        ("ACCOUNT", Align::Left),
        ("SEQ", Align::Right),
        ("KIND", Align::Left),
        ("DIR", Align::Left),
        ("AMOUNT", Align::Right),
        ("COUNTERPARTY", Align::Left),
        ("STATUS", Align::Left),
        ("MEMO", Align::Left),
    ]);
    for e in &entries {
        t.row(vec![
            short(&e.account),
            e.seq.to_string(),
            e.kind.clone(),
            format!("{:?}", e.direction).to_lowercase(),
            e.amount.to_string(),
            e.counterparty.as_deref().map_or("-".into(), short),
            e.status.clone(),
            clean(e.memo.as_deref().unwrap_or("")),
        ]);
    }
    let mut out = String::new();
    t.render(&mut out, 0);
    write_stdout(&out)?;
    Ok(0)
}

/// Prints every conflict with its proof.
pub fn conflicts(data: &DataDir, a: &JsonArg) -> Result<u8> {
    let conflicts = Client::from_data_dir(data.path())?.conflicts()?;
    if a.json {
        return print_json(&conflicts);
    }
    let mut out = String::new();
    if conflicts.is_empty() {
        out.push_str("no conflicts\n");
    }
    for c in &conflicts {
        heading(
            &mut out,
            &format!("double spend by {} at seq {}", c.culprit, c.seq),
        );
        for r in &c.records {
            field(&mut out, 6, "record", r);
        }
        match &c.proof {
            Some(p) => {
                field(
                    &mut out,
                    6,
                    "proof",
                    &format!(
                        "{} bytes, {}",
                        p.encoded.len() / 2,
                        if p.verified {
                            "checks on its own"
                        } else {
                            "DOES NOT CHECK"
                        }
                    ),
                );
            }
            None => field(&mut out, 6, "proof", "none (an issuer's fork)"),
        }
    }
    write_stdout(&out)?;
    Ok(0)
}

/// Lists peers, or blocks or unblocks one.
pub fn peers(data: &DataDir, a: &PeersArgs) -> Result<u8> {
    let client = Client::from_data_dir(data.path())?;
    match &a.action {
        Some(PeerAction::Block { peer }) => {
            client.block(peer, true)?;
            write_stdout(&format!("blocked {peer}\n"))?;
            return Ok(0);
        }
        Some(PeerAction::Unblock { peer }) => {
            client.block(peer, false)?;
            write_stdout(&format!("unblocked {peer}\n"))?;
            return Ok(0);
        }
        None => {}
    }
    let peers = client.peers()?;
    if a.json {
        return print_json(&peers);
    }
    let mut t = Table::new(&[
        ("LINK", Align::Left),
        ("PEER", Align::Left),
        ("ADDRESS", Align::Left),
        ("IN", Align::Right),
        ("OUT", Align::Right),
    ]);
    for p in &peers {
        t.row(vec![
            p.link.clone(),
            p.peer.clone(),
            p.address.clone().unwrap_or_default(),
            p.bytes_in.to_string(),
            p.bytes_out.to_string(),
        ]);
    }
    let mut out = String::new();
    if peers.is_empty() {
        out.push_str("no peers connected\n");
    } else {
        t.render(&mut out, 0);
    }
    write_stdout(&out)?;
    Ok(0)
}

/// Prints the node's status.
pub fn status(data: &DataDir, a: &JsonArg) -> Result<u8> {
    let s = Client::from_data_dir(data.path())?.status()?;
    if a.json {
        return print_json(&s);
    }
    let mut out = String::new();
    heading(&mut out, &format!("node {}", clean(&s.node)));
    field(
        &mut out,
        9,
        "network",
        &format!("{} ({})", clean(&s.chain.name), s.chain.id),
    );
    field(&mut out, 9, "records", &s.records.to_string());
    field(&mut out, 9, "accounts", &s.accounts.to_string());
    field(&mut out, 9, "conflicts", &s.conflicts.to_string());
    field(&mut out, 9, "orphans", &s.orphans.to_string());
    field(&mut out, 9, "digest", &s.state_digest);
    let peers: Vec<String> = s.peers.iter().map(|(l, n)| format!("{l} {n}")).collect();
    field(&mut out, 9, "peers", &peers.join(", "));
    if let Some(lan) = &s.lan {
        field(&mut out, 9, "lan id", &lan.peer);
        for a in &lan.listen {
            field(&mut out, 9, "listening", a);
        }
    }
    for w in &s.wallets {
        field(
            &mut out,
            9,
            "wallet",
            &format!("{} {}", clean(&w.name), w.account),
        );
    }
    write_stdout(&out)?;
    Ok(0)
}

/// The first 16 hex digits of an id, enough to tell accounts apart in a table.
fn short(hex: &str) -> String {
    hex.get(..16)
        .map_or_else(|| hex.to_owned(), |s| format!("{s}…"))
}
