import Glibc
import MeshIO

/// UDP sockets for single-hop BFD (RFC 5881) in plain Glibc calls: a receive socket on port 3784 that reports
/// each datagram's TTL / hop limit and arrival interface (control messages), and per-session transmit sockets
/// with TTL 255 bound to a source port in 49152-65535.
enum BFDSocket {
    // bits/in.h, linux/in.h, linux/in6.h
    static let IP_TOS: Int32 = 1, IP_TTL: Int32 = 2, IP_PKTINFO: Int32 = 8, IP_RECVTTL: Int32 = 12
    static let IPV6_UNICAST_HOPS: Int32 = 16, IPV6_V6ONLY: Int32 = 26, IPV6_RECVPKTINFO: Int32 = 49
    static let IPV6_PKTINFO: Int32 = 50, IPV6_RECVHOPLIMIT: Int32 = 51, IPV6_HOPLIMIT: Int32 = 52, IPV6_TCLASS: Int32 = 67
    static let sourcePorts: ClosedRange<UInt16> = 49152...65535

    private static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    private static func udp(_ family: Int32) throws -> Int32 {
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("BFD socket") }
        return fd
    }

    static func wildcard(family: Int32, port: UInt16) -> SocketAddress {
        SocketAddress(numericHost: family == AF_INET6 ? "::" : "0.0.0.0", port: port)!
    }

    /// The receive socket for `family` on the wildcard address.
    static func openReceive(family: Int32, port: UInt16) throws -> Int32 {
        let fd = try udp(family)
        _ = setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        let v6 = family == AF_INET6
        if v6 { _ = setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        let ok = v6 ? setInt(fd, Int32(IPPROTO_IPV6), IPV6_RECVHOPLIMIT, 1) && setInt(fd, Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, 1)
                    : setInt(fd, Int32(IPPROTO_IP), IP_RECVTTL, 1) && setInt(fd, Int32(IPPROTO_IP), IP_PKTINFO, 1)
        guard ok else { let e = SystemError("BFD TTL reporting"); close(fd); throw e }
        let a = wildcard(family: family, port: port)
        guard a.withSockaddr({ bind(fd, $0, $1) }) == 0 else { let e = SystemError("bind BFD \(a)"); close(fd); throw e }
        return fd
    }

    /// A transmit socket: TTL 255, DSCP CS6, optionally bound to `device`, source port in 49152-65535.
    static func openTransmit(local: SocketAddress, device: String?) throws -> (fd: Int32, port: UInt16) {
        let fd = try udp(local.family)
        let v6 = local.family == AF_INET6
        if v6 {
            _ = setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
            guard setInt(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, 255) else { let e = SystemError("IPV6_UNICAST_HOPS"); close(fd); throw e }
            _ = setInt(fd, Int32(IPPROTO_IPV6), IPV6_TCLASS, 0xc0)
        } else {
            guard setInt(fd, Int32(IPPROTO_IP), IP_TTL, 255) else { let e = SystemError("IP_TTL"); close(fd); throw e }
            _ = setInt(fd, Int32(IPPROTO_IP), IP_TOS, 0xc0)
        }
        if let dev = device, !dev.isEmpty {
            let r = dev.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
            guard r == 0 else { let e = SystemError("SO_BINDTODEVICE \(dev)"); close(fd); throw e }
        }
        let span = Int(sourcePorts.upperBound - sourcePorts.lowerBound) + 1
        let start = Int.random(in: 0..<span)
        var addr = local
        for i in 0..<span {
            let port = sourcePorts.lowerBound + UInt16((start + i) % span)
            addr.port = port
            if addr.withSockaddr({ bind(fd, $0, $1) }) == 0 { return (fd, port) }
            if errno != EADDRINUSE { break }
        }
        let e = SystemError("bind BFD source \(local.host)")
        close(fd)
        throw e
    }

    struct Datagram {
        var length: Int
        var source: SocketAddress
        var ttl: Int            // -1 when the kernel did not report it
        var interfaceIndex: UInt32
    }

    /// One datagram with its control messages; nil when nothing is queued (or on error, in `error`).
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, error: inout Int32) -> Datagram? {
        var from = sockaddr_storage()
        var control = [UInt64](repeating: 0, count: 32)        // 256 bytes, 8-aligned like struct cmsghdr
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        let n: Int = withUnsafeMutablePointer(to: &from) { fromPtr in
            withUnsafeMutablePointer(to: &iov) { iovPtr in
                control.withUnsafeMutableBytes { ctl in
                    var msg = msghdr()
                    msg.msg_name = UnsafeMutableRawPointer(fromPtr)
                    msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    msg.msg_iov = iovPtr
                    msg.msg_iovlen = 1
                    msg.msg_control = ctl.baseAddress
                    msg.msg_controllen = ctl.count
                    var r: Int
                    repeat { r = recvmsg(fd, &msg, Int32(MSG_DONTWAIT)) } while r < 0 && errno == EINTR
                    if r >= 0 { r = r | (Int(msg.msg_controllen) << 32) | (Int(msg.msg_namelen) << 48) }
                    return r
                }
            }
        }
        if n < 0 { error = errno; return nil }
        let length = n & 0xffff_ffff
        let controlLength = (n >> 32) & 0xffff
        let nameLength = socklen_t((n >> 48) & 0xffff)
        var ttl = -1
        var ifindex: UInt32 = 0
        control.withUnsafeBytes { ctl in
            // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then data, 8-byte aligned.
            var off = 0
            while off + 16 <= controlLength {
                let len = Int(ctl.load(fromByteOffset: off, as: UInt.self))
                let level = ctl.load(fromByteOffset: off + 8, as: Int32.self)
                let type = ctl.load(fromByteOffset: off + 12, as: Int32.self)
                guard len >= 16, off + len <= controlLength else { break }
                let data = off + 16
                if level == Int32(IPPROTO_IP) && type == IP_TTL && len >= 20 {
                    ttl = Int(ctl.load(fromByteOffset: data, as: Int32.self))
                } else if level == Int32(IPPROTO_IPV6) && type == IPV6_HOPLIMIT && len >= 20 {
                    ttl = Int(ctl.load(fromByteOffset: data, as: Int32.self))
                } else if level == Int32(IPPROTO_IP) && type == IP_PKTINFO && len >= 16 + 12 {
                    ifindex = UInt32(bitPattern: ctl.load(fromByteOffset: data, as: Int32.self))   // ipi_ifindex
                } else if level == Int32(IPPROTO_IPV6) && type == IPV6_PKTINFO && len >= 16 + 20 {
                    ifindex = ctl.load(fromByteOffset: data + 16, as: UInt32.self)                  // ipi6_ifindex
                }
                off += (len + 7) & ~7
            }
        }
        return Datagram(length: length, source: SocketAddress(storage: from, length: nameLength), ttl: ttl,
                        interfaceIndex: ifindex)
    }

    /// sendto; returns 0 or errno.
    static func send(_ fd: Int32, _ bytes: [UInt8], to address: SocketAddress) -> Int32 {
        let r = bytes.withUnsafeBytes { b in address.withSockaddr { sendto(fd, b.baseAddress, b.count, 0, $0, $1) } }
        return r < 0 ? errno : 0
    }
}
