import Foundation
import Glibc
import MeshIO
import MeshRouting
import TincConfig
import TincProtocol
import XCTest
import DaemonTestSupport
@testable import TincDaemon

/// The shared in-process harness (DaemonTestSupport), with MetaConnection handles for these tests.
typealias GossipHarness = DaemonHarness

extension DaemonHarness {
    /// A new authenticated connection from `peer` (see `connectPeer`).
    @discardableResult
    func connect(_ peer: String, host: String = "192.0.2.1") -> MetaConnection {
        guard let id = connectPeer(peer, host: host), let c = daemon.conns.all[id] else {
            fatalError("test harness: no socketpair for \(peer)")
        }
        return c
    }

    func feed(_ line: String, from c: MetaConnection) { feed(line, connection: c.id) }
}

final class GossipRobustnessTests: XCTestCase {
    override func setUp() {
        super.setUp()
        Log.configure(sink: .file("/dev/null"), ident: "test")   // the random lines make a lot of warnings
    }

    override func tearDown() {
        Log.configure(sink: .stderr, ident: "tinc")
        super.tearDown()
    }

    /// Issue 10: a node whose only connection is to P gets a second authenticated connection from P.
    /// Closing the old one used to purge P and then trap in addEdge.
    func testSecondConnectionFromOnlyPeerKeepsNodeConsistent() throws {
        let h = try GossipHarness()
        let first = h.connect("roamer", host: "192.0.2.10")
        h.feed("10 1 roamer 10.9.0.0/24", from: first)
        let second = h.connect("roamer", host: "192.0.2.20")
        XCTAssertEqual(first.state, .closed)
        XCTAssertTrue(second.isActive)
        let roamer = try XCTUnwrap(h.daemon.graph.node(named: "roamer"))
        XCTAssertTrue(roamer.attached)
        XCTAssertTrue(h.daemon.conns.activeByName["roamer"] === second)
        XCTAssertEqual(second.edge?.to.name, "roamer")
        XCTAssertEqual(second.edge?.address, "192.0.2.20")
        XCTAssertEqual(h.violations(), [])
        // And again, the other way round.
        let third = h.connect("roamer", host: "192.0.2.10")
        XCTAssertEqual(second.state, .closed)
        XCTAssertTrue(third.isActive)
        XCTAssertEqual(h.violations(), [])
    }

    /// A connection whose socket fails during activation (sendEverything) leaves no edge behind.
    func testConnectionFailingDuringActivationLeavesNoEdge() throws {
        let h = try GossipHarness()
        let a = h.connect("alpha")
        for i in 0..<200 { h.feed("10 \(i) alpha 10.\(i).0.0/16", from: a) }
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds), 0)
        close(fds[1])  // the peer is gone: the first flush of sendEverything fails
        let c = h.daemon.makeConnection(fd: fds[0], address: SocketAddress(numericHost: "192.0.2.99", port: 655)!,
                                        outgoing: nil, connecting: false)
        c.name = "beta"
        h.daemon.activate(c, peer: "beta", port: "655", weight: 10, options: 0)
        XCTAssertEqual(c.state, .closed)
        if let beta = h.daemon.graph.node(named: "beta") {
            XCTAssertNil(h.daemon.graph.edge(from: h.daemon.graph.myself, to: beta), "edge to beta left behind")
        }
        XCTAssertEqual(h.violations(), [])
    }

    func testLimitsRefuseNodesEdgesAndSubnets() throws {
        var limits = MeshLimits()
        limits.maxNodes = 20
        limits.maxEdges = 30
        limits.maxSubnets = 40
        limits.maxSubnetsPerNode = 15
        let h = try GossipHarness(limits: limits)
        let a = h.connect("alpha")
        for i in 0..<100 { h.feed("10 \(i) alpha 10.0.\(i).0/24", from: a) }
        XCTAssertEqual(h.daemon.graph.node(named: "alpha")?.subnets.count, 15)
        for i in 0..<100 { h.feed("12 \(i) n\(i) n\(i + 1) 192.0.2.1 655 0 \(i + 1)", from: a) }
        XCTAssertLessThanOrEqual(h.daemon.graph.nodeCount, 20)
        XCTAssertLessThanOrEqual(h.daemon.graph.edgeCount, 31)
        for i in 0..<100 { h.feed("10 \(i + 1000) n\(i % 10) 10.1.\(i).0/24", from: a) }
        XCTAssertLessThanOrEqual(h.daemon.graph.subnetCount, 40)
        XCTAssertGreaterThan(h.daemon.gossip.limitWarnings.total, 100)
        XCTAssertEqual(h.violations(), [])
    }

    /// Many owners of one prefix: bounded per prefix, so each insert stays cheap.
    func testManyOwnersOfOnePrefixAreBounded() throws {
        var limits = MeshLimits()
        limits.maxNodes = 100_000
        let h = try GossipHarness(limits: limits)
        h.daemon.graph.maxEntriesPerPrefix = 500
        let a = h.connect("alpha")
        for i in 0..<2000 { h.feed("10 \(i) o\(i) 10.0.0.0/24#\(i % 7)", from: a) }
        XCTAssertEqual(h.daemon.graph.subnetCount, 500)
        XCTAssertEqual(h.violations(), [])
    }

    /// Random gossip from three peers, including names, subnets and numbers no tinc would send,
    /// second connections and closed connections; the graph invariants hold after every line.
    func testRandomGossipKeepsInvariants() throws {
        var rng = SplitMix64(seed: 0x5eed_0010)
        var limits = MeshLimits()
        limits.maxNodes = 12
        limits.maxEdges = 40
        limits.maxSubnets = 60
        limits.maxSubnetsPerNode = 12
        let h = try GossipHarness(limits: limits)
        let peers = ["a", "b", "c"]
        var conns = peers.map { h.connect($0) }
        let names = ["self", "a", "b", "c", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "bad-name", "", "x y"]
        let subnets = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.1.2.0/24#5", "fe80::/64", "2001:db8::1/128",
                       "00:11:22:33:44:55", "10.0.0.0/33", "300.1.1.1/24", "10.0.0.1/24", "::/0", "-1", "0.0.0.0/0#-5"]
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        for step in 0..<6_000 {
            let i = Int(rng.next() % 3)
            if conns[i].state == .closed || rng.next() % 500 == 0 {
                conns[i] = h.connect(peers[i], host: "192.0.2.\(1 + rng.next() % 200)")
            }
            let nonce = String(rng.next() % 100_000, radix: 16)
            let line: String
            switch rng.next() % 12 {
            case 0, 1: line = "12 \(nonce) \(pick(names)) \(pick(names)) 192.0.2.\(rng.next() % 9) 655 \(pick(["0", "c", "ffffffff", "zz"])) \(pick(["1", "10", "-5", "2147483648", "x"]))"
            case 2: line = "13 \(nonce) \(pick(names)) \(pick(names))"
            case 3, 4: line = "10 \(nonce) \(pick(names)) \(pick(subnets))"
            case 5: line = "11 \(nonce) \(pick(names)) \(pick(subnets))"
            case 6: line = "14 \(nonce) \(pick(names))"
            case 7: line = "15 \(pick(names)) \(pick(names))"
            case 8: line = "16 \(pick(names)) \(pick(names)) \(pick(["00", "0011", "zz", String(repeating: "ab", count: 48)])) \(pick(["0", "427", "913", "-1", "99999"])) \(pick(["0", "672", "1100", "64"])) \(pick(["0", "4", "-1", "99"])) \(pick(["0", "11", "12", "-3"]))"
            case 9: line = pick(["8", "9", "17 \(rng.next() % 40000)", "4 655 1 0", "0 x 17", "garbage", "", "99 1 2"])
            case 10:
                if rng.next() % 20 == 0 { h.daemon.terminate(conns[i], report: rng.next() % 2 == 0) }
                if rng.next() % 50 == 0 { h.daemon.purge() }
                line = "8"
            default: line = "10 \(nonce) \(peers[i]) 10.\(rng.next() % 256).0.0/16"
            }
            h.feed(line, from: conns[i])
            let v = h.violations()
            if !v.isEmpty {
                XCTFail("step \(step), line '\(line)' from \(peers[i]): \(v)")
                return
            }
        }
    }
}

