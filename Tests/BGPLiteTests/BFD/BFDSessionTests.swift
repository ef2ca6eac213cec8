import XCTest
@testable import BGPLite

/// Two sessions wired back to back over a virtual clock and a virtual link with no delay.
final class BFDSessionPair {
    let a: BFDSession, b: BFDSession
    var now = 100.0
    var linkUp = true
    var aToB: [BFDPacket] = [], bToA: [BFDPacket] = []
    var transitions: [(String, BFDState, BFDState, BFDDiagnostic)] = []

    init(a pa: BFDSession.Parameters, b pb: BFDSession.Parameters) {
        a = BFDSession(localDiscriminator: 0x1111, parameters: pa)
        b = BFDSession(localDiscriminator: 0x2222, parameters: pb)
        a.transmit = { [unowned self] p in if self.linkUp { self.aToB.append(p) } }
        b.transmit = { [unowned self] p in if self.linkUp { self.bToA.append(p) } }
        a.stateChanged = { [unowned self] f, t, d in self.transitions.append(("a", f, t, d)) }
        b.stateChanged = { [unowned self] f, t, d in self.transitions.append(("b", f, t, d)) }
        a.random = { 0.5 }
        b.random = { 0.5 }
        a.start(now: now)
        b.start(now: now)
    }

    /// Advances virtual time to `until`, delivering packets and firing timers in order.
    func run(until: Double) {
        while true {
            deliver()
            let next = [a.nextDeadline, b.nextDeadline].compactMap { $0 }.min()
            guard let t = next, t <= until else { now = until; return }
            now = max(now, t)
            a.tick(now: now)
            b.tick(now: now)
        }
    }

    func deliver() {
        while !aToB.isEmpty || !bToA.isEmpty {
            let x = aToB, y = bToA
            aToB = []; bToA = []
            for p in x { b.receive(try! BFDPacket.decode(p.encode()), now: now) }
            for p in y { a.receive(try! BFDPacket.decode(p.encode()), now: now) }
        }
    }
}

final class BFDSessionTests: XCTestCase {
    let birdLike = BFDSession.Parameters(minTx: 100_000, minRx: 100_000, idleTx: 1_000_000, multiplier: 3)

    func testParametersFromBFDOptions() {
        let p = BFDSession.Parameters(BFDOptions())
        XCTAssertEqual(p, BFDSession.Parameters(minTx: 100_000, minRx: 10_000, idleTx: 1_000_000, multiplier: 5))
    }

    func testThreeWayHandshakeAndNegotiation() {
        let pair = BFDSessionPair(a: BFDSession.Parameters(BFDOptions()), b: birdLike)
        pair.run(until: 100.01)
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
        let aSeq = pair.transitions.filter { $0.0 == "a" }.map { $0.2 }
        XCTAssertEqual(aSeq, [.initial, .up])
        XCTAssertEqual(pair.a.remoteDiscriminator, 0x2222)
        XCTAssertEqual(pair.b.remoteDiscriminator, 0x1111)
        pair.run(until: 102)
        // Poll sequences done; intervals negotiated: a sends every max(100 ms, b's rx 100 ms);
        // b sends every max(100 ms, a's rx 10 ms) = 100 ms.
        XCTAssertFalse(pair.a.pollActive)
        XCTAssertFalse(pair.b.pollActive)
        XCTAssertEqual(pair.a.desiredMinTx, 100_000)
        XCTAssertEqual(pair.a.transmitInterval, 100_000)
        XCTAssertEqual(pair.b.transmitInterval, 100_000)
        // a detects with b's multiplier 3 × max(a.rx 10 ms, b.tx 100 ms); b with a's 5 × 100 ms.
        XCTAssertEqual(pair.a.detectionTime, 300_000)
        XCTAssertEqual(pair.b.detectionTime, 500_000)
    }

    func testDownIsIdleRateAndUpIsFast() {
        let s = BFDSession(localDiscriminator: 9, parameters: birdLike)
        XCTAssertEqual(s.desiredMinTx, 1_000_000)
        XCTAssertEqual(s.transmitInterval, 1_000_000)
        var sent: [BFDPacket] = []
        s.transmit = { sent.append($0) }
        s.random = { 0 }
        s.start(now: 0)
        s.tick(now: 0)
        XCTAssertEqual(sent.count, 1)
        XCTAssertEqual(sent[0].state, .down)
        XCTAssertEqual(sent[0].yourDiscriminator, 0)
        XCTAssertEqual(s.nextTransmit!, 0.75, accuracy: 1e-9)   // 75 % of 1 s with zero jitter draw
    }

    func testJitterRange() {
        let s = BFDSession(localDiscriminator: 9, parameters: birdLike)
        var lo = 1.0, hi = 0.0
        for _ in 0..<2000 { let j = s.jittered(100_000); lo = min(lo, j); hi = max(hi, j) }
        XCTAssertGreaterThanOrEqual(lo, 0.075)
        XCTAssertLessThanOrEqual(hi, 0.1)
        let one = BFDSession(localDiscriminator: 9, parameters: .init(minTx: 100_000, minRx: 100_000, idleTx: 1_000_000, multiplier: 1))
        for _ in 0..<2000 { XCTAssertLessThanOrEqual(one.jittered(100_000), 0.09 + 1e-12) }
    }

    func testDetectionTimeExpiry() {
        let pair = BFDSessionPair(a: birdLike, b: birdLike)
        pair.run(until: 102)
        XCTAssertEqual(pair.a.state, .up)
        pair.linkUp = false
        let cut = pair.now
        pair.run(until: 103)
        XCTAssertEqual(pair.a.state, .down)
        XCTAssertEqual(pair.a.localDiagnostic, .controlDetectionTimeExpired)
        XCTAssertEqual(pair.a.remoteDiscriminator, 0)
        let down = pair.transitions.first { $0.0 == "a" && $0.2 == .down }
        XCTAssertNotNil(down)
        XCTAssertEqual(pair.a.desiredMinTx, 1_000_000, "back to the idle rate")
        // Detected within 300 ms (3 × 100 ms) of the last packet, which was at most 100 ms before the cut.
        _ = cut
        // Link back: sessions come up again.
        pair.linkUp = true
        pair.run(until: 106)
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
    }

    func testDetectionTimingIsPrecise() {
        let pair = BFDSessionPair(a: birdLike, b: birdLike)
        pair.run(until: 102)
        // Find when a last heard from b, then cut.
        pair.linkUp = false
        var downAt: Double?
        pair.a.stateChanged = { _, t, _ in if t == .down { downAt = pair.now } }
        let lastRx = pair.a.detectDeadline! - 0.3
        pair.run(until: 103)
        XCTAssertNotNil(downAt)
        XCTAssertEqual(downAt! - lastRx, 0.3, accuracy: 1e-6)
    }

    func testNeighborSignalsDownAndAdminDown() {
        let pair = BFDSessionPair(a: birdLike, b: birdLike)
        pair.run(until: 102)
        pair.b.setAdminDown(now: pair.now)
        pair.run(until: 102.001)
        XCTAssertEqual(pair.a.state, .down)
        XCTAssertEqual(pair.a.remoteState, .adminDown)
        XCTAssertEqual(pair.a.localDiagnostic, .neighborSignaledSessionDown)
        XCTAssertEqual(pair.b.localDiagnostic, .administrativelyDown)
        // An AdminDown session ignores the peer but keeps announcing AdminDown.
        pair.run(until: 105)
        XCTAssertEqual(pair.b.state, .adminDown)
        XCTAssertEqual(pair.a.state, .down)
        pair.b.enable(now: pair.now)
        pair.run(until: 108)
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
    }

    func testStateTableFromDown() {
        func fresh() -> BFDSession { BFDSession(localDiscriminator: 1, parameters: birdLike) }
        func pkt(_ s: BFDState, your: UInt32 = 1) -> BFDPacket {
            BFDPacket(state: s, detectMultiplier: 3, myDiscriminator: 77, yourDiscriminator: your,
                      desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000)
        }
        var s = fresh(); s.receive(pkt(.down, your: 0), now: 1); XCTAssertEqual(s.state, .initial)
        s = fresh(); s.receive(pkt(.initial), now: 1); XCTAssertEqual(s.state, .up)
        s = fresh(); s.receive(pkt(.up), now: 1); XCTAssertEqual(s.state, .down)
        s = fresh(); s.receive(pkt(.adminDown, your: 0), now: 1); XCTAssertEqual(s.state, .down)
        // Init
        s = fresh(); s.receive(pkt(.down, your: 0), now: 1)
        s.receive(pkt(.down), now: 1.1); XCTAssertEqual(s.state, .initial)
        s.receive(pkt(.up), now: 1.2); XCTAssertEqual(s.state, .up)
        // Up: Init and Up keep it Up, Down takes it down.
        s.receive(pkt(.initial), now: 1.3); XCTAssertEqual(s.state, .up)
        s.receive(pkt(.up), now: 1.4); XCTAssertEqual(s.state, .up)
        s.receive(pkt(.down), now: 1.5); XCTAssertEqual(s.state, .down)
        XCTAssertEqual(s.localDiagnostic, .neighborSignaledSessionDown)
        // Init times out to Down.
        s = fresh(); s.receive(pkt(.down, your: 0), now: 1)
        XCTAssertEqual(s.state, .initial)
        s.tick(now: 1 + 3 * 1.0 + 0.001)    // peer advertised 100 ms but our rx basis is 100 ms → 300 ms; be generous
        XCTAssertEqual(s.state, .down)
        XCTAssertEqual(s.localDiagnostic, .controlDetectionTimeExpired)
    }

    func testPollIsAnsweredWithFinal() {
        let s = BFDSession(localDiscriminator: 1, parameters: birdLike)
        var sent: [BFDPacket] = []
        s.transmit = { sent.append($0) }
        var p = BFDPacket(state: .down, poll: true, detectMultiplier: 3, myDiscriminator: 8, yourDiscriminator: 0,
                          desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 50_000)
        s.receive(p, now: 1)
        let finals = sent.filter { $0.final }
        XCTAssertEqual(finals.count, 1)
        XCTAssertFalse(finals[0].poll, "P and F are never both set")
        XCTAssertEqual(finals[0].yourDiscriminator, 8)
        // Passive sessions stay quiet until the peer speaks, then answer.
        let q = BFDSession(localDiscriminator: 2, parameters: .init(minTx: 100_000, minRx: 100_000, idleTx: 1_000_000, multiplier: 3, passive: true))
        var qs: [BFDPacket] = []
        q.transmit = { qs.append($0) }
        q.start(now: 0)
        q.tick(now: 0); q.tick(now: 5)
        XCTAssertTrue(qs.isEmpty)
        p.poll = false
        q.receive(p, now: 6)
        q.tick(now: 6)
        XCTAssertFalse(qs.isEmpty)
    }

    func testParameterChangeRunsPollAndDefersSlowerTx() {
        let pair = BFDSessionPair(a: birdLike, b: birdLike)
        pair.run(until: 102)
        XCTAssertEqual(pair.a.transmitInterval, 100_000)
        // Slow a down to 300 ms while Up: advertised at once, used only after b's Final.
        pair.linkUp = false
        var slower = birdLike; slower.minTx = 300_000
        pair.a.update(parameters: slower, now: pair.now)
        XCTAssertTrue(pair.a.pollActive)
        XCTAssertEqual(pair.a.desiredMinTx, 300_000)
        XCTAssertEqual(pair.a.transmitInterval, 100_000, "increase deferred until Final")
        pair.linkUp = true
        pair.aToB.removeAll()
        pair.run(until: 102.5)
        XCTAssertFalse(pair.a.pollActive)
        XCTAssertEqual(pair.a.transmitInterval, 300_000)
        XCTAssertEqual(pair.b.detectionTime, 900_000, "b now expects a's packets every 300 ms")
        XCTAssertEqual(pair.a.state, .up)
        XCTAssertEqual(pair.b.state, .up)
        // Faster rx on b: the old (larger) value stays in b's detection time until a's Final.
        var fasterRx = birdLike; fasterRx.minRx = 20_000
        pair.b.update(parameters: fasterRx, now: pair.now)
        XCTAssertTrue(pair.b.pollActive)
        XCTAssertEqual(pair.b.requiredMinRx, 20_000)
        pair.run(until: 104)
        XCTAssertFalse(pair.b.pollActive)
        XCTAssertEqual(pair.a.state, .up)
    }

    func testRemoteMinRxZeroStopsPeriodicTransmission() {
        let s = BFDSession(localDiscriminator: 1, parameters: birdLike)
        var sent = 0
        s.transmit = { _ in sent += 1 }
        s.start(now: 0)
        s.receive(BFDPacket(state: .down, detectMultiplier: 3, myDiscriminator: 8, yourDiscriminator: 0,
                            desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 0), now: 0.1)
        XCTAssertNil(s.nextTransmit)
        let before = sent
        s.tick(now: 10)
        XCTAssertEqual(sent, before)
    }
}
