import XCTest
import Glibc
import MeshIO
@testable import TincDaemon

/// Runs `loop` on this thread until `done` is true (checked every 5 ms) or `timeout` passes.
func runLoop(_ loop: EventLoop, timeout: Double, until done: @escaping () -> Bool) {
    let end = EventLoop.now() + timeout
    func check() {
        // stop() from a timer takes effect after the next epoll_wait: post() wakes it at once.
        if done() || EventLoop.now() > end { loop.stop(); loop.post {}; return }
        loop.schedule(after: 0.005) { check() }
    }
    loop.schedule(after: 0) { check() }
    loop.run()
}

/// A blocking client socket connected to the control socket at `path` (it waits in the backlog until the loop accepts).
func connectControlClient(_ path: String, receiveBuffer: Int32? = nil) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    if var rb = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, 4) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    XCTAssertEqual(r, 0, String(cString: strerror(errno)))
    return fd
}

/// ControlServer on a real UNIX socket in a scratch directory.
final class ControlServerTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/control.sock" }

    override func setUp() {
        var t = Array("/tmp/tincd-swift-ctl-XXXXXX".utf8CString)
        dir = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A blocking client socket connected to the server (the connection waits in the backlog until the loop accepts).
    func connectClient(receiveBuffer: Int32? = nil) -> Int32 { connectControlClient(path, receiveBuffer: receiveBuffer) }

    func send(_ fd: Int32, _ text: String) {
        let b = Array(text.utf8)
        var off = 0
        while off < b.count {
            let n = b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, b.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { XCTFail("send: \(String(cString: strerror(errno)))"); return }
            off += n
        }
    }

    /// Everything the server sends until it closes (non-blocking reads; the loop must run meanwhile).
    final class Reader {
        let fd: Int32
        var data: [UInt8] = []
        var eof = false
        init(_ fd: Int32) { self.fd = fd; _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        func pump() {
            var buf = [UInt8](repeating: 0, count: 65536)
            while !eof {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { data += buf[0..<n] } else if n == 0 { eof = true } else { if errno != EAGAIN { eof = true }; return }
            }
        }
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    func makeServer(_ loop: EventLoop, handler: @escaping (String) -> String) throws -> ControlServer {
        let s = ControlServer(path: path, loop: loop, handler: handler)
        try s.start()
        return s
    }

    func testCommandAndReply() throws {
        let loop = try EventLoop()
        var got: [String] = []
        let server = try makeServer(loop) { line in got.append(line); return "reply to \(line)\n" }
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, "dump nodes \r\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(got, ["dump nodes"])
        XCTAssertEqual(r.text, "reply to dump nodes\n")
        XCTAssertEqual(server.clientCount, 0)
        // The socket file is private to its owner (umask 077 when it was bound).
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o077, 0, "group and others have no access")
    }

    /// A client that never reads an 8 MiB reply is dropped after the stall timeout; meanwhile the loop
    /// keeps ticking and serves another client.
    func testSlowReaderIsDroppedWithoutBlockingTheLoop() throws {
        let loop = try EventLoop()
        let log = LogCapture()
        defer { log.stop() }
        let big = String(repeating: String(repeating: "x", count: 99) + "\n", count: 80_000)
        let server = try makeServer(loop) { line in line == "big" ? big : "small\n" }
        server.limits.stallTimeout = 1.0
        defer { server.stop() }
        let slow = connectClient(receiveBuffer: 4096)
        defer { close(slow) }
        send(slow, "big\n")
        var ticks: [Double] = []
        func tick() { ticks.append(EventLoop.now()); loop.schedule(after: 0.05) { tick() } }
        loop.schedule(after: 0) { tick() }
        // A second client, while the first is stuck, gets its answer at once.
        var other: Reader?
        var otherDoneAt: Double?
        let t0 = EventLoop.now()
        loop.schedule(after: 0.2) {
            let fd = self.connectClient()
            self.send(fd, "stats\n")
            other = Reader(fd)
        }
        runLoop(loop, timeout: 10) {
            if let o = other, !o.eof { o.pump(); if o.eof { otherDoneAt = EventLoop.now() } }
            return server.counters.stalledClients > 0 && other?.eof == true
        }
        if let o = other { close(o.fd) }
        let elapsed = EventLoop.now() - t0
        XCTAssertEqual(server.counters.stalledClients, 1)
        XCTAssertGreaterThanOrEqual(elapsed, 1.0)
        XCTAssertLessThan(elapsed, 5)
        XCTAssertEqual(other?.text, "small\n")
        // The old blocking write held the loop 2 s per stuck client; the bounds leave room for a loaded machine.
        XCTAssertLessThan((otherDoneAt ?? 99) - t0, 1.0, "the second client waited for the first")
        XCTAssertEqual(server.clientCount, 0)
        XCTAssertTrue(log.contains("did not read its reply"), "\(log.messages)")
        let maxGap = zip(ticks.dropFirst(), ticks).map { $0 - $1 }.max() ?? 99
        print("ControlServer: slow reader dropped after \(String(format: "%.2f", elapsed)) s, largest timer gap \(String(format: "%.3f", maxGap)) s")
        XCTAssertLessThan(maxGap, 0.9)
        // What the slow client can still read is a prefix of the reply, then EOF.
        let r = Reader(slow)
        r.pump()
        XCTAssertTrue(r.eof)
        XCTAssertLessThan(r.data.count, big.utf8.count)
        XCTAssertTrue(big.utf8.starts(with: r.data))
    }

    /// A command line beyond the limit gets an error and the connection ends; the handler never sees it.
    func testOversizedLineIsRefused() throws {
        let loop = try EventLoop()
        let log = LogCapture()
        defer { log.stop() }
        var calls = 0
        let server = try makeServer(loop) { _ in calls += 1; return "ok\n" }
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, String(repeating: "A", count: 10_000))   // no newline at all
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, "ERROR command line longer than 4096 bytes\n")
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(server.counters.oversizedLines, 1)
        XCTAssertTrue(log.contains("longer than 4096 bytes"))
    }

    /// One wakeup reads at most `readBudget` bytes: a long line takes several wakeups.
    func testReadBudgetPerWakeup() throws {
        let loop = try EventLoop()
        var got: [String] = []
        let server = try makeServer(loop) { line in got.append(line); return "ok\n" }
        server.limits.readBudget = 4096
        server.limits.maxLineBytes = 100_000
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, String(repeating: "B", count: 20_000) + "\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, "ok\n")
        XCTAssertEqual(got.first?.count, 20_000)
        XCTAssertEqual(server.counters.readBudgetExhausted, 4)   // 4 × 4096 bytes, then the rest with the newline
    }

    /// A reply over the limit is cut at a line and ends with an ERROR line.
    func testReplyIsCutAtLimit() throws {
        let loop = try EventLoop()
        let server = try makeServer(loop) { _ in String(repeating: "0123456789\n", count: 1000) }
        server.limits.maxReplyBytes = 1000
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, "dump subnets\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, String(repeating: "0123456789\n", count: 90) + "ERROR reply cut at 1000 bytes\n")
        XCTAssertEqual(server.counters.truncatedReplies, 1)
    }

    /// Peer strings inside a reply (an edge address from ADD_EDGE, a BGP shutdown text) reach the
    /// terminal without escape sequences; line breaks of the reply itself stay.
    func testReplyIsTerminalSafe() throws {
        let loop = try EventLoop()
        let server = try makeServer(loop) { _ in "edge a to b at 10.0.0.1\u{1B}]0;owned\u{07} port 655\r\nnext ✓\n" }
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, "dump edges\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, #"edge a to b at 10.0.0.1\x1B]0;owned\x07 port 655\x0D"# + "\nnext ✓\n")
        XCTAssertEqual(ControlServer.terminalSafe("plain\n"), "plain\n")
    }

    func testTooManyClients() throws {
        let loop = try EventLoop()
        let server = try makeServer(loop) { _ in "ok\n" }
        server.limits.maxClients = 2
        defer { server.stop() }
        let fds = (0..<3).map { _ in connectClient() }
        defer { fds.forEach { close($0) } }
        let third = Reader(fds[2])
        runLoop(loop, timeout: 5) { third.pump(); return third.eof }
        XCTAssertEqual(third.text, "ERROR too many control connections, try again\n")
        XCTAssertEqual(server.clientCount, 2)
        XCTAssertEqual(server.counters.refusedFull, 1)
    }

    /// The credential check through its seam: a uid the policy refuses gets an error and a log line.
    func testRefusedCredentialsThroughPolicy() throws {
        let loop = try EventLoop()
        let log = LogCapture()
        defer { log.stop() }
        var calls = 0
        let server = try makeServer(loop) { _ in calls += 1; return "ok\n" }
        var asked: [uid_t] = []
        server.isAllowed = { asked.append($0); return false }
        defer { server.stop() }
        let fd = connectClient()
        defer { close(fd) }
        send(fd, "stop\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, "ERROR permission denied\n")
        XCTAssertEqual(asked, [geteuid()])
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(server.counters.refusedCredentials, 1)
        XCTAssertTrue(log.contains("refused connection from uid \(geteuid())"), "\(log.messages)")
    }

    /// A real other uid (a forked child that drops to nobody) is refused by the default policy even when the
    /// socket's file mode would let it connect. Needs root to change uid.
    func testOtherUIDIsRefused() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to run a client as another uid") }
        let loop = try EventLoop()
        let log = LogCapture()
        defer { log.stop() }
        var calls = 0
        let server = try makeServer(loop) { _ in calls += 1; return "ok\n" }
        defer { server.stop() }
        XCTAssertEqual(server.ownerUID, 0)
        chmod(dir, 0o755)
        chmod(path, 0o777)   // only the SO_PEERCRED check stands in the way now
        // Everything the child needs is prepared before fork; the child only makes system calls.
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let addrPtr = UnsafeMutablePointer<sockaddr_un>.allocate(capacity: 1)
        addrPtr.initialize(to: addr)
        let cmd = UnsafeMutablePointer<CChar>.allocate(capacity: 8)
        _ = "stats\n".withCString { strcpy(cmd, $0) }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
        defer { addrPtr.deallocate(); cmd.deallocate(); buf.deallocate() }
        let nobody: uid_t = 65534
        let pid = fork()
        if pid == 0 {
            // Exit codes: 10 + bytes of the answer when it starts with "ERROR perm", 1-4 for failures.
            if setgroups(0, nil) != 0 || setgid(nobody) != 0 || setuid(nobody) != 0 { _exit(1) }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            if fd < 0 { _exit(2) }
            let r = addrPtr.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            if r != 0 { _exit(3) }
            // The server may have refused and closed already: no SIGPIPE, the answer is still readable.
            _ = Glibc.send(fd, cmd, 6, Int32(MSG_NOSIGNAL))
            var total = 0
            while total < 200 {
                let n = read(fd, buf + total, 200 - total)
                if n <= 0 { break }
                total += n
            }
            if total < 10 || memcmp(buf, "ERROR perm", 10) != 0 { _exit(4) }
            _exit(Int32(10 + total))
        }
        XCTAssertGreaterThan(pid, 0)
        var status: Int32 = -1
        runLoop(loop, timeout: 10) {
            var s: Int32 = 0
            if waitpid(pid, &s, WNOHANG) == pid { status = s; return true }
            return false
        }
        if status == -1 { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        let exitCode = (status >> 8) & 0xff
        XCTAssertEqual(exitCode, 10 + Int32("ERROR permission denied\n".utf8.count), "child status \(status)")
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(server.counters.refusedCredentials, 1)
        XCTAssertTrue(log.contains("refused connection from uid 65534"), "\(log.messages)")
        // Root still gets in.
        let fd = connectClient()
        defer { close(fd) }
        send(fd, "stats\n")
        let r = Reader(fd)
        runLoop(loop, timeout: 5) { r.pump(); return r.eof }
        XCTAssertEqual(r.text, "ok\n")
    }
}
