import Glibc

/// systemd's readiness protocol (sd_notify): one datagram to the socket in NOTIFY_SOCKET, so a
/// `Type=notify` unit becomes active only once the device, sockets and control socket are up, and a
/// start that fails before that is a failed start. Without NOTIFY_SOCKET this does nothing.
enum ServiceNotify {
    @discardableResult
    static func send(_ state: String, environment: String? = getenv("NOTIFY_SOCKET").map { String(cString: $0) }) -> Bool {
        guard let path = environment, path.count > 1, path.hasPrefix("/") || path.hasPrefix("@") else { return false }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }   // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let sent = state.withCString { text in
            withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length) }
            }
        }
        return sent >= 0
    }
}
