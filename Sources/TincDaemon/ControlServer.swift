import Glibc
import MeshIO
import CNetShim

/// The daemon's control socket: a UNIX stream socket (mode 0600) on the control loop. A client
/// writes one command line; the daemon answers with text (or JSON) and closes the connection.
final class ControlServer {
    let path: String
    /// Extra names for the socket (symlinks), e.g. DIR/control.socket when --pidfile chose the path.
    var aliases: [String] = []
    private let loop: EventLoop
    private let handler: (String) -> String
    private var listenFD: Int32 = -1
    private var clients: [Int32: [UInt8]] = [:]

    init(path: String, loop: EventLoop, handler: @escaping (String) -> String) {
        self.path = path
        self.loop = loop
        self.handler = handler
    }

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
        for fd in clients.keys { loop.unregister(fd); close(fd) }
        clients.removeAll()
    }

    private func accept() {
        while true {
            let c = cns_accept(listenFD, nil, nil)
            if c < 0 { return }
            clients[c] = []
            loop.register(c, events: .readable) { [unowned self] _ in self.read(c) }
        }
    }

    private func read(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { drop(fd); return }
        clients[fd, default: []].append(contentsOf: buf[0..<n])
        guard let data = clients[fd] else { return }
        if data.count > 65536 { drop(fd); return }
        guard let nl = data.firstIndex(of: 0x0A) else { return }
        let line = String(decoding: data[..<nl], as: UTF8.self).trimmingCharacters(in: " \r\t")
        let reply = handler(line)
        // Replies are small; a blocking write with a short timeout keeps this simple and bounded.
        var flags = fcntl(fd, F_GETFL)
        flags &= ~O_NONBLOCK
        _ = fcntl(fd, F_SETFL, flags)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let out = Array(reply.utf8)
        var off = 0
        while off < out.count {
            let w = out.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, out.count - off) }
            if w <= 0 { break }
            off += w
        }
        drop(fd)
    }

    private func drop(_ fd: Int32) {
        loop.unregister(fd)
        close(fd)
        clients[fd] = nil
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
            fputs("usage: tincd-swift ctl [-c DIR | -n NET | --pidfile F | --socket PATH] [--json] COMMAND\n" + ControlCommands.help, stderr)
            return 1
        }
        let path = socketPath ?? defaultSocket(confDir, net, pidfile)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8).prefix(107)) }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard r == 0 else {
            fputs("Could not connect to the daemon's control socket \(path): \(String(cString: strerror(errno))). Is tincd-swift running?\n", stderr)
            return 1
        }
        let line = (json ? "--json " : "") + words.joined(separator: " ") + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
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
            fputs(String(text.dropFirst(6)), stderr)
            return 1
        }
        fputs(text, stdout)
        return 0
    }
}
