import XCTest
import DaemonTestSupport
import MeshRouting
@testable import TincDaemon

/// Whole daemons in this test process (no root): real listeners on 127.0.0.1, real handshakes,
/// gossip, packet keys and data-plane threads; frames go in and out through socketpair devices.
final class LiveMeshTests: XCTestCase {
    static let broadcastMAC: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    static let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0a]
    static let macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0b]
    static let macC: [UInt8] = [0x02, 0, 0, 0, 0, 0x0c]
    static let unknownMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x99]

    /// An Ethernet frame with an experimental ethertype and `length` bytes in all, the payload
    /// numbered from `seed` so every frame differs.
    func frame(to dst: [UInt8], from src: [UInt8], length: Int = 100, seed: Int = 0) -> [UInt8] {
        var f = dst + src + [0x88, 0xb5]
        for i in 0..<max(0, length - 14) { f.append(UInt8(truncatingIfNeeded: i &* 7 &+ seed)) }
        return f
    }

    func reachable(_ node: LiveNode, sees name: String) -> Bool {
        node.onLoop { $0.graph.node(named: name)?.reachable == true } ?? false
    }

    func owns(_ node: LiveNode, _ owner: String, mac: [UInt8]) -> Bool {
        node.onLoop { d in d.graph.allSubnets().contains { $0.1.name == owner && $0.0.address == .mac(mac) } } ?? false
    }

    /// Frames sent only to get a path going; a late one may still arrive after the check that
    /// waited for it, so `next` skips them.
    var warmUpFrames: Set<[UInt8]> = []

    /// Injects `make(i)` into `from` until every node in `to` has delivered one of them (each
    /// delivered frame must be byte-identical to one sent). The first frames may find no path:
    /// a new peer reaches the data plane with the next published forwarding table, and the packet
    /// keys are requested on first use.
    func warmUp(from: LiveNode, to: [LiveNode], _ make: (Int) -> [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        var pending = to
        for i in 0..<100 where !pending.isEmpty {
            let f = make(i)
            warmUpFrames.insert(f)
            from.device.inject(f)
            pending = pending.filter { n in
                guard let got = n.device.receive(timeout: 0.1) else { return true }
                XCTAssertTrue(warmUpFrames.contains(got), "\(n.name) delivered a frame nobody sent", file: file, line: line)
                return false
            }
        }
        XCTAssertTrue(pending.isEmpty, "no frame from \(from.name) reached \(pending.map(\.name))", file: file, line: line)
    }

    /// The next frame `node` delivers that is not a warm-up frame.
    func next(_ node: LiveNode, timeout: Double = 5) -> [UInt8]? {
        let end = Date().addingTimeInterval(timeout)
        while true {
            let left = end.timeIntervalSinceNow
            guard left > 0, let f = node.device.receive(timeout: left) else { return nil }
            if !warmUpFrames.contains(f) { return f }
        }
    }

    /// Switch mode: two daemons authenticate, learn each other's MACs, agree packet keys, and
    /// frames of every size pass byte-identical in both directions; stopping B removes it and its
    /// subnets from A.
    func testSwitchModeFramesPassByteIdenticalAndStoppedNodeIsPurged() throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A")
        let b = try mesh.start("B", connectTo: ["A"])
        XCTAssertTrue(mesh.wait { reachable(a, sees: "B") && reachable(b, sees: "A") }, "A and B did not authenticate")

        // Each side announces its MAC by sending broadcasts; the other side's device gets them.
        warmUp(from: b, to: [a]) { frame(to: Self.broadcastMAC, from: Self.macB, seed: 1000 + $0) }
        warmUp(from: a, to: [b]) { frame(to: Self.broadcastMAC, from: Self.macA, seed: 2000 + $0) }
        XCTAssertTrue(mesh.wait { owns(a, "B", mac: Self.macB) && owns(b, "A", mac: Self.macA) }, "learned MACs not gossiped")

        warmUp(from: a, to: [b]) { frame(to: Self.macB, from: Self.macA, length: 60, seed: 3000 + $0) }
        warmUp(from: b, to: [a]) { frame(to: Self.macA, from: Self.macB, length: 60, seed: 4000 + $0) }
        XCTAssertTrue(mesh.wait { (a.onLoop { $0.keys["B"]?.validKey == true } ?? false) && (b.onLoop { $0.keys["A"]?.validKey == true } ?? false) },
                      "no packet keys exchanged")

        for (i, length) in [60, 61, 128, 577, 1000, 1400, 1514].enumerated() {
            let ab = frame(to: Self.macB, from: Self.macA, length: length, seed: i)
            a.device.inject(ab)
            XCTAssertEqual(next(b), ab, "A->B frame of \(length) bytes")
            let ba = frame(to: Self.macA, from: Self.macB, length: length, seed: 100 + i)
            b.device.inject(ba)
            XCTAssertEqual(next(a), ba, "B->A frame of \(length) bytes")
        }
        XCTAssertNil(next(a, timeout: 0.2), "A got a frame nobody sent to it")

        // B was A's only meta connection: as in tinc, losing the last one purges the unreachable
        // nodes at once (no `purge` command needed), so B and its learned MAC are gone from A.
        b.stop()
        XCTAssertTrue(mesh.wait { a.onLoop { $0.graph.node(named: "B") == nil } ?? false }, "B not purged from A after it stopped")
        XCTAssertTrue(a.onLoop { $0.conns.activeByName["B"] == nil } ?? false)
        XCTAssertFalse(a.control("dump subnets").contains(" B"), a.control("dump subnets"))
        XCTAssertFalse(a.control("dump nodes").contains("\nB "), a.control("dump nodes"))
        XCTAssertFalse(owns(a, "B", mac: Self.macB))
    }

    /// Switch mode with three daemons: a frame for a MAC nobody owns reaches every other node, a
    /// frame for B's MAC only B; a stopped C stays listed as unreachable until `purge`.
    func testUnknownMACIsBroadcastKnownMACIsNot() throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A")
        let b = try mesh.start("B", connectTo: ["A"])
        let c = try mesh.start("C", connectTo: ["A"])
        XCTAssertTrue(mesh.wait { reachable(a, sees: "B") && reachable(a, sees: "C") && reachable(b, sees: "C") },
                      "mesh did not form")
        warmUp(from: b, to: [a, c]) { frame(to: Self.broadcastMAC, from: Self.macB, seed: 1000 + $0) }
        XCTAssertTrue(mesh.wait { owns(a, "B", mac: Self.macB) }, "B's MAC not known on A")
        warmUp(from: a, to: [b]) { frame(to: Self.macB, from: Self.macA, length: 60, seed: 2000 + $0) }
        warmUp(from: a, to: [b, c]) { frame(to: Self.unknownMAC, from: Self.macA, length: 60, seed: 3000 + $0) }

        let unknown = frame(to: Self.unknownMAC, from: Self.macA, length: 300, seed: 7)
        a.device.inject(unknown)
        XCTAssertEqual(next(b), unknown, "unknown MAC not flooded to B")
        XCTAssertEqual(next(c), unknown, "unknown MAC not flooded to C")

        let known = frame(to: Self.macB, from: Self.macA, length: 300, seed: 8)
        a.device.inject(known)
        XCTAssertEqual(next(b), known)
        XCTAssertNil(next(c, timeout: 0.5), "a frame for B's MAC also reached C")

        // C stops while A keeps B: C stays known but unreachable until `purge` forgets it.
        c.stop()
        XCTAssertTrue(mesh.wait { a.onLoop { $0.graph.node(named: "C")?.reachable == false } ?? false },
                      "C still reachable on A after it stopped")
        XCTAssertEqual(a.control("purge"), "Purged unreachable nodes.\n")
        XCTAssertTrue(a.onLoop { $0.graph.node(named: "C") == nil && $0.graph.node(named: "B")?.reachable == true } ?? false,
                      "purge did not remove exactly the unreachable C")
        let again = frame(to: Self.unknownMAC, from: Self.macA, length: 200, seed: 9)
        a.device.inject(again)
        XCTAssertEqual(next(b), again, "broadcast after the purge did not reach B")
    }

    /// An Ethernet+IPv4 frame from 10.1.0.5 to `dst` with a valid header checksum.
    func ipv4Frame(to dst: [UInt8], payload: Int, seed: Int) -> [UInt8] {
        var ip: [UInt8] = [0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 5] + dst
        let total = 20 + payload
        ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xff)
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        let c = ~UInt16(sum)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xff)
        for i in 0..<payload { ip.append(UInt8(truncatingIfNeeded: i &+ seed)) }
        return [UInt8](repeating: 0, count: 12) + [0x08, 0x00] + ip
    }

    /// Router mode: an IPv4 packet for B's Subnet comes out of B's device unchanged (the Ethernet
    /// header too, which the socketpair device passes through); one for a
    /// subnet nobody announced is answered with ICMP net unreachable on A's own device.
    func testRouterModeDeliversIPv4BySubnet() throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A", mode: .router, subnets: ["10.1.0.0/24"])
        let b = try mesh.start("B", mode: .router, subnets: ["10.2.0.0/24"], connectTo: ["A"])
        XCTAssertTrue(mesh.wait {
            (a.onLoop { $0.graph.allSubnets().contains { $0.1.name == "B" } } ?? false) && reachable(b, sees: "A")
        }, "B's subnet did not reach A")

        warmUp(from: a, to: [b]) { ipv4Frame(to: [10, 2, 0, 9], payload: 20, seed: 1000 + $0) }

        for (i, payload) in [8, 100, 1000, 1472].enumerated() {
            let f = ipv4Frame(to: [10, 2, 0, 9], payload: payload, seed: i)
            a.device.inject(f)
            XCTAssertEqual(next(b), f, "IPv4 packet of \(payload) payload bytes changed on the way")
        }

        a.device.inject(ipv4Frame(to: [10, 9, 0, 1], payload: 20, seed: 0))
        let reply = next(a)
        XCTAssertEqual(reply?.count ?? 0 > 34 ? reply?[14 + 9] : nil, 1, "no ICMP answer for an unknown subnet")
        XCTAssertEqual(reply?.count ?? 0 > 34 ? reply?[34] : nil, 3, "ICMP type is not destination unreachable")
        XCTAssertNil(next(b, timeout: 0.3), "a packet for an unknown subnet reached B")
    }
}
