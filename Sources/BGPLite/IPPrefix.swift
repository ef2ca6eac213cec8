/// An IPv4 or IPv6 prefix, stored in two words so a million of them stay small and hash fast.
/// IPv4 addresses live in the top 32 bits of `hi`; unused host bits are always zero.
public struct IPPrefix: Hashable, Comparable, CustomStringConvertible, Sendable {
    public enum Family: UInt8, Sendable { case ipv4 = 1, ipv6 = 2 }

    public var hi: UInt64
    public var lo: UInt64
    public var length: UInt8
    public var family: Family

    public init(family: Family, hi: UInt64, lo: UInt64, length: Int) {
        self.family = family
        self.length = UInt8(length)
        let masked = IPPrefix.mask(hi: hi, lo: lo, length: length)
        self.hi = masked.0
        self.lo = masked.1
    }

    public init(ipv4 address: UInt32, length: Int) {
        self.init(family: .ipv4, hi: UInt64(address) << 32, lo: 0, length: length)
    }

    /// From wire bytes (4 or 16, or fewer for NLRI encoding).
    public init?(family: Family, bytes: ArraySlice<UInt8>, length: Int) {
        let maxLen = family == .ipv4 ? 32 : 128
        guard length >= 0, length <= maxLen, bytes.count >= (length + 7) / 8 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        var i = 0
        for b in bytes.prefix(16) {
            if i < 8 { h |= UInt64(b) << (56 - 8 * i) } else { l |= UInt64(b) << (56 - 8 * (i - 8)) }
            i += 1
        }
        self.init(family: family, hi: h, lo: l, length: length)
    }

    static func mask(hi: UInt64, lo: UInt64, length: Int) -> (UInt64, UInt64) {
        if length <= 0 { return (0, 0) }
        if length < 64 { return (hi & ~(UInt64.max >> length), 0) }
        if length == 64 { return (hi, 0) }
        if length < 128 { return (hi, lo & ~(UInt64.max >> (length - 64))) }
        return (hi, lo)
    }

    public var maxLength: Int { family == .ipv4 ? 32 : 128 }

    /// Address bytes (4 or 16).
    public var addressBytes: [UInt8] {
        let n = family == .ipv4 ? 4 : 16
        return (0..<n).map { i in i < 8 ? UInt8(truncatingIfNeeded: hi >> (56 - 8 * i)) : UInt8(truncatingIfNeeded: lo >> (56 - 8 * (i - 8))) }
    }

    public var ipv4Address: UInt32 { UInt32(truncatingIfNeeded: hi >> 32) }

    public func contains(_ other: IPPrefix) -> Bool {
        guard family == other.family, other.length >= length else { return false }
        let m = IPPrefix.mask(hi: other.hi, lo: other.lo, length: Int(length))
        return m.0 == hi && m.1 == lo
    }

    /// Parses "192.0.2.0/24", "2001:db8::/32"; a bare address is a host prefix.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addrPart = parts.first else { return nil }
        if addrPart.contains(":") {
            guard let (h, l) = IPPrefix.parseIPv6(addrPart) else { return nil }
            let len = parts.count == 2 ? Int(parts[1]) : 128
            guard let n = len, n >= 0, n <= 128 else { return nil }
            self.init(family: .ipv6, hi: h, lo: l, length: n)
        } else {
            guard let a = IPPrefix.parseIPv4(addrPart) else { return nil }
            let len = parts.count == 2 ? Int(parts[1]) : 32
            guard let n = len, n >= 0, n <= 32 else { return nil }
            self.init(ipv4: a, length: n)
        }
    }

    public static func parseIPv4<S: StringProtocol>(_ s: S) -> UInt32? {
        let octets = s.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var v: UInt32 = 0
        for o in octets {
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }), let b = UInt32(o), b <= 255 else { return nil }
            v = v << 8 | b
        }
        return v
    }

    public static func parseIPv6<S: StringProtocol>(_ s: S) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var seenDouble = false
        let str = String(s)
        if str.contains(":::") { return nil }
        var halves: [String] = []
        let chars = Array(str)
        if let k = (0..<max(0, chars.count - 1)).first(where: { chars[$0] == ":" && chars[$0 + 1] == ":" }) {
            halves = [String(chars[..<k]), String(chars[(k + 2)...])]
            if halves[1].hasPrefix(":") || halves[1].contains("::") { return nil }
        } else {
            halves = [str]
        }
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if i == fields.count - 1 && f.contains(".") {
                    guard let v4 = parseIPv4(f) else { return nil }
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                } else {
                    guard !f.isEmpty, f.count <= 4, let g = UInt16(f, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        guard let first = parseGroups(halves[0]) else { return nil }
        groups = first
        if halves.count == 2 {
            seenDouble = true
            guard let second = parseGroups(halves[1]) else { return nil }
            tailGroups = second
        }
        if seenDouble {
            guard groups.count + tailGroups.count <= 7 else { return nil }
            groups += [UInt16](repeating: 0, count: 8 - groups.count - tailGroups.count) + tailGroups
        }
        guard groups.count == 8 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        return (h, l)
    }

    public var addressString: String {
        if family == .ipv4 {
            let a = ipv4Address
            return "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
        }
        var g: [UInt16] = []
        for i in 0..<4 { g.append(UInt16(truncatingIfNeeded: hi >> (48 - 16 * i))) }
        for i in 0..<4 { g.append(UInt16(truncatingIfNeeded: lo >> (48 - 16 * i))) }
        // RFC 5952: compress the longest run (length >= 2) of zero groups.
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(g[...]) }
        return hex(g[0..<bestStart]) + "::" + hex(g[(bestStart + bestLen)...])
    }

    public var description: String { "\(addressString)/\(length)" }

    public static func < (a: IPPrefix, b: IPPrefix) -> Bool {
        if a.family != b.family { return a.family.rawValue < b.family.rawValue }
        if a.hi != b.hi { return a.hi < b.hi }
        if a.lo != b.lo { return a.lo < b.lo }
        return a.length < b.length
    }
}
