import Glibc

/// A NETLINK_ROUTE socket in plain Glibc calls (sockaddr_nl is laid out by hand: family u16, pad u16,
/// pid u32, groups u32). Blocking, with receives bounded by poll(); every call returns -errno on failure.
struct NetlinkSocket {
    // bits/socket.h, linux/netlink.h, asm-generic/socket.h
    static let PF_NETLINK: Int32 = 16, NETLINK_ROUTE: Int32 = 0, SOL_NETLINK: Int32 = 270
    static let NETLINK_CAP_ACK: Int32 = 10, NETLINK_EXT_ACK: Int32 = 11
    static let SO_SNDBUFFORCE: Int32 = 32, SO_RCVBUFFORCE: Int32 = 33

    let fd: Int32

    /// Opens and binds the socket; `bufferSize` for both directions (forced when we are root).
    static func open(bufferSize: Int32) -> Result<NetlinkSocket, SystemErrorCode> {
        let fd = socket(PF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard fd >= 0 else { return .failure(SystemErrorCode(errno)) }
        setInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1)     // ACKs echo only the request header
        setInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1)     // errors carry the kernel's explanation
        if !setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bufferSize) { setInt(fd, SOL_SOCKET, SO_RCVBUF, bufferSize) }
        if !setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, bufferSize) { setInt(fd, SOL_SOCKET, SO_SNDBUF, bufferSize) }
        var sa = kernelAddress()
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, 12) }
        }
        guard r == 0 else { let e = errno; Glibc.close(fd); return .failure(SystemErrorCode(e)) }
        return .success(NetlinkSocket(fd: fd))
    }

    @discardableResult
    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// sockaddr_nl of the kernel (pid 0, no groups); also our bind address (pid 0 = let the kernel choose).
    private static func kernelAddress() -> sockaddr_storage {
        var sa = sockaddr_storage()
        withUnsafeMutableBytes(of: &sa) { $0.storeBytes(of: UInt16(PF_NETLINK), toByteOffset: 0, as: UInt16.self) }
        return sa
    }

    /// One sendmsg of complete messages. Returns bytes sent or -errno.
    func send(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var sa = NetlinkSocket.kernelAddress()
        while true {
            let n = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, 12) }
            }
            if n >= 0 { return n }
            if errno != EINTR { return -Int(errno) }
        }
    }

    /// Waits up to `timeoutMs` for a datagram and reads it. Returns bytes, 0 on timeout, -errno on error.
    func receive(into buffer: UnsafeMutableBufferPointer<UInt8>, timeoutMs: Int32) -> Int {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, timeoutMs)
            if r < 0 && errno == EINTR { continue }
            if r < 0 { return -Int(errno) }
            if r == 0 { return 0 }
            break
        }
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            return -Int(errno)
        }
    }

    func close() { Glibc.close(fd) }
}

/// An errno as an Error value (Result's failure type).
struct SystemErrorCode: Error { let code: Int32; init(_ c: Int32) { code = c } }

/// strerror as a Swift string.
func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
