import Glibc
import CNetShim

/// Thin, throwing wrappers over the BSD socket calls the daemon needs. All sockets are non-blocking and close-on-exec.
public enum Sockets {
    public static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    private static func socket(family: Int32, type: Int32) throws -> Int32 {
        let fd = Glibc.socket(family, type | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        return fd
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening TCP socket (SO_REUSEADDR, IPV6_V6ONLY like tinc so 0.0.0.0 and :: can both be bound).
    public static func listenTCP(on address: SocketAddress, bindToDevice: String? = nil, backlog: Int32 = 64) throws -> Int32 {
        let fd = try socket(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.family == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        if let dev = bindToDevice { bindDevice(fd, dev) }
        let r = address.withSockaddr { bind(fd, $0, $1) }
        guard r == 0 else { let e = SystemError("bind \(address)"); close(fd); throw e }
        guard Glibc.listen(fd, backlog) == 0 else { let e = SystemError("listen \(address)"); close(fd); throw e }
        return fd
    }

    /// A bound UDP socket; `pmtuDiscovery` sets DF so oversized datagrams fail with EMSGSIZE.
    public static func bindUDP(on address: SocketAddress, pmtuDiscovery: Bool, bindToDevice: String? = nil,
                               receiveBuffer: Int32? = nil, sendBuffer: Int32? = nil) throws -> Int32 {
        let fd = try socket(family: address.family, type: Int32(SOCK_DGRAM.rawValue))
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.family == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        // Large buffers absorb bursts from batched senders (wireguard-go uses 7 MB); the kernel clamps to rmem_max.
        setOption(fd, SOL_SOCKET, SO_RCVBUF, receiveBuffer ?? 4 << 20)
        setOption(fd, SOL_SOCKET, SO_SNDBUF, sendBuffer ?? 4 << 20)
        _ = cns_set_pmtudisc(fd, address.family, pmtuDiscovery ? 1 : 0)
        if let dev = bindToDevice { bindDevice(fd, dev) }
        let r = address.withSockaddr { bind(fd, $0, $1) }
        guard r == 0 else { let e = SystemError("bind \(address)"); close(fd); throw e }
        return fd
    }

    public static func bindDevice(_ fd: Int32, _ dev: String) {
        _ = dev.withCString { p in setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p, socklen_t(strlen(p) + 1)) }
    }

    /// Starts a non-blocking connect. Returns the fd; completion is signalled by writability (check `pendingError`).
    public static func connectTCP(to address: SocketAddress, bindTo local: SocketAddress? = nil,
                                  before: ((Int32) throws -> Void)? = nil) throws -> Int32 {
        let fd = try socket(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        do { try before?(fd) } catch { close(fd); throw error }
        if let local = local {
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            let r = local.withSockaddr { bind(fd, $0, $1) }
            if r != 0 { let e = SystemError("bind \(local)"); close(fd); throw e }
        }
        let r = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if r != 0 && errno != EINPROGRESS {
            let e = SystemError("connect \(address)"); close(fd); throw e
        }
        return fd
    }

    /// SO_ERROR after a non-blocking connect became writable; 0 means connected.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err
    }

    public static func accept(_ fd: Int32) -> (Int32, SocketAddress)? {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let c = withUnsafeMutablePointer(to: &ss) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { cns_accept(fd, $0, &len) }
        }
        guard c >= 0 else { return nil }
        setOption(c, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        return (c, SocketAddress(storage: ss, length: len))
    }

    public static func localAddress(_ fd: Int32) -> SocketAddress? {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &ss) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return r == 0 ? SocketAddress(storage: ss, length: len) : nil
    }

    public static func peerAddress(_ fd: Int32) -> SocketAddress? {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &ss) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) } }
        return r == 0 ? SocketAddress(storage: ss, length: len) : nil
    }

    /// Sends one datagram; returns bytes sent or -errno.
    public static func sendTo(_ fd: Int32, _ buf: UnsafeRawBufferPointer, _ to: SocketAddress) -> Int {
        let n = to.withSockaddr { sendto(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT), $0, $1) }
        return n < 0 ? -Int(errno) : n
    }

    /// TCP MD5 signature (RFC 2385) towards `peer`. Empty key removes it.
    public static func setTCPMD5(_ fd: Int32, peer: SocketAddress, key: [UInt8]) throws {
        var st = peer.storage
        let r = key.withUnsafeBufferPointer { k in cns_tcp_md5(fd, &st, peer.length, k.baseAddress, Int32(k.count)) }
        if r < 0 { throw SystemError("TCP_MD5SIG", errno: -r) }
    }
}
