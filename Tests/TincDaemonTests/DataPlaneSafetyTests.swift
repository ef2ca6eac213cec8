import Glibc
import XCTest
import MeshCrypto
import MeshIO
import MeshRouting
import TunTap
import TincConfig
import Foundation
@testable import TincDaemon

/// Issue 10, data plane: bounded queues with drop counters, per-source try_harder, address changes
/// only after MAC and replay checks, forgetting keys of removed nodes, no wrapped seqno.
final class DataPlaneSafetyTests: XCTestCase {
    final class FakeDevice: NetworkDevice {
        var type: TunTap.DeviceType { .tun }
        var path: String { "fake" }
        var interface: String { "fake0" }
        var fd: Int32 { -1 }
        var written: [[UInt8]] = []
        func read(into buf: UnsafeMutableRawBufferPointer) -> Int { 0 }
        func write(_ frame: UnsafeRawBufferPointer) -> Bool { written.append(Array(frame)); return true }
        func close() {}
    }

    /// Collects what the workers hand the control thread; `done` runs at once.
    final class Sink: @unchecked Sendable {
        var events: [DataPlaneEvent] = []
        lazy var channel = EventChannel(limit: 1 << 20) { [unowned self] batch, done in
            self.events.append(contentsOf: batch)
            done()
        }
    }

    /// myself "a" (id 0), "b" (id 1) and "c" (id 2), all reachable through direct edges.
    func makeGraph(udpFor b: SocketAddress? = nil) -> MeshGraph {
        let g = MeshGraph(myName: "a")
        let nb = g.lookupOrCreateNode(named: "b"), nc = g.lookupOrCreateNode(named: "c")
        for n in [nb, nc] {
            _ = g.addEdge(from: g.myself, to: n, address: "127.0.0.1", port: "655", options: 0, weight: 10)
            _ = g.addEdge(from: n, to: g.myself, address: "127.0.0.1", port: "655", options: 0, weight: 10)
        }
        _ = g.run()
        if let b { nb.udpAddress = (b.host, String(b.port)) }
        return g
    }

    func table(_ g: MeshGraph) -> ForwardingTable {
        ForwardingTable(graph: g, settings: DaemonSettings(name: "a", confDir: "/nonexistent"), mstNeighbors: [], pmtu: { _ in (0, 1518) },
                        udpAddress: { n in n.udpAddress.flatMap { a in UInt16(a.port).flatMap { SocketAddress(numericHost: a.host, port: $0) } } })
    }

    func keyPair() throws -> (PacketCipher, PacketCipher) {
        let km = SecureRandom.bytes(CipherSuite.aes256cbc.keyLength + CipherSuite.aes256cbc.ivLength)
        return (try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: km),
                try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: km))
    }

    /// seqno || an IPv4 frame no subnet owns (it is dropped after the checks this file is about).
    func packet(_ c: PacketCipher, seq: UInt32) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 60)
        frame[12] = 0x08
        frame[14] = 0x45
        return c.seal(withUnsafeBytes(of: seq.bigEndian) { Array($0) } + frame)
    }

    func feed(_ rx: RxWorker, _ bytes: [UInt8], from: SocketAddress) {
        let buf = UnsafeMutableRawPointer.allocate(byteCount: RxWorker.slotSize, alignment: 16)
        defer { buf.deallocate() }
        bytes.withUnsafeBytes { buf.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        rx.handle(buf, bytes.count, from)
    }

    func addresses(_ events: [DataPlaneEvent]) -> [(Int32, SocketAddress)] {
        events.compactMap { if case let .udpAddress(id, a) = $0 { return (id, a) } else { return nil } }
    }

    func makeRX(_ g: MeshGraph, sink: Sink, window: Int = 16) -> RxWorker {
        RxWorker(device: FakeDevice(), sockets: [], table: Published(table(g)), toTX: Mailbox<TxCommand>(capacity: 16),
                 replayWindow: window, events: sink.channel)
    }

    // MARK: mailboxes and the event channel

    func testMailboxIsBoundedCountsDropsAndHonoursTheBudget() {
        let m = Mailbox<Int>(capacity: 100)
        for i in 0..<150 { m.post(i) }
        XCTAssertEqual(m.queued, 100)
        XCTAssertEqual(m.dropped, 50)
        XCTAssertEqual(m.post(contentsOf: [1, 2, 3]), 3)
        XCTAssertEqual(m.takeDropped(), 53)
        XCTAssertEqual(m.dropped, 0)
        let first = m.drain(max: 30)
        XCTAssertEqual(first, Array(0..<30))
        // Items remain: the eventfd must stay readable so the consumer's loop comes back.
        var pfd = pollfd(fd: m.fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pfd, 1, 0), 1)
        XCTAssertEqual(m.drain(), Array(30..<100))
        pfd.revents = 0
        XCTAssertEqual(poll(&pfd, 1, 0), 0, "empty mailbox: no wakeup pending")
    }

    func testControlLaneKeepsTheLatestPerKeyAndForgetWins() {
        let m = Mailbox<String>(capacity: 1)
        m.post("frame")
        m.post("refused")
        m.postLatest("key1 old", key: MailboxKey.key(1))
        m.postLatest("forget1", key: MailboxKey.forget(1))
        m.postLatest("key1 new", key: MailboxKey.key(1))
        m.postLatest("key0", key: MailboxKey.key(0))
        m.postLatest("stop", key: MailboxKey.stop)
        XCTAssertEqual(m.drain(), ["key0", "key1 new", "forget1", "stop", "frame"])
        XCTAssertEqual(m.dropped, 1, "control items are never dropped, frames over capacity are")
    }

    func testEventChannelDropsFramesButNeverStatisticsOrAcks() {
        var delivered: [[DataPlaneEvent]] = []
        var dones: [() -> Void] = []
        let ch = EventChannel(limit: 4) { batch, done in delivered.append(batch); dones.append(done) }
        let frames = (0..<6).map { DataPlaneEvent.sendTCP([UInt8(truncatingIfNeeded: $0)], to: 1) }
        XCTAssertEqual(ch.send(frames), 2)
        XCTAssertEqual(ch.inFlight, 4)
        XCTAssertEqual(ch.send([.sendTCP([9], to: 1), .stats(DataPlaneStats()), .forgotten(3)]), 1)
        XCTAssertEqual(delivered.last?.count, 2, "stats and ack pass a full channel")
        for d in dones { d() }
        XCTAssertEqual(ch.inFlight, 0)
        XCTAssertEqual(ch.send([.needKey(1)]), 0)
    }

    func testTXMailboxOverflowReachesTheStatistics() throws {
        let sink = Sink()
        let g = makeGraph()
        let tx = TxWorker(device: FakeDevice(), sockets: [], table: Published(table(g)), macRefresh: 60, events: sink.channel)
        let frame = [UInt8](repeating: 0, count: 60)
        for _ in 0..<(TxWorker.mailboxCapacity + 904) { tx.mailbox.post(.route(frame, from: 1, viaTCP: false, deliverLocally: false)) }
        tx.report()
        let reported = sink.events.compactMap { if case .stats(let s) = $0 { return s.droppedQueueFull } else { return nil } }
        XCTAssertEqual(reported.reduce(0, +), 904)
        // One wakeup handles at most the budget.
        tx.handleMailbox()
        XCTAssertEqual(tx.mailbox.queued, TxWorker.mailboxCapacity - TxWorker.mailboxBudget)
    }

    // MARK: UDP addresses

    /// Before: one global budget of 2000 key trials per second; 3000 garbage packets from one
    /// address meant a roaming peer was not recognised at its new address for the rest of that second.
    func testGarbageFromOneSourceDoesNotStopARoamingPeer() throws {
        let sink = Sink()
        let g = makeGraph()
        let rx = makeRX(g, sink: sink)
        let (bTX, bRX) = try keyPair()
        let (_, cRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.mailbox.postLatest(.setKey(2, cRX, compression: 0), key: MailboxKey.key(2))
        rx.handleMailbox()
        let attacker = try XCTUnwrap(SocketAddress(numericHost: "192.0.2.66", port: 655))
        for i in 0..<3000 { feed(rx, SecureRandom.bytes(80 + i % 17), from: attacker) }
        XCTAssertEqual(rx.outbox.stats.droppedUnknownSource, 3000)
        let roamed = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 40000))
        feed(rx, packet(bTX, seq: 1), from: roamed)
        let got = addresses(rx.outbox.events)
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(got.first?.0, 1)
        XCTAssertEqual(got.first?.1, roamed)
    }

    func testTryHarderLimiterIsPerSourceAndBounded() throws {
        var l = TryHarderLimiter(maxSources: 3, roundsPerSource: 2)
        let a = try XCTUnwrap(SocketAddress(numericHost: "192.0.2.1", port: 1))
        let aOtherPort = try XCTUnwrap(SocketAddress(numericHost: "192.0.2.1", port: 2))
        let b = try XCTUnwrap(SocketAddress(numericHost: "2001:db8::1", port: 1))
        let bSame64 = try XCTUnwrap(SocketAddress(numericHost: "2001:db8::ffff", port: 9))
        XCTAssertTrue(l.allow(a, now: 10))
        XCTAssertTrue(l.allow(aOtherPort, now: 10))
        XCTAssertFalse(l.allow(a, now: 10), "ports do not give a fresh budget")
        XCTAssertTrue(l.allow(b, now: 10))
        XCTAssertTrue(l.allow(bSame64, now: 10))
        XCTAssertFalse(l.allow(bSame64, now: 10), "one budget per IPv6 /64")
        XCTAssertTrue(l.allow(try XCTUnwrap(SocketAddress(numericHost: "192.0.2.3", port: 1)), now: 10))
        XCTAssertFalse(l.allow(try XCTUnwrap(SocketAddress(numericHost: "192.0.2.4", port: 1)), now: 10), "table full")
        XCTAssertEqual(l.trackedSources, 3)
        XCTAssertTrue(l.allow(a, now: 11), "a new second starts afresh")
        XCTAssertEqual(l.trackedSources, 1)
    }

    /// Before: the address event was emitted as soon as the MAC matched, so a captured packet
    /// replayed from anywhere redirected the node's traffic there.
    func testReplayedPacketFromAnotherAddressDoesNotMoveThePeer() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink)
        let (bTX, bRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        let real = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let evil = try XCTUnwrap(SocketAddress(numericHost: "203.0.113.9", port: 655))
        let p = packet(bTX, seq: 1)
        feed(rx, p, from: real)
        feed(rx, p, from: evil)
        let got = addresses(rx.outbox.events)
        XCTAssertEqual(got.map(\.1), [real])
        XCTAssertEqual(rx.outbox.stats.droppedReplay, 1)
        // A fresh packet from the new address (the peer really moved) does move it.
        feed(rx, packet(bTX, seq: 2), from: evil)
        XCTAssertEqual(addresses(rx.outbox.events).map(\.1), [real, evil])
    }

    /// Once a packet from a new address passed, the following ones from there are recognised
    /// without spending that source's try_harder budget (until a table with the address arrives).
    func testMatchedAddressIsRememberedUntilTheNextTable() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink)
        let (bTX, bRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        let roamed = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 40000))
        for seq: UInt32 in 1...20 { feed(rx, packet(bTX, seq: seq), from: roamed) }
        XCTAssertEqual(rx.outbox.stats.droppedUnknownSource, 0)
        XCTAssertEqual(rx.outbox.stats.droppedNoRoute, 20, "all 20 passed the checks (then found no subnet)")
        XCTAssertEqual(addresses(rx.outbox.events).count, 1, "one address event for the burst")
    }

    func testBadMACFromNewAddressDoesNotMoveThePeer() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink)
        let (bTX, bRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        var p = packet(bTX, seq: 1)
        p[5] ^= 1
        feed(rx, p, from: try XCTUnwrap(SocketAddress(numericHost: "203.0.113.9", port: 655)))
        XCTAssertTrue(addresses(rx.outbox.events).isEmpty)
    }

    // MARK: opening on several threads (OpenCrew): the checks still run in arrival order

    struct Received: Equatable {
        var written: [UInt32]    // the seqno each frame written to the device carries, in order
        var intact: Bool         // every written frame is the 60-byte frame that was sealed
        var counters: [UInt64]   // replay, bad MAC, unknown source, no key, device out
        var moves: [String]      // udpAddress events: "id@sender index"
        var staleKeys: Int
    }

    /// seqno || an Ethernet+IPv4 frame to 10.9.0.1 (owned by "a", so it is written to the device)
    /// carrying `seq` in its payload, so the device shows which packets got through in which order.
    func deliverable(_ c: PacketCipher, seq: UInt32, pad: Int = 0) -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 60 + pad)
        frame[12] = 0x08
        frame[14] = 0x45
        frame[22] = 64
        frame[30] = 10; frame[31] = 9; frame[32] = 0; frame[33] = 1
        withUnsafeBytes(of: seq.bigEndian) { for i in 0..<4 { frame[40 + i] = $0[i] } }
        return c.seal(withUnsafeBytes(of: seq.bigEndian) { Array($0) } + frame)
    }

    /// Sends `datagrams` (bytes, index of the sending socket) over loopback UDP to a fresh RX worker
    /// with `lanes` open lanes and lets it receive once. Node b (id 1) is known at sender 0's address.
    func receiveOverUDP(lanes: Int, helpersOnly: Bool, material: [UInt8], _ datagrams: [([UInt8], Int)]) throws -> Received {
        let rxFD = try FrameWorkload.udpSocket()
        let senders = [try FrameWorkload.udpSocket(), try FrameWorkload.udpSocket()]
        defer { close(rxFD); senders.forEach { close($0) } }
        let to = try FrameWorkload.localAddress(rxFD)
        let g = makeGraph(udpFor: try FrameWorkload.localAddress(senders[0]))
        _ = g.addSubnet(Subnet(ipv4: [10, 9, 0, 1]), owner: g.myself)
        let sink = Sink()
        let device = FakeDevice()
        let rx = RxWorker(device: device, sockets: [rxFD], table: Published(table(g)), toTX: Mailbox<TxCommand>(capacity: 16),
                          replayWindow: 16, events: sink.channel, openLanes: lanes)
        let key = try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: material)
        rx.mailbox.postLatest(.setKey(1, key, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        if let crew = rx.crew {
            crew.rxOpens = !helpersOnly
            Thread { crew.runHelper(lane: 1) }.start()
        }
        defer { rx.crew?.stop() }
        var dst = to
        for (bytes, from) in datagrams {
            let sent = bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &dst.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(senders[from], b.baseAddress, b.count, 0, $0, dst.length) } }
            }
            XCTAssertEqual(sent, bytes.count)
        }
        rx.receive(rxFD)
        let st = rx.outbox.stats
        let senderAddresses = try senders.map { try FrameWorkload.localAddress($0) }
        let moved = addresses(rx.outbox.events).map { "\($0.0)@\(senderAddresses.firstIndex(of: $0.1) ?? -1)" }
        let stale = rx.outbox.events.filter { if case .staleKey = $0 { return true } else { return false } }.count
        XCTAssertEqual(st.udpInPackets, UInt64(datagrams.count), "one receive took every datagram")
        let seqs = device.written.map { f in f.count >= 44 ? UInt32(f[40]) << 24 | UInt32(f[41]) << 16 | UInt32(f[42]) << 8 | UInt32(f[43]) : 0 }
        let intact = device.written.allSatisfy { f in f.count >= 60 && f[12] == 0x08 && f[30] == 10 && f[33] == 1 }
        return Received(written: seqs, intact: intact,
                        counters: [st.droppedReplay, st.droppedBadMAC, st.droppedUnknownSource, st.droppedNoKey, st.deviceOutPackets],
                        moves: moved, staleKeys: stale)
    }

    /// The same datagrams give the same frames in the same order, the same drops and the same
    /// address moves whether one thread opens them or a helper does (wireguard-go's rule: decrypt
    /// in parallel, check and deliver in arrival order). Covers late, replayed, far-future and
    /// bad-MAC packets, and a replayed capture from a new address before the peer really moves.
    func testParallelOpeningKeepsReplayAndAddressRulesInArrivalOrder() throws {
        let material = SecureRandom.bytes(CipherSuite.aes256cbc.keyLength + CipherSuite.aes256cbc.ivLength)
        let c = try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: material)
        var d: [([UInt8], Int)] = []
        for s: UInt32 in 1...20 { d.append((deliverable(c, seq: s), 0)) }
        d.append((deliverable(c, seq: 10), 0))                       // replayed
        for _ in 0..<3 {                                             // three bad MACs in a row: staleKey
            var bad = deliverable(c, seq: 21)
            bad[7] ^= 0x40
            d.append((bad, 0))
        }
        for s: UInt32 in [25, 22, 23, 23] { d.append((deliverable(c, seq: s, pad: Int(s % 3)), 0)) }   // late, late, replayed
        d.append((deliverable(c, seq: 22), 1))                       // replayed capture from a new address
        for s: UInt32 in 30...40 { d.append((deliverable(c, seq: s), 1)) }   // the peer really moved
        d.append((deliverable(c, seq: 1000), 0))                     // far future: dropped
        d.append((deliverable(c, seq: 41), 0))

        let one = try receiveOverUDP(lanes: 1, helpersOnly: false, material: material, d)
        let helper = try receiveOverUDP(lanes: 2, helpersOnly: true, material: material, d)
        let both = try receiveOverUDP(lanes: 2, helpersOnly: false, material: material, d)

        XCTAssertEqual(one.written, Array(1...20) + [25, 22, 23] + Array(30...41))
        XCTAssertTrue(one.intact)
        XCTAssertEqual(one.counters, [4, 3, 0, 0, 35])
        XCTAssertEqual(one.moves, ["1@1"], "only the fresh packet from the new address moved the peer")
        XCTAssertEqual(one.staleKeys, 1)
        XCTAssertEqual(helper, one, "opened by a helper thread")
        XCTAssertEqual(both, one, "opened by both threads")
    }

    // MARK: forgetting and id reuse

    // MARK: key changes and packets in flight

    func setKey(_ rx: RxWorker, _ key: PacketCipher?) {
        rx.mailbox.postLatest(.setKey(1, key, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
    }

    /// A new inbound key (the peer asked again, or a stale key was healed) does not throw away the
    /// packets the peer sealed with the old one before it had the new: they open with the old key,
    /// under the old key's own replay window, for the grace, and fail afterwards. Two earlier keys
    /// are kept (a KeyExpire and the answer to a REQ_KEY right after it), not three.
    func testReplacedKeysStillOpenPacketsInFlightForTheGrace() throws {
        let rx = makeRX(makeGraph(), sink: Sink())
        let b = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let keys = try (0..<4).map { _ in try keyPair() }
        rx.keyGraceMillis = 60
        rx.stampBatch()
        setKey(rx, keys[0].1)
        feed(rx, packet(keys[0].0, seq: 1), from: b)
        setKey(rx, keys[1].1)
        feed(rx, packet(keys[0].0, seq: 2), from: b)    // in flight: sealed before the peer had the new key
        feed(rx, packet(keys[1].0, seq: 1), from: b)    // the new key's own sequence starts again
        feed(rx, packet(keys[0].0, seq: 3), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 0)
        feed(rx, packet(keys[0].0, seq: 2), from: b)    // a replay under the old key's window
        feed(rx, packet(keys[1].0, seq: 1), from: b)    // and under the new one's
        XCTAssertEqual(rx.outbox.stats.droppedReplay, 2)
        setKey(rx, keys[2].1)                           // keys 1 and 0 are both still in their grace
        feed(rx, packet(keys[0].0, seq: 4), from: b)
        feed(rx, packet(keys[1].0, seq: 2), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 0)
        setKey(rx, keys[3].1)                           // three replacements: key 0 is no longer kept
        feed(rx, packet(keys[0].0, seq: 5), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 1)
        feed(rx, packet(keys[1].0, seq: 3), from: b)
        feed(rx, packet(keys[2].0, seq: 1), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 1)
        // After the grace the earlier keys open nothing; the current one still does.
        usleep(120_000)
        rx.stampBatch()
        feed(rx, packet(keys[1].0, seq: 4), from: b)
        feed(rx, packet(keys[2].0, seq: 2), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 3)
        feed(rx, packet(keys[3].0, seq: 1), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 3)
        XCTAssertEqual(rx.outbox.stats.droppedNoKey, 0)
    }

    /// KeyExpire retires the key: packets sealed with it still open for the grace, then the node has
    /// no key (and the control thread hears so); a node that became unreachable has no grace.
    func testRetiredKeyOpensForTheGraceOnlyAndUnreachableHasNone() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink)
        let b = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let (tx, key) = try keyPair()
        rx.keyGraceMillis = 50
        rx.stampBatch()
        setKey(rx, key)
        rx.mailbox.postLatest(.retireKey(1), key: MailboxKey.key(1))
        rx.handleMailbox()
        feed(rx, packet(tx, seq: 1), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedNoKey, 0)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 0)
        usleep(120_000)
        rx.stampBatch()
        feed(rx, packet(tx, seq: 2), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedNoKey, 1)
        XCTAssertTrue(rx.outbox.events.contains { if case .noInboundKey(1) = $0 { return true } else { return false } })
        // A new key after the retired one expired: nothing of the old one is kept.
        let (tx2, key2) = try keyPair()
        setKey(rx, key2)
        feed(rx, packet(tx, seq: 3), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 1)
        feed(rx, packet(tx2, seq: 1), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 1)
        // Unreachable (setKey nil): no grace at all.
        setKey(rx, nil)
        feed(rx, packet(tx2, seq: 2), from: b)
        XCTAssertEqual(rx.outbox.stats.droppedNoKey, 2)
    }

    func testForgetDropsTheKeyAndAcknowledges() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink)
        let (bTX, bRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        XCTAssertTrue(rx.hasKey(1))
        rx.mailbox.postLatest(.forget(1), key: MailboxKey.forget(1))
        rx.handleMailbox()
        XCTAssertFalse(rx.hasKey(1))
        XCTAssertTrue(rx.outbox.events.contains { if case .forgotten(1) = $0 { return true } else { return false } })
        feed(rx, packet(bTX, seq: 1), from: try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655)))
        XCTAssertTrue(addresses(rx.outbox.events).isEmpty, "a forgotten key authenticates nothing")
    }

    func testDataPlaneReleasesAnIDOnlyAfterBothWorkersForgotIt() throws {
        let sink = Sink()
        let g = makeGraph()
        let dp = DataPlane(device: FakeDevice(), udpSockets: [], initial: table(g), replayWindow: 16, macRefresh: 60) { batch, done in
            sink.events.append(contentsOf: batch)
            done()
        }
        var removed: [Int] = []
        g.onNodeRemoved = { removed.append($0) }
        let b = try XCTUnwrap(g.node(named: "b"))
        g.removeNode(b)
        XCTAssertEqual(removed, [1])
        XCTAssertEqual(g.lookupOrCreateNode(named: "d").id, 3, "held id 1 is not reused")
        dp.forgetNode(1)
        dp.rx.handleMailbox()
        XCTAssertFalse(dp.acknowledgeForget(1), "one worker is not enough")
        dp.tx.handleMailbox()
        XCTAssertTrue(dp.acknowledgeForget(1))
        XCTAssertEqual(dp.forgetsPending, 0)
        g.releaseID(1)
        XCTAssertEqual(g.lookupOrCreateNode(named: "e").id, 1)
        let acks = sink.events.count
        XCTAssertEqual(acks, 0, "acks are handed over on the workers' next flush")
    }

    // MARK: sequence numbers

    /// Before: the send seqno wrapped to 0 (seqno &+= 1), which a tinc receiver drops as replayed
    /// and which reuses (key, seqno) pairs.
    func testSeqnoNeverWrapsAndANewKeyIsRequested() throws {
        let peerFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(peerFD, 0)
        defer { close(peerFD) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(peerFD, $0, len) } }
        _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(peerFD, $0, &len) } }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(peerFD, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let port = UInt16(bigEndian: sin.sin_port)
        let sendFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sendFD) }

        let sink = Sink()
        let g = makeGraph(udpFor: SocketAddress(numericHost: "127.0.0.1", port: port))
        let tx = TxWorker(device: FakeDevice(), sockets: [(family: AF_INET, fd: sendFD)], table: Published(table(g)),
                          macRefresh: 60, events: sink.channel)
        let (bTX, bRX) = try keyPair()
        tx.mailbox.postLatest(.setKey(1, bTX, compression: 0), key: MailboxKey.key(1))
        tx.handleMailbox()
        var probe = [UInt8](repeating: 0, count: 100)
        probe[14] = 1

        // Crossing rekeySeqno asks for a new key.
        tx.setSeqno(1, TxWorker.rekeySeqno - 1)
        tx.mailbox.post(.sendProbe(probe, to: 1))
        tx.handleMailbox()
        tx.flush()
        XCTAssertTrue(tx.outbox.events.contains { if case .outboundKeyAging(1) = $0 { return true } else { return false } })

        tx.setSeqno(1, TxWorker.lastSeqno - 2)
        for _ in 0..<4 { tx.mailbox.post(.sendProbe(probe, to: 1)) }
        tx.handleMailbox()
        tx.flush()
        var seqs: [UInt32] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(peerFD, &buf, buf.count, seqs.count >= 3 ? Int32(MSG_DONTWAIT) : 0)
            if n <= 0 { break }
            guard let plain = bRX.open(Array(buf[0..<n])) else { XCTFail("sealed with the key"); break }
            seqs.append(UInt32(plain[0]) << 24 | UInt32(plain[1]) << 16 | UInt32(plain[2]) << 8 | UInt32(plain[3]))
        }
        XCTAssertEqual(seqs, [TxWorker.rekeySeqno, TxWorker.lastSeqno - 1, TxWorker.lastSeqno])
        XCTAssertFalse(tx.hasKey(1), "an exhausted key is dropped, not wrapped")
        XCTAssertTrue(tx.outbox.events.contains { if case .needKey(1) = $0 { return true } else { return false } })
    }

    func testInboundSeqnoPast2To30AsksForANewKey() throws {
        let sink = Sink()
        let rx = makeRX(makeGraph(), sink: sink, window: 0)
        let (bTX, bRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, bRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        let from = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        feed(rx, packet(bTX, seq: RxWorker.inboundRekeySeqno), from: from)
        XCTAssertFalse(rx.outbox.events.contains { if case .inboundKeyAging = $0 { return true } else { return false } })
        feed(rx, packet(bTX, seq: RxWorker.inboundRekeySeqno + 1), from: from)
        feed(rx, packet(bTX, seq: RxWorker.inboundRekeySeqno + 2), from: from)
        let aging = rx.outbox.events.filter { if case .inboundKeyAging(1) = $0 { return true } else { return false } }
        XCTAssertEqual(aging.count, 1, "reported once per key")
    }
}

/// Our own Cipher/Digest must be one tinc 1.0 peers can use for packets: refused at start-up with
/// the config name, instead of a key exchange that fails for every peer.
final class PacketSuiteConfigTests: XCTestCase {
    func load(_ lines: [String]) throws -> DaemonSettings {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tsw-suite-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("hosts"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try (["Name = alpha"] + lines).joined(separator: "\n").appending("\n")
            .write(to: dir.appendingPathComponent("tinc.conf"), atomically: true, encoding: .utf8)
        try "Port = 655\n".write(to: dir.appendingPathComponent("hosts/alpha"), atomically: true, encoding: .utf8)
        let opts = try CommandLineOptions(arguments: ["-c", dir.path])
        return try SettingsLoader.load(paths: Paths(options: opts), options: opts).0
    }

    func testAEADAndXTSCiphersAreRefusedAtStartUp() throws {
        for c in ["aes-128-gcm", "aes-256-xts", "id-aes128-wrap"] {
            XCTAssertThrowsError(try load(["Cipher = \(c)"]), c) { e in
                XCTAssertTrue("\(e)".contains("Cipher = \(c)") && "\(e)".contains("alpha"), "\(e)")
            }
        }
    }

    func testUsualSuitesStillPassThisCheck() throws {
        for c in ["aes-256-cbc", "aes-128-cfb", "none"] {
            do { _ = try load(["Cipher = \(c)"]) } catch {
                XCTAssertFalse("\(error)".contains("cannot protect tinc packets"), "\(c): \(error)")
            }
        }
    }
}
