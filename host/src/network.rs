//! Which addresses reach the operator's own network: the guard against
//! plugins and webhooks being pointed at internal services (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Loopback, private, link-local, shared (CGNAT), unspecified, reserved,
/// and the IPv6 equivalents: addresses that reach the operator's own
/// network. An IPv6 address that embeds an IPv4 one (mapped, compatible,
/// NAT64, 6to4, Teredo) is judged by the IPv4 address it reaches.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed)
        }
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || a == 0 // "this network": Linux connects 0.x to the host itself
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

/// The IPv4 address an IPv6 address stands for, if it embeds one.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but
        // still parsed and routed by some stacks); `::` and `::1` are
        // themselves unspecified and loopback.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(low(hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => Some(low(hi, lo)),
        // NAT64, well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(low(s[6], s[7])),
        // 6to4: 2002:AABB:CCDD::/48 reaches a.b.c.d.
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        // Teredo: 2001:0::/32, the client's address inverted in the last 32 bits.
        [0x2001, 0, ..] => Some(low(!s[6], !s[7])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(text: &str) -> bool {
        is_private(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn ipv6_forms_that_embed_an_ipv4_address_are_judged_by_it() {
        for text in [
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::c0a8:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert!(private(text), "{text} reaches a private address");
        }
        for text in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700::1111",
        ] {
            assert!(!private(text), "{text} is public");
        }
    }

    #[test]
    fn loopback_private_and_reserved_ipv4_ranges_are_private() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(private(text), "{text}");
        }
        for text in ["8.8.8.8", "1.1.1.1", "100.128.0.1", "2001:4860:4860::8888"] {
            assert!(!private(text), "{text}");
        }
    }
}
