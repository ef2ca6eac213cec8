import Glibc
import MeshIO

/// The client side of the control socket: one command line out (`--json ` prefixed when asked),
/// the daemon's answer copied to stdout as it arrives until the daemon closes the connection
/// (for `log`, when the client is interrupted). An answer starting with "ERROR " goes to stderr
/// and makes the exit status 1.
public enum ControlClient {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Connects to `path`; the error names the path and suggests what is wrong.
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(AF_UNIX): \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw Failure(description: "control socket path too long (\(bytes.count) bytes): \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard r == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "Could not connect to the daemon's control socket \(path): \(e). Is tincd-swift running?")
        }
        return fd
    }

    /// Sends `words` as one line and copies the answer; returns the exit status (0, or 1 on ERROR).
    public static func run(_ words: [String], json: Bool, socket path: String) throws -> Int32 {
        let fd = try connect(path)
        defer { close(fd) }
        sendLine(fd, (json ? "--json " : "") + words.joined(separator: " "))
        var head = [UInt8]()     // the first bytes, until it is clear whether the answer is an ERROR
        var isError: Bool?
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if isError == nil {
                head += buf[0..<n]
                guard head.count >= 6 else { continue }
                isError = head.starts(with: Array("ERROR ".utf8))
                if isError == false { writeAll(1, head) }
                continue
            }
            if isError == true { head += buf[0..<n] } else { writeAll(1, Array(buf[0..<n])) }
        }
        if isError == nil {
            // Fewer than 6 bytes in all: a short answer (or none) is never an ERROR line.
            writeAll(1, head)
            return 0
        }
        if isError == true {
            writeStandardError(String(decoding: head.dropFirst(6), as: UTF8.self))
            return 1
        }
        return 0
    }

    /// One request and its whole answer (`ctl top` polls `--json dump nodes` this way).
    static func request(_ path: String, _ line: String) throws -> String {
        let fd = try connect(path)
        defer { close(fd) }
        sendLine(fd, line)
        var reply = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            reply += buf[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Sends `line` and its newline. MSG_NOSIGNAL: a daemon that refuses us (uid check) may close
    /// before our line is written; its ERROR answer is still there to read.
    private static func sendLine(_ fd: Int32, _ line: String) {
        writeAll(Array((line + "\n").utf8)) { send(fd, $0, $1, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes all of `bytes` (stdout of `ctl log` may be a slow pipe); gives up on a closed one.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        writeAll(bytes) { Glibc.write(fd, $0, $1) }
    }

    /// The loop both share: `op` writes up to n bytes from a pointer and returns what write(2) would.
    private static func writeAll(_ bytes: [UInt8], _ op: (UnsafeRawPointer, Int) -> Int) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { b in b.baseAddress.map { op($0 + off, b.count - off) } ?? -1 }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }
}
