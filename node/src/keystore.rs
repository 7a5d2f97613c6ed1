//! Secret keys at rest: a file of named ed25519 secret keys, encrypted with
//! XChaCha20-Poly1305 under a key argon2id derives from the operator's passphrase. The
//! header (format, argon2 parameters, salt, nonce) is authenticated with the keys; the
//! file is replaced atomically and readable by its owner only (mode 0600).
//!
//! Layout: `"MPKS"`, version (1 byte), argon2 m (KiB), t, p (u32 big-endian each), salt
//! (16 bytes), passphrase check (16 bytes), nonce (24 bytes), then the ciphertext of:
//! key count (u16), and per key its name's length (u8), its name (UTF-8), its secret
//! (32 bytes). Everything before the ciphertext is the associated data.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use meshpay_protocol::{AccountId, record};
use zeroize::Zeroizing;

/// The environment variable a passphrase may come from, for scripts and services.
pub const PASSPHRASE_ENV: &str = "MESHPAY_PASSPHRASE";
/// Longest key name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Most keys one file holds.
pub const MAX_KEYS: usize = 1_024;

const MAGIC: &[u8; 4] = b"MPKS";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 4 + 1 + 12 + SALT_LEN + CHECK_LEN + NONCE_LEN;
const SECRET_LEN: usize = 32;
/// Poly1305's tag, the ciphertext's overhead.
const TAG_LEN: usize = 16;

/// Bounds a file's argon2 parameters must stay within, so a tampered header cannot make
/// opening it take gigabytes or hours before the passphrase is even checked.
const MAX_M_KIB: u32 = 256 * 1024;
const MAX_T: u32 = 8;
const MAX_P: u32 = 16;
/// Largest keystore file read: the header and `MAX_KEYS` named keys, with room to spare.
const MAX_FILE_BYTES: u64 =
    (HEADER_LEN + 2 + MAX_KEYS * (1 + 64 + SECRET_LEN) + TAG_LEN) as u64 * 2;

/// Reads a keystore file, refusing one larger than any keystore can be.
fn read_bounded(path: &Path) -> Result<Vec<u8>, KeystoreError> {
    use std::io::Read;
    let io = |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(KeystoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("larger than any keystore ({MAX_FILE_BYTES} bytes)"),
        });
    }
    Ok(bytes)
}

/// Why the keystore failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The passphrase does not open this keystore.
    #[error("wrong passphrase for the keystore {path}")]
    WrongPassphrase {
        /// The keystore file.
        path: PathBuf,
    },
    /// The file is not a keystore, or was altered.
    #[error("the keystore {path} is damaged or was altered: {reason}")]
    Corrupt {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keystore exists where a new one was to be created.
    #[error("a keystore already exists at {path}; refusing to overwrite it")]
    Exists {
        /// The keystore file.
        path: PathBuf,
    },
    /// Reading or writing the file failed.
    #[error("keystore {path}: {source}")]
    Io {
        /// The keystore file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A key name is empty, too long, or already taken.
    #[error("bad key name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More keys than one file holds.
    #[error("a keystore holds at most {MAX_KEYS} keys")]
    TooManyKeys,
    /// The operating system gave no randomness for a key, salt or nonce.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// Argon2 parameters out of bounds.
    #[error("argon2 parameters refused: {0}")]
    Kdf(String),
    /// No passphrase in the environment and no terminal to ask on.
    #[error("no passphrase: set {PASSPHRASE_ENV} or run on a terminal")]
    NoTty,
    /// The passphrase and its confirmation differ.
    #[error("the passphrases do not match")]
    PassphraseMismatch,
    /// An empty passphrase was typed.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// Reading the passphrase from the terminal failed.
    #[error("cannot read the passphrase from the terminal: {0}")]
    Prompt(std::io::Error),
}

/// A wallet's secret key and the name it goes by. The secret is wiped on drop and never
/// printed.
#[derive(Clone)]
pub struct NamedKey {
    /// The wallet's name.
    pub name: String,
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl NamedKey {
    /// A named key from its 32 secret bytes.
    pub fn new(name: impl Into<String>, secret: Zeroizing<[u8; SECRET_LEN]>) -> Self {
        NamedKey {
            name: name.into(),
            secret,
        }
    }

    /// A new key from the operating system's randomness.
    pub fn generate(name: impl Into<String>) -> Result<Self, KeystoreError> {
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        random(secret.as_mut_slice())?;
        Ok(NamedKey::new(name, secret))
    }

    /// The secret bytes.
    pub fn secret(&self) -> &[u8; SECRET_LEN] {
        &self.secret
    }

    /// The ed25519 signing key.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.secret)
    }

    /// The key's account (its public key).
    pub fn account(&self) -> AccountId {
        record::account_of(&self.signing_key())
    }
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedKey")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Argon2id's cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            m_kib: 19 * 1024,
            t: 2,
            p: 1,
        }
    }
}

impl KdfParams {
    /// The cheapest costs argon2 allows, for keystores that guard nothing: the demo's,
    /// tests', benches'. Never for a real wallet.
    pub const DISPOSABLE: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn argon2(&self) -> Result<Argon2<'static>, String> {
        if self.m_kib > MAX_M_KIB || self.t > MAX_T || self.p > MAX_P {
            return Err(format!(
                "m={} KiB, t={}, p={} exceed m={MAX_M_KIB}, t={MAX_T}, p={MAX_P}",
                self.m_kib, self.t, self.p
            ));
        }
        let params =
            Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|e| e.to_string())?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The keystore file's operations.
pub struct Keystore;

impl Keystore {
    /// Creates a keystore at `path` holding `keys`; refuses to overwrite one.
    pub fn create(
        path: &Path,
        passphrase: &str,
        keys: &[NamedKey],
        kdf: KdfParams,
    ) -> Result<(), KeystoreError> {
        if path.exists() {
            return Err(KeystoreError::Exists {
                path: path.to_path_buf(),
            });
        }
        write(path, passphrase, keys, kdf)
    }

    /// Decrypts the keystore at `path`.
    pub fn open(path: &Path, passphrase: &str) -> Result<Vec<NamedKey>, KeystoreError> {
        let bytes = read_bounded(path)?;
        decrypt(path, &bytes, passphrase).map(|(keys, _)| keys)
    }

    /// Adds a key to the keystore at `path`, re-encrypting it (fresh salt and nonce, the
    /// same argon2 parameters).
    pub fn add_key(path: &Path, passphrase: &str, key: NamedKey) -> Result<(), KeystoreError> {
        let bytes = read_bounded(path)?;
        let (mut keys, kdf) = decrypt(path, &bytes, passphrase)?;
        keys.push(key);
        write(path, passphrase, &keys, kdf)
    }
}

/// The passphrase: from `MESHPAY_PASSPHRASE` when set, else asked on the terminal (twice
/// when `prompt_confirm`, for a new keystore).
pub fn passphrase(prompt_confirm: bool) -> Result<Zeroizing<String>, KeystoreError> {
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV) {
        // Set but empty is a mistake (an unset shell variable), not a passphrase.
        if p.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        return Ok(Zeroizing::new(p.to_string_lossy().into_owned()));
    }
    // rpassword reads /dev/tty; without one (a service, a pipe) say what to do instead.
    if std::fs::File::open("/dev/tty").is_err() && !std::io::stdin().is_terminal() {
        return Err(KeystoreError::NoTty);
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("Keystore passphrase: ").map_err(KeystoreError::Prompt)?,
    );
    if first.is_empty() {
        return Err(KeystoreError::EmptyPassphrase);
    }
    if prompt_confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Repeat the passphrase: ").map_err(KeystoreError::Prompt)?,
        );
        if *again != *first {
            return Err(KeystoreError::PassphraseMismatch);
        }
    }
    Ok(first)
}

fn random(buf: &mut [u8]) -> Result<(), KeystoreError> {
    getrandom::fill(buf).map_err(|e| KeystoreError::Random(e.to_string()))
}

/// The cipher key and the passphrase check, both from argon2id's output.
struct Derived {
    key: Zeroizing<[u8; 32]>,
    check: [u8; CHECK_LEN],
}

fn derive(passphrase: &str, salt: &[u8], kdf: KdfParams) -> Result<Derived, KeystoreError> {
    let argon2 = kdf.argon2().map_err(KeystoreError::Kdf)?;
    let mut master = Zeroizing::new([0u8; 32]);
    argon2
        .hash_password_into(passphrase.as_bytes(), salt, master.as_mut_slice())
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    // Two independent values from one argon2 run: the check tells a wrong passphrase
    // apart from a damaged file, without revealing the cipher key.
    let key = Zeroizing::new(blake3::derive_key(
        "meshpay keystore v1 encryption key",
        master.as_slice(),
    ));
    let full = blake3::derive_key("meshpay keystore v1 passphrase check", master.as_slice());
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&full[..CHECK_LEN]);
    Ok(Derived { key, check })
}

fn check_names(keys: &[NamedKey]) -> Result<(), KeystoreError> {
    if keys.len() > MAX_KEYS {
        return Err(KeystoreError::TooManyKeys);
    }
    for (i, k) in keys.iter().enumerate() {
        let bad = |reason| KeystoreError::BadName {
            name: k.name.clone(),
            reason,
        };
        if k.name.is_empty() || k.name.len() > MAX_NAME_BYTES {
            return Err(bad("a name is 1 to 64 bytes"));
        }
        if keys[..i].iter().any(|o| o.name == k.name) {
            return Err(bad("another key has this name"));
        }
    }
    Ok(())
}

/// Encrypts `keys` and replaces the file at `path` with the result.
fn write(
    path: &Path,
    passphrase: &str,
    keys: &[NamedKey],
    kdf: KdfParams,
) -> Result<(), KeystoreError> {
    check_names(keys)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(2 + keys.len() * (1 + 64 + SECRET_LEN)));
    plain.extend_from_slice(&(keys.len() as u16).to_be_bytes());
    for k in keys {
        plain.push(k.name.len() as u8);
        plain.extend_from_slice(k.name.as_bytes());
        plain.extend_from_slice(k.secret.as_slice());
    }

    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut salt)?;
    random(&mut nonce)?;
    let derived = derive(passphrase, &salt, kdf)?;
    let mut file = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
    file.extend_from_slice(MAGIC);
    file.push(VERSION);
    for v in [kdf.m_kib, kdf.t, kdf.p] {
        file.extend_from_slice(&v.to_be_bytes());
    }
    file.extend_from_slice(&salt);
    file.extend_from_slice(&derived.check);
    file.extend_from_slice(&nonce);
    let cipher = XChaCha20Poly1305::new(derived.key.as_slice().into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &file,
            },
        )
        .map_err(|_| KeystoreError::Kdf("encryption failed".into()))?;
    file.extend_from_slice(&sealed);
    write_atomically(path, &file).map_err(|source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a sibling temp file (mode 0600 from its creation), syncs it, renames it over
/// `path` and syncs the directory: a crash leaves the old file or the new one, whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the keystore path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        // Best effort: the temp file is useless once the write failed.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Parses and decrypts a keystore file's bytes; returns the keys and the file's argon2
/// parameters.
fn decrypt(
    path: &Path,
    bytes: &[u8],
    passphrase: &str,
) -> Result<(Vec<NamedKey>, KdfParams), KeystoreError> {
    let corrupt = |reason: &str| KeystoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(corrupt("too short to be a keystore"));
    }
    let (header, sealed) = bytes.split_at(HEADER_LEN);
    if &header[..4] != MAGIC {
        return Err(corrupt("not a meshpay keystore"));
    }
    if header[4] != VERSION {
        return Err(corrupt("unknown keystore version"));
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let kdf = KdfParams {
        m_kib: u32_at(5),
        t: u32_at(9),
        p: u32_at(13),
    };
    let salt = &header[17..17 + SALT_LEN];
    let check = &header[17 + SALT_LEN..17 + SALT_LEN + CHECK_LEN];
    let nonce = &header[17 + SALT_LEN + CHECK_LEN..];
    kdf.argon2()
        .map_err(|e| corrupt(&format!("argon2 parameters: {e}")))?;
    let derived = derive(passphrase, salt, kdf)?;
    if derived.check != check {
        return Err(KeystoreError::WrongPassphrase {
            path: path.to_path_buf(),
        });
    }
    let cipher = XChaCha20Poly1305::new(derived.key.as_slice().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: header,
                },
            )
            .map_err(|_| corrupt("authentication failed"))?,
    );
    let keys = parse_keys(&plain).ok_or_else(|| corrupt("bad key list"))?;
    Ok((keys, kdf))
}

fn parse_keys(plain: &[u8]) -> Option<Vec<NamedKey>> {
    let (count, mut rest) = plain.split_first_chunk::<2>()?;
    let count = u16::from_be_bytes(*count) as usize;
    let mut keys = Vec::with_capacity(count.min(MAX_KEYS));
    for _ in 0..count {
        let (&len, after) = rest.split_first()?;
        let (name, after) = after.split_at_checked(len as usize)?;
        let (secret, after) = after.split_first_chunk::<SECRET_LEN>()?;
        keys.push(NamedKey::new(
            std::str::from_utf8(name).ok()?,
            Zeroizing::new(*secret),
        ));
        rest = after;
    }
    rest.is_empty().then_some(keys)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Cheap parameters: the tests check the format, not argon2's cost.
    const CHEAP: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn keys() -> Vec<NamedKey> {
        vec![
            NamedKey::new("alice", Zeroizing::new([1; 32])),
            NamedKey::new("shop till", Zeroizing::new([2; 32])),
        ]
    }

    fn same(a: &[NamedKey], b: &[NamedKey]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.name == y.name && x.secret() == y.secret())
    }

    #[test]
    fn keys_come_back_with_the_passphrase_and_more_can_be_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        Keystore::create(&path, "correct horse", &keys(), CHEAP).expect("create");
        assert!(same(
            &Keystore::open(&path, "correct horse").expect("open"),
            &keys()
        ));

        let extra = NamedKey::generate("savings").expect("generate");
        Keystore::add_key(&path, "correct horse", extra.clone()).expect("add");
        let mut want = keys();
        want.push(extra);
        assert!(same(
            &Keystore::open(&path, "correct horse").expect("open"),
            &want
        ));

        let err = Keystore::add_key(
            &path,
            "correct horse",
            NamedKey::new("alice", Zeroizing::new([5; 32])),
        )
        .expect_err("duplicate");
        assert!(matches!(err, KeystoreError::BadName { .. }), "{err:?}");
        let err = Keystore::create(&path, "x", &keys(), CHEAP).expect_err("exists");
        assert!(matches!(err, KeystoreError::Exists { .. }), "{err:?}");
    }

    #[test]
    fn a_wrong_passphrase_is_told_apart_from_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        Keystore::create(&path, "right", &keys(), CHEAP).expect("create");
        let err = Keystore::open(&path, "wrong").expect_err("wrong passphrase");
        assert!(
            matches!(err, KeystoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
    }

    #[test]
    fn a_tampered_file_is_refused_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        Keystore::create(&path, "pass", &keys(), CHEAP).expect("create");
        let good = std::fs::read(&path).expect("read");

        let mut flipped = good.clone();
        let last = flipped.len() - 20;
        flipped[last] ^= 1;
        std::fs::write(&path, &flipped).expect("write");
        let err = Keystore::open(&path, "pass").expect_err("tampered");
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");

        // The nonce is in the header, authenticated with the keys.
        let mut nonce = good.clone();
        nonce[HEADER_LEN - 1] ^= 1;
        std::fs::write(&path, &nonce).expect("write");
        let err = Keystore::open(&path, "pass").expect_err("tampered header");
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");

        std::fs::write(&path, &good[..HEADER_LEN]).expect("write");
        let err = Keystore::open(&path, "pass").expect_err("truncated");
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");

        // Costs beyond the bounds are refused before argon2 runs.
        let mut costly = good.clone();
        costly[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        std::fs::write(&path, &costly).expect("write");
        let err = Keystore::open(&path, "pass").expect_err("costly");
        assert!(matches!(err, KeystoreError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn the_file_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        Keystore::create(&path, "pass", &keys(), CHEAP).expect("create");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        Keystore::add_key(
            &path,
            "pass",
            NamedKey::new("more", Zeroizing::new([3; 32])),
        )
        .expect("add");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn secrets_never_print() {
        let k = NamedKey::new("alice", Zeroizing::new([0xab; 32]));
        let shown = format!("{k:?} {:?}", vec![k.clone()]);
        assert!(
            shown.contains("alice") && shown.contains("redacted"),
            "{shown}"
        );
        assert!(
            !shown.contains("171") && !shown.contains("ab, ab"),
            "{shown}"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        let empty = [NamedKey::new("", Zeroizing::new([1; 32]))];
        let err = Keystore::create(&path, "p", &empty, CHEAP).expect_err("empty name");
        assert!(matches!(err, KeystoreError::BadName { .. }), "{err:?}");
        assert!(!path.exists());
    }

    #[test]
    fn the_default_costs_are_argon2id_minimums() {
        assert_eq!(
            KdfParams::default(),
            KdfParams {
                m_kib: 19 * 1024,
                t: 2,
                p: 1
            }
        );
        assert!(KdfParams::default().argon2().is_ok());
    }
}
