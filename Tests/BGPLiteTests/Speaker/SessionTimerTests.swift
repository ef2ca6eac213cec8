// BGP session timers in virtual time (VirtualPeer: a ManualClock and socketpairs): hold and
// keepalive negotiation, hold timer expiry, ConnectRetry, connect delay, the error wait, the
// graceful-restart stale timer and BFD detection. Nothing here sleeps or waits for real time.
import XCTest
import Glibc
import MeshIO
@testable import BGPLite

final class SessionTimerTests: XCTestCase {
    func testHoldTimerExpirySendsHoldTimerExpiredAndTheSessionGoesDown() throws {
        let p = try VirtualPeer(VirtualPeer.config("hold time 9;"))
        let t0 = p.establish(holdTime: 90)
        XCTAssertEqual(p.session.holdTimeNegotiated, 9)
        XCTAssertEqual(p.session.protoState, .up)
        // The peer falls silent: up until 9 s after its last message, down at 9 s.
        p.advance(8.999)
        XCTAssertNotNil(p.session.established)
        XCTAssertTrue(p.notifications.isEmpty)
        p.advance(0.002)
        XCTAssertNil(p.session.established)
        XCTAssertEqual(p.notifications.map { "\($0.code)/\($0.subcode)" }, ["4/0"], "Hold Timer Expired")
        XCTAssertEqual(p.session.lastError, "Error: Hold timer expired")
        XCTAssertEqual(p.session.protoState, .start, "restarting after the error wait")
        XCTAssertTrue(p.log.contains { $0.contains("BGP session down: Hold timer expired") }, p.log.joined(separator: "\n"))
        XCTAssertEqual(p.now - t0, 9.001, accuracy: 1e-6)
        // The hold timer counts from the last message received: a KEEPALIVE every 8 s keeps it up.
        let q = try VirtualPeer(VirtualPeer.config("hold time 9;"))
        q.establish(holdTime: 90)
        q.advance(80, step: 8) { q.send(.keepalive) }
        XCTAssertNotNil(q.session.established)
        XCTAssertTrue(q.notifications.isEmpty)
    }

    func testKeepalivesAtOneThirdOfTheNegotiatedHoldTime() throws {
        let p = try VirtualPeer(VirtualPeer.config("hold time 30;"))
        let t0 = p.establish(holdTime: 90)
        XCTAssertEqual(p.session.keepaliveNegotiated, 10)
        // The peer keeps the session alive every 5 s; the speaker sends a KEEPALIVE every 10 s.
        p.advance(100, step: 5) { p.send(.keepalive) }
        let times = p.keepaliveTimes.map { ($0 - t0).rounded() }
        XCTAssertEqual(times, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        XCTAssertNotNil(p.session.established)
    }

    func testHoldTimeIsTheSmallerOfBothOffers() throws {
        for (ours, theirs, hold, keepalive) in [(30, 20, 20, 6), (30, 90, 30, 10), (240, 240, 240, 80), (9, 3, 3, 1)] {
            let p = try VirtualPeer(VirtualPeer.config("hold time \(ours);"))
            p.establish(holdTime: UInt16(theirs))
            XCTAssertEqual(p.session.holdTimeNegotiated, hold, "ours \(ours), theirs \(theirs)")
            XCTAssertEqual(p.session.keepaliveNegotiated, keepalive, "ours \(ours), theirs \(theirs)")
            // The smaller hold time is the one enforced: silence for `hold` seconds ends the session.
            p.advance(Double(hold) - 0.01)
            XCTAssertNotNil(p.session.established, "ours \(ours), theirs \(theirs)")
            p.advance(0.02)
            XCTAssertNil(p.session.established, "ours \(ours), theirs \(theirs)")
        }
    }

    func testHoldTimeZeroMeansNoKeepalivesAndNoHoldTimer() throws {
        let p = try VirtualPeer(VirtualPeer.config())
        p.establish(holdTime: 0)
        XCTAssertEqual(p.session.holdTimeNegotiated, 0)
        XCTAssertEqual(p.session.keepaliveNegotiated, 0)
        p.advance(3600)
        XCTAssertNotNil(p.session.established, "no hold timer with hold time 0")
        XCTAssertEqual(p.keepaliveTimes, [], "no KEEPALIVEs with hold time 0 (RFC 4271 4.4)")
    }

    func testConnectRetryTimeBetweenFailedConnects() throws {
        let p = try VirtualPeer(VirtualPeer.config("connect retry time 30;"))
        p.refuseConnects = true
        p.speaker.start()
        p.advance(100)
        XCTAssertEqual(p.connectAttempts, [0, 30, 60, 90], "first attempt at once, then every connect retry time")
        XCTAssertEqual(p.session.state, .active)
        XCTAssertEqual(p.session.protoState, .start)
        // The next attempt succeeds.
        p.refuseConnects = false
        p.advance(20)
        XCTAssertEqual(p.connectAttempts.last, 120)
        XCTAssertGreaterThanOrEqual(p.peerFD, 0)
    }

    func testConnectDelayBeforeTheFirstConnect() throws {
        let p = try VirtualPeer(VirtualPeer.config("connect delay time 7;"))
        p.speaker.start()
        p.advance(6.99)
        XCTAssertEqual(p.connectAttempts, [], "nothing before the connect delay")
        XCTAssertEqual(p.session.state, .active, "listening meanwhile")
        p.advance(0.02)
        XCTAssertEqual(p.connectAttempts, [7])
        // And again when the session restarts after a clean close (Cease from the peer).
        let t = p.establish()
        p.send(.notification(.administrativeReset()))
        XCTAssertNil(p.session.established)
        p.advance(6.99)
        XCTAssertEqual(p.connectAttempts.count, 1)
        p.advance(0.02)
        XCTAssertEqual(p.connectAttempts.count, 2)
        XCTAssertEqual(p.connectAttempts[1] - t, 7, accuracy: 1e-6)

        // BIRD's minimum is 1 s; without the option the speaker connects at once (the mesh relies on it).
        let q = try VirtualPeer(VirtualPeer.config("connect delay time 0;"))
        q.speaker.start()
        q.advance(5)
        XCTAssertEqual(q.connectAttempts, [1])
        let r = try VirtualPeer(VirtualPeer.config())
        r.speaker.start()
        r.advance(5)
        XCTAssertEqual(r.connectAttempts, [0])
        // `start delay time` is BIRD's older name for the same option.
        let s = try VirtualPeer(VirtualPeer.config("start delay time 3;"))
        s.speaker.start()
        s.advance(5)
        XCTAssertEqual(s.connectAttempts, [3])
    }

    func testPassiveSessionNeverConnects() throws {
        let p = try VirtualPeer(VirtualPeer.config("passive on; connect delay time 2;"))
        p.speaker.start()
        p.advance(1000)
        XCTAssertEqual(p.connectAttempts, [])
        XCTAssertNil(p.session.established)
        XCTAssertEqual(p.session.sessionState, .passive)
        XCTAssertTrue(p.speaker.showProtocols().contains("Passive"), p.speaker.showProtocols())
    }

    /// An error doubles the wait before the next start (error wait time min, max), the connect delay
    /// follows it, and an error-free error forget time resets the wait.
    func testErrorWaitDoublesUpToItsMaximumThenConnectDelay() throws {
        let p = try VirtualPeer(VirtualPeer.config("hold time 3; error wait time 10, 25; error forget time 1000; connect delay time 2;"))
        var starts: [Double] = []
        for expected in [10, 20, 25, 25] {
            p.establish(holdTime: 3)
            let down = p.now + 3
            p.advance(3.001)
            XCTAssertNil(p.session.established)
            XCTAssertEqual(p.session.startupDelay, expected)
            XCTAssertEqual(p.session.state, .idle, "error wait")
            let before = p.connectAttempts.count
            p.advance(Double(expected) + 2 - 0.01)
            XCTAssertEqual(p.connectAttempts.count, before, "no connect during error wait + connect delay")
            p.advance(0.02)
            XCTAssertEqual(p.connectAttempts.count, before + 1)
            starts.append(p.connectAttempts[before] - down)
        }
        XCTAssertEqual(starts.map { $0.rounded() }, [12, 22, 27, 27])
    }

    func testGracefulRestartStaleRoutesFlushedWhenTheRestartTimerRunsOut() throws {
        let p = try VirtualPeer(VirtualPeer.config("graceful restart on;"))
        let gr = GracefulRestartCapability(restartState: false, notification: false, restartTime: 30,
                                           families: [GracefulRestartFamily(.ipv4Unicast, forwardingPreserved: true)])
        p.establish(capabilities: VirtualPeer.defaultCapabilities + [.gracefulRestart(gr)])
        p.sendRaw(bgpMessage(type: 2, body: updateBody(attrs: mandatory4, nlri: threeSlash24)))
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 3, p.speaker.showRoute())
        // The peer's TCP connection dies without a NOTIFICATION: its routes stay, marked stale.
        p.dropPeerEnd()
        XCTAssertNil(p.session.established)
        XCTAssertEqual(p.session.staleCount, 3)
        p.refuseConnects = true
        p.advance(29.99)
        XCTAssertEqual(p.session.staleCount, 3)
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 3, "kept for the restart time")
        p.advance(0.02)
        XCTAssertEqual(p.session.staleCount, 0)
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 0, p.speaker.showRoute())
        XCTAssertTrue(p.log.contains { $0.contains("Graceful restart timer expired: flushing 3 stale routes") }, p.log.joined(separator: "\n"))
    }

    /// Since and route ages follow the loop's clock too.
    func testShowProtocolsSinceFollowsTheVirtualClock() throws {
        let p = try VirtualPeer(VirtualPeer.config())
        p.establish()
        let since = p.session.since
        p.advance(100, step: 20) { p.send(.keepalive) }
        XCTAssertEqual(p.session.since, since)
        p.send(.notification(.administrativeReset()))
        XCTAssertEqual(p.session.since - since, 100, accuracy: 1e-6)
    }
}

/// BFD on the same virtual clock: a BFDManager on loopback UDP (the peer is a plain socket on
/// 127.0.0.2) watching the BGP session's neighbor.
final class SessionBFDTimerTests: XCTestCase {
    func testBFDDetectionTimeIsRemoteMultiplierTimesAgreedIntervalAndTakesTheSessionDown() throws {
        // A free port: the kernel picks one for the peer's socket, the manager listens on the same number.
        let peerFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(peerFD) }
        var one: Int32 = 1
        setsockopt(peerFD, SOL_SOCKET, SO_REUSEADDR, &one, 4)   // the manager binds the wildcard address on this port
        XCTAssertEqual(SocketAddress(numericHost: "127.0.0.2", port: 0)!.withSockaddr { bind(peerFD, $0, $1) }, 0)
        var ttl: Int32 = 255
        setsockopt(peerFD, Int32(IPPROTO_IP), 2 /* IP_TTL */, &ttl, 4)
        guard let port = Sockets.localAddress(peerFD)?.port else { return XCTFail("no local port") }

        var opts = BFDOptions()
        opts.minTxInterval = 50_000
        opts.minRxInterval = 50_000
        opts.multiplier = 3
        // The speaker takes its monitor at init, the manager needs the speaker's loop: a forwarder.
        let holder = ManagerHolder()
        let p = try VirtualPeer(VirtualPeer.config("bfd on;"), liveness: holder)
        let manager = try BFDManager(loop: p.loop, options: opts, port: port)
        holder.manager = manager
        defer { manager.shutdown() }

        p.establish()
        // The manager speaks first (Down, your discriminator 0).
        let hello = try XCTUnwrap(receiveBFD(peerFD, loop: p.loop))
        XCTAssertEqual(hello.state, .down)
        // The peer: multiplier 5, sends every 100 ms. Detection time at our end: 5 x max(50, 100) ms.
        var peer = BFDPacket(state: .initial, detectMultiplier: 5, myDiscriminator: 77, yourDiscriminator: hello.myDiscriminator,
                             desiredMinTxInterval: 100_000, requiredMinRxInterval: 50_000)
        sendBFD(peer, from: peerFD, to: port, loop: p.loop, manager: manager)
        XCTAssertEqual(manager.sessions().first?.state, .up)
        peer.state = .up
        peer.final = true   // answers the Poll of our switch to the fast rate
        sendBFD(peer, from: peerFD, to: port, loop: p.loop, manager: manager)
        XCTAssertEqual(manager.sessions().first?.detectionTime, 500_000)
        // Silence from here on: the BGP session stays up for 500 ms, then goes down with Cease/BFD down
        // (and releases its BFD session).
        let logged = Locked<[String]>([])
        Log.observer = { m in logged.withLock { $0.append(m) } }
        defer { Log.observer = nil }
        let level = Log.level
        Log.level = max(level, Log.connections)
        defer { Log.level = level }
        p.advance(0.499)
        XCTAssertNotNil(p.session.established)
        XCTAssertEqual(manager.sessions().first?.state, .up)
        p.advance(0.002)
        XCTAssertNil(p.session.established)
        XCTAssertTrue(logged.withLock { $0 }.contains { $0.contains("127.0.0.2 Up -> Down") }, "\(logged.withLock { $0 })")
        XCTAssertTrue(manager.sessions().isEmpty, "released with the BGP session")
        XCTAssertEqual(p.notifications.map { "\($0.code)/\($0.subcode)" }, ["6/10"], "Cease, BFD down")
        XCTAssertEqual(p.session.lastError, "BFD session down")
    }

    /// Forwards to the manager made after the speaker (the speaker takes its monitor at init).
    final class ManagerHolder: LivenessMonitor {
        var manager: BFDManager?
        func watch(peer: SocketAddress, local: SocketAddress?, interface: String?,
                   onDown: @escaping () -> Void, onUp: @escaping () -> Void) -> AnyObject {
            manager?.watch(peer: peer, local: local, interface: interface, onDown: onDown, onUp: onUp) ?? NSObject()
        }
    }

    /// The next BFD packet the manager sent to the peer (loopback delivers within the send call;
    /// the bounded wait only covers a kernel that defers it).
    func receiveBFD(_ fd: Int32, loop: EventLoop) -> BFDPacket? {
        loop.settle()
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 512)
        var last: BFDPacket?
        while true {
            let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { break }
            last = try? BFDPacket.decode(buf[0..<n])
        }
        return last
    }

    /// Sends one packet from the peer and lets the manager read it.
    func sendBFD(_ p: BFDPacket, from fd: Int32, to port: UInt16, loop: EventLoop, manager: BFDManager) {
        let to = SocketAddress(numericHost: "127.0.0.1", port: port)!
        let bytes = p.encode()
        let before = manager.datagramsRead
        _ = bytes.withUnsafeBytes { b in to.withSockaddr { sendto(fd, b.baseAddress, b.count, 0, $0, $1) } }
        for _ in 0..<100 where manager.datagramsRead == before { loop.runOnce(maxWait: 0.02) }
        XCTAssertEqual(manager.datagramsRead, before + 1, "the manager read the peer's packet")
        loop.settle()
    }
}
