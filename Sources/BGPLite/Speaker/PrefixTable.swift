// The open-addressing hash table under PrefixMap: packed prefix keys (PackedPrefixKey) in one
// array, values in another, linear probing, deletion by backward shift (no tombstones), doubling at
// 3/4 load. Replaces Swift's Dictionary there: at a million routes the Loc-RIB and every
// Adj-RIB-Out take one lookup per route each, and Dictionary's generic probing, its per-instance
// seeded hashing and its resizes were a fifth of BGPLite's CPU in the bench-bgp profile.
// A value type with copy-on-write storage, like Dictionary (callers walk a copy while changing
// the map). Where a key lands: its 8-slot group by a seeded mix of the key without the network's
// last three bits, its slot in the group by those bits (PackedPrefixKey.split).
import Glibc

struct PrefixTable<Key: PackedPrefixKey, Value>: Sequence {
    private var storage: PrefixTableStorage<Key, Value>?
    /// Kept here, not in the storage object: a stored `var` of a class costs a dynamic exclusivity
    /// check per change, and the owner's access to this struct already covers this one.
    private(set) var count = 0

    init() {}

    subscript(k: Key) -> Value? {
        @inline(__always) get {
            guard let s = storage, let i = s.find(k) else { return nil }
            return s.values[i]   // find returns slots of this storage: < capacity
        }
    }

    /// One probe sequence: `body` sees the value (nil when absent) and may set, change or clear it.
    /// `body` must not touch this table (Swift's exclusivity rules forbid it anyway).
    @inline(__always)
    mutating func modify<R>(_ k: Key, _ body: (inout Value?) -> R) -> R {
        let s = reserveOne()
        let i = s.slot(for: k)
        if s.keys[i].isNone {
            var v: Value? = nil
            let r = body(&v)
            if let v { s.insert(k, v, at: i); count += 1 }
            return r
        }
        // The value leaves the slot while `body` runs and goes back (or the slot is emptied).
        var v: Value? = (s.values + i).move()
        let r = body(&v)
        if let v { (s.values + i).initialize(to: v) } else { s.vacate(i); count -= 1 }
        return r
    }

    @discardableResult
    mutating func removeValue(forKey k: Key) -> Value? {
        guard storage?.find(k) != nil else { return nil }
        let s = makeUnique()
        guard let i = s.find(k) else { return nil }
        let v = (s.values + i).move()
        s.vacate(i)
        count -= 1
        return v
    }

    /// Storage this table alone holds, with room for one more key.
    @inline(__always)
    private mutating func reserveOne() -> PrefixTableStorage<Key, Value> {
        // Uniqueness first: a bound `let s` would be a second reference.
        guard isKnownUniquelyReferenced(&storage), let s = storage, s.hasRoom(count + 1) else { return reserveSlow() }
        return s
    }

    @inline(never)
    private mutating func reserveSlow() -> PrefixTableStorage<Key, Value> {
        let unique = isKnownUniquelyReferenced(&storage)
        guard let s = storage else {
            let n = PrefixTableStorage<Key, Value>(capacity: 8, seed: PrefixHash.processSeed)
            storage = n
            return n
        }
        let n = s.copy(capacity: s.hasRoom(count + 1) ? s.capacity : s.capacity * 2, moving: unique)
        storage = n
        return n
    }

    private mutating func makeUnique() -> PrefixTableStorage<Key, Value> {
        if isKnownUniquelyReferenced(&storage), let s = storage { return s }
        return reserveSlow()
    }

    struct Iterator: IteratorProtocol {
        let storage: PrefixTableStorage<Key, Value>?
        var i = 0
        mutating func next() -> (Key, Value)? {
            guard let s = storage else { return nil }
            while i < s.capacity {
                defer { i += 1 }
                if !s.keys[i].isNone { return (s.keys[i], s.values[i]) }   // i < capacity
            }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(storage: storage) }
}

/// The two arrays. Every index used is `& mask` of something, or a loop bound below `capacity`, so
/// it is in range; the table is never full (at most 3/4), so every probe loop meets an empty slot.
final class PrefixTableStorage<Key: PackedPrefixKey, Value> {
    let capacity: Int
    let mask: Int
    let seed: UInt64
    /// Zeroed memory (calloc): all slots empty, and pages the table never reaches stay untouched.
    let keys: UnsafeMutablePointer<Key>
    /// Initialized exactly where `keys` holds a key (until `copy(moving: true)` moved them out).
    let values: UnsafeMutablePointer<Value>
    private var moved = false

    init(capacity: Int, seed: UInt64) {
        self.capacity = capacity
        mask = capacity - 1
        self.seed = seed
        // Out of memory ends the process, as any Swift allocation does.
        guard let raw = calloc(capacity, MemoryLayout<Key>.stride) else { fatalError("out of memory for a table of \(capacity) prefixes") }
        keys = raw.bindMemory(to: Key.self, capacity: capacity)
        values = .allocate(capacity: capacity)
    }

    deinit {
        if !moved {
            for i in 0..<capacity where !keys[i].isNone { (values + i).deinitialize(count: 1) }
        }
        free(keys)
        values.deallocate()
    }

    /// At most 3/4 full with `n` keys (linear probing slows down fast above that).
    func hasRoom(_ n: Int) -> Bool { n <= capacity / 4 * 3 }

    @inline(__always)
    func home(_ k: Key) -> Int {
        let (rest, sub) = k.split()
        let h = Int(truncatingIfNeeded: PrefixHash.mix(rest, seed))
        return (h & ~7 | sub) & mask
    }

    @inline(__always)
    func find(_ k: Key) -> Int? {
        var i = home(k)
        while true {
            let c = keys[i]
            if c == k { return i }
            if c.isNone { return nil }
            i = (i &+ 1) & mask
        }
    }

    /// The slot holding `k`, or the empty slot where it would go.
    @inline(__always)
    func slot(for k: Key) -> Int {
        var i = home(k)
        while true {
            let c = keys[i]
            if c == k || c.isNone { return i }
            i = (i &+ 1) & mask
        }
    }

    @inline(__always)
    func insert(_ k: Key, _ v: Value, at i: Int) {
        keys[i] = k
        (values + i).initialize(to: v)
    }

    /// Empties slot `i` (its value already moved out) and shifts later keys of the same probe run
    /// back, so lookups never need tombstones.
    func vacate(_ i: Int) {
        var hole = i
        var j = i
        while true {
            j = (j &+ 1) & mask
            let k = keys[j]
            if k.isNone { break }
            // `k` may fill the hole if the hole lies between its home slot and `j` (cyclically).
            if (j &- home(k)) & mask >= (j &- hole) & mask {
                keys[hole] = k
                (values + hole).moveInitialize(from: values + j, count: 1)
                hole = j
            }
        }
        keys[hole] = .none
    }

    /// A storage of `capacity` slots with the same entries: moved out of this one (which is then
    /// empty) when `moving`, else copied.
    func copy(capacity newCapacity: Int, moving: Bool) -> PrefixTableStorage<Key, Value> {
        let n = PrefixTableStorage(capacity: newCapacity, seed: seed)
        for i in 0..<capacity where !keys[i].isNone {
            let k = keys[i]
            let j = n.slot(for: k)
            if moving { n.keys[j] = k; (n.values + j).moveInitialize(from: values + i, count: 1) }
            else { n.keys[j] = k; (n.values + j).initialize(to: values[i]) }
        }
        // The values have moved: this storage (dropped by the caller) must not deinitialize them.
        if moving { moved = true }
        return n
    }
}
