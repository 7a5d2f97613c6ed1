//! `meshpay init`: a new data directory with its keys, its store and the network it
//! serves, either a new network (with its issuer key) or one joined from a spec file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meshpay_protocol::{ChainSpec, Limits};
use serde::Serialize;

use crate::config::Config;
use crate::data_dir::{DataDir, IDENTITY_KEY};
use crate::keystore::{KdfParams, Keystore, NamedKey};
use crate::store::{Store, StoreOptions};

/// The largest spec file read: a spec names a few issuers and a name.
const MAX_SPEC_BYTES: u64 = 64 * 1024;

/// Which network the node serves.
#[derive(Debug, Clone)]
pub enum ChainChoice {
    /// A new network with one issuer, whose key this node holds.
    Create {
        /// Its human name.
        name: String,
        /// Its offline limits.
        limits: Limits,
    },
    /// The network whose spec (as `meshpay init` writes it to `chain.spec`) is in a file.
    Join(PathBuf),
}

/// What `init` makes.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The network.
    pub chain: ChainChoice,
    /// Names of the wallets to create.
    pub wallets: Vec<String>,
    /// Argon2id's costs for the keystore.
    pub kdf: KdfParams,
}

/// What `init` made, for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The data directory.
    pub data: String,
    /// The network's chain id, hex.
    pub chain: String,
    /// The network's name.
    pub chain_name: String,
    /// The spec file others join with.
    pub spec_file: String,
    /// The issuer account, when this node created the network.
    pub issuer: Option<String>,
    /// The wallets made: name and account.
    pub wallets: Vec<(String, String)>,
    /// The node's LAN peer id.
    pub lan_peer: String,
}

/// Reads and checks a spec file.
pub fn read_spec(path: &Path) -> Result<ChainSpec> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the network spec {}", path.display()))?;
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the network spec {}", path.display()))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        bail!("{} is larger than a network spec can be", path.display());
    }
    ChainSpec::decode(&bytes).with_context(|| format!("{} is not a network spec", path.display()))
}

/// Makes the data directory. Refuses a directory that already holds a keystore or store.
pub fn init(data: &DataDir, passphrase: &str, options: &InitOptions) -> Result<InitReport> {
    if data.keystore().exists() || data.store().exists() {
        bail!(
            "{} already holds a node; choose another directory with --data",
            data.path().display()
        );
    }
    for name in &options.wallets {
        if name == IDENTITY_KEY || name == "issuer" {
            bail!("the wallet name {name:?} is reserved");
        }
    }
    let mut keys = vec![NamedKey::generate(IDENTITY_KEY)?];
    let (spec, issuer) = match &options.chain {
        ChainChoice::Join(path) => (read_spec(path)?, None),
        ChainChoice::Create { name, limits } => {
            let issuer = NamedKey::generate("issuer")?;
            let spec = ChainSpec {
                name: name.clone(),
                issuers: vec![issuer.account()],
                limits: *limits,
            };
            spec.validate().context("the new network's spec")?;
            let account = issuer.account();
            keys.push(issuer);
            (spec, Some(account))
        }
    };
    let mut wallets = Vec::new();
    for name in &options.wallets {
        let key = NamedKey::generate(name.clone())?;
        wallets.push((name.clone(), key.account().to_hex()));
        keys.push(key);
    }
    let identity = libp2p::identity::Keypair::ed25519_from_bytes(*keys[0].secret())
        .context("the LAN identity key")?;
    let had_spec = data.spec().exists();
    let had_config = data.config().exists();
    let written = (|| -> Result<()> {
        create_private_dir(data.path())?;
        Keystore::create(&data.keystore(), passphrase, &keys, options.kdf)?;
        let mut store = Store::open(&data.store(), &StoreOptions::creating())?;
        store.put_spec(&spec)?;
        drop(store);
        std::fs::write(data.spec(), spec.encode())
            .with_context(|| format!("cannot write {}", data.spec().display()))?;
        if !had_config {
            std::fs::write(data.config(), Config::commented_default())
                .with_context(|| format!("cannot write {}", data.config().display()))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        // Take back what this run made, so that a second `init` is not told the
        // directory already holds a node; what was there before stays.
        let _ = std::fs::remove_file(data.keystore());
        let _ = std::fs::remove_dir_all(data.store());
        if !had_spec {
            let _ = std::fs::remove_file(data.spec());
        }
        if !had_config {
            let _ = std::fs::remove_file(data.config());
        }
        return Err(e);
    }
    Ok(InitReport {
        data: data.path().display().to_string(),
        chain: spec.chain_id().to_hex(),
        chain_name: spec.name.clone(),
        spec_file: data.spec().display().to_string(),
        issuer: issuer.map(|a| a.to_hex()),
        wallets,
        lan_peer: identity.public().to_peer_id().to_string(),
    })
}

/// Creates `path` (and its parents) readable by its owner only: it holds keys.
fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams::DISPOSABLE
    }

    fn create(name: &str) -> InitOptions {
        InitOptions {
            chain: ChainChoice::Create {
                name: name.into(),
                limits: Limits {
                    max_single: 100,
                    max_cumulative: 1_000,
                    max_count: 10,
                },
            },
            wallets: vec!["alice".into()],
            kdf: fast(),
        }
    }

    #[test]
    fn an_init_that_fails_part_way_leaves_no_half_made_node() {
        let root = tempfile::tempdir().expect("temp dir");
        let a = DataDir::new(root.path().join("a"));
        // Something in the way of the spec file, found only after the keystore and the
        // store were written.
        std::fs::create_dir_all(a.spec()).expect("blocker");
        let e = init(&a, "pass", &create("camp")).expect_err("cannot write the spec");
        assert!(format!("{e:#}").contains("chain.spec"), "{e:#}");
        assert!(!a.keystore().exists() && !a.store().exists());
        assert!(!a.config().exists());
        assert!(a.spec().is_dir(), "what was there before stays");
        std::fs::remove_dir(a.spec()).expect("unblock");
        init(&a, "pass", &create("camp")).expect("a second init goes through");
        Keystore::open(&a.keystore(), "pass").expect("keys");
    }

    #[test]
    fn a_network_is_created_and_joined() {
        let root = tempfile::tempdir().expect("temp dir");
        let a = DataDir::new(root.path().join("a"));
        let made = init(
            &a,
            "pass",
            &InitOptions {
                chain: ChainChoice::Create {
                    name: "camp".into(),
                    limits: Limits {
                        max_single: 100,
                        max_cumulative: 1_000,
                        max_count: 10,
                    },
                },
                wallets: vec!["alice".into()],
                kdf: fast(),
            },
        )
        .expect("init");
        assert!(made.issuer.is_some());
        assert_eq!(made.wallets.len(), 1);
        let keys = Keystore::open(&a.keystore(), "pass").expect("keys");
        assert_eq!(keys.len(), 3, "identity, issuer, alice");
        Config::load(&a.config()).expect("the written config is valid");

        let b = DataDir::new(root.path().join("b"));
        let joined = init(
            &b,
            "other",
            &InitOptions {
                chain: ChainChoice::Join(a.spec()),
                wallets: vec![],
                kdf: fast(),
            },
        )
        .expect("join");
        assert_eq!(joined.chain, made.chain);
        assert!(joined.issuer.is_none());
        assert_ne!(joined.lan_peer, made.lan_peer);

        let again = init(
            &a,
            "pass",
            &InitOptions {
                chain: ChainChoice::Join(a.spec()),
                wallets: vec![],
                kdf: fast(),
            },
        );
        assert!(
            again.is_err(),
            "an initialised directory is never overwritten"
        );

        let junk = root.path().join("junk.spec");
        std::fs::write(&junk, b"not a spec").expect("write");
        let err = read_spec(&junk).expect_err("junk");
        assert!(err.to_string().contains("not a network spec"), "{err}");
    }
}
