/// A subnet together with the node that owns it.
struct SubnetEntry {
    let subnet: Subnet
    let owner: Node
}

/// tinc subnet_compare: subnet order, then owner name.
@inline(__always)
func subnetEntryBefore(_ a: SubnetEntry, _ b: SubnetEntry) -> Bool {
    let c = Subnet.compare(a.subnet, b.subnet)
    if c != 0 { return c < 0 }
    return a.owner !== b.owner && nameLess(a.owner.name, b.owner.name)
}

/// The global subnet set, indexed for per-packet lookups.
///
/// tinc walks one ordered tree (longest prefix first) and returns the first match whose owner is
/// reachable, else the last match. Matches at a given prefix length all share the same masked
/// address, so we keep one hash table per prefix length, keyed by masked address, whose buckets
/// hold the entries in tree order. A lookup probes only the prefix lengths in use, longest first,
/// and sees matches in exactly tinc's order. MAC subnets are one hash table keyed by the address.
final class SubnetTable {
    private var mac: [UInt64: [SubnetEntry]] = [:]
    private var ipv4: [[UInt32: [SubnetEntry]]] = Array(repeating: [:], count: 33)
    private var ipv6: [[IPv6Key: [SubnetEntry]]] = Array(repeating: [:], count: 129)
    /// Prefix lengths with at least one subnet, longest first.
    private var ipv4Prefixes: [Int] = []
    private var ipv6Prefixes: [Int] = []
    private(set) var count = 0

    // tinc keeps a 2-entry cache per address family; results only change on subnet changes and
    // graph runs, both of which flush it, so it never changes an answer.
    private var cache4 = TwoSlotCache<UInt32>()
    private var cache6 = TwoSlotCache<IPv6Key>()

    func flushCache() {
        cache4 = TwoSlotCache()
        cache6 = TwoSlotCache()
    }

    // MARK: Changes

    func insert(_ entry: SubnetEntry) {
        flushCache()
        count += 1
        switch entry.subnet.address {
        case .mac:
            mac[entry.subnet.macKey, default: []].insertSorted(entry)
        case .ipv4(_, let p):
            let key = entry.subnet.ipv4Key & SubnetKey.ipv4Mask(p)
            let wasEmpty = ipv4[p].isEmpty
            ipv4[p][key, default: []].insertSorted(entry)
            if wasEmpty { ipv4Prefixes = (0...32).reversed().filter { !ipv4[$0].isEmpty } }
        case .ipv6(_, let p):
            let key = entry.subnet.ipv6Key.masked(p)
            let wasEmpty = ipv6[p].isEmpty
            ipv6[p][key, default: []].insertSorted(entry)
            if wasEmpty { ipv6Prefixes = (0...128).reversed().filter { !ipv6[$0].isEmpty } }
        }
    }

    @discardableResult
    func remove(_ subnet: Subnet, owner: Node) -> Bool {
        flushCache()
        let matches: (SubnetEntry) -> Bool = { $0.owner === owner && $0.subnet == subnet }
        var removed = false
        switch subnet.address {
        case .mac:
            removed = SubnetTable.remove(from: &mac, key: subnet.macKey, where: matches)
        case .ipv4(_, let p):
            removed = SubnetTable.remove(from: &ipv4[p], key: subnet.ipv4Key & SubnetKey.ipv4Mask(p), where: matches)
            if removed, ipv4[p].isEmpty { ipv4Prefixes.removeAll { $0 == p } }
        case .ipv6(_, let p):
            removed = SubnetTable.remove(from: &ipv6[p], key: subnet.ipv6Key.masked(p), where: matches)
            if removed, ipv6[p].isEmpty { ipv6Prefixes.removeAll { $0 == p } }
        }
        if removed { count -= 1 }
        return removed
    }

    private static func remove<K: Hashable>(from table: inout [K: [SubnetEntry]], key: K,
                                            where matches: (SubnetEntry) -> Bool) -> Bool {
        guard var bucket = table[key], let i = bucket.firstIndex(where: matches) else { return false }
        bucket.remove(at: i)
        table[key] = bucket.isEmpty ? nil : bucket
        return true
    }

    // MARK: Lookups (hot path)

    /// Walks candidates in tinc order: first with a reachable owner wins, otherwise the last one seen.
    @inline(__always)
    private static func pick(_ bucket: [SubnetEntry], last: inout SubnetEntry?) -> SubnetEntry? {
        for entry in bucket {
            if entry.owner.reachable { return entry }
            last = entry
        }
        return nil
    }

    func lookupMAC(_ key: UInt64) -> SubnetEntry? {
        guard let bucket = mac[key] else { return nil }
        var last: SubnetEntry?
        return SubnetTable.pick(bucket, last: &last) ?? last
    }

    /// tinc lookup_subnet_mac(owner, ...): the same walk restricted to one owner's subnets.
    func lookupMAC(_ key: UInt64, owner: Node) -> SubnetEntry? {
        guard let bucket = mac[key] else { return nil }
        var last: SubnetEntry?
        for entry in bucket where entry.owner === owner {
            if owner.reachable { return entry }
            last = entry
        }
        return last
    }

    func lookupIPv4(_ address: UInt32) -> SubnetEntry? {
        if let hit = cache4.find(address) { return hit }
        var last: SubnetEntry?
        var found: SubnetEntry?
        for p in ipv4Prefixes {
            if let bucket = ipv4[p][address & SubnetKey.ipv4Mask(p)],
               let entry = SubnetTable.pick(bucket, last: &last) {
                found = entry
                break
            }
        }
        let result = found ?? last
        cache4.store(address, result)
        return result
    }

    func lookupIPv6(_ address: IPv6Key) -> SubnetEntry? {
        if let hit = cache6.find(address) { return hit }
        var last: SubnetEntry?
        var found: SubnetEntry?
        for p in ipv6Prefixes {
            if let bucket = ipv6[p][address.masked(p)],
               let entry = SubnetTable.pick(bucket, last: &last) {
                found = entry
                break
            }
        }
        let result = found ?? last
        cache6.store(address, result)
        return result
    }

    // MARK: Enumeration

    /// Every entry in tinc's global order (type, prefix desc, address, weight, owner name).
    func allEntries() -> [SubnetEntry] {
        var out: [SubnetEntry] = []
        out.reserveCapacity(count)
        for key in mac.keys.sorted() { out.append(contentsOf: mac[key]!) }
        for p in ipv4Prefixes {
            let level = ipv4[p].values.flatMap { $0 }
            out.append(contentsOf: level.sorted(by: subnetEntryBefore))
        }
        for p in ipv6Prefixes {
            let level = ipv6[p].values.flatMap { $0 }
            out.append(contentsOf: level.sorted(by: subnetEntryBefore))
        }
        return out
    }
}

/// The two most recent lookups, replaced alternately (as tinc's cache does).
struct TwoSlotCache<Key: Equatable> {
    private var key0: Key?
    private var key1: Key?
    private var result0: SubnetEntry?
    private var result1: SubnetEntry?
    private var useSlot1 = false

    @inline(__always)
    func find(_ key: Key) -> SubnetEntry?? {
        if key0 == key { return .some(result0) }
        if key1 == key { return .some(result1) }
        return .none
    }

    @inline(__always)
    mutating func store(_ key: Key, _ result: SubnetEntry?) {
        if useSlot1 { key1 = key; result1 = result } else { key0 = key; result0 = result }
        useSlot1.toggle()
    }
}

extension Array where Element == SubnetEntry {
    /// Inserts keeping tinc subnet order (binary search; buckets are usually tiny).
    mutating func insertSorted(_ entry: SubnetEntry) {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if subnetEntryBefore(self[mid], entry) { lo = mid + 1 } else { hi = mid }
        }
        insert(entry, at: lo)
    }
}
