//! [`IpAllowlist`]: the networks a webhook may come from.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// The networks (CIDR, or single addresses) a webhook may come from, checked against the
/// request's peer address before anything else of it is read.
///
/// ```
/// use aura_core::trigger::IpAllowlist;
///
/// // GitHub's hook ranges (from its `/meta` API), and one host.
/// let allowed = IpAllowlist::parse(["192.30.252.0/22", "2a0a:a440::/29", "10.1.2.3"])?;
/// assert!(allowed.check("192.30.253.17".parse().unwrap()).is_ok());
/// assert!(allowed.check("::ffff:192.30.253.17".parse().unwrap()).is_ok()); // IPv4 as IPv6
/// assert!(allowed.check("203.0.113.9".parse().unwrap()).is_err());
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Reads each entry as a network (`192.30.252.0/22`, `2a0a:a440::/29`) or one address
    /// (`10.1.2.3`); an entry that is neither is an
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) naming it and its place.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Self> {
        entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let text = entry.as_ref().trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        Error::invalid_definition("an allowlist entry is neither a network (CIDR) nor an address")
                            .with_context("field", format!("/ip_allowlist/{i}"))
                            .with_context("entry", text.to_owned())
                    })
            })
            .collect::<Result<Vec<_>>>()
            .map(Self)
    }

    /// Lets `peer` through when a network holds it (an IPv4 address written as IPv6,
    /// `::ffff:a.b.c.d`, counts as the IPv4 one); otherwise a
    /// [`Forbidden`](crate::ErrorKind::Forbidden) error naming the address.
    pub fn check(&self, peer: IpAddr) -> Result<()> {
        let peer = peer.to_canonical();
        if self.0.iter().any(|net| net.contains(&peer)) {
            return Ok(());
        }
        Err(
            Error::forbidden("the webhook request comes from an address the allowlist does not hold")
                .with_context("peer", peer.to_string()),
        )
    }

    /// The networks, as read.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn networks_and_addresses_of_both_families_are_held_or_refused() {
        let allowed = IpAllowlist::parse(["192.30.252.0/22", "2a0a:a440::/29", " 10.1.2.3 ", "192.168.1.77/24"])
            .unwrap_or_else(|e| panic!("{e}"));
        for ok in [
            "192.30.255.255",
            "2a0a:a447::1",
            "10.1.2.3",
            "::ffff:10.1.2.3",
            "192.168.1.1",
        ] {
            assert!(
                allowed.check(ok.parse().unwrap_or_else(|_| panic!("{ok}"))).is_ok(),
                "{ok}"
            );
        }
        for refused in ["192.30.256.0", "192.30.251.255", "10.1.2.4", "2a0a:a448::1", "::1"] {
            let Ok(addr) = refused.parse::<IpAddr>() else { continue };
            let err = allowed.check(addr).expect_err(refused);
            assert_eq!(err.kind(), ErrorKind::Forbidden);
            assert_eq!(err.context_value("peer"), Some(refused));
        }
        // A host address given with a prefix stands for its network.
        assert_eq!(allowed.networks()[3].to_string(), "192.168.1.0/24");
    }

    #[test]
    fn a_bad_entry_is_named_with_its_place() {
        let err = IpAllowlist::parse(["10.0.0.0/8", "10.0.0.0/33", "x"]).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("field"), Some("/ip_allowlist/1"));
        assert_eq!(err.context_value("entry"), Some("10.0.0.0/33"));
        assert!(
            IpAllowlist::parse(Vec::<String>::new())
                .unwrap_or_else(|e| panic!("{e}"))
                .check("127.0.0.1".parse().unwrap_or_else(|_| unreachable!()))
                .is_err(),
            "an empty list holds nothing"
        );
    }
}
