import Glibc
import MeshIO
import CNetShim

/// The daemon's control socket: a UNIX stream socket (mode 0600) on the control loop. A client
/// writes one command line; the daemon answers with text (or JSON) and closes the connection.
///
/// Only root and the socket's owner may use it (SO_PEERCRED; others are refused with a log line). The
/// loop never waits for a client: a wakeup reads at most `readBudget` bytes, a command line longer than
/// `maxLineBytes` is refused, the reply is written without blocking from a per-client buffer of at most
/// `maxReplyBytes`, and a client that does not read its reply for `stallTimeout` seconds is dropped.
final class ControlServer {
    struct Limits {
        var maxClients = 16
        var maxLineBytes = 4096
        /// Bytes read from one client per wakeup.
        var readBudget = 16384
        /// Connections accepted per wakeup.
        var acceptBudget = 16
        /// A longer reply is cut and ends with an ERROR line.
        var maxReplyBytes = 64 << 20
        /// Reply bytes held for all clients together; a command beyond it is answered "busy".
        var maxBufferedBytes = 128 << 20
        /// Seconds a client may leave its reply unread (no write progress) before it is dropped.
        var stallTimeout: Double = 10
        /// Seconds a client may take to send its command line.
        var commandTimeout: Double = 10
    }

    struct Counters: Equatable {
        var accepted = 0
        var refusedCredentials = 0
        var refusedFull = 0
        var oversizedLines = 0
        var stalledClients = 0
        var truncatedReplies = 0
        /// Wakeups that ended with the read budget used up (the rest waited for the next one).
        var readBudgetExhausted = 0
    }

    let path: String
    /// Extra names for the socket (symlinks), e.g. DIR/control.socket when --pidfile chose the path.
    var aliases: [String] = []
    var limits = Limits()
    private(set) var counters = Counters()
    /// Who may connect: root and the socket's owner unless a test says otherwise.
    var isAllowed: ((uid_t) -> Bool)?
    /// The uid that owns the socket file (set by `start`).
    private(set) var ownerUID: uid_t = geteuid()
    private let loop: EventLoop
    private let handler: (String) -> String
    private var listenFD: Int32 = -1
    private var clients: [Int32: Client] = [:]
    private var bufferedBytes = 0
    private var logLimiter = (second: 0, count: 0, suppressed: 0)

    private final class Client {
        let fd: Int32
        let pid: pid_t
        let uid: uid_t
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var timer: EventLoop.TimerID?
        var lastProgress: Double
        init(fd: Int32, pid: pid_t, uid: uid_t, now: Double) { self.fd = fd; self.pid = pid; self.uid = uid; self.lastProgress = now }
        var who: String { "pid \(pid), uid \(uid)" }
    }

    init(path: String, loop: EventLoop, handler: @escaping (String) -> String) {
        self.path = path
        self.loop = loop
        self.handler = handler
    }

    var clientCount: Int { clients.count }

    func start() throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw SystemError("control socket path too long: \(path)", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let old = umask(0o077)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard r == 0, listen(fd, 16) == 0 else { let e = SystemError("bind \(path)"); close(fd); throw e }
        listenFD = fd
        var st = stat()
        ownerUID = stat(path, &st) == 0 ? st.st_uid : geteuid()
        for a in aliases where a != path {
            unlink(a)
            if symlink(path, a) != 0 { Log.warning("Could not create control socket alias \(a): \(String(cString: strerror(errno)))") }
        }
        loop.register(fd, events: .readable) { [unowned self] _ in self.accept() }
    }

    func stop() {
        if listenFD >= 0 {
            loop.unregister(listenFD); close(listenFD); listenFD = -1; unlink(path)
            for a in aliases where a != path { unlink(a) }
        }
        for c in Array(clients.values) { drop(c) }
    }

    private func allowed(_ uid: uid_t) -> Bool {
        if let f = isAllowed { return f(uid) }
        return uid == 0 || uid == ownerUID
    }

    /// Refusals are logged, at most 5 a second (a local process must not flood the log through us).
    private func logRefusal(_ message: String) {
        let sec = Int(loop.now)
        if logLimiter.second != sec {
            if logLimiter.suppressed > 0 { Log.warning("Control socket: \(logLimiter.suppressed) more refusal(s) not logged") }
            logLimiter = (sec, 0, 0)
        }
        logLimiter.count += 1
        if logLimiter.count <= 5 { Log.warning(message) } else { logLimiter.suppressed += 1 }
    }

    private func accept() {
        for _ in 0..<limits.acceptBudget {
            let fd = cns_accept(listenFD, nil, nil)
            if fd < 0 { return }
            var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
            let rc = cns_peer_credentials(fd, &pid, &uid, &gid)
            guard rc == 0 else {
                counters.refusedCredentials += 1
                logRefusal("Control socket: refused a connection whose credentials cannot be read: \(String(cString: strerror(-rc)))")
                close(fd)
                continue
            }
            guard allowed(uid) else {
                counters.refusedCredentials += 1
                logRefusal("Control socket: refused connection from uid \(uid) (pid \(pid)): only root and uid \(ownerUID) may use it")
                bestEffortWrite(fd, "ERROR permission denied\n")
                close(fd)
                continue
            }
            guard clients.count < limits.maxClients else {
                counters.refusedFull += 1
                logRefusal("Control socket: refused connection from pid \(pid): \(clients.count) clients already connected")
                bestEffortWrite(fd, "ERROR too many control connections, try again\n")
                close(fd)
                continue
            }
            counters.accepted += 1
            let c = Client(fd: fd, pid: pid, uid: uid, now: loop.now)
            clients[fd] = c
            loop.register(fd, events: .readable) { [weak self, weak c] ev in
                guard let self = self, let c = c else { return }
                if c.output.isEmpty { self.read(c) } else if ev.contains(.error) { self.drop(c) } else { self.flush(c) }
            }
            armTimer(c, after: limits.commandTimeout) { [weak self] c in
                Log.warning("Control socket: client (\(c.who)) sent no command line in time; dropped")
                self?.drop(c)
            }
        }
    }

    private func armTimer(_ c: Client, after seconds: Double, _ action: @escaping (Client) -> Void) {
        loop.cancel(c.timer)
        c.timer = loop.schedule(after: seconds) { [weak self, weak c] in
            guard let self = self, let c = c, self.clients[c.fd] === c else { return }
            c.timer = nil
            action(c)
        }
    }

    private func bestEffortWrite(_ fd: Int32, _ text: String) {
        _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    }

    private func read(_ c: Client) {
        var budget = limits.readBudget
        var chunk = [UInt8](repeating: 0, count: 4096)
        while budget > 0 {
            let want = min(chunk.count, budget)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(c.fd, $0.baseAddress, want, Int32(MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                drop(c); return
            }
            if n == 0 {
                // The client shut down its side: a last line without a newline still counts.
                if c.input.isEmpty { drop(c) } else { command(c, Array(c.input)) }
                return
            }
            budget -= n
            if let nl = chunk[0..<n].firstIndex(of: 0x0A) {
                c.input.append(contentsOf: chunk[0..<nl])
                if c.input.count > limits.maxLineBytes { oversized(c); return }
                command(c, c.input)
                return
            }
            c.input.append(contentsOf: chunk[0..<n])
            if c.input.count > limits.maxLineBytes { oversized(c); return }
        }
        // Budget used up: the rest waits for the next wakeup (the socket stays readable).
        counters.readBudgetExhausted += 1
    }

    private func oversized(_ c: Client) {
        counters.oversizedLines += 1
        Log.warning("Control socket: client (\(c.who)) sent a command line longer than \(limits.maxLineBytes) bytes; refused")
        reply(c, "ERROR command line longer than \(limits.maxLineBytes) bytes\n")
    }

    private func command(_ c: Client, _ bytes: [UInt8]) {
        c.input = []
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \r\t")
        guard bufferedBytes < limits.maxBufferedBytes else {
            reply(c, "ERROR control socket busy (\(bufferedBytes) reply bytes waiting for slow clients), try again\n")
            return
        }
        reply(c, handler(line))
    }

    /// A reply shown on the operator's terminal: lines stay lines, but peer strings inside them (edge
    /// addresses, BGP texts) cannot carry escape sequences or other control characters.
    static func terminalSafe(_ text: String) -> String {
        // Replies can be megabytes (dump subnets): scan the bytes directly.
        let plain = text.utf8.withContiguousStorageIfAvailable { buf -> Bool in
            var i = 0
            let n = buf.count
            while i < n {
                let b = buf[i]
                if (b < 0x20 && b != 0x0A) || b >= 0x7F { return false }
                i += 1
            }
            return true
        }
        if plain == true { return text }
        // Split at LF scalars ("\r\n" is one Character, so not String.split).
        return text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { Log.escape(Substring($0), limit: Int.max, keepTabs: true) }.joined(separator: "\n")
    }

    private func reply(_ c: Client, _ text: String) {
        var out = Array(ControlServer.terminalSafe(text).utf8)
        if out.count > limits.maxReplyBytes {
            counters.truncatedReplies += 1
            Log.warning("Control socket: reply to \(c.who) of \(out.count) bytes cut to \(limits.maxReplyBytes)")
            out.removeLast(out.count - limits.maxReplyBytes)
            if let nl = out.lastIndex(of: 0x0A) { out.removeLast(out.count - nl - 1) }
            out += Array("ERROR reply cut at \(limits.maxReplyBytes) bytes\n".utf8)
        }
        if out.isEmpty { drop(c); return }
        c.output = out
        c.written = 0
        bufferedBytes += out.count
        c.lastProgress = loop.now
        flush(c)
        guard clients[c.fd] === c else { return }
        loop.modify(c.fd, events: .writable)
        armStallTimer(c)
    }

    private func armStallTimer(_ c: Client) {
        let deadline = c.lastProgress + limits.stallTimeout
        armTimer(c, after: max(0, deadline - loop.now)) { [weak self] c in
            guard let self = self else { return }
            if self.loop.now - c.lastProgress >= self.limits.stallTimeout {
                self.counters.stalledClients += 1
                Log.warning("Control socket: client (\(c.who)) did not read its reply for \(Int(self.limits.stallTimeout)) s (\(c.output.count - c.written) bytes left); dropped")
                self.drop(c)
            } else {
                self.armStallTimer(c)
            }
        }
    }

    /// Writes what the socket takes without blocking; closes the connection when the reply is out.
    private func flush(_ c: Client) {
        while c.written < c.output.count {
            let n = c.output.withUnsafeBytes { b in
                b.baseAddress.map { send(c.fd, $0 + c.written, c.output.count - c.written, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) } ?? 0
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                drop(c); return
            }
            if n == 0 { return }
            c.written += n
            c.lastProgress = loop.now
        }
        drop(c)
    }

    private func drop(_ c: Client) {
        guard clients[c.fd] === c else { return }
        loop.cancel(c.timer)
        c.timer = nil
        loop.unregister(c.fd)
        close(c.fd)
        clients[c.fd] = nil
        bufferedBytes -= c.output.count
        c.output = []
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// `tincd-swift ctl [-c DIR | -n NET | --pidfile F | --socket PATH] [--json] COMMAND ...`
public enum ControlClient {
    public static func main(_ args: [String], defaultSocket: (String?, String?, String?) -> String) -> Int32 {
        var confDir: String?, net: String?, pidfile: String?, socketPath: String?
        var json = false
        var words: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            func value() -> String? {
                if let eq = a.firstIndex(of: "=") { return String(a[a.index(after: eq)...]) }
                i += 1
                return i < args.count ? args[i] : nil
            }
            if a == "-c" || a.hasPrefix("--config") { confDir = value() }
            else if a == "-n" || a.hasPrefix("--net") { net = value() }
            else if a.hasPrefix("--pidfile") { pidfile = value() }
            else if a.hasPrefix("--socket") { socketPath = value() }
            else if a == "--json" { json = true }
            else { words.append(a) }
            i += 1
        }
        guard !words.isEmpty else {
            writeStandardError("usage: tincd-swift ctl [-c DIR | -n NET | --pidfile F | --socket PATH] [--json] COMMAND\n" + ControlCommands.help)
            return 1
        }
        let path = socketPath ?? defaultSocket(confDir, net, pidfile)
        if words.first == "top" { return ControlTop.main(Array(words.dropFirst()), socketPath: path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8).prefix(107)) }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard r == 0 else {
            writeStandardError("Could not connect to the daemon's control socket \(path): \(String(cString: strerror(errno))). Is tincd-swift running?\n")
            return 1
        }
        let line = (json ? "--json " : "") + words.joined(separator: " ") + "\n"
        // MSG_NOSIGNAL: a daemon that refuses us (uid check) may close before our line is written;
        // its ERROR answer is still there to read.
        _ = line.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        close(fd)
        let text = String(decoding: out, as: UTF8.self)
        if text.hasPrefix("ERROR ") {
            writeStandardError(String(text.dropFirst(6)))
            return 1
        }
        print(text, terminator: "")
        return 0
    }
}
