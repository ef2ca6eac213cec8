import XCTest
import Glibc
import MeshIO
@testable import BGPLite

/// An EventLoop running on its own thread; `sync` runs a closure on it and waits.
final class BFDTestLoop {
    let loop: EventLoop
    private var thread: Thread!
    private let done = DispatchSemaphore(value: 0)

    /// `setup` runs first on the new thread (e.g. entering a network namespace).
    init(setup: @escaping @Sendable () -> Void = {}) throws {
        loop = try EventLoop()
        let l = loop
        let started = DispatchSemaphore(value: 0)
        thread = Thread { [done] in
            setup()
            started.signal()
            l.run()
            done.signal()
        }
        thread.start()
        started.wait()
    }

    func sync<T>(_ body: @escaping () -> T) -> T {
        var result: T?
        let sem = DispatchSemaphore(value: 0)
        loop.post { result = body(); sem.signal() }
        sem.wait()
        return result!
    }

    func stop() {
        loop.post { [loop] in loop.stop() }
        done.wait()
    }
}

/// Thread-safe flag with its time.
final class BFDTestEvent {
    private var lock = NSLock()
    private var times: [Double] = []
    func fire() { lock.lock(); times.append(EventLoop.now()); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return times.count }
    var last: Double? { lock.lock(); defer { lock.unlock() }; return times.last }
    func wait(timeout: Double, count n: Int = 1) -> Bool {
        let end = EventLoop.now() + timeout
        while EventLoop.now() < end { if count >= n { return true }; usleep(2000) }
        return count >= n
    }
}

/// BFDManager against a scripted peer on loopback: the manager listens on 127.0.0.1:P (wildcard), the fake
/// peer on 127.0.0.2:P, so no privileges and no fixed ports are needed.
final class BFDManagerTests: XCTestCase {
    var port: UInt16 = 0
    var peerFD: Int32 = -1

    override func setUp() {
        port = UInt16(20000 + Int(getpid()) % 20000)
        peerFD = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var one: Int32 = 1
        setsockopt(peerFD, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        let a = SocketAddress(numericHost: "127.0.0.2", port: port)!
        XCTAssertEqual(a.withSockaddr { bind(peerFD, $0, $1) }, 0)
    }

    override func tearDown() { close(peerFD) }

    func sendFromPeer(_ p: BFDPacket, ttl: Int32 = 255) {
        var t = ttl
        setsockopt(peerFD, Int32(IPPROTO_IP), 2 /* IP_TTL */, &t, 4)
        let to = SocketAddress(numericHost: "127.0.0.1", port: port)!
        let bytes = p.encode()
        _ = bytes.withUnsafeBytes { b in to.withSockaddr { sendto(peerFD, b.baseAddress, b.count, 0, $0, $1) } }
    }

    func receiveAtPeer(timeout: Double) -> [(BFDPacket, UInt16)] {
        var out: [(BFDPacket, UInt16)] = []
        let end = EventLoop.now() + timeout
        var buf = [UInt8](repeating: 0, count: 512)
        while EventLoop.now() < end {
            var from = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(peerFD, &buf, buf.count, 0, $0, &len) }
            }
            if n > 0 {
                let src = SocketAddress(storage: from, length: len)
                if let p = try? BFDPacket.decode(buf[0..<n]) { out.append((p, src.port)) }
            } else if !out.isEmpty { break } else { usleep(1000) }
        }
        return out
    }

    func testSessionWithScriptedPeerUpThenDetectDown() throws {
        let lt = try BFDTestLoop()
        defer { lt.stop() }
        var opts = BFDOptions()
        opts.minTxInterval = 50_000
        opts.minRxInterval = 50_000
        opts.multiplier = 3
        let port = self.port
        let manager = try lt.sync { () -> Result<BFDManager, Error> in Result { try BFDManager(loop: lt.loop, options: opts, port: port) } }.get()
        let up = BFDTestEvent(), down = BFDTestEvent()
        var token: AnyObject? = lt.sync {
            manager.watch(peer: SocketAddress(numericHost: "127.0.0.2", port: 179)!, local: nil, interface: nil,
                          onDown: { down.fire() }, onUp: { up.fire() })
        }
        // The manager speaks first: Down, your discriminator 0, from a port in 49152-65535.
        let first = receiveAtPeer(timeout: 2)
        XCTAssertFalse(first.isEmpty)
        guard let (hello, sport) = first.first else { return }
        XCTAssertEqual(hello.state, .down)
        XCTAssertEqual(hello.yourDiscriminator, 0)
        XCTAssertTrue((49152...65535).contains(sport), "source port \(sport)")
        XCTAssertEqual(hello.desiredMinTxInterval, 1_000_000, "idle rate while not Up")
        let mine = hello.myDiscriminator

        // Wrong TTL: ignored. A bit: ignored (logged).
        let loggedLines = Locked<[String]>([])
        Log.observer = { m in loggedLines.withLock { $0.append(m) } }
        defer { Log.observer = nil }
        var peer = BFDPacket(state: .initial, detectMultiplier: 3, myDiscriminator: 4242, yourDiscriminator: mine,
                             desiredMinTxInterval: 50_000, requiredMinRxInterval: 50_000)
        sendFromPeer(peer, ttl: 254)
        var auth = peer; auth.authenticationPresent = true
        var authBytes = auth.encode() + [1, 8, 1, 0, 0, 0, 0, 0]; authBytes[3] = 32
        var t: Int32 = 255
        setsockopt(peerFD, Int32(IPPROTO_IP), 2, &t, 4)
        let to = SocketAddress(numericHost: "127.0.0.1", port: port)!
        _ = authBytes.withUnsafeBytes { b in to.withSockaddr { sendto(peerFD, b.baseAddress, b.count, 0, $0, $1) } }
        usleep(200_000)
        XCTAssertEqual(lt.sync { manager.sessions().first?.state }, .down)
        let logged = loggedLines.withLock { $0 }
        XCTAssertTrue(logged.contains { $0.contains("authentication") }, "\(logged)")

        // Proper Init from the peer: we go Up.
        sendFromPeer(peer)
        XCTAssertTrue(up.wait(timeout: 1))
        let s = lt.sync { manager.sessions() }
        XCTAssertEqual(s.first?.state, .up)
        XCTAssertEqual(s.first?.remoteDiscriminator, 4242)
        // Keep the peer alive, answer polls, for 0.5 s.
        peer.state = .up
        let end = EventLoop.now() + 0.5
        while EventLoop.now() < end {
            let got = receiveAtPeer(timeout: 0.03)
            var p = peer
            if got.contains(where: { $0.0.poll }) { p.final = true }
            sendFromPeer(p)
        }
        let info = lt.sync { manager.sessions().first! }
        XCTAssertEqual(info.transmitInterval, 50_000)
        XCTAssertEqual(info.detectionTime, 150_000)
        XCTAssertEqual(down.count, 0)
        // Silence: down after 3 × 50 ms.
        let silent = EventLoop.now()
        XCTAssertTrue(down.wait(timeout: 1))
        let detect = down.last! - silent
        print("BFD scripted peer: detection after \(Int(detect * 1000)) ms (detection time 150 ms)")
        XCTAssertLessThan(detect, 0.4)
        XCTAssertEqual(lt.sync { manager.sessions().first?.diagnostic }, .controlDetectionTimeExpired)

        // Releasing the token ends the session with AdminDown.
        _ = receiveAtPeer(timeout: 0.05)
        token = nil
        let bye = receiveAtPeer(timeout: 1)
        XCTAssertTrue(bye.contains { $0.0.state == .adminDown && $0.0.diagnostic == .administrativelyDown }, "\(bye.map { $0.0 })")
        XCTAssertTrue(lt.sync { manager.sessions().isEmpty })
        lt.sync { manager.shutdown() }
        _ = token
    }

    /// A flood on the receive socket is read at most `readBudget` datagrams per wakeup: another ready
    /// descriptor gets its turn after the first batch, not after the whole flood.
    func testReadBudgetPerWakeup() throws {
        let lt = try BFDTestLoop()
        defer { lt.stop() }
        let port = self.port
        let manager = try lt.sync { () -> Result<BFDManager, Error> in Result { try BFDManager(loop: lt.loop, port: port) } }.get()
        defer { lt.sync { manager.shutdown() } }
        XCTAssertEqual(lt.sync { manager.readBudget }, 64)
        // Hold the loop while the datagrams and the other event queue up.
        let hold = DispatchSemaphore(value: 0), holding = DispatchSemaphore(value: 0)
        var pipeFDs: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeFDs), 0)
        defer { close(pipeFDs[0]); close(pipeFDs[1]) }
        var readAtOtherEvent = -1
        lt.loop.post {
            lt.loop.register(pipeFDs[0], events: .readable) { _ in
                readAtOtherEvent = manager.datagramsRead
                lt.loop.unregister(pipeFDs[0])
            }
            holding.signal()
            hold.wait()
        }
        holding.wait()
        // 130 datagrams with TTL 255 that are not BFD (discarded quietly), then the other descriptor.
        var t: Int32 = 255
        setsockopt(peerFD, Int32(IPPROTO_IP), 2, &t, 4)
        let to = SocketAddress(numericHost: "127.0.0.1", port: port)!
        let junk = [UInt8](repeating: 0, count: 24)
        for _ in 0..<130 {
            let n = junk.withUnsafeBytes { b in to.withSockaddr { sendto(peerFD, b.baseAddress, b.count, 0, $0, $1) } }
            XCTAssertEqual(n, 24)
        }
        var one: UInt8 = 1
        XCTAssertEqual(write(pipeFDs[1], &one, 1), 1)
        hold.signal()
        let end = EventLoop.now() + 5
        while EventLoop.now() < end && lt.sync({ manager.datagramsRead }) < 130 { usleep(2000) }
        let (read, exhausted, other) = lt.sync { (manager.datagramsRead, manager.budgetExhausted, readAtOtherEvent) }
        XCTAssertEqual(read, 130)
        XCTAssertEqual(exhausted, 2)             // 64 + 64, then the last 2 and EAGAIN
        XCTAssertEqual(other, 64, "the other descriptor ran after the first batch")
    }
}
