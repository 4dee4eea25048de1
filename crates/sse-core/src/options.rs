//! The command-line options every server takes, defined once so the three binaries agree on
//! names, defaults and help text. Try `cargo run -p server-axum -- --help`.

use std::path::PathBuf;

use ipnet::IpNet;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::cors;
use crate::credentials::{CookiePolicy, SameSite};
use crate::generation::Pace;
use crate::identity::{self, PublicKey};
use crate::kept_answers::KeptLimits;
use crate::redis_conn::Target;
use crate::rooms::Limits;

/// Which framework a binary is built on: its name (in logs, `/health` and the first stdout line)
/// and its default port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framework {
    /// `axum`, `actix` or `warp`.
    pub name: &'static str,
    /// The binary's name, for `--help`.
    pub binary: &'static str,
    /// 3000, 3001 or 3002, so that all three can run side by side.
    pub default_port: u16,
}

impl Framework {
    /// `server-axum`.
    pub const AXUM: Self = Self {
        name: "axum",
        binary: "server-axum",
        default_port: 3000,
    };
    /// `server-actix`.
    pub const ACTIX: Self = Self {
        name: "actix",
        binary: "server-actix",
        default_port: 3001,
    };
    /// `server-warp`.
    pub const WARP: Self = Self {
        name: "warp",
        binary: "server-warp",
        default_port: 3002,
    };
}

/// A Server-Sent Events demo server: a clock, a paragraph, a counter and a chat stream, and a page
/// that shows them. Logs go to stderr, filtered by RUST_LOG (e.g. RUST_LOG=debug).
#[derive(Debug, Clone, Parser)]
pub struct Options {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks any free port (the first line printed says which).
    #[arg(long)]
    pub port: u16,

    /// Write a comment line on a stream after this many idle seconds, so that proxies and
    /// browsers do not close it.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keep_alive_secs: u64,

    /// Tell browsers to wait this long before reconnecting (the `retry:` field).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub retry_ms: u64,

    /// Give each stream a `retry:` this many percent either side of --retry-ms, at random, so
    /// that when a server restarts its clients do not all come back in the same instant; 0
    /// sends --retry-ms exactly.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=50))]
    pub retry_jitter: u64,

    /// Streams open at once; past this a new stream is told to come back later.
    #[arg(long, default_value_t = 10_000)]
    pub max_streams: usize,

    /// Streams one client address may hold open at once (over HTTP/1.1 and HTTP/2 together);
    /// past this its new streams are told to come back later, and everyone else is still
    /// served. 256 is what one HTTP/2 connection may carry, or 64 tabs of the demo page behind
    /// one address (an office's NAT).
    #[arg(long, default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_streams_per_client: usize,

    /// Connections one client address may hold open at once; past this its new connections are
    /// closed at once. Above --max-streams-per-client, since over HTTP/1.1 each stream is a
    /// connection; a --trusted-proxy is not limited.
    #[arg(long, default_value_t = 512,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_client: usize,

    /// A proxy (an address or a CIDR block, such as 10.0.0.0/8) whose X-Forwarded-For or
    /// Forwarded header names the client; repeat for more. Without it, the client is the peer
    /// address of the connection, and such headers are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = cidr)]
    pub trusted_proxies: Vec<IpNet>,

    /// A host name (the Host header, any port) this server answers to; repeat for more. Always
    /// allowed: localhost, 127.0.0.1, ::1 and --host. Any other Host is refused (421), which
    /// stops DNS rebinding; `*` allows every host.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,

    /// Close a connection whose client has accepted no byte for this many seconds (it stopped
    /// reading, or vanished), so that it cannot hold the server's memory.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout_secs: u64,

    /// Chat posts each client address may make per second, on average (a token bucket);
    /// past it, 429 with Retry-After.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub post_rate: u32,

    /// Chat posts a client address may make at once, before --post-rate applies.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub post_burst: u32,

    /// Bytes of chat history one stream may replay when it opens (`?history=` or
    /// Last-Event-ID), in KiB; what is older is announced with `event: lagged` instead.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub replay_kib: u64,

    /// Chat messages kept per room, for clients that reconnect and for subscribers that read
    /// slowly: a subscriber more than this many messages behind is told how many it lost.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub history: usize,

    /// Chat rooms that may hold messages at once, in this process (or in Redis, with --redis or
    /// --redis-cluster): a post to a new room past it is answered 507.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_rooms: usize,

    /// Seconds after which a room that nobody follows and nobody posts to leaves memory (and
    /// Redis), with its history. The lobby never does.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub room_idle_secs: u64,

    /// Keep the chat in this Redis (redis://HOST:PORT[/DB]), shared by every server started
    /// with it, so that they serve the same rooms. Without it the chat lives in this process.
    #[arg(long, env = "SSE_REDIS_URL", value_name = "URL", value_parser = redis_url)]
    pub redis: Option<String>,

    /// Keep the chat in this Redis Cluster, reached through any of these nodes
    /// (redis://HOST:PORT, comma-separated): each room is a stream on the master of its slot.
    #[arg(long, env = "SSE_REDIS_CLUSTER", value_name = "URL,...", value_delimiter = ',',
          conflicts_with = "redis", value_parser = redis_url)]
    pub redis_cluster: Vec<String>,

    /// Serve HTTPS, with HTTP/2 and HTTP/1.1 on the same port (chosen by ALPN). Alone, with a
    /// self-signed certificate for localhost and 127.0.0.1 made at start (kept in memory only).
    #[arg(long)]
    pub tls: bool,

    /// Serve HTTPS with this certificate chain (PEM) instead of a self-signed one.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Turn identity on: check tokens (JWTs, HS256) signed with this secret, of at least 32
    /// bytes. Posting then needs a token, and rooms whose name starts with `_` are private.
    #[arg(long, env = "SSE_AUTH_SECRET", value_name = "SECRET", hide_env_values = true,
          value_parser = identity::check_secret, group = "identity")]
    pub auth_secret: Option<String>,

    /// Turn identity on with tokens minted elsewhere: check them with this public key (PEM, an
    /// Ed25519 key for EdDSA or an RSA key for RS256).
    #[arg(long, value_name = "PATH", value_parser = identity::read_public_key, group = "identity")]
    pub auth_public_key: Option<PublicKey>,

    /// With identity on, accept only tokens whose `aud` names this audience (without it, a
    /// token that names any audience is refused).
    #[arg(long, value_name = "AUD", requires = "identity")]
    pub auth_audience: Option<String>,

    /// With identity on, how many seconds of clock difference to allow on `exp` and `nbf`.
    #[arg(long, default_value_t = 5, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=300))]
    pub auth_leeway_secs: u64,

    /// With identity on, refuse every stream without a token, public rooms included.
    #[arg(long, requires = "identity")]
    pub auth_required: bool,

    /// Enable `POST /login` (a name in, a short-lived token cookie out) and `POST /logout`: a
    /// stand-in for an application's own sign-in, for the page and workshops. Needs
    /// --auth-secret, to sign with.
    #[arg(long, requires = "auth_secret")]
    pub demo_login: bool,

    /// The `SameSite` of the token cookie: `strict` (only this site's pages send it), `lax`,
    /// or `none` for pages on other sites that read with `withCredentials` (always `Secure`).
    #[arg(long, value_enum, default_value_t = SameSite::Strict, value_name = "POLICY")]
    pub cookie_same_site: SameSite,

    /// Streamed answers (`POST /v1/chat/completions`): how long the stand-in model "thinks"
    /// before its first token, in milliseconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub think_ms: u64,

    /// Streamed answers: milliseconds between two tokens.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub token_ms: u64,

    /// Streamed answers asked for with `"stream_options": {"resumable": true}`: seconds a
    /// finished answer stays for `GET /v1/streams/{id}`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub resume_secs: u64,

    /// Resumable answers kept at once (generating, or finished within --resume-secs); past it,
    /// a new resumable answer gets 429.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_kept_answers: usize,

    /// Resumable answers one client address may have kept at once.
    #[arg(long, default_value_t = 16,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_kept_answers_per_client: usize,

    /// Let pages on this origin (`scheme://host[:port]`; repeat for more) post here and, with
    /// identity on, read with cookies. Pages on this server's own host always may.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = cors::check_origin)]
    pub allow_origins: Vec<String>,
}

/// An address (`10.0.0.1`) or a block (`10.0.0.0/8`), for `--trusted-proxy`.
fn cidr(text: &str) -> Result<IpNet, String> {
    let parsed = text
        .parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
    parsed.map_err(|_| format!("not an address or a CIDR block (such as 10.0.0.0/8): {text:?}"))
}

/// Accepts what `redis::Client::open` accepts, so a bad URL is refused with the option's name.
fn redis_url(url: &str) -> Result<String, String> {
    redis::Client::open(url)
        .map(|_| url.to_owned())
        .map_err(|e| format!("not a Redis URL (redis://HOST:PORT): {e}"))
}

impl Options {
    /// Parses the process's arguments, with `framework`'s port as the default; exits with a
    /// usage message on bad input, as any command-line tool does.
    pub fn parse_for(framework: Framework) -> Self {
        Self::try_parse_for(framework, std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (the first is the program name), with `framework`'s port as the default.
    pub fn try_parse_for<I, T>(framework: Framework, args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        // clap keeps default values as `&'static str`. This runs once per process, so leaking
        // the few bytes of the port number is the simplest way to get one.
        let port: &'static str = String::leak(framework.default_port.to_string());
        let command = Self::command()
            .name(framework.binary)
            .mut_arg("port", |arg| arg.default_value(port).required(false));
        Self::from_arg_matches(&command.try_get_matches_from(args)?)
    }

    /// The `retry:` one stream sends: --retry-ms, moved at random by up to --retry-jitter
    /// percent either way. After a restart, 10,000 browsers that all got `retry: 3000` would
    /// knock in the same millisecond, overflow the listen queue, and the unlucky ones would
    /// wait out a SYN retransmit (a second); spread over ±30 %, they arrive over 1.8 s.
    pub fn stream_retry_ms(&self) -> u64 {
        let spread = self.retry_ms * self.retry_jitter / 100;
        fastrand::u64(self.retry_ms - spread..=self.retry_ms + spread)
    }

    /// Whether to serve HTTPS: `--tls`, or a certificate of one's own.
    pub fn https(&self) -> bool {
        self.tls || self.tls_cert.is_some()
    }

    /// `http` or `https`, for the first line a server prints.
    pub fn scheme(&self) -> &'static str {
        if self.https() { "https" } else { "http" }
    }

    /// `--write-timeout-secs` as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }

    /// `--replay-kib` in bytes.
    pub fn replay_bytes(&self) -> usize {
        usize::try_from(self.replay_kib * 1024).unwrap_or(usize::MAX)
    }

    /// `--keep-alive-secs` as a duration.
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }

    /// Where the chat's Redis is, if anywhere: `--redis` or `--redis-cluster`.
    pub fn redis_target(&self) -> Option<Target> {
        match (&self.redis, &self.redis_cluster[..]) {
            (Some(url), _) => Some(Target::Single(url.clone())),
            (None, []) => None,
            (None, urls) => Some(Target::Cluster(urls.to_vec())),
        }
    }

    /// Whether identity is on: `--auth-secret` or `--auth-public-key`.
    pub fn identity_on(&self) -> bool {
        self.auth_secret.is_some() || self.auth_public_key.is_some()
    }

    /// How the token cookie is written: `Secure` over HTTPS, and `--cookie-same-site`.
    pub fn cookie_policy(&self) -> CookiePolicy {
        CookiePolicy {
            https: self.https(),
            same_site: self.cookie_same_site,
        }
    }

    /// How fast streamed answers come: `--think-ms`, `--token-ms`.
    pub fn answer_pace(&self) -> Pace {
        Pace {
            think: Duration::from_millis(self.think_ms),
            token: Duration::from_millis(self.token_ms),
        }
    }

    /// What is kept of resumable answers: `--max-kept-answers`,
    /// `--max-kept-answers-per-client`, `--resume-secs`.
    pub fn kept_limits(&self) -> KeptLimits {
        KeptLimits {
            max: self.max_kept_answers,
            per_client: self.max_kept_answers_per_client,
            keep_for: Duration::from_secs(self.resume_secs),
        }
    }

    /// The limits of the chat's rooms: `--history`, `--max-rooms`, `--room-idle-secs`.
    pub fn room_limits(&self) -> Limits {
        Limits {
            history: self.history,
            max_rooms: self.max_rooms,
            idle: Duration::from_secs(self.room_idle_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let options = Options::try_parse_for(Framework::ACTIX, ["server-actix"]).expect("valid");
        assert_eq!(options.host, "127.0.0.1");
        assert_eq!(options.port, 3001);
        assert_eq!(options.keep_alive(), Duration::from_secs(15));
        assert_eq!(
            (options.retry_ms, options.max_streams, options.history),
            (3000, 10_000, 1000)
        );
        assert_eq!(options.retry_jitter, 30);
        assert_eq!(options.max_streams_per_client, 256);
        assert_eq!(options.max_connections_per_client, 512);
        assert_eq!(options.write_timeout(), Duration::from_secs(30));
        assert_eq!((options.post_rate, options.post_burst), (5, 20));
        assert_eq!(options.replay_bytes(), 256 * 1024);
        assert!(options.trusted_proxies.is_empty() && options.allowed_hosts.is_empty());
        assert_eq!((options.max_rooms, options.room_idle_secs), (1000, 600));
        assert_eq!(options.redis_target(), None);
        let pace = options.answer_pace();
        assert_eq!(
            (pace.think, pace.token),
            (Duration::from_millis(300), Duration::from_millis(40))
        );
        let kept = options.kept_limits();
        assert_eq!(
            (kept.max, kept.per_client, kept.keep_for.as_secs()),
            (1000, 16, 60)
        );
    }

    #[test]
    fn a_cluster_is_any_of_its_nodes_and_excludes_one_redis() {
        let args = "server-axum --redis-cluster redis://127.0.0.1:7001,redis://127.0.0.1:7002";
        let options = Options::try_parse_for(Framework::AXUM, args.split(' ')).expect("valid");
        let urls = vec![
            "redis://127.0.0.1:7001".to_owned(),
            "redis://127.0.0.1:7002".to_owned(),
        ];
        assert_eq!(options.redis_target(), Some(Target::Cluster(urls)));
        let both = format!("{args} --redis redis://127.0.0.1:6379");
        assert!(Options::try_parse_for(Framework::AXUM, both.split(' ')).is_err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let args = "server-axum --trusted-proxy 10.0.0.0/8 --trusted-proxy ::1";
        let options = Options::try_parse_for(Framework::AXUM, args.split(' ')).expect("valid");
        let blocks: Vec<String> = options
            .trusted_proxies
            .iter()
            .map(IpNet::to_string)
            .collect();
        assert_eq!(blocks, ["10.0.0.0/8", "::1/128"]);
        let err =
            Options::try_parse_for(Framework::AXUM, ["server-axum", "--trusted-proxy", "nginx"])
                .expect_err("a name is not an address");
        assert!(err.to_string().contains("--trusted-proxy"), "{err}");
    }

    #[test]
    fn each_stream_s_retry_is_spread_around_retry_ms() {
        let options = Options::try_parse_for(Framework::AXUM, ["server-axum"]).expect("valid");
        let retries: Vec<u64> = (0..1000).map(|_| options.stream_retry_ms()).collect();
        assert!(
            retries.iter().all(|ms| (2100..=3900).contains(ms)),
            "{retries:?}"
        );
        let (low, high) = (retries.iter().min(), retries.iter().max());
        assert!(
            low < Some(&2400) && high > Some(&3600),
            "{low:?} to {high:?}"
        );

        let args = ["server-axum", "--retry-jitter", "0"];
        let exact = Options::try_parse_for(Framework::AXUM, args).expect("valid");
        assert!((0..100).all(|_| exact.stream_retry_ms() == 3000));
        let args = ["server-axum", "--retry-jitter", "51"];
        assert!(Options::try_parse_for(Framework::AXUM, args).is_err());
    }

    #[test]
    fn every_option_can_be_set() {
        let args = "server-axum --host ::1 --port 0 --keep-alive-secs 1 --retry-ms 10 --max-streams 2 --history 5";
        let options = Options::try_parse_for(Framework::AXUM, args.split(' ')).expect("valid");
        assert_eq!(options.host, "::1");
        assert_eq!(options.port, 0);
        assert_eq!(options.keep_alive_secs, 1);
        assert_eq!(
            (options.retry_ms, options.max_streams, options.history),
            (10, 2, 5)
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        let err =
            Options::try_parse_for(Framework::WARP, ["server-warp", "--keep-alive-secs", "0"])
                .expect_err("0 is out of range");
        assert!(err.to_string().contains("--keep-alive-secs"), "{err}");
        let err = Options::try_parse_for(Framework::WARP, ["server-warp", "--history", "0"])
            .expect_err("the history is also the live buffer: at least 1");
        assert!(err.to_string().contains("--history"), "{err}");
    }
}
