import Foundation
import XCTest
import DaemonTestSupport
import MeshStatus
@testable import TincDaemon

/// Issue 14: per-node traffic counters (PeerCounters on the workers, PeerTraffic in the snapshot)
/// and `ctl top`'s arithmetic.
final class PeerTrafficTests: XCTestCase {
    func testCountersSumAcrossTablesAndResetWithTheID() {
        let a = PeerCounters(capacity: 200), b = PeerCounters(capacity: 200)
        a.count(3, packets: .inPackets, 100)
        a.count(3, packets: .inPackets, 50)
        b.count(3, packets: .inPackets, 7)
        b.count(130, packets: .outPackets, 1000)   // another chunk
        a.add(3, .dropReplay)
        a.set(3, .lastSeenMillis, 500)
        b.set(3, .lastSeenMillis, 900)
        a.count(-1, packets: .inPackets, 1)          // ignored, no crash
        a.count(Int32(a.capacity), packets: .inPackets, 1)
        var t = PeerTotals()
        a.read(3, into: &t)
        b.read(3, into: &t)
        XCTAssertEqual(t[.inPackets], 3)
        XCTAssertEqual(t[.inBytes], 157)
        XCTAssertEqual(t[.dropReplay], 1)
        XCTAssertEqual(t[.lastSeenMillis], 900, "last seen is the newest stamp, not a sum")
        var other = PeerTotals()
        b.read(130, into: &other)
        XCTAssertEqual(other[.outPackets], 1)
        XCTAssertEqual(other[.outBytes], 1000)
        var never = PeerTotals()
        a.read(199, into: &never)
        a.read(5000, into: &never)
        XCTAssertEqual(never.values, [UInt64](repeating: 0, count: PeerCounters.stride))
        a.reset(3)
        var after = PeerTotals()
        a.read(3, into: &after)
        XCTAssertEqual(after[.inPackets], 0, "an id given up starts from zero for its next node")
    }

    func node(_ name: String, in inBytes: UInt64, out outBytes: UInt64, myself: Bool = false) -> NodeSnapshot {
        var t = PeerTraffic()
        t.inBytes = inBytes
        t.inPackets = inBytes / 100
        t.outBytes = outBytes
        t.outPackets = outBytes / 100
        return NodeSnapshot(name: name, myself: myself, reachable: true, connected: false, address: nil, port: nil, nexthop: nil,
                            via: nil, distance: nil, options: 0, status: 0, subnets: [], validkey: false, pmtu: nil, minmtu: nil,
                            maxmtu: nil, cipher: 0, digest: 0, maclength: 0, compression: 0, traffic: t)
    }

    func testTopRatesSortAndTotals() {
        let before = [node("a", in: 1000, out: 0, myself: true), node("b", in: 5000, out: 200), node("c", in: 0, out: 100_000)]
        let after = [node("a", in: 3000, out: 0, myself: true), node("b", in: 1000, out: 600), node("c", in: 0, out: 300_000),
                     node("d", in: 400, out: 0)]
        let rows = ControlTop.rows(previous: before, current: after, seconds: 2, cumulative: false)
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0) })
        XCTAssertEqual(byName["a"]?.inBytes, 1000)
        XCTAssertEqual(byName["a"]?.inPackets, 10)
        XCTAssertEqual(byName["b"]?.inBytes, 500, "a counter that went down counts from zero")
        XCTAssertEqual(byName["b"]?.outBytes, 200)
        XCTAssertEqual(byName["c"]?.outBytes, 100_000)
        XCTAssertEqual(byName["d"]?.inBytes, 200, "a node new since the last sample counts from zero")
        XCTAssertEqual(ControlTop.sorted(rows, by: .in).map(\.name), ["a", "b", "d", "c"])
        XCTAssertEqual(ControlTop.sorted(rows, by: .out).map(\.name), ["c", "b", "a", "d"])
        XCTAssertEqual(ControlTop.sorted(rows, by: .total).map(\.name), ["c", "a", "b", "d"])
        XCTAssertEqual(ControlTop.sorted(rows, by: .name).map(\.name), ["a", "b", "c", "d"])

        var o = ControlTop.Options()
        o.sort = .out
        let lines = ControlTop.render(rows, options: o, nodes: 4, title: "t")
        XCTAssertEqual(lines.count, 2 + 4 + 1, lines.joined(separator: "\n"))
        XCTAssertTrue(lines[0].contains("Sort: out"), lines[0])
        XCTAssertTrue(lines[2].hasPrefix("c "), lines[2])
        let total = lines[6].split(separator: " ")
        XCTAssertEqual(total.first, "Total")
        XCTAssertEqual(total.last, "100200", "out bytes/s summed over the nodes: \(lines[6])")

        // Extreme values from a reply render without trapping; control characters in a name do not reach the terminal.
        var huge = ControlTop.Options()
        huge.cumulative = true
        let extreme = ControlTop.render([ControlTop.Row(name: "x\u{1b}[2J", inPackets: Double(UInt64.max), inBytes: 1e300,
                                                        outPackets: 0, outBytes: 0)], options: huge, nodes: 1, title: "t")
        XCTAssertTrue(extreme[2].hasPrefix("x?[2J "), extreme[2])
        XCTAssertFalse(extreme.joined().contains("\u{1b}"))
        let cumulative = ControlTop.rows(previous: nil, current: after, seconds: 0, cumulative: true)
        XCTAssertEqual(cumulative.first { $0.name == "c" }?.outBytes, 300_000)
        let first = ControlTop.rows(previous: nil, current: after, seconds: 0, cumulative: false)
        XCTAssertTrue(first.allSatisfy { $0.total == 0 }, "no rate before a second sample")
    }

    func testTopOptions() throws {
        let o = try ControlTop.Options.parse(["-d", "0.5", "--iterations", "3", "--sort", "total", "--cumulative"])
        XCTAssertEqual(o.interval, 0.5)
        XCTAssertEqual(o.iterations, 3)
        XCTAssertEqual(o.sort, .total)
        XCTAssertTrue(o.cumulative)
        XCTAssertEqual(try ControlTop.Options.parse([]), ControlTop.Options())
        for bad in [["-d"], ["-d", "0"], ["-d", "nan"], ["--iterations", "0"], ["--sort", "size"], ["-x"]] {
            XCTAssertThrowsError(try ControlTop.Options.parse(bad), "\(bad) accepted") { e in
                XCTAssertTrue("\(e)".contains(bad[0]), "\(e) does not name \(bad[0])")
            }
        }
    }

    static let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0a]
    static let macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0b]

    func frame(to dst: [UInt8], from src: [UInt8], length: Int, seed: Int) -> [UInt8] {
        var f = dst + src + [0x88, 0xb5]
        for i in 0..<max(0, length - 14) { f.append(UInt8(truncatingIfNeeded: i &* 7 &+ seed)) }
        return f
    }

    func traffic(_ n: LiveNode, of peer: String) -> PeerTraffic? {
        let reply = n.control("--json info \(peer)")
        return (try? JSONDecoder().decode(NodeSnapshot.self, from: Data(reply.utf8)))?.traffic
    }

    /// Two in-process daemons: frames A sends to B show up in A's out counters for B and in B's in
    /// counters for A (at least the frames and bytes sent), with key ages and a recent last-seen,
    /// in `info --json` and in `info` text.
    func testCountersMoveWithFramesBetweenTwoDaemons() throws { try countersMove(tcpOnly: false) }

    /// The same with TCPOnly on both: every frame is a PACKET on the meta connection, counted by the
    /// TX worker (out, and its TCP part) and by the control thread (in over TCP).
    func testCountersMoveWithFramesOverTCP() throws { try countersMove(tcpOnly: true) }

    func countersMove(tcpOnly: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let mesh = try LiveMesh()
        let a = try mesh.start("A") { $0.tcpOnly = tcpOnly }
        let b = try mesh.start("B", connectTo: ["A"]) { $0.tcpOnly = tcpOnly }
        XCTAssertTrue(mesh.wait { a.control("info B").contains("Status:       reachable") }, "A and B did not connect")
        // MACs learned and keys agreed: frames both ways until each side delivers one.
        var sent = Set<[UInt8]>()
        for (from, to, src, dst) in [(b, a, Self.macB, Self.macA), (a, b, Self.macA, Self.macB)] {
            var delivered = false
            for i in 0..<100 where !delivered {
                let f = frame(to: i < 5 ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] : dst, from: src, length: 100, seed: i)
                sent.insert(f)
                from.device.inject(f)
                if let got = to.device.receive(timeout: 0.1) { delivered = sent.contains(got) && i >= 5 }
            }
            XCTAssertTrue(delivered, "no unicast frame from \(from.name) reached \(to.name)")
        }
        if !tcpOnly { XCTAssertTrue(mesh.wait { (a.control("info B").contains("Packet key:   valid")) }, "no packet key") }
        while a.device.receive(timeout: 0.3) != nil || b.device.receive(timeout: 0.3) != nil {}   // late warm-up frames

        guard let outBefore = traffic(a, of: "B"), let inBefore = traffic(b, of: "A") else { return XCTFail("no traffic in info --json") }
        let count = 50, length = 700
        var got = 0
        for i in 0..<count {
            a.device.inject(frame(to: Self.macB, from: Self.macA, length: length, seed: 5000 + i))
            if b.device.receive(timeout: 5) != nil { got += 1 }
        }
        XCTAssertEqual(got, count, "frames lost between A and B")
        guard let outAfter = traffic(a, of: "B"), let inAfter = traffic(b, of: "A") else { return XCTFail("no traffic in info --json") }
        XCTAssertGreaterThanOrEqual(outAfter.outPackets - outBefore.outPackets, UInt64(count))
        XCTAssertGreaterThanOrEqual(outAfter.outBytes - outBefore.outBytes, UInt64(count * length))
        XCTAssertGreaterThanOrEqual(inAfter.inPackets - inBefore.inPackets, UInt64(count))
        XCTAssertGreaterThanOrEqual(inAfter.inBytes - inBefore.inBytes, UInt64(count * length))
        XCTAssertLessThan(inAfter.inPackets - inBefore.inPackets, UInt64(count + 10), "B counted frames nobody sent")
        XCTAssertEqual(inAfter.drops.total, 0, "\(inAfter.drops)")
        if tcpOnly {
            XCTAssertGreaterThanOrEqual(outAfter.outTCPPackets - outBefore.outTCPPackets, UInt64(count))
            XCTAssertGreaterThanOrEqual(outAfter.outTCPBytes - outBefore.outTCPBytes, UInt64(count * length))
            XCTAssertGreaterThanOrEqual(inAfter.inTCPPackets - inBefore.inTCPPackets, UInt64(count))
            XCTAssertGreaterThanOrEqual(inAfter.inTCPBytes - inBefore.inTCPBytes, UInt64(count * length))
        } else {
            XCTAssertNotNil(outAfter.outKeyAge, "A holds B's key")
            XCTAssertNotNil(inAfter.inKeyAge, "B gave A a key")
        }
        XCTAssertLessThan(inAfter.lastSeen ?? 99, 5, "B heard from A just now")
        let text = b.control("info A")
        XCTAssertTrue(text.contains("RX:           \(inAfter.inPackets) packets"), text)
        XCTAssertTrue(text.contains("Key age:      in "), text)
        XCTAssertTrue(a.control("info A").contains("TX:"), "this node's own line: device frames")
    }
}
