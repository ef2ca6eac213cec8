/// A subnet as tinc 1.0 knows it: a MAC address, or an IPv4/IPv6 network with prefix length,
/// plus a weight (lower is preferred, default 10).
///
/// Addresses are kept in network byte order exactly as received: subnets learned from the network
/// are neither checked nor masked by tinc, so host bits may be set (see `hostBitsClear`).
public struct Subnet: Hashable, Comparable, CustomStringConvertible {
    public enum Address: Hashable {
        /// 6 bytes.
        case mac([UInt8])
        /// 4 bytes, prefix 0...32.
        case ipv4([UInt8], prefix: Int)
        /// 16 bytes, prefix 0...128.
        case ipv6([UInt8], prefix: Int)
    }

    public static let defaultWeight = 10

    public var address: Address
    public var weight: Int

    public init(address: Address, weight: Int = Subnet.defaultWeight) {
        self.address = address
        self.weight = weight
    }

    public init(mac: [UInt8], weight: Int = Subnet.defaultWeight) {
        self.init(address: .mac(mac), weight: weight)
    }

    public init(ipv4: [UInt8], prefix: Int = 32, weight: Int = Subnet.defaultWeight) {
        self.init(address: .ipv4(ipv4, prefix: prefix), weight: weight)
    }

    public init(ipv6: [UInt8], prefix: Int = 128, weight: Int = Subnet.defaultWeight) {
        self.init(address: .ipv6(ipv6, prefix: prefix), weight: weight)
    }

    /// Prefix length; nil for MAC subnets, which have none.
    public var prefixLength: Int? {
        switch address {
        case .mac: return nil
        case .ipv4(_, let p), .ipv6(_, let p): return p
        }
    }

    /// True when the byte count and prefix fit the type. Subnet(parsing:) only produces such values;
    /// hand-built ones are checked when added to a MeshGraph.
    public var isWellFormed: Bool {
        switch address {
        case .mac(let b): return b.count == 6
        case .ipv4(let b, let p): return b.count == 4 && (0...32).contains(p)
        case .ipv6(let b, let p): return b.count == 16 && (0...128).contains(p)
        }
    }

    // MARK: Formatting (tinc net2str)

    /// net2str form without the weight; this is what the SUBNET script variable carries.
    public var netString: String {
        switch address {
        case .mac(let b):
            return b.map { String($0, radix: 16) }.joined(separator: ":")
        case .ipv4(let b, let p):
            return b.map { String($0) }.joined(separator: ".") + "/" + String(p)
        case .ipv6(let b, let p):
            // All eight groups, lowercase, no zero compression: what tinc emits on the wire.
            var groups: [String] = []
            groups.reserveCapacity(8)
            var i = 0
            while i + 1 < b.count {
                groups.append(String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16))
                i += 2
            }
            return groups.joined(separator: ":") + "/" + String(p)
        }
    }

    /// net2str form with "#weight", as carried by ADD_SUBNET/DEL_SUBNET.
    public var description: String { netString + "#" + String(weight) }

    // MARK: Mask check (tinc maskcheck, applied to Subnets from config files only)

    /// False when bits beyond the prefix are set ("Network address and prefix length do not match").
    /// Always true for MAC subnets.
    public var hostBitsClear: Bool {
        switch address {
        case .mac: return true
        case .ipv4(let b, let p), .ipv6(let b, let p):
            for (i, byte) in b.enumerated() {
                let bitsKept = min(max(p - i * 8, 0), 8)
                let hostMask: UInt8 = bitsKept == 8 ? 0 : (0xFF >> UInt8(bitsKept))
                if byte & hostMask != 0 { return false }
            }
            return true
        }
    }

    /// The same subnet with host bits cleared.
    public var masked: Subnet {
        switch address {
        case .mac: return self
        case .ipv4(let b, let p): return Subnet(address: .ipv4(Subnet.mask(b, p), prefix: p), weight: weight)
        case .ipv6(let b, let p): return Subnet(address: .ipv6(Subnet.mask(b, p), prefix: p), weight: weight)
        }
    }

    private static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { i, byte in
            let bitsKept = min(max(prefix - i * 8, 0), 8)
            return bitsKept == 8 ? byte : byte & ~(0xFF >> UInt8(bitsKept))
        }
    }

    // MARK: Matching (tinc maskcmp: only the first `prefix` bits count, host bits in the subnet are ignored)

    public func contains(mac p: UnsafeRawPointer) -> Bool {
        guard case .mac = address else { return false }
        return SubnetKey.mac(p) == macKey
    }

    public func contains(mac: [UInt8]) -> Bool {
        guard mac.count >= 6 else { return false }
        return mac.withUnsafeBytes { contains(mac: $0.baseAddress!) }
    }

    public func contains(ipv4 p: UnsafeRawPointer) -> Bool {
        guard case .ipv4(_, let prefix) = address else { return false }
        let m = SubnetKey.ipv4Mask(prefix)
        return SubnetKey.ipv4(p) & m == ipv4Key & m
    }

    public func contains(ipv4: [UInt8]) -> Bool {
        guard ipv4.count >= 4 else { return false }
        return ipv4.withUnsafeBytes { contains(ipv4: $0.baseAddress!) }
    }

    public func contains(ipv6 p: UnsafeRawPointer) -> Bool {
        guard case .ipv6(_, let prefix) = address else { return false }
        return SubnetKey.ipv6(p).masked(prefix) == ipv6Key.masked(prefix)
    }

    public func contains(ipv6: [UInt8]) -> Bool {
        guard ipv6.count >= 16 else { return false }
        return ipv6.withUnsafeBytes { contains(ipv6: $0.baseAddress!) }
    }

    // MARK: Ordering (tinc subnet_compare without the owner tie-break)

    /// MAC < IPv4 < IPv6; IP: longer prefix first, then address bytes, then weight; MAC: bytes, then weight.
    public static func < (a: Subnet, b: Subnet) -> Bool {
        compare(a, b) < 0
    }

    static func compare(_ a: Subnet, _ b: Subnet) -> Int {
        switch (a.address, b.address) {
        case (.mac, .mac):
            let ka = a.macKey, kb = b.macKey
            if ka != kb { return ka < kb ? -1 : 1 }
        case (.ipv4(_, let pa), .ipv4(_, let pb)):
            if pa != pb { return pa > pb ? -1 : 1 }
            let ka = a.ipv4Key, kb = b.ipv4Key
            if ka != kb { return ka < kb ? -1 : 1 }
        case (.ipv6(_, let pa), .ipv6(_, let pb)):
            if pa != pb { return pa > pb ? -1 : 1 }
            let ka = a.ipv6Key, kb = b.ipv6Key
            if ka != kb { return ka < kb ? -1 : 1 }
        default:
            return a.typeRank < b.typeRank ? -1 : 1
        }
        if a.weight != b.weight { return a.weight < b.weight ? -1 : 1 }
        return 0
    }

    var typeRank: Int {
        switch address {
        case .mac: return 0
        case .ipv4: return 1
        case .ipv6: return 2
        }
    }

    // Packed big-endian keys: integer order equals memcmp order, and they hash cheaply.
    var macKey: UInt64 {
        guard case .mac(let b) = address else { return 0 }
        return SubnetKey.pack(b, count: 6)
    }

    var ipv4Key: UInt32 {
        guard case .ipv4(let b, _) = address else { return 0 }
        return UInt32(truncatingIfNeeded: SubnetKey.pack(b, count: 4))
    }

    var ipv6Key: IPv6Key {
        guard case .ipv6(let b, _) = address else { return IPv6Key(hi: 0, lo: 0) }
        return IPv6Key(hi: SubnetKey.pack(b, from: 0, count: 8), lo: SubnetKey.pack(b, from: 8, count: 8))
    }
}

/// A 128-bit address as two big-endian halves; comparison equals memcmp order.
struct IPv6Key: Hashable, Comparable {
    var hi: UInt64
    var lo: UInt64

    static func < (a: IPv6Key, b: IPv6Key) -> Bool {
        a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo
    }

    func masked(_ prefix: Int) -> IPv6Key {
        IPv6Key(hi: hi & SubnetKey.mask64(prefix), lo: lo & SubnetKey.mask64(prefix - 64))
    }
}

enum SubnetKey {
    /// Big-endian pack of the first `count` bytes; missing bytes count as zero.
    /// Not generic on purpose: subnet comparisons (every insert and lookup in sorted arrays) call
    /// this, and an unspecialised generic costs metadata lookups per byte in debug builds.
    static func pack(_ bytes: [UInt8], from start: Int = 0, count: Int) -> UInt64 {
        var v: UInt64 = 0
        var i = 0
        while i < count {
            let j = start + i
            v = v << 8 | (j < bytes.count ? UInt64(bytes[j]) : 0)
            i += 1
        }
        return v
    }

    @inline(__always) static func mac(_ p: UnsafeRawPointer) -> UInt64 {
        let high = UInt64(UInt16(bigEndian: p.loadUnaligned(as: UInt16.self)))
        let low = UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        return high << 32 | low
    }

    @inline(__always) static func ipv4(_ p: UnsafeRawPointer) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(as: UInt32.self))
    }

    @inline(__always) static func ipv6(_ p: UnsafeRawPointer) -> IPv6Key {
        IPv6Key(hi: UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
                lo: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    /// Network mask for an IPv4 prefix (0...32).
    @inline(__always) static func ipv4Mask(_ prefix: Int) -> UInt32 {
        prefix <= 0 ? 0 : (prefix >= 32 ? .max : ~(UInt32.max >> UInt32(prefix)))
    }

    /// Mask for one 64-bit half given the number of prefix bits falling into it (clamped to 0...64).
    @inline(__always) static func mask64(_ bits: Int) -> UInt64 {
        bits <= 0 ? 0 : (bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)))
    }
}
