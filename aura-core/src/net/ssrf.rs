//! [`SsrfGuard`]: the addresses an outbound request may reach.
//!
//! A URL a user typed in (a webhook endpoint, a generic HTTP node's target) must not let them
//! reach what only the host can: its loopback interface, the private network it sits in, the
//! cloud's metadata service at `169.254.169.254`. The guard checks the URL's scheme and every
//! address its host stands for, and a client made by [`SsrfGuard::client`] connects only to
//! addresses the guard resolved and checked itself, so that a name that resolves to a public
//! address when checked and to `127.0.0.1` when connected (DNS rebinding) gets nowhere. Such a
//! client follows no redirect (a `Location` could point anywhere) and uses no proxy.
//!
//! Refused, unless the guard allows private targets or the host by name or network:
//!
//! | range | why |
//! | --- | --- |
//! | `127.0.0.0/8`, `::1` | loopback |
//! | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7` | private networks |
//! | `169.254.0.0/16` (cloud metadata), `fe80::/10` | link-local |
//! | `100.64.0.0/10` | carrier-grade NAT (shared address space) |
//! | `0.0.0.0/8`, `::` | unspecified ("this host") |
//! | `255.255.255.255`, `224.0.0.0/4`, `ff00::/8` | broadcast and multicast |
//! | `192.0.0.0/24`, `198.18.0.0/15`, `240.0.0.0/4`, `fec0::/10` | reserved, benchmarking, site-local |
//!
//! An IPv4 address inside IPv6 (`::ffff:127.0.0.1`, `::127.0.0.1`, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) is judged as the IPv4 address it carries.
//!
//! ```
//! use aura_core::net::SsrfGuard;
//! use aura_core::ErrorKind;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let guard = SsrfGuard::new();
//! let err = guard.check_url("http://169.254.169.254/latest/meta-data/").await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Forbidden);
//! assert_eq!(err.context_value("host"), Some("169.254.169.254"));
//!
//! // A test receiver on loopback, explicitly allowed.
//! let guard = SsrfGuard::new().allow_network("127.0.0.0/8")?;
//! guard.check_url("http://127.0.0.1:8080/hook").await?;
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// Which addresses an outbound request may reach; see the [module](self) for what is refused.
#[derive(Clone, Debug, Default)]
pub struct SsrfGuard {
    inner: Arc<Rules>,
}

#[derive(Clone, Debug, Default)]
struct Rules {
    allow_private: bool,
    /// Host names allowed whatever they resolve to, lowercase.
    hosts: Vec<String>,
    /// Networks allowed even when private.
    networks: Vec<IpNet>,
}

impl SsrfGuard {
    /// A guard that refuses every non-public address.
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard that allows every address (a host whose users are all trusted, or a test).
    /// The scheme is still checked.
    pub fn allow_all() -> Self {
        Self::new().allow_private(true)
    }

    /// Allows (or not) private, loopback and other non-public addresses.
    #[must_use]
    pub fn allow_private(mut self, allow: bool) -> Self {
        Arc::make_mut(&mut self.inner).allow_private = allow;
        self
    }

    /// Allows one host name (`hooks.internal`, `localhost`), whatever addresses it resolves to.
    #[must_use]
    pub fn allow_host(mut self, host: impl AsRef<str>) -> Self {
        let host = host.as_ref().trim().trim_end_matches('.').to_ascii_lowercase();
        Arc::make_mut(&mut self.inner).hosts.push(host);
        self
    }

    /// Allows a network (`10.1.0.0/16`) or one address (`127.0.0.1`), even when private.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) when `network` is neither.
    pub fn allow_network(mut self, network: &str) -> Result<Self> {
        let text = network.trim();
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                Error::invalid_definition("an allowed network is neither a network (CIDR) nor an address")
                    .with_context("network", text.to_owned())
            })?;
        Arc::make_mut(&mut self.inner).networks.push(net.trunc());
        Ok(self)
    }

    /// Checks `url` without resolving it: the scheme is `http` or `https`, there is a host, and
    /// a host written as an address is one the guard allows. A host name is left to the
    /// resolver of [`SsrfGuard::client`] (or to [`SsrfGuard::check_url`]).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that does not parse or has
    /// another scheme or no host; [`Forbidden`](crate::ErrorKind::Forbidden) for a refused
    /// address. Both name the host (never the rest of the URL, which may hold a token).
    pub fn check_target(&self, url: &str) -> Result<Target> {
        let parsed = reqwest::Url::parse(url).map_err(|_| Error::invalid_input("the URL does not parse", vec![]))?;
        self.check_parsed(&parsed)?;
        // `check_parsed` refused a URL without a host.
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
        Ok(Target {
            url: parsed,
            host,
            port,
            literal,
        })
    }

    /// [`check_target`](Self::check_target) for a URL already parsed: the scheme, the host,
    /// and a host written as an address; no copy and no second parse (the HTTP machinery
    /// checks every hop with it).
    ///
    /// # Errors
    ///
    /// As [`check_target`](Self::check_target).
    pub fn check_parsed(&self, url: &reqwest::Url) -> Result<()> {
        let host = url
            .host_str()
            .ok_or_else(|| Error::invalid_input("the URL has no host", vec![]))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid_input("only http and https URLs may be called", vec![])
                .with_context("host", host.to_owned())
                .with_context("scheme", url.scheme().to_owned()));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(host, ip)?;
        }
        Ok(())
    }

    /// Checks `url` whole: [`check_target`](Self::check_target), then every address its host
    /// resolves to (all must be allowed: a connection may use any of them). Returns the
    /// addresses checked.
    ///
    /// # Errors
    ///
    /// As [`check_target`](Self::check_target); a name that does not resolve is
    /// [`Unavailable`](crate::ErrorKind::Unavailable).
    pub async fn check_url(&self, url: &str) -> Result<Vec<SocketAddr>> {
        let target = self.check_target(url)?;
        if target.literal {
            let bare = target.host.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = bare
                .parse()
                .map_err(|_| Error::internal("an address host no longer parses"))?;
            return Ok(vec![SocketAddr::new(ip, target.port)]);
        }
        self.resolve(&target.host, target.port).await
    }

    /// Resolves `host` and checks every address; none may be refused.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| {
                Error::unavailable("the host name does not resolve")
                    .with_context("host", host.to_owned())
                    .with_source(e)
                    .not_sent()
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::unavailable("the host name resolves to no address")
                .with_context("host", host.to_owned())
                .not_sent());
        }
        if !self.host_allowed(host) {
            for addr in &addrs {
                self.check_ip(host, addr.ip())?;
            }
        }
        Ok(addrs)
    }

    /// Whether `host` was allowed by name.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.inner.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Lets `ip` through when it is public or allowed; otherwise a
    /// [`Forbidden`](crate::ErrorKind::Forbidden) error naming `host`, the address and why.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<()> {
        let rules = &*self.inner;
        if rules.allow_private || self.host_allowed(host) {
            return Ok(());
        }
        let Some(why) = refusal(ip) else {
            return Ok(());
        };
        let canonical = ip.to_canonical();
        if rules.networks.iter().any(|n| n.contains(&ip) || n.contains(&canonical)) {
            return Ok(());
        }
        Err(Error::forbidden(format!(
            "the target address is not allowed: {why} (allow it on the SSRF guard if it is meant)"
        ))
        .with_context("host", host.to_owned())
        .with_context("address", ip.to_string())
        .not_sent())
    }

    /// A client builder whose connections go only to addresses this guard resolved and
    /// checked, with no redirects and no proxy. Add timeouts and build.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("aura/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(GuardedResolver { guard: self.clone() })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    }

    /// A client as [`client_builder`](Self::client_builder) makes it.
    ///
    /// # Errors
    ///
    /// [`Internal`](crate::ErrorKind::Internal) when TLS cannot be initialised.
    pub fn client(&self) -> Result<reqwest::Client> {
        self.client_builder()
            .build()
            .map_err(|e| Error::internal("the guarded HTTP client cannot be built").with_source(e))
    }

    /// The guard's refusal within a request error's chain of causes, if the request failed
    /// because the guard refused its host (a name resolving to a refused address).
    pub fn refusal_in<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e Error> {
        let mut cause = Some(err);
        while let Some(e) = cause {
            if let Some(aura) = e.downcast_ref::<Error>()
                && aura.kind() == crate::ErrorKind::Forbidden
            {
                return Some(aura);
            }
            cause = e.source();
        }
        None
    }
}

/// A URL that passed [`SsrfGuard::check_target`].
#[derive(Clone, Debug)]
pub struct Target {
    url: reqwest::Url,
    host: String,
    port: u16,
    literal: bool,
}

impl Target {
    /// The URL, parsed.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The host, as written in the URL.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// Why `ip` is not a public address, or `None` when it is.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refusal_v4(v4).or_else(|| v6.is_loopback().then_some("loopback")),
            None => refusal_v6(v6),
        },
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "a private network",
        _ if ip.is_link_local() => "link-local (cloud metadata lives there)",
        (100, 64..=127, _) => "carrier-grade NAT (shared address space)",
        (0, _, _) => "unspecified (this host)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        (192, 0, 0) => "reserved (IETF protocol assignments)",
        (198, 18..=19, _) => "reserved (benchmarking)",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified (this host)",
        _ if first & 0xfe00 == 0xfc00 => "a private network (unique local)",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if first & 0xffc0 == 0xfec0 => "site-local",
        _ if ip.is_multicast() => "multicast",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated but still routed by some stacks), NAT64 (`64:ff9b::a.b.c.d`) and
/// 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // `::` and `::1` are IPv6's own, not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// The resolver of a guarded client: resolves, refuses a name when any of its addresses is
/// refused, and hands the connector exactly the addresses it checked.
struct GuardedResolver {
    guard: SsrfGuard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve(&host, 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(refusal(ip(refused)).is_some(), "{refused} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ok in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(refusal(ip(ok)), None, "{ok} should pass");
        }
    }

    #[test]
    fn allowed_networks_and_hosts_let_private_addresses_through() {
        let guard = SsrfGuard::new()
            .allow_network("10.1.0.0/16")
            .unwrap_or_else(|e| panic!("{e}"))
            .allow_host("Hooks.Internal.");
        assert!(guard.check_ip("x", ip("10.1.2.3")).is_ok());
        assert!(guard.check_ip("x", ip("::ffff:10.1.2.3")).is_ok());
        assert!(guard.check_ip("x", ip("10.2.0.1")).is_err());
        assert!(guard.check_ip("hooks.internal", ip("10.2.0.1")).is_ok());
        assert!(SsrfGuard::new().allow_network("10.0.0.0/33").is_err());
    }

    #[test]
    fn only_http_and_https_with_a_host() {
        let guard = SsrfGuard::new();
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
            "unix:/run/x.sock",
        ] {
            assert_eq!(
                guard.check_target(bad).map(|_| ()).unwrap_err().kind(),
                crate::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        assert!(guard.check_target("https://example.com/hook").is_ok());
    }
}
