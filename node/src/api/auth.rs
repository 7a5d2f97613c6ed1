//! Who may call the API: whoever can read the cookie file. At start the daemon writes a
//! fresh random token to `<data_dir>/api.cookie` (mode 0600, as bitcoind does) and the
//! bound address to `<data_dir>/api.addr`; both go when the daemon stops. Every request
//! carries the token as `Authorization: Bearer <token>`, compared in constant time.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The cookie file's name in the data directory.
pub const COOKIE_FILE: &str = "api.cookie";
/// The file beside the cookie that holds the API's bound `host:port`.
pub const ADDR_FILE: &str = "api.addr";
/// Random bytes in a token (printed as twice as many hex digits).
pub const TOKEN_BYTES: usize = 32;

/// Why the cookie or address file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// A file could not be written, read or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file does not hold what it should.
    #[error("{path} is damaged: {why}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: &'static str,
    },
}

/// The API token: 64 lowercase hex digits. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the OS CSPRNG.
    pub fn generate() -> Result<Self, CookieError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| CookieError::Random(e.to_string()))?;
        Ok(Token(hex::encode(bytes)))
    }

    /// A token as written in a cookie file (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        (t.len() == 2 * TOKEN_BYTES && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Token(t.to_ascii_lowercase()))
    }

    /// The token's text, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token, in time that does not depend on where they
    /// differ (the length of a token is no secret).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The cookie and address files of a running API; removed when dropped.
#[derive(Debug)]
pub struct Cookie {
    dir: PathBuf,
    token: Token,
}

impl Cookie {
    /// Writes a fresh token to `<data_dir>/api.cookie`, readable by the owner only,
    /// replacing a stale cookie a killed daemon left behind.
    pub fn create(data_dir: &Path) -> Result<Self, CookieError> {
        let token = Token::generate()?;
        write_private(&data_dir.join(COOKIE_FILE), token.expose().as_bytes())?;
        Ok(Cookie {
            dir: data_dir.to_path_buf(),
            token,
        })
    }

    /// The token requests must carry.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The cookie file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(COOKIE_FILE)
    }

    /// Writes the bound address to `<data_dir>/api.addr` for the command line.
    pub fn write_addr(&self, addr: SocketAddr) -> Result<(), CookieError> {
        write_private(&self.dir.join(ADDR_FILE), addr.to_string().as_bytes())
    }
}

impl Drop for Cookie {
    fn drop(&mut self) {
        for name in [COOKIE_FILE, ADDR_FILE] {
            let path = self.dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove API file")
                }
            }
        }
    }
}

/// Reads the token of a running daemon's cookie.
pub fn read_cookie(data_dir: &Path) -> Result<Token, CookieError> {
    let path = data_dir.join(COOKIE_FILE);
    let text = read_small(&path)?;
    Token::parse(&text).ok_or(CookieError::Damaged {
        path,
        why: "it does not hold a 64-hex-digit token",
    })
}

/// Reads the address a running daemon's API is bound to.
pub fn read_addr(data_dir: &Path) -> Result<SocketAddr, CookieError> {
    let path = data_dir.join(ADDR_FILE);
    let text = read_small(&path)?;
    text.trim().parse().map_err(|_| CookieError::Damaged {
        path,
        why: "it does not hold a host:port address",
    })
}

/// Reads a file of a few bytes, refusing anything larger than a token or address needs.
fn read_small(path: &Path) -> Result<String, CookieError> {
    const MAX: u64 = 256;
    let io_err = |source| CookieError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    if meta.len() > MAX {
        return Err(CookieError::Damaged {
            path: path.to_path_buf(),
            why: "it is too large",
        });
    }
    fs::read_to_string(path).map_err(io_err)
}

/// Writes a file readable by the owner only: a fresh temporary file created with mode
/// 0600 (never a reused file with looser bits), synced, then renamed over the target.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CookieError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CookieError::Io { path: p, source }
    };
    let tmp = path.with_extension("tmp");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp)(e)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Middleware: lets a request through only with the cookie's token.
pub(crate) async fn require_token(
    State(token): State<Token>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(t) if token.matches(t.trim()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
