//! Who is asking: the client address every per-client limit counts (`--max-streams-per-client`,
//! `--post-rate`), and a count of what each address holds.
//!
//! The client is the connection's peer address, unless that peer is a proxy named with
//! `--trusted-proxy`: then it is the address the proxy says it forwarded for, read from
//! `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`. Both lists grow to the right,
//! one entry per proxy, so they are read from the right: each trusted proxy hands over to the
//! entry before it, and the first address that is not a trusted proxy is the client. Anything a
//! client wrote further left is its own claim, and ignored. Without `--trusted-proxy`, the
//! headers are never read: anyone can send them.
//!
//! An IPv6 client is counted by its /64, the block one household or one machine is given:
//! counting single addresses would let one machine be 2^64 clients.
//!
//! Tested by `cargo test -p sse-core client`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use ipnet::IpNet;

/// The connection's peer address, put in each request's extensions by the accept loop that
/// axum and warp share ([`crate::serve`]); actix-web has its own, `HttpRequest::peer_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// `X-Forwarded-For`, as a proxy sends it (nginx: `$proxy_add_x_forwarded_for`).
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// `Forwarded`, RFC 7239.
pub const FORWARDED: &str = "forwarded";

/// One client, as the per-client limits count it: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `addr` (an IPv4 address written as IPv6, `::ffff:a.b.c.d`, is that IPv4).
    pub fn of(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !(u128::MAX >> 64);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Self(v4),
        }
    }

    /// The address, or for IPv6 the first address of the /64.
    pub fn addr(self) -> IpAddr {
        self.0
    }
}

/// The client behind a request: its peer, or what trusted proxies say they forwarded for.
///
/// `forwarded` and `x_forwarded_for` are the raw header values (their last line, where a
/// proxy appends its own entry).
pub fn client_of(
    peer: IpAddr,
    trusted: &[IpNet],
    forwarded: Option<&[u8]>,
    x_forwarded_for: Option<&[u8]>,
) -> ClientKey {
    if !is_trusted(peer, trusted) {
        return ClientKey::of(peer);
    }
    let hops: Vec<Option<IpAddr>> = match (forwarded, x_forwarded_for) {
        (Some(forwarded), _) => forwarded_for(forwarded),
        (None, Some(list)) => split_list(list).map(parse_node).collect(),
        (None, None) => Vec::new(),
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            // The entry was written by a proxy we trust: believe it, and go on if it is one too.
            Some(addr) => {
                client = addr;
                if !is_trusted(addr, trusted) {
                    break;
                }
            }
            // `unknown`, an obfuscated name or garbage: the last trusted hop is all we know.
            None => break,
        }
    }
    ClientKey::of(client)
}

/// Whether `addr` (an IPv4 address written as IPv6 counts as IPv4) is one of the `trusted`
/// proxies, `--trusted-proxy`.
pub fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = addr.to_canonical();
    trusted.iter().any(|net| net.contains(&addr))
}

/// The `for=` of each element of a `Forwarded` header, left to right.
fn forwarded_for(header: &[u8]) -> Vec<Option<IpAddr>> {
    split_list(header)
        .map(|element| {
            let pair = element.split(';').map(str::trim).find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then_some(value)
            });
            pair.and_then(parse_node)
        })
        .collect()
}

fn split_list(header: &[u8]) -> impl DoubleEndedIterator<Item = &str> {
    std::str::from_utf8(header)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`: the address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse().ok().or_else(|| {
        let (addr, _port) = node.rsplit_once(':')?;
        addr.parse().ok()
    })
}

/// How many of something (open streams) each client holds, for a per-client limit.
#[derive(Debug, Default)]
pub struct PerClient {
    held: Mutex<HashMap<ClientKey, usize>>,
}

impl PerClient {
    /// Counts one more for `client`, unless it holds `max` already.
    pub fn take(&self, client: ClientKey, max: usize) -> bool {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(client).or_insert(0);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives one back; a client that holds nothing is forgotten, so the map holds only the
    /// clients that hold something.
    pub fn give_back(&self, client: ClientKey) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&client);
            }
        }
    }

    /// What `client` holds now.
    pub fn held(&self, client: ClientKey) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&client).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn nets(blocks: &[&str]) -> Vec<IpNet> {
        blocks.iter().map(|b| b.parse().expect("a block")).collect()
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let client = client_of(ip("192.0.2.9"), &[], Some(b"for=1.2.3.4"), Some(b"1.2.3.4"));
        assert_eq!(client.addr(), ip("192.0.2.9"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_claims_further_left_are_ignored() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        // The client wrote 6.6.6.6 itself; 10.0.0.5 is a trusted proxy; 203.0.113.7 is who
        // connected to that proxy.
        let xff = b"6.6.6.6, 203.0.113.7, 10.0.0.5";
        assert_eq!(
            client_of(peer, &trusted, None, Some(xff)).addr(),
            ip("203.0.113.7")
        );
        let forwarded = br#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.0.0.5"#;
        let client = client_of(peer, &trusted, Some(forwarded), Some(xff));
        assert_eq!(
            client.addr(),
            ip("2001:db8::"),
            "Forwarded wins; IPv6 by its /64"
        );
        let unknown = client_of(peer, &trusted, Some(b"for=unknown"), None);
        assert_eq!(
            unknown.addr(),
            peer,
            "an unknown hop: the proxy is all we know"
        );
        assert_eq!(client_of(peer, &trusted, None, None).addr(), peer);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a = ClientKey::of(ip("2001:db8:1:2::1"));
        let b = ClientKey::of(ip("2001:db8:1:2:ffff::9"));
        assert_eq!(a, b);
        assert_ne!(a, ClientKey::of(ip("2001:db8:1:3::1")));
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")).addr(),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn per_client_counts_stop_at_the_limit_and_forget_clients_holding_nothing() {
        let counts = PerClient::default();
        let (a, b) = (
            ClientKey::of(ip("127.0.0.1")),
            ClientKey::of(ip("127.0.0.2")),
        );
        assert!(counts.take(a, 2) && counts.take(a, 2));
        assert!(!counts.take(a, 2), "a is at its limit");
        assert!(counts.take(b, 2), "b is not");
        counts.give_back(a);
        assert!(counts.take(a, 2));
        for _ in 0..2 {
            counts.give_back(a);
        }
        counts.give_back(b);
        assert!(counts.held.lock().expect("lock").is_empty());
    }
}
