import Foundation
import MeshCrypto
import TincProtocol
#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("setns") private func c_setns(_ fd: Int32, _ nstype: Int32) -> Int32
private let CLONE_NEWNET_FLAG: Int32 = 0x4000_0000

/// A tinc 1.0 meta-protocol client the test drives line by line: an attacker, a flooder, or a
/// second process with a known node's name. Its socket is created inside a lab namespace (by a
/// short-lived thread that joins the namespace with setns), so every address stays in the lab.
/// Authentication uses our own `Handshake` state machine, the same code the daemon runs.
final class ScriptedPeer {
    let fd: Int32
    let inbound = MetaInbound()
    let outbound = MetaOutbound()
    let label: String

    /// Connects to `host:port` from inside namespace `ns` (blocking connect, 5 s timeout).
    init(namespace ns: String, host: String, port: Int, label: String) throws {
        self.label = label
        // The connect runs on its own thread because setns changes only the calling thread's
        // namespace; the semaphore orders the box's write before the read.
        final class Box: @unchecked Sendable { var result: Result<Int32, Error> = .failure(InteropError("connect thread did not run")) }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            defer { done.signal() }
            box.result = ScriptedPeer.connectInNamespace(ns, host: host, port: port)
        }
        t.start()
        done.wait()
        fd = try box.result.get()
    }

    private static func connectInNamespace(_ ns: String, host: String, port: Int) -> Result<Int32, Error> {
        let nsfd = open("/var/run/netns/\(ns)", O_RDONLY | O_CLOEXEC)
        guard nsfd >= 0 else { return .failure(InteropError("open netns \(ns): errno \(errno)")) }
        defer { Glibc.close(nsfd) }
        guard c_setns(nsfd, CLONE_NEWNET_FLAG) == 0 else { return .failure(InteropError("setns \(ns): errno \(errno)")) }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return .failure(InteropError("socket: errno \(errno)")) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &sin.sin_addr)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(s)
            return .failure(InteropError("connect \(host):\(port) in \(ns): errno \(e)"))
        }
        return .success(s)
    }

    deinit { close() }

    private var closed = false
    func close() {
        if !closed { closed = true; Glibc.close(fd) }
    }

    // MARK: sending

    func send(_ r: Request) throws { try send(line: r.line) }

    func send(line: String) throws {
        outbound.queue(line: line)
        try flush()
    }

    func send(raw bytes: [UInt8]) throws {
        outbound.queue(bytes: bytes)
        try flush()
    }

    func flush() throws {
        var waited = 0
        while outbound.queuedBytes > 0 {
            let ok = outbound.flush(to: fd) { fd, buf in
                let n = Glibc.send(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL))
                return n < 0 ? -Int(errno) : n
            }
            guard ok else { throw InteropError("\(label): send failed (errno \(errno))") }
            if outbound.queuedBytes > 0 {
                waited += 1
                if waited > 2000 { throw InteropError("\(label): peer stopped reading (\(outbound.queuedBytes) bytes queued)") }
                // While the daemon is busy, keep reading too: it may be waiting for our PONG.
                var p = pollfd(fd: fd, events: Int16(POLLOUT | POLLIN), revents: 0)
                _ = poll(&p, 1, 100)
                if p.revents & Int16(POLLIN) != 0 { try readAvailable() }
            }
        }
    }

    // MARK: receiving

    /// The next line (or PACKET payload), or nil when the peer closed or `timeout` passed.
    /// Answer the daemon's PINGs (line "8") with PONGs while reading, as a live peer would.
    var answersPings = true

    /// False once a read saw the daemon close the connection.
    private(set) var isOpen = true

    /// Items read while we were sending, for `next` to hand out in order.
    private var early: [MetaInbound.Item] = []
    private var reading = false

    /// Reads what the socket has now, answering PINGs, keeping everything else for `next`.
    private func readAvailable() throws {
        guard !reading else { return }
        reading = true
        defer { reading = false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n > 0 else { return }
        buf.withUnsafeBytes { inbound.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        while let item = try inbound.next() {
            if answersPings, case .line(let l) = item, l == "8" || l.hasPrefix("8 ") { outbound.queue(line: Request.pong.line) }
            early.append(item)
        }
    }

    func next(timeout: TimeInterval) throws -> MetaInbound.Item? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if !early.isEmpty { return early.removeFirst() }
            if let item = try inbound.next() {
                if answersPings, case .line(let l) = item, l == "8" || l.hasPrefix("8 ") {
                    try send(.pong)
                }
                return item
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(max(1, min(left, 1) * 1000)))
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { isOpen = false; return nil }
            buf.withUnsafeBytes { inbound.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    func nextLine(timeout: TimeInterval) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            switch try next(timeout: deadline.timeIntervalSinceNow) {
            case .line(let l)?: return l
            case .packet?: continue
            case nil: return nil
            }
        }
        return nil
    }

    /// True when the daemon closed the connection within `timeout` (reads until EOF).
    func waitForClose(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return true }
        }
        return false
    }

    // MARK: authentication

    /// Authenticates as `name` with `key` to the daemon named `target` whose public key is `targetKey`,
    /// as the initiator. Returns the daemon's ACK line. Throws with the conversation so far on failure.
    @discardableResult
    func authenticate(as name: String, key: RSAKey, target: String, targetKey: RSAKey, port: Int = 655,
                      timeout: TimeInterval = 10) throws -> String {
        let hs = Handshake(role: .initiator(expecting: target), myName: name, myKey: key,
                           metaCipher: CipherSuite.metaCipher(forDataKeyLength: 32),
                           lookupPeer: { _ in PeerIdentity(key: targetKey) },
                           makeAck: { _ in .ack(port: String(port), weight: 1, options: 0x0400_0000) })
        var transcript: [String] = []
        func run(_ actions: [Handshake.Action]) throws -> Bool {
            var established = false
            for a in actions {
                switch a {
                case .send(let r): outbound.queue(line: r.line)
                case .encryptOutbound(let s): outbound.enableEncryption(s)
                case .decryptInbound(let s): inbound.enableDecryption(s)
                case .established: established = true
                }
            }
            try flush()
            return established
        }
        _ = try run(hs.start())
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            guard let line = try nextLine(timeout: deadline.timeIntervalSinceNow) else { break }
            transcript.append(String(line.prefix(60)))
            let r = try Request(parsing: Substring(line))
            if try run(hs.receive(r)) { return line }
        }
        throw InteropError("\(label): authentication as \(name) did not finish; got: \(transcript)")
    }
}
