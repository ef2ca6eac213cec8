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
/// reachable, else the last match. All matches at one prefix length share the same masked address,
/// so the table maps (prefix, masked address) to a chain of entries kept in tree order. A lookup
/// probes only the prefix lengths in use, longest first, and so sees matches in exactly tinc's
/// order. MAC subnets map the address to a chain. Entries live in slot arrays linked by index and
/// owner reachability is mirrored per slot, so a lookup reads a few arrays and touches no Node.
final class SubnetTable {
    private var subnets: [Subnet] = []
    private var owners: [Node?] = []
    /// Next slot in the same chain, or -1.
    private var next: [Int32] = []
    /// Owner reachability per slot, refreshed by `refreshReachability()` after every graph run, so
    /// the hot path reads plain arrays instead of touching Node objects.
    private var reachable: [Bool] = []
    private var freeSlots: [Int32] = []

    private var macChains: [UInt64: Int32] = [:]
    private var ipv4Chains: [UInt64: Int32] = [:]       // prefix << 32 | masked address
    private var ipv6Chains: [IPv6ChainKey: Int32] = [:]
    /// Number of subnets per prefix length, and the lengths in use, longest first.
    private var ipv4PerPrefix = [Int](repeating: 0, count: 33)
    private var ipv6PerPrefix = [Int](repeating: 0, count: 129)
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

    private enum ChainID: Hashable {
        case mac(UInt64), ipv4(UInt64), ipv6(IPv6ChainKey)
    }

    private static func chainID(of s: Subnet) -> ChainID {
        switch s.address {
        case .mac: return .mac(s.macKey)
        case .ipv4(_, let p): return .ipv4(ipv4ChainKey(s.ipv4Key, prefix: p))
        case .ipv6(_, let p): return .ipv6(IPv6ChainKey(address: s.ipv6Key.masked(p), prefix: p))
        }
    }

    @inline(__always)
    private static func ipv4ChainKey(_ address: UInt32, prefix: Int) -> UInt64 {
        UInt64(prefix) << 32 | UInt64(address & SubnetKey.ipv4Mask(prefix))
    }

    private func head(_ id: ChainID) -> Int32 {
        switch id {
        case .mac(let k): return macChains[k] ?? -1
        case .ipv4(let k): return ipv4Chains[k] ?? -1
        case .ipv6(let k): return ipv6Chains[k] ?? -1
        }
    }

    private func setHead(_ id: ChainID, _ slot: Int32) {
        let value: Int32? = slot < 0 ? nil : slot
        switch id {
        case .mac(let k): macChains[k] = value
        case .ipv4(let k): ipv4Chains[k] = value
        case .ipv6(let k): ipv6Chains[k] = value
        }
    }

    /// How many entries share `subnet`'s chain (same prefix and masked address, any owner or
    /// weight), counting at most `limit`: inserting walks the chain, so callers bound it.
    func chainLength(of subnet: Subnet, limit: Int) -> Int {
        var n = 0
        var current = head(SubnetTable.chainID(of: subnet))
        while current >= 0, n < limit {
            n += 1
            current = next[Int(current)]
        }
        return n
    }

    // MARK: Changes

    func insert(_ entry: SubnetEntry) {
        flushCache()
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            subnets[Int(free)] = entry.subnet
            owners[Int(free)] = entry.owner
            reachable[Int(free)] = entry.owner.reachable
        } else {
            slot = Int32(subnets.count)
            subnets.append(entry.subnet)
            owners.append(entry.owner)
            reachable.append(entry.owner.reachable)
            next.append(-1)
        }
        // Link into the chain at its place in tinc order.
        let id = SubnetTable.chainID(of: entry.subnet)
        var previous: Int32 = -1
        var current = head(id)
        while current >= 0, subnetEntryBefore(self.entry(current), entry) {
            previous = current
            current = next[Int(current)]
        }
        next[Int(slot)] = current
        if previous < 0 { setHead(id, slot) } else { next[Int(previous)] = slot }

        count += 1
        switch entry.subnet.address {
        case .mac: break
        case .ipv4(_, let p):
            ipv4PerPrefix[p] += 1
            if ipv4PerPrefix[p] == 1 { ipv4Prefixes = (0...32).reversed().filter { ipv4PerPrefix[$0] > 0 } }
        case .ipv6(_, let p):
            ipv6PerPrefix[p] += 1
            if ipv6PerPrefix[p] == 1 { ipv6Prefixes = (0...128).reversed().filter { ipv6PerPrefix[$0] > 0 } }
        }
    }

    @discardableResult
    func remove(_ subnet: Subnet, owner: Node) -> Bool {
        flushCache()
        let id = SubnetTable.chainID(of: subnet)
        var previous: Int32 = -1
        var current = head(id)
        while current >= 0, !(owners[Int(current)] === owner && subnets[Int(current)] == subnet) {
            previous = current
            current = next[Int(current)]
        }
        guard current >= 0 else { return false }
        if previous < 0 { setHead(id, next[Int(current)]) } else { next[Int(previous)] = next[Int(current)] }
        owners[Int(current)] = nil
        reachable[Int(current)] = false
        next[Int(current)] = -1
        freeSlots.append(current)

        count -= 1
        switch subnet.address {
        case .mac: break
        case .ipv4(_, let p):
            ipv4PerPrefix[p] -= 1
            if ipv4PerPrefix[p] == 0 { ipv4Prefixes.removeAll { $0 == p } }
        case .ipv6(_, let p):
            ipv6PerPrefix[p] -= 1
            if ipv6PerPrefix[p] == 0 { ipv6Prefixes.removeAll { $0 == p } }
        }
        return true
    }

    /// Must run whenever a node's reachability may have changed (MeshGraph.run()).
    func refreshReachability() {
        flushCache()
        for i in owners.indices { reachable[i] = owners[i]?.reachable ?? false }
    }

    func entry(_ slot: Int32) -> SubnetEntry {
        SubnetEntry(subnet: subnets[Int(slot)], owner: owners[Int(slot)]!)
    }

    func owner(_ slot: Int32) -> Node {
        owners[Int(slot)].unsafelyUnwrapped
    }

    // MARK: Lookups (hot path). They return a slot, or -1 when nothing matches.
    // Each reads the arrays it needs into locals once: that costs one retain and one exclusivity
    // check per array instead of one per probe.

    /// Walks one chain in tinc order: a reachable owner ends the search, else remember the last one.
    @inline(__always)
    private static func walk(_ start: Int32, next: [Int32], reachable: [Bool], last: inout Int32) -> Int32 {
        var i = start
        while i >= 0 {
            if reachable[Int(i)] { return i }
            last = i
            i = next[Int(i)]
        }
        return -1
    }

    func lookupMAC(_ key: UInt64) -> Int32 {
        guard let start = macChains[key] else { return -1 }
        let next = self.next, reachable = self.reachable
        if next[Int(start)] < 0 { return start }  // the usual case: one owner
        var last: Int32 = -1
        let found = SubnetTable.walk(start, next: next, reachable: reachable, last: &last)
        return found >= 0 ? found : last
    }

    /// tinc lookup_subnet_mac(owner, ...): the same walk restricted to one owner's subnets.
    func lookupMAC(_ key: UInt64, owner: Node) -> Int32 {
        var i = macChains[key] ?? -1
        var last: Int32 = -1
        while i >= 0 {
            if owners[Int(i)] === owner {
                if owner.reachable { return i }
                last = i
            }
            i = next[Int(i)]
        }
        return last
    }

    func lookupIPv4(_ address: UInt32) -> Int32 {
        if let hit = cache4.find(address) { return hit }
        let chains = ipv4Chains, next = self.next, reachable = self.reachable
        var last: Int32 = -1
        var result: Int32 = -1
        for p in ipv4Prefixes {
            if let start = chains[SubnetTable.ipv4ChainKey(address, prefix: p)] {
                result = SubnetTable.walk(start, next: next, reachable: reachable, last: &last)
                if result >= 0 { break }
            }
        }
        if result < 0 { result = last }
        cache4.store(address, result)
        return result
    }

    func lookupIPv6(_ address: IPv6Key) -> Int32 {
        if let hit = cache6.find(address) { return hit }
        let chains = ipv6Chains, next = self.next, reachable = self.reachable
        var last: Int32 = -1
        var result: Int32 = -1
        for p in ipv6Prefixes {
            if let start = chains[IPv6ChainKey(address: address.masked(p), prefix: p)] {
                result = SubnetTable.walk(start, next: next, reachable: reachable, last: &last)
                if result >= 0 { break }
            }
        }
        if result < 0 { result = last }
        cache6.store(address, result)
        return result
    }

    // MARK: Enumeration

    /// Every entry in tinc's global order (type, prefix desc, address, weight, owner name).
    func allEntries() -> [SubnetEntry] {
        subnets.indices.filter { owners[$0] != nil }.map { entry(Int32($0)) }.sorted(by: subnetEntryBefore)
    }
}

/// Chain key for an IPv6 subnet: masked address plus prefix length.
struct IPv6ChainKey: Hashable {
    var address: IPv6Key
    var prefix: Int
}

/// The two most recent lookups, replaced alternately (as tinc's cache does).
struct TwoSlotCache<Key: Equatable> {
    private var key0: Key?
    private var key1: Key?
    private var result0: Int32 = -1
    private var result1: Int32 = -1
    private var useSlot1 = false

    @inline(__always)
    func find(_ key: Key) -> Int32? {
        if key0 == key { return result0 }
        if key1 == key { return result1 }
        return nil
    }

    @inline(__always)
    mutating func store(_ key: Key, _ result: Int32) {
        if useSlot1 { key1 = key; result1 = result } else { key0 = key; result0 = result }
        useSlot1.toggle()
    }
}
