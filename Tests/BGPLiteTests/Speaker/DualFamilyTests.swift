import XCTest
import MeshIO
@testable import BGPLite

/// Both families on one session: an IPv4 session carries IPv6 routes in MP_REACH_NLRI with the
/// channel's `next hop address` (the TCP connection has no IPv6 address to offer).
final class DualFamilyTests: XCTestCase {
    private func config(name: String, local: String, port: Int, peer: String, peerPort: Int, localAS: Int, peerAS: Int,
                        routerID: String, v4: String, v6: String, v6NextHop: String?) -> String {
        """
        router id \(routerID);
        protocol static s4 { ipv4; route \(v4) blackhole; }
        protocol static s6 { ipv6; route \(v6) blackhole; }
        protocol bgp \(name) {
            local \(local) port \(port) as \(localAS);
            neighbor \(peer) port \(peerPort) as \(peerAS);
            connect retry time 2;
            ipv4 { import all; export all; };
            ipv6 { import all; export all; \(v6NextHop.map { "next hop address \($0);" } ?? "") };
        }
        """
    }

    func testIPv4SessionCarriesIPv6WithNextHopAddress() throws {
        let port = testPortBase + 80 + Int.random(in: 0..<10) * 2
        let loop = try EventLoop()
        let a = try makeSpeaker(config(name: "b", local: "127.0.0.1", port: port, peer: "127.0.0.2", peerPort: port + 1,
                                       localAS: 65000, peerAS: 65001, routerID: "1.1.1.1", v4: "10.1.0.0/24",
                                       v6: "2001:db8:1::/48", v6NextHop: "2001:db8::1"), loop: loop)
        let b = try makeSpeaker(config(name: "a", local: "127.0.0.2", port: port + 1, peer: "127.0.0.1", peerPort: port,
                                       localAS: 65001, peerAS: 65000, routerID: "2.2.2.2", v4: "10.2.0.0/24",
                                       v6: "2001:db8:2::/48", v6NextHop: "2001:db8::2"), loop: loop)
        a.start(); b.start()
        defer { a.stop(); b.stop() }
        XCTAssertTrue(runLoop(loop, timeout: 5) { b.routeLines(proto: "a").count == 2 && a.routeLines(proto: "b").count == 2 },
                      b.showRoute())
        let routes = b.showRoute(protocol: "a")
        XCTAssertTrue(routes.contains("2001:db8:1::/48") && routes.contains("via 2001:db8::1"), routes)
        XCTAssertTrue(routes.contains("10.1.0.0/24") && routes.contains("via 127.0.0.1"), routes)
        XCTAssertEqual(a.session("b").localNextHop(.ipv6), IPPrefix("2001:db8::1/128"))
        XCTAssertEqual(a.session("b").localNextHop(.ipv4), IPPrefix("127.0.0.1/32"))
        let detail = a.showProtocols(all: "b")
        XCTAssertTrue(detail.contains("BGP Next hop:   2001:db8::1"), detail)
        XCTAssertEqual(a.protocolStatus().first { $0.name == "b" }?.prefixesExported, 2)
    }

    /// No next hop of a family (IPv4 session, no `next hop address`, no interface known): that family's
    /// routes are not exported, so they are neither put in the Adj-RIB-Out nor counted; the log says why.
    func testFamilyWithoutNextHopIsNotExported() throws {
        let loop = try EventLoop()
        let s = try makeSpeaker("""
        router id 1.1.1.1;
        protocol bgp ext { local 10.0.0.1 as 65000; neighbor 10.0.0.4 as 65001;
            ipv4 { import all; export all; }; ipv6 { import all; export all; }; }
        """, loop: loop)
        var events: [String] = []
        s.quiet = true
        s.onEvent = { events.append($0) }
        let ext = s.session("ext")
        ext.negotiatedFamilies = [.ipv4Unicast, .ipv6Unicast]
        ext.localAddress = IPPrefix("10.0.0.1")
        ext.resolveNextHops()
        XCTAssertTrue(events.contains { $0.hasPrefix("ext: Missing next hop address for IPv6:") && $0.contains("next hop address") }, "\(events)")
        XCTAssertFalse(events.contains { $0.contains("for IPv4") }, "\(events)")
        let mesh = s.attrs.intern(PathAttributes(), isBGP: false, dest: .unicast, gateway: nil)
        let src = s.rib.addSource(name: "mesh", kind: .static_, preference: 200)
        let e = RouteEntry(attrs: mesh, src: src.id, since: 0)
        let v4 = try XCTUnwrap(ext.exportRoute(IPPrefix("10.9.0.0/24")!, e))
        XCTAssertEqual(v4.bgp.nextHop, 0x0A000001)
        XCTAssertNil(ext.exportRoute(IPPrefix("2001:db8:9::/48")!, e))
        // With a next hop address the same route goes out, with it in MP_REACH_NLRI.
        ext.channels[1].nextHopAddress = IPPrefix("2001:db8::1")
        ext.resetExportCache()
        ext.resolveNextHops()
        let v6 = try XCTUnwrap(ext.exportRoute(IPPrefix("2001:db8:9::/48")!, e))
        XCTAssertEqual(v6.bgp.mpReach?.nextHop, IPPrefix("2001:db8::1")!.addressBytes)
    }
}
