//! What every request must be before any route sees it: a request target that is a path, and
//! one `Host` this server answers to. The same checks, in the same words, on all three servers:
//! axum and warp get them from the accept loop they share ([`crate::serve`]), before the
//! framework's router (warp's path filter panicked on `CONNECT host:port`); actix-web from a
//! middleware.
//!
//! Why the `Host` is checked: a page on `evil.example` can make its own name resolve to
//! 127.0.0.1 a moment after it loaded (DNS rebinding). The browser then treats this server as
//! `evil.example`, same origin, and lets the page read its streams and post to its chat. The
//! request still says `Host: evil.example:3000`, so refusing names this server was not given
//! ends the attack. RFC 9112 also asks for 400 when an HTTP/1.1 request has no `Host`, or two.
//!
//! Tested by `cargo test -p sse-core gate`, and on each server by the contract suite.

use crate::options::Options;

/// Names always answered to, with any port.
pub const ALWAYS_ALLOWED: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Why a request was turned away before any route: a status and a `text/plain` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turned {
    /// 400 or 421.
    pub status: u16,
    /// What was wrong, in one sentence.
    pub message: String,
}

/// What a request looks like to the gate, whichever framework parsed it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// HTTP/1.x (which must carry exactly one `Host`) rather than HTTP/2.
    pub http1: bool,
    /// The request target's path: empty for `CONNECT host:port`, `*` for `OPTIONS *`.
    pub path: &'a str,
    /// The target's authority (HTTP/2's `:authority`, or an absolute-form target's host).
    pub authority: Option<&'a str>,
    /// The first `Host` header.
    pub host: Option<&'a [u8]>,
    /// How many `Host` headers the request has.
    pub host_count: usize,
}

/// The host names a server answers to.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Lower-case names without ports; empty with `--allowed-host '*'`.
    allowed: Vec<String>,
    any: bool,
}

impl Gate {
    /// The names [`ALWAYS_ALLOWED`], `--host` and every `--allowed-host`.
    pub fn from_options(options: &Options) -> Self {
        let any = options.allowed_hosts.iter().any(|host| host == "*");
        let host = bracketed(&options.host);
        let given = options.allowed_hosts.iter().map(|name| hostname(name));
        let allowed = ALWAYS_ALLOWED
            .iter()
            .map(|name| (*name).to_owned())
            .chain([host])
            .chain(given.map(str::to_owned))
            .map(|name| name.to_ascii_lowercase())
            .collect();
        Self { allowed, any }
    }

    /// Whether the server was bound to every address (`0.0.0.0`, `::`) without being told
    /// which names it is reached by: only the names above then pass, and it should say so.
    pub fn needs_names(options: &Options) -> bool {
        let unspecified = options
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        unspecified && options.allowed_hosts.is_empty()
    }

    /// `None` to let the request through, or what to answer instead.
    pub fn check(&self, head: RequestHead<'_>) -> Option<Turned> {
        let turned = |status, message: String| Some(Turned { status, message });
        if !head.path.starts_with('/') {
            let message = "the request target must be a path, such as /events".to_owned();
            return turned(400, message);
        }
        if head.http1 && head.host_count != 1 {
            let message = match head.host_count {
                0 => "an HTTP/1.1 request needs a Host header".to_owned(),
                n => format!("an HTTP/1.1 request has one Host header, not {n}"),
            };
            return turned(400, message);
        }
        let host = head
            .host
            .map(|host| String::from_utf8_lossy(host).into_owned());
        for name in host.iter().map(String::as_str).chain(head.authority) {
            if !self.allows(name) {
                let name = hostname(name);
                let message = format!(
                    "this server does not answer to the host {name:?}; start it with \
                     --allowed-host {name} if that name is its own"
                );
                return turned(421, message);
            }
        }
        None
    }

    fn allows(&self, authority: &str) -> bool {
        self.any || {
            let name = hostname(authority).to_ascii_lowercase();
            self.allowed.contains(&name)
        }
    }
}

/// The host of `host[:port]` or `[v6]:port`, brackets kept.
fn hostname(authority: &str) -> &str {
    let authority = authority.trim();
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// `--host` as a `Host` header names it: an IPv6 address in brackets.
fn bracketed(host: &str) -> String {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Framework;

    fn gate(args: &str) -> Gate {
        let args = format!("server-axum {args}");
        let options = Options::try_parse_for(Framework::AXUM, args.split_whitespace());
        Gate::from_options(&options.expect("valid"))
    }

    fn head<'a>(path: &'a str, host: Option<&'a str>) -> RequestHead<'a> {
        RequestHead {
            http1: true,
            path,
            authority: None,
            host: host.map(str::as_bytes),
            host_count: usize::from(host.is_some()),
        }
    }

    fn status(gate: &Gate, head: RequestHead<'_>) -> Option<u16> {
        gate.check(head).map(|turned| turned.status)
    }

    #[test]
    fn loopback_names_pass_with_any_port_and_others_get_421() {
        let gate = gate("");
        for host in ["localhost:3000", "127.0.0.1", "LOCALHOST", "[::1]:3000"] {
            assert_eq!(status(&gate, head("/events", Some(host))), None, "{host}");
        }
        let turned = gate.check(head("/chat", Some("evil.example:3000")));
        let turned = turned.expect("a foreign host");
        assert_eq!(turned.status, 421);
        assert!(
            turned.message.contains("\"evil.example\""),
            "{}",
            turned.message
        );
    }

    #[test]
    fn allowed_hosts_and_the_bound_address_pass() {
        let gate =
            gate("--host 192.0.2.10 --allowed-host sse.example --allowed-host Other.Example");
        for host in ["192.0.2.10:3000", "sse.example", "other.example:443"] {
            assert_eq!(status(&gate, head("/", Some(host))), None, "{host}");
        }
        assert_eq!(
            status(&gate, head("/", Some("sse.example.evil"))),
            Some(421)
        );
        assert_eq!(
            status(
                &self::gate("--allowed-host *"),
                head("/", Some("any.example"))
            ),
            None
        );
    }

    #[test]
    fn a_target_without_a_path_and_a_missing_or_repeated_host_get_400() {
        let gate = gate("");
        assert_eq!(
            status(&gate, head("", Some("localhost"))),
            Some(400),
            "CONNECT host:port"
        );
        assert_eq!(
            status(&gate, head("*", Some("localhost"))),
            Some(400),
            "OPTIONS *"
        );
        assert_eq!(status(&gate, head("/", None)), Some(400));
        let twice = RequestHead {
            host_count: 2,
            ..head("/", Some("localhost"))
        };
        assert_eq!(status(&gate, twice), Some(400));
        let h2 = RequestHead {
            http1: false,
            authority: Some("evil.example"),
            ..head("/", None)
        };
        assert_eq!(
            status(&gate, h2),
            Some(421),
            "HTTP/2's :authority is checked"
        );
    }
}
