import XCTest
import Glibc
import MeshIO
@testable import BGPLite

/// A raw BGP peer on blocking sockets in its own threads: it connects to the speaker (with a small
/// receive buffer), opens the session, then floods KEEPALIVEs without pause and stops reading for a
/// while, so when the speaker resets the session it has unread input and output (its table export
/// and the NOTIFICATION) still queued. Closing then makes the kernel send a RST and throw the queued
/// output away; the speaker must send, shut down its write side and drain before it closes.
private final class FloodingPeer: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var _result: String?
    var result: String? { lock.lock(); defer { lock.unlock() }; return _result }
    private var stopFlood = false

    init(local: String, remote: String, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var rcv: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, socklen_t(MemoryLayout<Int32>.size))
        var la = sockaddr_in(); la.sin_family = sa_family_t(AF_INET); inet_pton(AF_INET, local, &la.sin_addr)
        _ = withUnsafePointer(to: &la) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var ra = sockaddr_in(); ra.sin_family = sa_family_t(AF_INET); ra.sin_port = port.bigEndian
        inet_pton(AF_INET, remote, &ra.sin_addr)
        let r = withUnsafePointer(to: &ra) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { let e = errno; close(fd); throw BGPSpeakerError("connect: \(String(cString: strerror(e)))") }
    }

    deinit { close(fd) }

    static func message(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 16) + [UInt8((body.count + 19) >> 8), UInt8((body.count + 19) & 0xff), type] + body
    }

    private func send(_ b: [UInt8]) -> Bool {
        b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == b.count
    }

    /// OPEN (AS 65002, 4-octet AS, IPv4 unicast) and KEEPALIVE, then the flood in one thread and the
    /// reader in another; `result` becomes "notification", "eof" or "error: ...".
    func run() {
        let caps: [UInt8] = [1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xFD, 0xEA]
        let open: [UInt8] = [4, 0xFD, 0xEA, 0, 90, 10, 0, 0, 2, UInt8(caps.count + 2), 2, UInt8(caps.count)] + caps
        _ = send(FloodingPeer.message(1, open) + FloodingPeer.message(4, []))
        let burst = [[UInt8]](repeating: FloodingPeer.message(4, []), count: 200).flatMap { $0 }
        Thread.detachNewThread { [self] in
            while true {
                lock.lock(); let stop = stopFlood; lock.unlock()
                if stop || !send(burst) { return }
                usleep(1000)
            }
        }
        Thread.detachNewThread { [self] in
            var buf: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            var outcome = "eof"
            var paused = false
            reading: while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n == 0 { break }
                if n < 0 { outcome = "error: \(String(cString: strerror(errno)))"; break }
                buf += chunk[0..<n]
                while buf.count >= 19 {
                    let len = Int(buf[16]) << 8 | Int(buf[17])
                    guard len >= 19 else { outcome = "error: bad length"; break reading }
                    guard buf.count >= len else { break }
                    if buf[18] == 3 { outcome = "notification"; break reading }
                    let type = buf[18]
                    buf.removeFirst(len)
                    // Our KEEPALIVE: the session is up and the export follows; stop reading a while.
                    if type == 4 && !paused { paused = true; usleep(100_000) }
                }
            }
            lock.lock(); _result = outcome; stopFlood = true; lock.unlock()
        }
    }
}

final class NotificationDeliveryTests: XCTestCase {
    /// 50 resets (`restart`, Cease/administrative reset) while the peer floods us and is slow to
    /// read: every one must reach the peer as a NOTIFICATION, never as a bare EOF or a reset.
    /// On loopback the peer's kernel keeps what it already received even after a RST, so this end-to-end
    /// check passes with an immediate close too; `testCloseDeliversQueuedNotificationDespiteUnreadInput`
    /// is the one that fails without the linger.
    func testResetNotificationReachesFloodingPeer() throws {
        let loop = try EventLoop()
        let port = testPortBase + 90 + Int.random(in: 0..<8)
        // 4,000 routes to export: ~20 kB of UPDATEs (more than the small receive window) that the paused peer leaves in our send queue.
        let routes = (0..<4000).map { "    route 10.\($0 >> 8).\($0 & 255).0/24 blackhole;" }.joined(separator: "\n")
        let sp = try makeSpeaker("""
            router id 10.0.0.1;
            protocol static st { ipv4;
            \(routes)
            }
            protocol bgp p {
                local 127.0.0.1 port \(port) as 65001;
                neighbor 127.0.0.2 as 65002;
                passive on;
                ipv4 { import all; export all; };
            }
            """, loop: loop)
        sp.quiet = true
        sp.start()
        defer { sp.stop(); spin(loop, 0.1) }
        var missed: [String] = []
        for i in 0..<50 {
            let peer = try FloodingPeer(local: "127.0.0.2", remote: "127.0.0.1", port: UInt16(port))
            peer.run()
            XCTAssertTrue(runLoop(loop, timeout: 5) { sp.session("p").established != nil }, "round \(i): not established")
            spin(loop, 0.1)   // the export is queued, the flood fills our receive queue
            XCTAssertEqual(sp.birdCommand(["restart", "p"]), "p: restarted\n")
            XCTAssertTrue(runLoop(loop, timeout: 5) { peer.result != nil }, "round \(i): the peer saw nothing")
            if peer.result != "notification" { missed.append("round \(i): \(peer.result ?? "nothing")") }
        }
        XCTAssertEqual(missed, [], "\(missed.count) of 50 resets lost the NOTIFICATION")
    }

    /// Connection level, deterministic: the peer has sent us 64 kB we never read and has not read the
    /// 1 MB we queued before the NOTIFICATION. `close()` must deliver all of it; an immediate close
    /// (`close(linger: 0)`) sends a RST and the NOTIFICATION never arrives.
    func testCloseDeliversQueuedNotificationDespiteUnreadInput() throws {
        try closeWithUnreadInput(shutdown: false)
    }

    /// The same at shutdown: the loop does not run any more; `finishLingering` (called by the daemon
    /// and the bgp mode before they exit) delivers it within its bound.
    func testShutdownFinishesTheLingerBeforeExit() throws {
        try closeWithUnreadInput(shutdown: true)
    }

    private func closeWithUnreadInput(shutdown: Bool) throws {
        let loop = try EventLoop()
        let port = testPortBase + (shutdown ? 96 : 98)
        let sp = try makeSpeaker("""
            router id 10.0.0.1;
            protocol bgp p { local 127.0.0.1 port \(port) as 65001; neighbor 127.0.0.2 as 65002; passive on; ipv4 { import all; export all; }; }
            """, loop: loop)
        sp.quiet = true
        // A TCP pair on loopback: `ours` becomes the Connection, `peer` the remote end.
        let lfd = try BGPSpeaker.listen(SocketAddress(numericHost: "127.0.0.1", port: 0)!)
        defer { Glibc.close(lfd) }
        let lport = Sockets.localAddress(lfd)!.port
        let peer = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(peer) }
        var ra = sockaddr_in(); ra.sin_family = sa_family_t(AF_INET); ra.sin_port = lport.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &ra.sin_addr)
        let r = withUnsafePointer(to: &ra) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(peer, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(r, 0)
        var ours: Int32 = -1
        XCTAssertTrue(runLoop(loop, timeout: 2) { if ours < 0, let (fd, _) = Sockets.accept(lfd) { ours = fd }; return ours >= 0 })
        // Unread input on our side.
        let junk = [UInt8](repeating: 0x55, count: 65536)
        XCTAssertEqual(junk.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, 0) }, junk.count)
        let c = Connection(fd: ours, outgoing: false, remote: SocketAddress(numericHost: "127.0.0.1", port: 0)!,
                           session: sp.session("p"), loop: loop, state: .established)
        c.startReading()
        loop.unregister(ours)   // keep the junk unread, as a session busy elsewhere would
        let keepalives = [[UInt8]](repeating: FloodingPeer.message(4, []), count: 1 << 20 / 19).flatMap { $0 }
        c.send(keepalives)
        c.send(FloodingPeer.message(3, [6, 4]))   // Cease, administrative reset
        c.close()
        // The peer reads everything now; the last message must be the NOTIFICATION.
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let done = NSLock()
        nonisolated(unsafe) var received: [UInt8] = []
        nonisolated(unsafe) var outcome = ""
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65536)
            var got: [UInt8] = []
            var how = "eof"
            while true {
                let n = recv(peer, &chunk, chunk.count, 0)
                if n == 0 { break }
                if n < 0 { how = String(cString: strerror(errno)); break }
                got += chunk[0..<n]
            }
            done.lock(); received = got; outcome = how; done.unlock()
        }
        if shutdown {
            let t0 = EventLoop.now()
            sp.finishLingering(timeout: 1)
            XCTAssertLessThan(EventLoop.now() - t0, 1.2)
            XCTAssertTrue(sp.lingering.isEmpty)
            for _ in 0..<300 { done.lock(); let d = !outcome.isEmpty; done.unlock(); if d { break }; usleep(10_000) }
        } else {
            XCTAssertTrue(runLoop(loop, timeout: 5) { done.lock(); defer { done.unlock() }; return !outcome.isEmpty })
        }
        done.lock(); defer { done.unlock() }
        XCTAssertEqual(outcome, "eof")
        XCTAssertEqual(received.count, keepalives.count + 21)
        XCTAssertEqual(Array(received.suffix(21)), FloodingPeer.message(3, [6, 4]))
    }
}
