//! A node's data directory: where its configuration, keystore, store, network spec and
//! API cookie live, and where it is when the command line names none.

use std::path::{Path, PathBuf};

/// The environment variable naming the data directory when `--data` is not given.
pub const DATA_ENV: &str = "MESHPAY_DATA";
/// The configuration file `meshpay init` writes.
pub const CONFIG_FILE: &str = "meshpay.toml";
/// The encrypted keystore.
pub const KEYSTORE_FILE: &str = "keys.enc";
/// The rocksdb store's directory.
pub const STORE_DIR: &str = "store";
/// The network's spec, as others join it (`meshpay init --join FILE`).
pub const SPEC_FILE: &str = "chain.spec";
/// The keystore name of the node's LAN identity key (its libp2p peer id).
pub const IDENTITY_KEY: &str = "lan-identity";

/// A node's data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// The directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataDir(path.into())
    }

    /// `--data` when given, else `$MESHPAY_DATA`, else `~/.meshpay`.
    pub fn resolve(given: Option<&Path>) -> Self {
        if let Some(p) = given {
            return DataDir::new(p);
        }
        if let Some(p) = std::env::var_os(DATA_ENV).filter(|p| !p.is_empty()) {
            return DataDir::new(p);
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
        DataDir::new(Path::new(&home).join(".meshpay"))
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The configuration file.
    pub fn config(&self) -> PathBuf {
        self.0.join(CONFIG_FILE)
    }

    /// The keystore file.
    pub fn keystore(&self) -> PathBuf {
        self.0.join(KEYSTORE_FILE)
    }

    /// The store's directory.
    pub fn store(&self) -> PathBuf {
        self.0.join(STORE_DIR)
    }

    /// The network spec file.
    pub fn spec(&self) -> PathBuf {
        self.0.join(SPEC_FILE)
    }
}
