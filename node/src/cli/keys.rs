//! `meshpay init` and `meshpay wallet`: the commands that work on the data directory's
//! keystore and store directly, without a running node.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use meshpay_protocol::Limits;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::data_dir::{DataDir, IDENTITY_KEY};
use crate::init::{ChainChoice, InitOptions, InitReport, init};
use crate::keystore::{self, KdfParams, Keystore, NamedKey};
use crate::output::{clean, field, heading};
use crate::write_stdout;

/// `meshpay init`.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// Create a new network of this name, with an issuer key held by this node.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "join",
        required_unless_present = "join"
    )]
    pub create: Option<String>,
    /// Join the network whose spec is in FILE (another node's chain.spec).
    #[arg(long, value_name = "FILE")]
    pub join: Option<PathBuf>,
    /// A wallet to create; repeatable.
    #[arg(long = "wallet", value_name = "NAME")]
    pub wallets: Vec<String>,
    /// A new network's largest single payment.
    #[arg(long, default_value_t = 10_000)]
    pub max_single: u64,
    /// A new network's most an account may send offline in all.
    #[arg(long, default_value_t = 100_000)]
    pub max_cumulative: u64,
    /// A new network's most payments an account may make offline.
    #[arg(long, default_value_t = 1_000)]
    pub max_count: u64,
    /// Print what was made as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `meshpay wallet`.
#[derive(Subcommand, Debug, Clone)]
pub enum WalletCommand {
    /// Add a new wallet to the keystore (the node uses it from its next start).
    New {
        /// Its name.
        name: String,
    },
    /// Add a wallet from a file holding its secret key as 64 hex digits.
    Import {
        /// Its name.
        name: String,
        /// The file with the secret key.
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
    },
    /// List the keystore's wallets and accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Makes the data directory.
pub fn run_init(data: &DataDir, a: &InitArgs) -> Result<u8> {
    let chain = match (&a.create, &a.join) {
        (Some(name), None) => ChainChoice::Create {
            name: name.clone(),
            limits: Limits {
                max_single: a.max_single,
                max_cumulative: a.max_cumulative,
                max_count: a.max_count,
            },
        },
        (None, Some(file)) => ChainChoice::Join(file.clone()),
        _ => bail!("give --create NAME or --join FILE"),
    };
    let passphrase = keystore::passphrase(true)?;
    let report = init(
        data,
        &passphrase,
        &InitOptions {
            chain,
            wallets: a.wallets.clone(),
            kdf: KdfParams::default(),
        },
    )?;
    if a.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        write_stdout(&text)?;
    } else {
        write_stdout(&describe(&report))?;
    }
    Ok(0)
}

fn describe(r: &InitReport) -> String {
    let mut out = String::new();
    heading(&mut out, &format!("node initialised in {}", r.data));
    field(
        &mut out,
        8,
        "network",
        &format!("{} ({})", r.chain_name, r.chain),
    );
    field(
        &mut out,
        8,
        "spec",
        &format!("{} (others join with --join)", r.spec_file),
    );
    if let Some(i) = &r.issuer {
        field(&mut out, 8, "issuer", i);
    }
    for (name, account) in &r.wallets {
        field(&mut out, 8, "wallet", &format!("{} {account}", clean(name)));
    }
    field(&mut out, 8, "lan id", &r.lan_peer);
    out.push_str("\nstart it with: meshpay run");
    if !r.data.is_empty() {
        out.push_str(&format!(" --data {}", r.data));
    }
    out.push('\n');
    out
}

#[derive(Serialize)]
struct WalletEntry {
    name: String,
    account: String,
}

/// Adds or lists wallets.
pub fn run_wallet(data: &DataDir, cmd: &WalletCommand) -> Result<u8> {
    let path = data.keystore();
    if !path.exists() {
        bail!(
            "no keystore in {}: run `meshpay init` first",
            data.path().display()
        );
    }
    let passphrase = keystore::passphrase(false)?;
    match cmd {
        WalletCommand::New { name } => add(&path, &passphrase, NamedKey::generate(name.clone())?),
        WalletCommand::Import { name, secret_file } => {
            let text = Zeroizing::new(
                std::fs::read_to_string(secret_file)
                    .with_context(|| format!("cannot read {}", secret_file.display()))?,
            );
            let mut secret = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text.trim(), secret.as_mut_slice())
                .context("the secret file must hold 64 hex digits")?;
            add(&path, &passphrase, NamedKey::new(name.clone(), secret))
        }
        WalletCommand::List { json } => {
            let keys = Keystore::open(&path, &passphrase)?;
            let wallets: Vec<WalletEntry> = keys
                .iter()
                .filter(|k| k.name != IDENTITY_KEY)
                .map(|k| WalletEntry {
                    name: k.name.clone(),
                    account: k.account().to_hex(),
                })
                .collect();
            if *json {
                let mut text = serde_json::to_string_pretty(&wallets)?;
                text.push('\n');
                write_stdout(&text)?;
            } else {
                let mut out = String::new();
                for w in &wallets {
                    out.push_str(&format!("{}  {}\n", w.account, clean(&w.name)));
                }
                write_stdout(&out)?;
            }
            Ok(0)
        }
    }
}

fn add(path: &std::path::Path, passphrase: &str, key: NamedKey) -> Result<u8> {
    if key.name == IDENTITY_KEY {
        bail!("the name {IDENTITY_KEY:?} is reserved");
    }
    let existing = Keystore::open(path, passphrase)?;
    if existing.iter().any(|k| k.name == key.name) {
        bail!("a key named {:?} exists already", key.name);
    }
    let account = key.account().to_hex();
    let name = key.name.clone();
    Keystore::add_key(path, passphrase, key)?;
    write_stdout(&format!(
        "wallet {} {account} added; restart the node to use it\n",
        clean(&name)
    ))?;
    Ok(0)
}
