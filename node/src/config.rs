//! The daemon's configuration: a TOML file whose every option has a documented default,
//! read and validated once at start. A bad value is refused with the option's name, so
//! the operator knows which line to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Default `node.name`.
pub const DEFAULT_NODE_NAME: &str = "meshpay";
/// Default `api.listen`: loopback only, because the API can spend.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:7420";
/// Default `lan.listen`: every interface, ports chosen by the system, TCP and QUIC.
pub const DEFAULT_LAN_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];
/// Default `lan.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;
/// Default `lan.max_connections_per_peer`.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// Default `lan.max_frame_bytes`: a 64 KiB sync message and its framing.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 + 256;
/// Default `log.filter`.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Longest `node.name`, in bytes.
const MAX_NODE_NAME_BYTES: usize = 64;
/// Bounds of `lan.max_connections`.
const CONNECTIONS: std::ops::RangeInclusive<u32> = 1..=10_000;
/// Bounds of `lan.max_frame_bytes`: at least one largest record with its framing.
const FRAME_BYTES: std::ops::RangeInclusive<usize> = 2_048..=(16 << 20);

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (toml's message names the key
    /// and the line).
    #[error("configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// An option's value is out of its bounds.
    #[error("configuration option {field}: {reason}")]
    Invalid {
        /// The option, as `section.key`.
        field: String,
        /// What is wrong with its value.
        reason: String,
    },
}

/// The daemon's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[node]`.
    pub node: NodeConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[lan]`.
    pub lan: LanConfig,
    /// `[log]`.
    pub log: LogConfig,
}

/// `[node]`: who this node is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// A name for people (logs, peers' views); default "meshpay".
    pub name: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: DEFAULT_NODE_NAME.into(),
        }
    }
}

/// `[api]`: the local HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on; loopback only. Default 127.0.0.1:7420.
    pub listen: SocketAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: DEFAULT_API_LISTEN
                .parse()
                .expect("the default API address parses"),
        }
    }
}

/// `[lan]`: libp2p on the local network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanConfig {
    /// Whether the node takes part in the LAN at all. Default true.
    pub enabled: bool,
    /// Multiaddrs to listen on. Default TCP and QUIC on every interface, any port.
    pub listen: Vec<String>,
    /// Discover peers with mDNS. Default true.
    pub mdns: bool,
    /// Multiaddrs of peers to dial at start and keep dialling. Default none.
    pub peers: Vec<String>,
    /// Most connections in all. Default 64.
    pub max_connections: u32,
    /// Most connections to one peer. Default 2.
    pub max_connections_per_peer: u32,
    /// Largest frame a peer may send, in bytes; bigger frames end the stream. Default
    /// 64 KiB + 256.
    pub max_frame_bytes: usize,
    /// Push records heard from one LAN peer on to the others. Default false: on a LAN
    /// where mDNS connects every node to every other, the sender reached them all, and
    /// reconciliation brings what one missed (docs/design.md, "LAN fan-out").
    pub relay: bool,
}

impl Default for LanConfig {
    fn default() -> Self {
        LanConfig {
            enabled: true,
            listen: DEFAULT_LAN_LISTEN.map(String::from).to_vec(),
            mdns: true,
            peers: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            relay: false,
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, for collectors.
    Json,
}

/// `[log]`: tracing output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" or "json". Default "text".
    pub format: LogFormat,
    /// A tracing filter, as in RUST_LOG ("info", "meshpay_node=debug,info"). Default "info".
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: DEFAULT_LOG_FILTER.into(),
        }
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every option against its bounds; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.node.name;
        if name.is_empty() || name.len() > MAX_NODE_NAME_BYTES {
            return Err(invalid("node.name", "must be 1 to 64 bytes"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("node.name", "must not hold control characters"));
        }
        if !self.api.listen.ip().is_loopback() {
            return Err(invalid(
                "api.listen",
                format!(
                    "{} is not a loopback address; the API can spend, so it listens on \
                     127.0.0.1 or ::1 only",
                    self.api.listen
                ),
            ));
        }
        multiaddrs("lan.listen", &self.lan.listen)?;
        multiaddrs("lan.peers", &self.lan.peers)?;
        in_range("lan.max_connections", self.lan.max_connections, CONNECTIONS)?;
        in_range(
            "lan.max_connections_per_peer",
            self.lan.max_connections_per_peer,
            1..=self.lan.max_connections,
        )?;
        in_range("lan.max_frame_bytes", self.lan.max_frame_bytes, FRAME_BYTES)?;
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| invalid("log.filter", e.to_string()))?;
        Ok(())
    }

    /// A node that touches nothing but this machine's loopback: API and LAN on
    /// 127.0.0.1 with ports the system picks, no mDNS (which would reach the machine's
    /// network). For the demo, tests and benches; peers go in `lan.peers`.
    pub fn loopback() -> Config {
        let mut c = Config::default();
        c.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        c.lan.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        c.lan.mdns = false;
        c
    }

    /// The file `meshpay init` writes: every option, commented with its meaning, set to
    /// its default.
    pub fn commented_default() -> String {
        COMMENTED_DEFAULT.to_owned()
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{value} is outside {} to {}", range.start(), range.end()),
        ))
    }
}

fn multiaddrs(field: &str, addrs: &[String]) -> Result<(), ConfigError> {
    for (i, a) in addrs.iter().enumerate() {
        libp2p::Multiaddr::from_str(a).map_err(|e| {
            invalid(
                &format!("{field}[{i}]"),
                format!("{a:?} is not a multiaddr: {e}"),
            )
        })?;
    }
    Ok(())
}

/// What `Config::commented_default` returns; a test holds it equal to `Config::default()`.
const COMMENTED_DEFAULT: &str = r#"# meshpay node configuration. Every option is shown with its default value; an
# option left out takes its default, and an unknown option is an error.

[node]
# A name for people: it appears in logs and in what peers show of this node.
name = "meshpay"

[api]
# Where the local HTTP API listens. Loopback addresses only (127.0.0.1 or ::1):
# the API can spend, and every request must carry the token of the cookie file.
listen = "127.0.0.1:7420"

[lan]
# Whether this node talks to peers on the local network at all.
enabled = true
# Multiaddrs to listen on; port 0 lets the system choose.
listen = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
# Find peers on the local network with mDNS.
mdns = true
# Multiaddrs of peers to dial at start and keep dialling,
# e.g. ["/ip4/192.168.1.20/tcp/4001"].
peers = []
# Most connections in all (1 to 10000).
max_connections = 64
# Most connections to one peer (1 to max_connections).
max_connections_per_peer = 2
# Largest frame a peer may send, in bytes; a bigger one ends that peer's stream
# (2048 to 16 MiB).
max_frame_bytes = 65792
# Push records heard from one peer on to the others. Off: on a LAN where mDNS
# connects every node to every other, the sender reached them all already, and
# reconciliation brings a peer whatever it missed. Turn it on where peers are
# static and do not all reach each other.
relay = false

[log]
# "text" for people, "json" for log collectors.
format = "text"
# Which events to log, as in RUST_LOG: "info", "debug", "meshpay_node=debug,info".
filter = "info"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(text: &str) -> String {
        match Config::parse(text) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn the_commented_default_is_the_default() {
        let text = Config::commented_default();
        assert_eq!(Config::parse(&text).expect("parses"), Config::default());
        // Every option appears, so the file documents them all.
        let all = toml::to_string(&Config::default()).expect("serialises");
        for line in all.lines().filter(|l| l.contains(" = ")) {
            let key = line.split(" = ").next().expect("key");
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "option {key} missing from the commented default"
            );
        }
    }

    #[test]
    fn an_empty_file_is_the_default_and_valid() {
        assert_eq!(Config::parse("").expect("parses"), Config::default());
        Config::default().validate().expect("the default is valid");
    }

    #[test]
    fn options_override_their_defaults() {
        let c = Config::parse(
            "[api]\nlisten = \"[::1]:9000\"\n[lan]\npeers = [\"/ip4/10.0.0.2/tcp/4001\"]\n\
             [log]\nformat = \"json\"\n",
        )
        .expect("parses");
        assert_eq!(c.api.listen, "[::1]:9000".parse().expect("addr"));
        assert_eq!(c.lan.peers.len(), 1);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.lan.max_connections, DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn the_loopback_config_is_valid_and_stays_off_the_network() {
        let c = Config::loopback();
        c.validate().expect("valid");
        assert!(c.api.listen.ip().is_loopback());
        assert!(!c.lan.mdns);
        assert!(
            c.lan
                .listen
                .iter()
                .all(|a| a.starts_with("/ip4/127.0.0.1/"))
        );
    }

    #[test]
    fn each_bad_value_names_its_option() {
        let cases = [
            ("[node]\nname = \"\"", "node.name"),
            ("[node]\nname = \"a\\nb\"", "node.name"),
            ("[api]\nlisten = \"0.0.0.0:7420\"", "api.listen"),
            ("[api]\nlisten = \"192.168.1.5:7420\"", "api.listen"),
            (
                "[lan]\nlisten = [\"/ip4/0.0.0.0/tcp/0\", \"tcp:4001\"]",
                "lan.listen[1]",
            ),
            ("[lan]\npeers = [\"10.0.0.2:4001\"]", "lan.peers[0]"),
            ("[lan]\nmax_connections = 0", "lan.max_connections"),
            (
                "[lan]\nmax_connections = 4\nmax_connections_per_peer = 5",
                "lan.max_connections_per_peer",
            ),
            ("[lan]\nmax_frame_bytes = 100", "lan.max_frame_bytes"),
            ("[log]\nfilter = \"meshpay=notalevel\"", "log.filter"),
        ];
        for (text, field) in cases {
            assert_eq!(field_of(text), field, "for {text:?}");
        }
        let err = Config::parse("[api]\nlisten = \"0.0.0.0:7420\"").expect_err("public");
        assert!(err.to_string().contains("api.listen"), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    fn parse_message(text: &str) -> String {
        match Config::parse(text) {
            Err(ConfigError::Parse { message, .. }) => message,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_option_is_refused_by_name_and_line() {
        let m = parse_message("[lan]\nenabled = true\nmax_conections = 3\n");
        assert!(m.contains("max_conections"), "{m}");
        assert!(m.contains("line 3"), "{m}");
        let m = parse_message("[wan]\nenabled = true\n");
        assert!(m.contains("wan"), "{m}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_by_name_and_line() {
        let m = parse_message("[node]\nname = \"x\"\n[lan]\nmdns = \"yes\"\n");
        assert!(m.contains("mdns"), "{m}");
        assert!(m.contains("line 4"), "{m}");
        let m = parse_message("[log]\nformat = \"xml\"\n");
        assert!(m.contains("format") || m.contains("xml"), "{m}");
        let m = parse_message("[api]\nlisten = \"localhost\"\n");
        assert!(m.contains("listen"), "{m}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("meshpay.toml");
        std::fs::write(&path, Config::commented_default()).expect("write");
        assert_eq!(Config::load(&path).expect("load"), Config::default());
        std::fs::write(&path, "[node]\nnmae = 1\n").expect("write");
        let err = Config::load(&path).expect_err("bad");
        assert!(err.to_string().contains("meshpay.toml"), "{err}");
        let err = Config::load(&dir.path().join("absent.toml")).expect_err("absent");
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }
}
