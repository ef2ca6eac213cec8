import Glibc
import XCTest
import MeshCrypto
import MeshIO
import MeshRouting
import TunTap
import Foundation
@testable import TincDaemon

/// Several TX workers sealing for one peer (issue 12): each seqno reaches the wire at most once, and
/// a tinc 1.0 receiver's default replay window (16 bytes = 128 packets) takes what they send.
final class TxWorkersTests: XCTestCase {
    typealias FakeDevice = DataPlaneSafetyTests.FakeDevice

    /// myself "a" (id 0) and "b" (id 1) at 127.0.0.1:`port`, "c" (id 2); all reachable.
    func forwardingTable(peerPort: UInt16) -> ForwardingTable {
        let g = MeshGraph(myName: "a")
        let nb = g.lookupOrCreateNode(named: "b"), nc = g.lookupOrCreateNode(named: "c")
        for n in [nb, nc] {
            _ = g.addEdge(from: g.myself, to: n, address: "127.0.0.1", port: "655", options: 0, weight: 10)
            _ = g.addEdge(from: n, to: g.myself, address: "127.0.0.1", port: "655", options: 0, weight: 10)
        }
        _ = g.run()
        nb.udpAddress = ("127.0.0.1", String(peerPort))
        return ForwardingTable(graph: g, settings: DaemonSettings(name: "a", confDir: "/nonexistent"), mstNeighbors: [],
                               pmtu: { _ in (0, 1518) },
                               udpAddress: { n in n.udpAddress.flatMap { a in UInt16(a.port).flatMap { SocketAddress(numericHost: a.host, port: $0) } } })
    }

    func keyPair() throws -> (PacketCipher, PacketCipher) {
        let km = SecureRandom.bytes(CipherSuite.aes256cbc.keyLength + CipherSuite.aes256cbc.ivLength)
        return (try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: km),
                try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: km))
    }

    /// A UDP socket on 127.0.0.1 standing in for the peer, with a receive buffer for every packet.
    func peerSocket() -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return (fd, UInt16(bigEndian: sin.sin_port))
    }

    /// Reads `count` packets (or until a 2 s silence), opens each, returns their seqnos in arrival order.
    func receiveSeqnos(_ fd: Int32, _ opener: PacketCipher, count: Int) -> [UInt32] {
        var seqs: [UInt32] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while seqs.count < count {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            guard let plain = opener.open(Array(buf[0..<n])), plain.count >= 4 else { XCTFail("not sealed with the key"); break }
            seqs.append(UInt32(plain[0]) << 24 | UInt32(plain[1]) << 16 | UInt32(plain[2]) << 8 | UInt32(plain[3]))
        }
        return seqs
    }

    /// How many of `seqs`, in this order, tinc 1.0's replay check with a 16-byte window refuses.
    func refusedByDefaultWindow(_ seqs: [UInt32]) -> Int {
        var w = ReplayWindow(bytes: 16)
        var refused = 0
        for s in seqs {
            switch w.check(s) {
            case .accept, .accepted: break
            case .replayed, .farFuture: refused += 1
            }
        }
        return refused
    }

    func makeDataPlane(peerPort: UInt16, sendFD: Int32, workers: Int) -> DataPlane {
        let more: [NetworkDevice] = (1..<workers).map { _ in FakeDevice() }
        return DataPlane(device: FakeDevice(), moreQueues: more, udpSockets: [(family: AF_INET, fd: sendFD)],
                         initial: forwardingTable(peerPort: peerPort), replayWindow: 16, macRefresh: 60) { _, done in done() }
    }

    let probe: [UInt8] = { var p = [UInt8](repeating: 0, count: 200); p[14] = 1; return p }()

    /// The worst interleaving, driven step by step: worker 0 seals 20 packets and is "preempted";
    /// worker 1 seals and sends 200; then worker 0 sends. Its packets are 180+ seqnos behind, which
    /// a tinc 1.0 receiver would drop: they must leave renumbered, and every seqno only once.
    func testAPreemptedWorkersLatePacketsAreRenumberedNotDropped() throws {
        let peer = peerSocket()
        defer { close(peer.fd) }
        let sendFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sendFD) }
        let dp = makeDataPlane(peerPort: peer.port, sendFD: sendFD, workers: 2)
        XCTAssertEqual(dp.txs.count, 2)
        XCTAssertTrue(dp.txs.allSatisfy { $0.renumberLate && $0.flushAfter <= 32 })
        let (bTX, bRX) = try keyPair()
        dp.setOutboundKey(1, bTX, compression: 0)
        let (a, b) = (dp.txs[0], dp.txs[1])
        a.handleMailbox()
        b.handleMailbox()
        XCTAssertTrue(a.hasKey(1) && b.hasKey(1))

        for _ in 0..<20 { a.mailbox.post(TxCommand.sendProbe(probe, to: 1)) }
        a.handleMailbox()                 // sealed (seqnos 1…20), not sent: fewer than flushAfter
        for _ in 0..<10 {
            for _ in 0..<20 { b.mailbox.post(TxCommand.sendProbe(probe, to: 1)) }
            b.handleMailbox()
            b.flush()
        }
        a.flush()
        let seqs = receiveSeqnos(peer.fd, bRX, count: 220)
        XCTAssertEqual(seqs.count, 220)
        XCTAssertEqual(Set(seqs).count, seqs.count, "a seqno went out twice")
        XCTAssertEqual(a.renumbered, 20)
        XCTAssertEqual(refusedByDefaultWindow(seqs), 0, "arrival order: \(seqs)")
    }

    /// Two real threads sealing for one peer at once: every seqno on the wire is distinct and every
    /// packet arrives sealed with the one key; the window figure is printed (it depends on scheduling).
    func testTwoWorkerThreadsShareOneSequence() throws {
        let peer = peerSocket()
        defer { close(peer.fd) }
        let sendFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sendFD) }
        var size: Int32 = 8 << 20
        setsockopt(sendFD, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4)
        let dp = makeDataPlane(peerPort: peer.port, sendFD: sendFD, workers: 2)
        let (bTX, bRX) = try keyPair()
        dp.setOutboundKey(1, bTX, compression: 0)
        let perWorker = 1500
        let probe = self.probe
        let group = DispatchGroup()
        for w in dp.txs {
            DispatchQueue.global().async(group: group) {
                w.handleMailbox()
                var sent = 0
                while sent < perWorker {
                    for _ in 0..<16 { w.mailbox.post(TxCommand.sendProbe(probe, to: 1)) }
                    w.handleMailbox()
                    w.flush()
                    sent += 16
                }
            }
        }
        let total = 2 * ((perWorker + 15) / 16 * 16)
        let seqs = receiveSeqnos(peer.fd, bRX, count: total)
        group.wait()
        XCTAssertEqual(seqs.count, total)
        XCTAssertEqual(Set(seqs).count, seqs.count, "a seqno went out twice")
        XCTAssertLessThanOrEqual(seqs.max() ?? 0, UInt32(total + dp.txs.map { $0.renumbered }.reduce(0, +)))
        print("two TX threads: \(seqs.count) packets, \(refusedByDefaultWindow(seqs)) outside a 128-packet window, renumbered \(dp.txs.map { $0.renumbered })")
    }

    /// A key copied to every worker seals the same bytes as the original (same key, same algorithms).
    func testDuplicatedCipherSealsLikeTheOriginal() throws {
        let (c, opener) = try keyPair()
        let d = try c.duplicate()
        let plain = [UInt8](repeating: 7, count: 100)
        XCTAssertEqual(c.seal(plain), d.seal(plain))
        XCTAssertEqual(opener.open(d.seal(plain)), plain)
    }

    /// The forget handshake waits for every TX worker and the RX worker before an id is reused.
    func testForgetNeedsEveryWorker() throws {
        let dp = makeDataPlane(peerPort: 9, sendFD: -1, workers: 3)
        dp.forgetNode(2)
        XCTAssertFalse(dp.acknowledgeForget(2))
        XCTAssertFalse(dp.acknowledgeForget(2))
        XCTAssertFalse(dp.acknowledgeForget(2))
        XCTAssertTrue(dp.acknowledgeForget(2))
        XCTAssertEqual(dp.forgetsPending, 0)
    }

    /// RX writes a frame on the queue of its flow: the same flow always on one queue, different
    /// flows spread over the queues, frames that are not IP on queue 0.
    func testFlowHashKeepsAFlowOnOneQueueAndSpreadsFlows() {
        func tcp4(srcPort: UInt16, payload: UInt8) -> [UInt8] {
            var f = [UInt8](repeating: payload, count: 80)
            f[12] = 0x08; f[13] = 0x00; f[14] = 0x45; f[20] = 0x40; f[21] = 0; f[23] = 6
            f[26...33] = [10, 0, 0, 1, 10, 0, 0, 2]
            f[34] = UInt8(srcPort >> 8); f[35] = UInt8(srcPort & 0xFF); f[36] = 0x14; f[37] = 0x51
            return f
        }
        func queue(_ f: [UInt8], _ n: Int) -> Int { f.withUnsafeBytes { FlowHash.queue($0.baseAddress!, f.count, of: n) } }
        XCTAssertEqual(queue(tcp4(srcPort: 40000, payload: 1), 4), queue(tcp4(srcPort: 40000, payload: 99), 4),
                       "the payload does not move a flow")
        let used = Set((0..<64).map { queue(tcp4(srcPort: 40000 + UInt16($0), payload: 0), 4) })
        XCTAssertEqual(used.count, 4, "64 flows use every one of 4 queues")
        var arp = [UInt8](repeating: 0xAB, count: 60)
        arp[12] = 0x08; arp[13] = 0x06
        XCTAssertEqual(queue(arp, 4), 0)
        XCTAssertEqual(queue(tcp4(srcPort: 1, payload: 0), 1), 0)
        XCTAssertEqual(queue(Array(tcp4(srcPort: 1, payload: 0).prefix(20)), 4), 0, "too short for an IPv4 header")
    }
}
