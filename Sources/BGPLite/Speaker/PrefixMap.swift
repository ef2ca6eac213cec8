// A hash map from prefixes to values with compact keys, for the Loc-RIB and the Adj-RIB-Out:
// an IPv4 prefix is one 8-byte word (address << 8 | length), an IPv6 prefix up to /120 two words
// (the length in the low byte of the second, where a prefix that short has only zero bits).
// Longer IPv6 prefixes (host routes, rare) go to a small side map keyed by the whole IPPrefix.
// At a million /24s this halves the key bytes the tables hold (IPPrefix has a stride of 24).

/// IPv4 key: address << 8 | length. The hash is a cheap multiply-xorshift of the word instead of
/// SipHash (every received and exported prefix is hashed at least once).
struct V4Key: Hashable {
    let bits: UInt64
    @inline(__always) init(_ p: IPPrefix) { bits = UInt64(p.ipv4Address) << 8 | UInt64(p.length) }
    var prefix: IPPrefix { IPPrefix(ipv4: UInt32(truncatingIfNeeded: bits >> 8), length: Int(bits & 0xff)) }
    @inline(__always) func hash(into h: inout Hasher) { h.combine(PrefixHash.mix(bits, 0)) }
    @inline(__always) func _rawHashValue(seed: Int) -> Int {
        Int(bitPattern: UInt(PrefixHash.mix(bits, UInt64(bitPattern: Int64(seed)))))
    }
}

/// IPv6 key for prefixes up to /120: the length lives in the low byte of `lo`.
struct V6Key: Hashable {
    let hi: UInt64
    let lo: UInt64
    @inline(__always) init(_ p: IPPrefix) { hi = p.hi; lo = p.lo | UInt64(p.length) }
    var prefix: IPPrefix { IPPrefix(family: .ipv6, hi: hi, lo: lo & ~0xff, length: Int(lo & 0xff)) }
    @inline(__always) func hash(into h: inout Hasher) { h.combine(PrefixHash.mix(hi ^ lo &* 0x9E37_79B9_7F4A_7C15, 0)) }
    @inline(__always) func _rawHashValue(seed: Int) -> Int {
        Int(bitPattern: UInt(PrefixHash.mix(hi ^ lo &* 0x9E37_79B9_7F4A_7C15, UInt64(bitPattern: Int64(seed)))))
    }
}

/// Any prefix (the side map for IPv6 longer than /120, and sets of prefixes elsewhere).
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
    /// A 64-bit finalizer (murmur3's), seeded per table so probe sequences differ between runs.
    @inline(__always) static func mix(_ v: UInt64, _ seed: UInt64) -> UInt64 {
        var x = v ^ seed
        x ^= x >> 33
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x = x &* 0xc4ce_b9fe_1a85_ec53
        x ^= x >> 33
        return x
    }
}

struct PrefixMap<Value>: Sequence {
    private(set) var v4: [V4Key: Value] = [:]
    private(set) var v6: [V6Key: Value] = [:]
    private(set) var v6Long: [PKey: Value] = [:]

    var count: Int { v4.count + v6.count + v6Long.count }
    var isEmpty: Bool { v4.isEmpty && v6.isEmpty && v6Long.isEmpty }
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
    @inline(__always)
    mutating func modify<R>(_ p: IPPrefix, _ body: (inout Value?) -> R) -> R {
        if p.family == .ipv4 { return body(&v4[V4Key(p)]) }
        if PrefixMap.isLong(p) { return body(&v6Long[PKey(p)]) }
        return body(&v6[V6Key(p)])
    }

    @discardableResult
    mutating func removeValue(forKey p: IPPrefix) -> Value? {
        if p.family == .ipv4 { return v4.removeValue(forKey: V4Key(p)) }
        return PrefixMap.isLong(p) ? v6Long.removeValue(forKey: PKey(p)) : v6.removeValue(forKey: V6Key(p))
    }

    @discardableResult
    mutating func updateValue(_ v: Value, forKey p: IPPrefix) -> Value? {
        if p.family == .ipv4 { return v4.updateValue(v, forKey: V4Key(p)) }
        return PrefixMap.isLong(p) ? v6Long.updateValue(v, forKey: PKey(p)) : v6.updateValue(v, forKey: V6Key(p))
    }

    mutating func removeAll() { v4 = [:]; v6 = [:]; v6Long = [:] }

    /// The prefixes (a copy: callers change the map while walking them).
    var keys: [IPPrefix] {
        var out: [IPPrefix] = []
        out.reserveCapacity(count)
        for k in v4.keys { out.append(k.prefix) }
        for k in v6.keys { out.append(k.prefix) }
        for k in v6Long.keys { out.append(k.p) }
        return out
    }

    struct Iterator: IteratorProtocol {
        var a: Dictionary<V4Key, Value>.Iterator
        var b: Dictionary<V6Key, Value>.Iterator
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
