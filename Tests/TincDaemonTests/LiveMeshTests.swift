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

    /// Sends warm-up frames from `from` to `mac` until `to` delivers one: the first frames may be
    /// dropped while the packet keys are requested (REQ_KEY/ANS_KEY), as in tinc.
    func warmUp(_ mesh: LiveMesh, from: LiveNode, to: LiveNode, mac: [UInt8], src: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        var delivered = false
        for i in 0..<200 where !delivered {
            from.device.inject(frame(to: mac, from: src, length: 60, seed: 1000 + i))
            delivered = to.device.receive(timeout: 0.1) != nil
        }
        XCTAssertTrue(delivered, "no frame from \(from.name) reached \(to.name)", file: file, line: line)
        usleep(100_000)
        to.device.drain()
        from.device.drain()
    }

    /// Switch mode: two daemons authenticate, learn each other's MACs, agree packet keys, and
    /// frames of every size pass byte-identical in both directions; stopping B removes it and its
    /// subnets from A.
    func testSwitchModeFramesPassByteIdenticalAndStoppedNodeIsPurged() throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A")
        let b = try mesh.start("B", connectTo: ["A"])
        XCTAssertTrue(mesh.wait { reachable(a, sees: "B") && reachable(b, sees: "A") }, "A and B did not authenticate")

        // Each side announces its MAC by sending a broadcast; the other side's device gets it.
        b.device.inject(frame(to: Self.broadcastMAC, from: Self.macB, seed: 1))
        XCTAssertEqual(a.device.receive(timeout: 5), frame(to: Self.broadcastMAC, from: Self.macB, seed: 1))
        a.device.inject(frame(to: Self.broadcastMAC, from: Self.macA, seed: 2))
        XCTAssertEqual(b.device.receive(timeout: 5), frame(to: Self.broadcastMAC, from: Self.macA, seed: 2))
        XCTAssertTrue(mesh.wait { owns(a, "B", mac: Self.macB) && owns(b, "A", mac: Self.macA) }, "learned MACs not gossiped")

        warmUp(mesh, from: a, to: b, mac: Self.macB, src: Self.macA)
        warmUp(mesh, from: b, to: a, mac: Self.macA, src: Self.macB)
        XCTAssertTrue(a.onLoop { $0.keys["B"]?.validKey == true } ?? false, "A has no packet key for B")
        XCTAssertTrue(b.onLoop { $0.keys["A"]?.validKey == true } ?? false, "B has no packet key for A")

        for (i, length) in [60, 61, 128, 577, 1000, 1400, 1514].enumerated() {
            let ab = frame(to: Self.macB, from: Self.macA, length: length, seed: i)
            a.device.inject(ab)
            XCTAssertEqual(b.device.receive(timeout: 5), ab, "A->B frame of \(length) bytes")
            let ba = frame(to: Self.macA, from: Self.macB, length: length, seed: 100 + i)
            b.device.inject(ba)
            XCTAssertEqual(a.device.receive(timeout: 5), ba, "B->A frame of \(length) bytes")
        }
        XCTAssertNil(a.device.receive(timeout: 0.2), "A got a frame nobody sent to it")

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
        b.device.inject(frame(to: Self.broadcastMAC, from: Self.macB, seed: 3))
        XCTAssertNotNil(a.device.receive(timeout: 5))
        XCTAssertNotNil(c.device.receive(timeout: 5))
        XCTAssertTrue(mesh.wait { owns(a, "B", mac: Self.macB) }, "B's MAC not known on A")
        warmUp(mesh, from: a, to: b, mac: Self.macB, src: Self.macA)
        warmUp(mesh, from: a, to: c, mac: Self.unknownMAC, src: Self.macA)
        b.device.drain()

        let unknown = frame(to: Self.unknownMAC, from: Self.macA, length: 300, seed: 7)
        a.device.inject(unknown)
        XCTAssertEqual(b.device.receive(timeout: 5), unknown, "unknown MAC not flooded to B")
        XCTAssertEqual(c.device.receive(timeout: 5), unknown, "unknown MAC not flooded to C")

        let known = frame(to: Self.macB, from: Self.macA, length: 300, seed: 8)
        a.device.inject(known)
        XCTAssertEqual(b.device.receive(timeout: 5), known)
        XCTAssertNil(c.device.receive(timeout: 0.5), "a frame for B's MAC also reached C")

        // C stops while A keeps B: C stays known but unreachable until `purge` forgets it.
        c.stop()
        XCTAssertTrue(mesh.wait { a.onLoop { $0.graph.node(named: "C")?.reachable == false } ?? false },
                      "C still reachable on A after it stopped")
        XCTAssertEqual(a.control("purge"), "Purged unreachable nodes.\n")
        XCTAssertTrue(a.onLoop { $0.graph.node(named: "C") == nil && $0.graph.node(named: "B")?.reachable == true } ?? false,
                      "purge did not remove exactly the unreachable C")
        let again = frame(to: Self.unknownMAC, from: Self.macA, length: 200, seed: 9)
        a.device.inject(again)
        XCTAssertEqual(b.device.receive(timeout: 5), again, "broadcast after the purge did not reach B")
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

    /// Router mode: an IPv4 packet for B's Subnet comes out of B's device unchanged; one for a
    /// subnet nobody announced is answered with ICMP net unreachable on A's own device.
    func testRouterModeDeliversIPv4BySubnet() throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A", mode: .router, subnets: ["10.1.0.0/24"])
        let b = try mesh.start("B", mode: .router, subnets: ["10.2.0.0/24"], connectTo: ["A"])
        XCTAssertTrue(mesh.wait {
            (a.onLoop { $0.graph.allSubnets().contains { $0.1.name == "B" } } ?? false) && reachable(b, sees: "A")
        }, "B's subnet did not reach A")

        var delivered = false
        for i in 0..<200 where !delivered {
            a.device.inject(ipv4Frame(to: [10, 2, 0, 9], payload: 20, seed: i))
            delivered = b.device.receive(timeout: 0.1) != nil
        }
        XCTAssertTrue(delivered, "no packet from A reached B")
        usleep(100_000)
        b.device.drain()

        for (i, payload) in [8, 100, 1000, 1472].enumerated() {
            let f = ipv4Frame(to: [10, 2, 0, 9], payload: payload, seed: i)
            a.device.inject(f)
            let got = b.device.receive(timeout: 5)
            XCTAssertEqual(got.map { Array($0.dropFirst(12)) }, Array(f.dropFirst(12)),
                           "IPv4 packet of \(payload) payload bytes changed on the way (ethertype and IP bytes)")
        }

        a.device.drain()
        a.device.inject(ipv4Frame(to: [10, 9, 0, 1], payload: 20, seed: 0))
        let reply = a.device.receive(timeout: 5)
        XCTAssertEqual(reply?.count ?? 0 > 34 ? reply?[14 + 9] : nil, 1, "no ICMP answer for an unknown subnet")
        XCTAssertEqual(reply?.count ?? 0 > 34 ? reply?[34] : nil, 3, "ICMP type is not destination unreachable")
        XCTAssertNil(b.device.receive(timeout: 0.3), "a packet for an unknown subnet reached B")
    }
}
