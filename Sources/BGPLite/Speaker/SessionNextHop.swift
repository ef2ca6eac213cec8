// The next hop we announce per address family, chosen as BIRD 2 chooses it (proto/bgp/bgp.c,
// bgp_start_channel): the channel's `next hop address`; else the session's source address when it
// is of that family; else the address of that family on the interface holding the source address.
// One session carries both families (RFC 4760), so an IPv4 session with an ipv6 channel needs an
// IPv6 next hop from somewhere else than the TCP connection. Without one the family is not exported:
// a route sent with no usable next hop would be rejected or treated as withdrawn by the peer.
import MeshIO

extension Session {
    /// Fixes `familyNextHop` for the session that just came up; logs each negotiated family left without one.
    func resolveNextHops() {
        let source = localAddress ?? config.localAddress
        let ifname = localSockAddr.flatMap { BGPSpeaker.interfaceName(for: $0) }
        for (i, f) in [IPPrefix.Family.ipv4, .ipv6].enumerated() {
            var nh: IPPrefix? = nil
            if let a = channel(f)?.nextHopAddress {
                if a.family == f { nh = a } else {
                    log(.warning, "Next hop address \(a.addressString) of the \(f.channelName) channel is not an \(f.familyName) address; ignored")
                }
            }
            if nh == nil, let s = source, s.family == f, !s.isLinkLocal { nh = s }
            if nh == nil, let n = ifname { nh = BGPSpeaker.interfaceAddress(n, family: f) }
            familyNextHop[i] = nh.map { IPPrefix(family: f, hi: $0.hi, lo: $0.lo, length: $0.maxLength) }
            let afs: AFISAFI = f == .ipv4 ? .ipv4Unicast : .ipv6Unicast
            if nh == nil && negotiatedFamilies.contains(afs) {
                let over = source.map { "the session runs from \($0.addressString)" } ?? "the session's local address is unknown"
                let iface = ifname.map { "interface \($0) has no \(f.familyName) address" } ?? "no interface holds it"
                log(.warning, "Missing next hop address for \(f.familyName): \(over) and \(iface); \(f.familyName) routes are not exported "
                    + "(set `next hop address` in the \(f.channelName) channel)")
            }
        }
    }

    /// Our address towards the peer for the family, as chosen by `resolveNextHops` (nil: none, or not up).
    func localNextHop(_ f: IPPrefix.Family) -> IPPrefix? { familyNextHop[f == .ipv4 ? 0 : 1] }
}

extension IPPrefix.Family {
    var familyName: String { self == .ipv4 ? "IPv4" : "IPv6" }
    var channelName: String { self == .ipv4 ? "ipv4" : "ipv6" }
}

extension IPPrefix {
    /// fe80::/10: never a next hop of its own (BIRD sends it only beside a global address).
    var isLinkLocal: Bool { family == .ipv6 && hi >> 54 == 0x3FA }
}

extension BGPSpeaker {
    /// The first address of `family` on interface `name` (IPv6: not link-local), as BIRD's iface->addr4/addr6.
    static func interfaceAddress(_ name: String, family: IPPrefix.Family) -> IPPrefix? {
        var found: IPPrefix? = nil
        forEachInterfaceAddress { n, addr in
            guard found == nil, n == name, let p = IPPrefix(addr.host), p.family == family, !p.isLinkLocal else { return }
            found = p
        }
        return found
    }
}
