// A hash map from prefixes to values with compact keys, for the Loc-RIB and the Adj-RIB-Out:
// an IPv4 prefix is one 8-byte word, an IPv6 prefix up to /120 two words (the length in the low
// byte of the second, where a prefix that short has only zero bits). Longer IPv6 prefixes (host
// routes, rare) go to a small side dictionary keyed by the whole IPPrefix. The two packed tables
// are PrefixTable (PrefixTable.swift): open addressing, no Swift Dictionary or Hasher on the way.

/// A prefix packed into words for PrefixTable. The packed length is length + 1, so a key of all
/// zero bits (`none`) is never a prefix: zeroed memory is an empty table.
protocol PackedPrefixKey: Equatable {
    static var none: Self { get }
    var isNone: Bool { get }
    /// The last three bits of the network number (`sub`) and a word mixing the rest of the key.
    /// PrefixTable puts the eight networks that differ only in those bits (consecutive /24s, say)
    /// side by side, so a run of neighbouring prefixes touches a few cache lines, not one each.
    func split() -> (rest: UInt64, sub: Int)
}

/// IPv4 key: address << 16 | (length + 1).
struct V4Key: PackedPrefixKey {
    let bits: UInt64
    @inline(__always) init(_ p: IPPrefix) { bits = UInt64(p.ipv4Address) << 16 | (UInt64(p.length) + 1) }
    @inline(__always) init(bits: UInt64) { self.bits = bits }
    static var none: V4Key { V4Key(bits: 0) }
    @inline(__always) var isNone: Bool { bits == 0 }
    var prefix: IPPrefix {
        IPPrefix(ipv4: UInt32(truncatingIfNeeded: bits >> 16), length: Int(bits & 0x1ff) - 1)
    }
    @inline(__always) func split() -> (rest: UInt64, sub: Int) {
        // The network's last bit sits at 16 + (32 - length); `>>` and `<<` are smart shifts (any
        // amount is defined), so even an impossible length only changes where the key lands.
        let at = 48 - (Int(bits & 0x1ff) - 1)
        return (bits & ~(7 << at), Int(truncatingIfNeeded: (bits >> at) & 7))
    }
}

/// IPv6 key for prefixes up to /120: (length + 1) lives in the low byte of `lo`.
struct V6Key: PackedPrefixKey {
    let hi: UInt64
    let lo: UInt64
    @inline(__always) init(_ p: IPPrefix) { hi = p.hi; lo = p.lo | (UInt64(p.length) + 1) }
    @inline(__always) init(hi: UInt64, lo: UInt64) { self.hi = hi; self.lo = lo }
    static var none: V6Key { V6Key(hi: 0, lo: 0) }
    @inline(__always) var isNone: Bool { lo == 0 && hi == 0 }
    var prefix: IPPrefix { IPPrefix(family: .ipv6, hi: hi, lo: lo & ~0xff, length: Int(lo & 0xff) - 1) }
    @inline(__always) func split() -> (rest: UInt64, sub: Int) {
        let at = 128 - (Int(lo & 0xff) - 1)   // the network's last bit, counted from the end of `lo`
        if at >= 64 {
            let s = at - 64
            return ((hi & ~(7 << s)) ^ (lo &* 0x9E37_79B9_7F4A_7C15), Int(truncatingIfNeeded: (hi >> s) & 7))
        }
        return (hi ^ ((lo & ~(7 << at)) &* 0x9E37_79B9_7F4A_7C15), Int(truncatingIfNeeded: (lo >> at) & 7))
    }
}

/// Any prefix (the side map for IPv6 longer than /120).
struct PKey: Hashable {
    let p: IPPrefix
    @inline(__always) init(_ p: IPPrefix) { self.p = p }

    @inline(__always) static func == (a: PKey, b: PKey) -> Bool {
        a.p.hi == b.p.hi && a.p.lo == b.p.lo && a.p.length == b.p.length && a.p.family == b.p.family
    }

    @inline(__always) private var word: UInt64 {
        p.hi ^ (p.lo &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(p.length) | UInt64(p.family.rawValue) << 8)
    }
    @inline(__always) func hash(into h: inout Hasher) { h.combine(PrefixHash.mix(word, 0)) }
    @inline(__always) func _rawHashValue(seed: Int) -> Int {
        Int(bitPattern: UInt(PrefixHash.mix(word, UInt64(bitPattern: Int64(seed)))))
    }
}

enum PrefixHash {
    /// A 64-bit finalizer (murmur3's); the seed makes where keys land unpredictable to a peer.
    @inline(__always) static func mix(_ v: UInt64, _ seed: UInt64) -> UInt64 {
        var x = v ^ seed
        x ^= x >> 33
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x = x &* 0xc4ce_b9fe_1a85_ec53
        x ^= x >> 33
        return x
    }

    /// One seed per process (PrefixTable storage copies it at creation).
    static let processSeed = UInt64.random(in: .min ... .max)
}

struct PrefixMap<Value>: Sequence {
    private(set) var v4 = PrefixTable<V4Key, Value>()
    private(set) var v6 = PrefixTable<V6Key, Value>()
    private(set) var v6Long: [PKey: Value] = [:]

    var count: Int { v4.count + v6.count + v6Long.count }
    var isEmpty: Bool { count == 0 }
    func count(_ family: IPPrefix.Family) -> Int { family == .ipv4 ? v4.count : v6.count + v6Long.count }

    @inline(__always) static func isLong(_ p: IPPrefix) -> Bool { p.family == .ipv6 && p.length > 120 }

    subscript(p: IPPrefix) -> Value? {
        @inline(__always) get {
            if p.family == .ipv4 { return v4[V4Key(p)] }
            return PrefixMap.isLong(p) ? v6Long[PKey(p)] : v6[V6Key(p)]
        }
        set { modify(p) { $0 = newValue } }
    }

    /// One hash lookup: `body` sees the slot (nil when absent) and may fill, change or empty it.
    /// `body` must not touch this map.
    @inline(__always)
    mutating func modify<R>(_ p: IPPrefix, _ body: (inout Value?) -> R) -> R {
        if p.family == .ipv4 { return v4.modify(V4Key(p), body) }
        if PrefixMap.isLong(p) { return body(&v6Long[PKey(p)]) }
        return v6.modify(V6Key(p), body)
    }

    @discardableResult
    mutating func removeValue(forKey p: IPPrefix) -> Value? {
        if p.family == .ipv4 { return v4.removeValue(forKey: V4Key(p)) }
        return PrefixMap.isLong(p) ? v6Long.removeValue(forKey: PKey(p)) : v6.removeValue(forKey: V6Key(p))
    }

    @discardableResult
    mutating func updateValue(_ v: Value, forKey p: IPPrefix) -> Value? {
        modify(p) { slot in
            let old = slot
            slot = v
            return old
        }
    }

    mutating func removeAll() { v4 = PrefixTable(); v6 = PrefixTable(); v6Long = [:] }

    /// The prefixes (a copy: callers change the map while walking them).
    var keys: [IPPrefix] {
        var out: [IPPrefix] = []
        out.reserveCapacity(count)
        for (k, _) in v4 { out.append(k.prefix) }
        for (k, _) in v6 { out.append(k.prefix) }
        for k in v6Long.keys { out.append(k.p) }
        return out
    }

    struct Iterator: IteratorProtocol {
        var a: PrefixTable<V4Key, Value>.Iterator
        var b: PrefixTable<V6Key, Value>.Iterator
        var c: Dictionary<PKey, Value>.Iterator
        mutating func next() -> (prefix: IPPrefix, value: Value)? {
            if let (k, v) = a.next() { return (k.prefix, v) }
            if let (k, v) = b.next() { return (k.prefix, v) }
            if let (k, v) = c.next() { return (k.p, v) }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(a: v4.makeIterator(), b: v6.makeIterator(), c: v6Long.makeIterator()) }
}
