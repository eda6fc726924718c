//! The optional allow-list of peers (config key `cluster_allow`): addresses or CIDR ranges.
//!
//! A cluster port trusts its peers, as skynet's does: anyone who can connect can call any
//! service. Where the network is not private, `cluster_allow` closes every other peer at
//! accept, with a log line.

use std::fmt;
use std::net::IpAddr;

/// One allowed range: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    net: IpAddr,
    bits: u8,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// Who may connect to the cluster port. Empty: everyone (skynet's behaviour).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    ranges: Vec<Range>,
}

impl AllowList {
    /// Parses a comma- or space-separated list: `"127.0.0.1, 10.0.0.0/8, ::1, fd00::/8"`.
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let mut ranges = Vec::new();
        for item in text.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let net: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an address or CIDR range"))?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: prefix length must be 0 to {max}"))?,
            };
            ranges.push(Range { net, bits });
        }
        Ok(AllowList { ranges })
    }

    /// True when no list is set (every peer is allowed).
    pub fn is_open(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.is_open() || self.ranges.iter().any(|r| r.contains(ip))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_open() {
            return write!(f, "any");
        }
        for (i, r) in self.ranges.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(f, "{sep}{}/{}", r.net, r.bits)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn addresses_and_ranges() {
        let a = AllowList::parse("127.0.0.1, 10.0.0.0/8 192.168.1.128/25,fd00::/8").expect("ok");
        assert!(a.allows(ip("127.0.0.1")));
        assert!(!a.allows(ip("127.0.0.2")));
        assert!(a.allows(ip("10.200.3.4")));
        assert!(a.allows(ip("192.168.1.200")));
        assert!(!a.allows(ip("192.168.1.127")));
        assert!(a.allows(ip("fd12::1")));
        assert!(!a.allows(ip("fe80::1")));
        assert!(
            a.allows(ip("::ffff:10.1.1.1")),
            "v4-mapped peers match v4 ranges"
        );
        assert!(AllowList::parse("").expect("empty").allows(ip("8.8.8.8")));
        assert!(AllowList::parse("0.0.0.0/0")
            .expect("all")
            .allows(ip("8.8.8.8")));
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(AllowList::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("10.0.0.0/33"));
        assert!(AllowList::parse("localhost")
            .unwrap_err()
            .contains("localhost"));
    }
}
