import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Data-plane interoperability in switch mode (tap): ICMP and checksummed 4 MiB TCP transfers through the
/// overlay, relaying by a tincd-swift node between two C nodes, and PMTU discovery over a 1400-byte underlay.
/// Every test passes with TINCD_SWIFT_BIN=/usr/sbin/tincd (the "swift" nodes are then C nodes).
final class DataPlaneInteropTests: InteropTestCase {

    /// A switch-mode node with overlay address 10.80.0.<nsIndex+1>/24 on its tap.
    func switchNode(_ name: String, _ impl: TincImpl, _ lab: NetnsLab, _ index: Int, port: Int) -> TincNode {
        let n = TincNode(name: name, impl: impl, lab: lab, nsIndex: index, port: port, subnets: [])
        n.configureSwitch(overlay: overlay(index))
        n.pingTimeout = 5
        return n
    }

    func overlay(_ index: Int) -> String { "10.80.0.\(index + 1)" }

    // MARK: 1a. swift <-> swift

    func testSwitchSwiftToSwift() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2)
        let a = switchNode("swa", .swift, lab, 0, port: 7401)
        let b = switchNode("swb", .swift, lab, 1, port: 7402)
        b.connectTo = ["swa"]
        watched = [a, b]
        try setUpNetwork([a, b])
        let payload = try lab.randomPayload()
        try lab.countTincUDP(of: b)
        try start(a, b)
        guard assertEvent(a, "host-up", "swb", timeout: 20), assertEvent(b, "host-up", "swa", timeout: 10) else { return }

        assertPing(from: a, to: overlay(1))
        assertPing(from: b, to: overlay(0))
        // Until PMTU discovery has finished tinc sends full-size frames over TCP. After it, the MSS of new TCP
        // connections is clamped to the PMTU (ClampMSS, on by default), so the segments travel by UDP.
        assertPMTUFixed(a, for: b)
        assertPMTUFixed(b, for: a)
        let udp = lab.tincUDP(of: b)
        assertTransfer(from: a, to: b, address: overlay(1), payload: payload)
        assertTransfer(from: b, to: a, address: overlay(0), payload: payload, port: 5002)
        assertUDPCarried(b, since: udp, atLeast: 4 << 20, "(with the PMTU fixed, ClampMSS makes the segments fit it)")
        assertRunning(a)
        assertRunning(b)
    }

    // MARK: 1a'. key renewal under traffic

    /// KeyExpire every 2 s on both nodes while 4000 pings go each way, one every 2 ms: every renewal
    /// retires the keys while packets sealed with them are in flight (tinc 1.0 drops those; C tincd
    /// loses about a round trip of traffic per renewal). Between two tincd-swift nodes none is lost:
    /// the retired key still opens them for a few seconds, and a sender without a key sends by TCP.
    func testKeyRenewalUnderTrafficLosesNoPacketSwiftToSwift() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2)
        let a = switchNode("ka", .swift, lab, 0, port: 7405)
        let b = switchNode("kb", .swift, lab, 1, port: 7406)
        for n in [a, b] {
            n.pingTimeout = 1            // housekeeping (and so KeyExpire) runs every PingTimeout
            n.debugLevel = 3
            n.extraConfig.append("KeyExpire = 2")
        }
        b.connectTo = ["ka"]
        watched = [a, b]
        try setUpNetwork([a, b])
        try lab.countTincUDP(of: b)
        try start(a, b)
        guard assertEvent(a, "host-up", "kb", timeout: 20), assertEvent(b, "host-up", "ka", timeout: 10) else { return }
        guard assertPing(from: a, to: overlay(1)), assertPing(from: b, to: overlay(0)) else { return }
        // A renewal every 2 s keeps PMTU discovery from finishing, but 98-byte frames fit the
        // minimum MTU and travel by UDP (checked below), which is the path a renewal can break.
        let udp = lab.tincUDP(of: b)
        let renewalsBefore = [a, b].map { $0.log.lines().filter { $0.contains("Expiring symmetric keys") }.count }
        let pings = try [(a, overlay(1)), (b, overlay(0))].map { node, address in
            try lab.spawn(in: node.namespace, ["ping", "-n", "-q", "-i", "0.002", "-c", "4000", "-W", "2", address],
                          output: lab.workDir.appendingPathComponent("renewal-ping-\(node.name).txt"), label: "ping-\(node.name)")
        }
        for p in pings { _ = p.waitForExit(timeout: budget(30)) }
        let renewals = zip([a, b], renewalsBefore).map { n, before in
            n.log.lines().filter { $0.contains("Expiring symmetric keys") }.count - before
        }
        for n in [a, b] {
            let out = (try? String(contentsOf: lab.workDir.appendingPathComponent("renewal-ping-\(n.name).txt"), encoding: .utf8)) ?? ""
            print("key renewal: ping from \(n.name): \(out.split(separator: "\n").first { $0.contains("received") } ?? "no summary"); renewals during it \(renewals)")
            XCTAssertTrue(out.contains("4000 packets transmitted, 4000 received"), "ping from \(n.name) lost packets across key renewals: \(out)" + diagnostics())
        }
        XCTAssertTrue(renewals.allSatisfy { $0 >= 3 }, "expected at least 3 key renewals per node during the pings, got \(renewals)" + diagnostics())
        assertUDPCarried(b, since: udp, atLeast: 6000 * 98, "(most of the 8000 ICMP frames each way go by UDP)")
        assertRunning(a)
        assertRunning(b)
    }

    // MARK: 1b. swift <-> C, transfer in both directions

    /// Transfers right after the connection comes up, while PMTU discovery is still running: frames go by TCP
    /// first and by UDP as the minimum MTU grows (the steady UDP path is covered by the cipher matrix).
    func testSwitchSwiftToC() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2)
        let s = switchNode("sw", .swift, lab, 0, port: 7411)
        let c = switchNode("cn", .c, lab, 1, port: 7412)
        c.connectTo = ["sw"]
        watched = [s, c]
        try setUpNetwork([s, c])
        let payload = try lab.randomPayload()
        try start(s, c)
        guard assertEvent(s, "host-up", "cn", timeout: 20), assertEvent(c, "host-up", "sw", timeout: 10) else { return }

        assertPing(from: s, to: overlay(1))
        assertPing(from: c, to: overlay(0))
        assertTransfer(from: s, to: c, address: overlay(1), payload: payload)
        assertTransfer(from: c, to: s, address: overlay(0), payload: payload, port: 5002)
        assertRunning(s)
        assertRunning(c)
    }

    // MARK: 1c. C1 — swift — C3, the Swift node relays

    /// c1 and c3 only ConnectTo the Swift node, and nftables in their namespaces drop UDP between them, so every
    /// frame between them must pass through the Swift node (by UDP or inside its meta connections). nftables
    /// counters in the Swift node's namespace measure what it received from c1 and sent on to c3.
    func testSwitchRelayThroughSwift() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 3)
        let c1 = switchNode("cone", .c, lab, 0, port: 7421)
        let s = switchNode("relay", .swift, lab, 1, port: 7422)
        let c3 = switchNode("cthree", .c, lab, 2, port: 7423)
        c1.connectTo = ["relay"]
        c3.connectTo = ["relay"]
        watched = [c1, s, c3]
        try setUpNetwork([c1, s, c3])
        let payload = try lab.randomPayload()

        // Direct UDP between the C nodes is dropped (both directions, both namespaces).
        for (me, other) in [(c1, c3), (c3, c1)] {
            try lab.nft(in: me.namespace, """
            table inet tswblock {
              counter blocked { }
              chain out { type filter hook output priority 0; policy accept; ip daddr \(other.address) meta l4proto udp counter name blocked drop; }
              chain in { type filter hook input priority 0; policy accept; ip saddr \(other.address) meta l4proto udp counter name blocked drop; }
            }
            """, tag: "block-\(me.name)")
        }
        // What the relay's namespace receives from c1 and sends to c3 (any protocol).
        try lab.nft(in: s.namespace, """
        table inet tswrelay {
          counter from_c1 { }
          counter to_c3 { }
          counter from_c3 { }
          counter to_c1 { }
          chain in { type filter hook input priority -10; policy accept;
            ip saddr \(c1.address) counter name from_c1; ip saddr \(c3.address) counter name from_c3; }
          chain out { type filter hook output priority -10; policy accept;
            ip daddr \(c3.address) counter name to_c3; ip daddr \(c1.address) counter name to_c1; }
        }
        """, tag: "relay-count")

        try start(s, c1, c3)
        guard assertEvent(c1, "host-up", "relay", timeout: 20),
              assertEvent(c3, "host-up", "relay", timeout: 10),
              assertEvent(c1, "host-up", "cthree", timeout: 10, "learned through the relay"),
              assertEvent(c3, "host-up", "cone", timeout: 10, "learned through the relay") else { return }

        assertPing(from: c1, to: overlay(2))
        assertPing(from: c3, to: overlay(0))
        assertPing(from: c1, to: overlay(1), "the relay's own tap is reachable too")

        let before = (lab.nftCounter(in: s.namespace, table: "tswrelay", name: "from_c1"),
                      lab.nftCounter(in: s.namespace, table: "tswrelay", name: "to_c3"))
        assertTransfer(from: c1, to: c3, address: overlay(2), payload: payload)
        let after = (lab.nftCounter(in: s.namespace, table: "tswrelay", name: "from_c1"),
                     lab.nftCounter(in: s.namespace, table: "tswrelay", name: "to_c3"))
        let payloadBytes = 4 << 20
        let fromC1 = (after.0?.bytes ?? 0) - (before.0?.bytes ?? 0)
        let toC3 = (after.1?.bytes ?? 0) - (before.1?.bytes ?? 0)
        print("relay counters during c1->c3 transfer: from c1 \(fromC1) bytes, to c3 \(toC3) bytes")
        XCTAssertGreaterThanOrEqual(fromC1, payloadBytes, "the relay did not receive the transfer from c1" + diagnostics())
        XCTAssertGreaterThanOrEqual(toC3, payloadBytes, "the relay did not forward the transfer to c3" + diagnostics())

        // The direct path really was tried and blocked (the C nodes probe each other's UDP address).
        let blocked = [c1, c3].map { lab.nftCounter(in: $0.namespace, table: "tswblock", name: "blocked") }
        print("direct UDP dropped: c1 \(blocked[0].map { "\($0)" } ?? "?"), c3 \(blocked[1].map { "\($0)" } ?? "?")")
        XCTAssertGreaterThan((blocked[0]?.packets ?? 0) + (blocked[1]?.packets ?? 0), 0,
                             "no direct UDP between the C nodes was attempted: the block rule proves nothing" + diagnostics())
        for n in [c1, s, c3] { assertRunning(n) }
    }

    // MARK: 4. PMTU over a 1400-byte underlay

    /// Underlay MTU 1400, tap MTU 1500. After PMTU discovery, 1472-byte pings without DF (1514-byte frames,
    /// larger than the path MTU) get through both ways — by UDP, in pieces: tinc fragments the IPv4 packets
    /// itself — and TCP works by UDP because tinc clamps the MSS: no ICMP frag-needed reaches the hosts, so they
    /// cache no smaller route MTU. (A node lacking both would push every full-size frame through the TCP meta
    /// connection instead; the UDP counters catch that.)
    func testPMTUDiscoverySwiftToC() throws { try runPMTU(.swift, .c) }

    /// The same with two Swift nodes: no C node clamps or fragments on their behalf.
    func testPMTUDiscoverySwiftToSwift() throws { try runPMTU(.swift, .swift) }

    private func runPMTU(_ implA: TincImpl, _ implB: TincImpl, function: String = #function) throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: function)
        try lab.setUnderlayMTU(1400)
        let s = switchNode("sw", implA, lab, 0, port: 7431)
        let c = switchNode(implB == .c ? "cn" : "swb", implB, lab, 1, port: 7432)
        c.connectTo = ["sw"]
        watched = [s, c]
        try setUpNetwork([s, c])
        let payload = try lab.randomPayload()
        try lab.countTincUDP(of: c)
        try start(s, c)
        guard assertEvent(s, "host-up", c.name, timeout: 20), assertEvent(c, "host-up", "sw", timeout: 10) else { return }

        // Traffic starts the key exchange, which starts PMTU discovery on both sides.
        assertPing(from: s, to: overlay(1))
        assertPing(from: c, to: overlay(0))
        // Largest frame for aes-256-cbc/sha256/4 in 1400-byte IPv4: 16*(floor((4+L)/16)+1)+4+28 <= 1400 -> L <= 1355.
        var fixed: [String: Int] = [:]
        for (node, peer) in [(c, s), (s, c)] {
            if let mtu = assertPMTUFixed(node, for: peer) {
                fixed[node.name] = mtu
                XCTAssertTrue((1200...1355).contains(mtu), "\(node.name) fixed the PMTU of \(peer.name) to \(mtu), expected 1200...1355" + diagnostics())
            }
        }
        var udp = lab.tincUDP(of: c)
        assertPing(from: s, to: overlay(1), count: 3, size: 1472, dontFragment: true)
        assertPing(from: c, to: overlay(0), count: 3, size: 1472, dontFragment: true)
        // 6 echo requests and 6 replies of 1500 bytes (plus the warm-up echoes) crossed by UDP, as fragments.
        assertUDPCarried(c, since: udp, atLeast: 6 * 1472, "(1472-byte pings: the frames exceed the PMTU, tinc must fragment them)")

        udp = lab.tincUDP(of: c)
        assertTransfer(from: s, to: c, address: overlay(1), payload: payload)
        assertTransfer(from: c, to: s, address: overlay(0), payload: payload, port: 5002)
        assertUDPCarried(c, since: udp, atLeast: 4 << 20, "(segments of the clamped MSS fit the path MTU)")
        // With the MSS clamped no segment exceeds the path MTU, so tinc never answers with ICMP frag-needed and
        // neither kernel caches a smaller route MTU for the peer.
        for (node, peer) in [(s, 1), (c, 0)] {
            let r = try lab.exec(in: node.namespace, ["ip", "route", "get", overlay(peer)], timeout: 5)
            print("\(node.name): ip route get \(overlay(peer)): \(r.stdout.replacingOccurrences(of: "\n", with: " "))")
            XCTAssertFalse(lineMatches(r.stdout, " mtu [0-9]+"),
                           "\(node.name) cached a PMTU exception for \(overlay(peer)) (ICMP frag-needed: MSS not clamped?): \(r.stdout)"
                           + diagnostics())
        }

        // Last (it leaves a cached route MTU behind): a 1500-byte packet WITH DF is answered by the local tinc
        // with ICMP frag-needed carrying next-hop MTU = PMTU - 14 (the Ethernet header).
        for (node, peer) in [(s, 1), (c, 0)] {
            let r = try lab.exec(in: node.namespace, ["ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", overlay(peer)],
                                 timeout: 6)
            let out = r.stdout + r.stderr
            print("\(node.name): ping -M do -s 1472 \(overlay(peer)): \(out.replacingOccurrences(of: "\n", with: " | "))")
            let re = try! NSRegularExpression(pattern: "Frag needed and DF set \\(mtu = ([0-9]+)\\)")
            let m = re.firstMatch(in: out, range: NSRange(out.startIndex..., in: out))
            let reported = m.flatMap { Range($0.range(at: 1), in: out) }.flatMap { Int(out[$0]) }
            XCTAssertNotNil(reported, "\(node.name): no ICMP frag-needed for a DF packet larger than the PMTU:\n\(out)" + diagnostics())
            if let reported, let pmtu = fixed[node.name] {
                XCTAssertEqual(reported, pmtu - 14, "\(node.name): ICMP frag-needed next-hop MTU (PMTU \(pmtu) - 14 expected)" + diagnostics())
            }
        }
        assertRunning(s)
        assertRunning(c)
    }
}
