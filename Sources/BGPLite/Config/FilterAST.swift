// Filter language data model: BIRD 2.0.12 value types (filter/data.h), values, sets and path masks.
// The parser compiles filter source directly into closures over these values (see FilterEvaluator.swift),
// the way BIRD builds f_inst trees while parsing; there is no separate interpretation pass.

public enum FType: UInt8, Sendable {
    case void = 0
    case int = 0x10, bool = 0x11, pair = 0x12, quad = 0x13
    case enumRTS = 0x30, enumOrigin = 0x31, enumScope = 0x32, enumRTD = 0x34, enumROA = 0x35
    case enumNetType = 0x36, enumRAPref = 0x37, enumAF = 0x38
    case ip = 0x20, net = 0x21, string = 0x22, pathMask = 0x23, path = 0x24, clist = 0x25
    case set = 0x80, prefixSet = 0x81

    var name: String {
        switch self {
        case .void: return "void"
        case .int: return "int"
        case .bool: return "bool"
        case .pair: return "pair"
        case .quad: return "quad"
        case .enumRTS: return "enum rts"
        case .enumOrigin: return "enum bgp_origin"
        case .enumScope: return "enum scope"
        case .enumRTD: return "enum rtd"
        case .enumROA: return "enum roa"
        case .enumNetType: return "enum nettype"
        case .enumRAPref: return "enum ra_preference"
        case .enumAF: return "enum af"
        case .ip: return "ip"
        case .net: return "prefix"
        case .string: return "string"
        case .pathMask: return "bgpmask"
        case .path: return "bgppath"
        case .clist: return "clist"
        case .set: return "set"
        case .prefixSet: return "prefix set"
        }
    }
    var isEnum: Bool { rawValue >= 0x30 && rawValue <= 0x3f }
}

/// A runtime filter value.
public enum FilterValue {
    case void
    case int(UInt32)
    case bool(Bool)
    case pair(UInt32)
    case quad(UInt32)
    case enumeration(FType, UInt32)
    case ip(IPPrefix)            // host-length prefix
    case net(IPPrefix)
    case string(String)
    case path([UInt32])
    case clist([UInt32])
    case set(FilterSet)
    case prefixSet(PrefixSet)
    case pathMask(PathMask)

    public var type: FType {
        switch self {
        case .void: return .void
        case .int: return .int
        case .bool: return .bool
        case .pair: return .pair
        case .quad: return .quad
        case .enumeration(let t, _): return t
        case .ip: return .ip
        case .net: return .net
        case .string: return .string
        case .path: return .path
        case .clist: return .clist
        case .set: return .set
        case .prefixSet: return .prefixSet
        case .pathMask: return .pathMask
        }
    }

    /// BIRD's val_format (filter/data.c).
    public var formatted: String {
        switch self {
        case .void: return "(void)"
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .int(let i): return String(i)
        case .string(let s): return s
        case .ip(let a): return a.addressString
        case .net(let n): return n.description
        case .pair(let p): return "(\(p >> 16),\(p & 0xffff))"
        case .quad(let q): return "\(q >> 24).\(q >> 16 & 0xff).\(q >> 8 & 0xff).\(q & 0xff)"
        case .enumeration(let t, let v): return "(enum \(String(t.rawValue, radix: 16)))\(v)"
        case .path(let p): return "(path " + p.map { String($0) }.joined(separator: " ") + ")"
        case .clist(let c): return "(clist " + c.map { "(\($0 >> 16),\($0 & 0xffff))" }.joined(separator: " ") + ")"
        case .set(let s): return s.formatted
        case .prefixSet(let s): return s.formatted
        case .pathMask(let m): return m.formatted
        }
    }
}

/// An ordered set of ranges (`[1, 3..5]`, `[(65000,1..10), (65001,*)]`), BIRD's f_tree.
public final class FilterSet {
    public let elementType: FType
    /// Inclusive ranges, as written.
    public let ranges: [(from: FilterValue, to: FilterValue)]
    // Fast path for int/pair/quad/enum sets: sorted 32-bit ranges.
    let intRanges: [(UInt32, UInt32)]
    let isIntKeyed: Bool
    /// Pair rectangles (a1..a2, b1..b2) from `(1..3, 5..7)` / `(*, 5)` items (BIRD expands these per ASN).
    let rects: [(UInt32, UInt32, UInt32, UInt32)]

    init(elementType: FType, ranges: [(from: FilterValue, to: FilterValue)], rects: [(UInt32, UInt32, UInt32, UInt32)] = []) {
        self.elementType = elementType
        self.ranges = ranges
        self.rects = rects
        var ir: [(UInt32, UInt32)] = []
        var keyed = true
        for r in ranges {
            if let a = FilterSet.key(r.from), let b = FilterSet.key(r.to) { ir.append((a, b)) } else { keyed = false }
        }
        ir.sort { $0.0 < $1.0 }
        self.intRanges = ir
        self.isIntKeyed = keyed
    }

    static func key(_ v: FilterValue) -> UInt32? {
        switch v {
        case .int(let i), .pair(let i), .quad(let i), .enumeration(_, let i): return i
        default: return nil
        }
    }

    func containsKey(_ k: UInt32) -> Bool {
        for r in intRanges where k >= r.0 && k <= r.1 { return true }
        if !rects.isEmpty {
            let a = k >> 16, b = k & 0xffff
            for r in rects where a >= r.0 && a <= r.1 && b >= r.2 && b <= r.3 { return true }
        }
        return false
    }

    var isEmpty: Bool { ranges.isEmpty && rects.isEmpty }

    func contains(_ v: FilterValue) -> Bool {
        if isIntKeyed, let k = FilterSet.key(v) { return containsKey(k) }
        for r in ranges {
            if let c1 = compareValues(r.from, v), let c2 = compareValues(v, r.to), c1 <= 0, c2 <= 0 { return true }
        }
        return false
    }

    var formatted: String {
        let items = ranges.map { r -> String in
            let a = r.from.formatted, b = r.to.formatted
            return a == b ? a : "\(a)..\(b)"
        } + rects.map { "(\($0.0)..\($0.1),\($0.2)..\($0.3))" }
        return "[" + items.joined(separator: ", ") + "]"
    }
}

/// A prefix set (`[192.0.2.0/24, 10.0.0.0/8{16,24}, 10.0.0.0/8+, 10.0.0.0/8-]`).
/// Pattern semantics (BIRD filter/trie.c): prefix p/l matches pattern a/pl{lo,hi} iff
/// lo <= l <= hi and the first min(l, pl) bits of p and a are equal.
public final class PrefixSet {
    public struct Pattern: Equatable {
        public var prefix: IPPrefix
        public var low: UInt8
        public var high: UInt8
    }
    public let family: IPPrefix.Family
    public let patterns: [Pattern]
    // Flattened for the hot path.
    private let hi: [UInt64]
    private let lo: [UInt64]
    private let plen: [UInt8]
    private let low: [UInt8]
    private let high: [UInt8]

    init(family: IPPrefix.Family, patterns: [Pattern]) {
        self.family = family
        self.patterns = patterns
        hi = patterns.map { $0.prefix.hi }
        lo = patterns.map { $0.prefix.lo }
        plen = patterns.map { $0.prefix.length }
        low = patterns.map { $0.low }
        high = patterns.map { $0.high }
    }

    @inline(__always)
    static func maskHi(_ len: Int) -> UInt64 { len <= 0 ? 0 : (len >= 64 ? UInt64.max : ~(UInt64.max >> UInt64(len))) }
    @inline(__always)
    static func maskLo(_ len: Int) -> UInt64 { len <= 64 ? 0 : (len >= 128 ? UInt64.max : ~(UInt64.max >> UInt64(len - 64))) }

    public func matches(_ p: IPPrefix) -> Bool {
        guard p.family == family else { return false }
        let l = p.length
        let n = hi.count
        var i = 0
        while i < n {
            if l >= low[i] && l <= high[i] {
                let m = Int(min(l, plen[i]))
                let mh = PrefixSet.maskHi(m), ml = PrefixSet.maskLo(m)
                if (p.hi ^ hi[i]) & mh == 0 && (p.lo ^ lo[i]) & ml == 0 { return true }
            }
            i += 1
        }
        return false
    }

    var formatted: String {
        "[" + patterns.map { "\($0.prefix){\($0.low), \($0.high)}" }.joined(separator: ", ") + "]"
    }
}

/// A BGP path mask (`[= * 65001 * =]`).
public final class PathMask {
    public enum Item {
        case asn(UInt32)
        case range(UInt32, UInt32)
        case set(FilterSet?)
        case asterisk
        case question
    }
    public let items: [Item]
    init(items: [Item]) { self.items = items }

    func itemMatches(_ it: Item, _ asn: UInt32) -> Bool {
        switch it {
        case .asn(let a): return a == asn
        case .range(let a, let b): return asn >= a && asn <= b
        case .set(let s): return s?.containsKey(asn) ?? false
        case .question: return true
        case .asterisk: return true
        }
    }

    /// Whole-path match; `*` matches any (possibly empty) sequence, `?` exactly one ASN.
    public func matches(_ path: [UInt32]) -> Bool {
        let n = path.count, m = items.count
        // reach[j] = items[0..<i] can match path[0..<j]
        var reach = [Bool](repeating: false, count: n + 1)
        reach[0] = true
        for i in 0..<m {
            var next = [Bool](repeating: false, count: n + 1)
            if case .asterisk = items[i] {
                var any = false
                for j in 0...n { if reach[j] { any = true }; next[j] = any }
            } else {
                for j in 0..<n where reach[j] && itemMatches(items[i], path[j]) { next[j + 1] = true }
            }
            reach = next
        }
        return reach[n]
    }

    var formatted: String {
        var s = "[= "
        for it in items {
            switch it {
            case .asn(let a): s += "\(a) "
            case .range(let a, let b): s += "\(a)..\(b) "
            case .set(let t): s += (t?.formatted ?? "[]") + " "
            case .asterisk: s += "* "
            case .question: s += "? "
            }
        }
        return s + "=]"
    }
}

/// BIRD val_compare: nil = incompatible types (F_CMP_ERROR).
func compareValues(_ a: FilterValue, _ b: FilterValue) -> Int? {
    func cmp<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x > y ? 1 : 0) }
    if a.type != b.type {
        if case .void = a { return -1 }
        if case .void = b { return 1 }
        if case .quad(let q) = a, case .ip(let ip) = b, ip.family == .ipv4 { return cmp(q, ip.ipv4Address) }
        if case .ip(let ip) = a, case .quad(let q) = b, ip.family == .ipv4 { return cmp(ip.ipv4Address, q) }
        return nil
    }
    switch (a, b) {
    case (.void, .void): return 0
    case (.int(let x), .int(let y)), (.pair(let x), .pair(let y)), (.quad(let x), .quad(let y)),
         (.enumeration(_, let x), .enumeration(_, let y)): return cmp(x, y)
    case (.bool(let x), .bool(let y)): return cmp(x ? 1 : 0, y ? 1 : 0)
    case (.ip(let x), .ip(let y)):
        // ipa_compare: IPv4 addresses are IPv4-mapped IPv6 in BIRD, i.e. sort before most IPv6
        return cmp(ipKey(x), ipKey(y))
    case (.net(let x), .net(let y)):
        if x.family != y.family { return cmp(x.family.rawValue, y.family.rawValue) }
        if x.hi != y.hi { return cmp(x.hi, y.hi) }
        if x.lo != y.lo { return cmp(x.lo, y.lo) }
        return cmp(x.length, y.length)
    case (.string(let x), .string(let y)):
        return x == y ? 0 : (x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1)
    default: return nil
    }
}

private struct IPKey: Comparable {
    var hi: UInt64, lo: UInt64
    static func < (a: IPKey, b: IPKey) -> Bool { a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo }
}
private func ipKey(_ p: IPPrefix) -> IPKey {
    if p.family == .ipv4 { return IPKey(hi: 0, lo: 0xffff_0000_0000 | UInt64(p.ipv4Address)) }
    return IPKey(hi: p.hi, lo: p.lo)
}

/// BIRD val_same.
func sameValues(_ a: FilterValue, _ b: FilterValue) -> Bool {
    if let c = compareValues(a, b) { return c == 0 }
    switch (a, b) {
    case (.path(let x), .path(let y)), (.clist(let x), .clist(let y)): return x == y
    case (.set(let x), .set(let y)): return x === y || x.formatted == y.formatted
    case (.prefixSet(let x), .prefixSet(let y)): return x === y || (x.family == y.family && x.patterns == y.patterns)
    case (.pathMask(let x), .pathMask(let y)): return x === y || x.formatted == y.formatted
    default: return false
    }
}
