import Glibc

/// An IPv4 or IPv6 socket address, stored the way the kernel wants it so the hot path never converts.
public struct SocketAddress: Hashable, CustomStringConvertible, @unchecked Sendable {
    public var storage = sockaddr_storage()
    public var length: socklen_t = 0

    public init() {}

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
        unmapIPv4()
    }

    /// Parses a numeric IPv4/IPv6 address (no DNS). Port is decimal.
    public init?(numericHost host: String, port: UInt16) {
        var s = sockaddr_storage()
        if host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            let h = host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
            guard inet_pton(AF_INET6, h, &a.sin6_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &s) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
            self.init(storage: s, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &s) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
            self.init(storage: s, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }

    /// Resolves `host` (name or numeric) with getaddrinfo. `host == nil` gives passive (wildcard) addresses.
    public static func resolve(host: String?, port: String, family: Int32 = AF_UNSPEC,
                               type: Int32 = Int32(SOCK_STREAM.rawValue), passive: Bool = false) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = type
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &res) == 0, let first = res else { return [] }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if let sa = ai.pointee.ai_addr, ai.pointee.ai_family == AF_INET || ai.pointee.ai_family == AF_INET6 {
                var s = sockaddr_storage()
                withUnsafeMutableBytes(of: &s) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(ai.pointee.ai_addrlen)))
                }
                let a = SocketAddress(storage: s, length: ai.pointee.ai_addrlen)
                if !out.contains(a) { out.append(a) }
            }
            p = ai.pointee.ai_next
        }
        return out
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: UInt16 {
        get {
            withUnsafeBytes(of: storage) { raw in
                family == AF_INET6 ? UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
                                   : UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
            }
        }
        set {
            withUnsafeMutableBytes(of: &storage) { raw in raw.storeBytes(of: newValue.bigEndian, toByteOffset: 2, as: UInt16.self) }
        }
    }

    /// Numeric host string as tinc prints it (IPv6 without scope, no brackets).
    public var host: String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafeBytes(of: storage) { raw -> String in
            if family == AF_INET6 {
                let p = raw.baseAddress!.advanced(by: 8)
                inet_ntop(AF_INET6, p, &buf, socklen_t(buf.count))
            } else if family == AF_INET {
                let p = raw.baseAddress!.advanced(by: 4)
                inet_ntop(AF_INET, p, &buf, socklen_t(buf.count))
            } else {
                return "unknown"
            }
            return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    /// Raw address bytes (4 or 16), used for equality on IP only.
    public var addressBytes: [UInt8] {
        withUnsafeBytes(of: storage) { raw in
            family == AF_INET6 ? Array(raw[8..<24]) : family == AF_INET ? Array(raw[4..<8]) : []
        }
    }

    /// tinc's "HOST port PORT" form used in logs.
    public var description: String { "\(host) port \(port)" }

    /// IPv4-mapped IPv6 addresses become plain IPv4 so the same peer has one identity (tinc's sockaddrunmap).
    private mutating func unmapIPv4() {
        guard family == AF_INET6 else { return }
        let mapped: Bool = withUnsafeBytes(of: storage) { raw in
            raw[8..<18].allSatisfy { $0 == 0 } && raw[18] == 0xff && raw[19] == 0xff
        }
        guard mapped else { return }
        let p = port
        let v4: [UInt8] = withUnsafeBytes(of: storage) { Array($0[20..<24]) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = p.bigEndian
        withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: v4) }
        var s = sockaddr_storage()
        withUnsafeMutableBytes(of: &s) { dst in withUnsafeBytes(of: a) { dst.copyMemory(from: $0) } }
        storage = s
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// The address part as two integers (IPv4: its 4 bytes in `lo`; IPv6: 16 bytes; else zero):
    /// equality and hashing without building an array (the RX path hashes every datagram's source).
    @inline(__always)
    private var addressWords: (hi: UInt64, lo: UInt64) {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                return (raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            }
            if family == AF_INET { return (0, UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
            return (0, 0)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        guard a.family == b.family && a.port == b.port else { return false }
        let x = a.addressWords, y = b.addressWords
        return x.hi == y.hi && x.lo == y.lo
    }

    public func hash(into h: inout Hasher) {
        let w = addressWords
        h.combine(family); h.combine(port); h.combine(w.hi); h.combine(w.lo)
    }

    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}
