import Glibc
import MeshIO

/// The budget for tinc's try_harder (a packet from an address no node has: try every inbound key's
/// MAC on it), kept per source so that garbage from one address cannot use up the attempts a
/// roaming peer at another address needs to be recognised.
///
/// A source is an IPv4 address or an IPv6 /64 (the port is ignored, so changing ports gives no
/// fresh budget; a /64 is what one host usually controls). Each source gets `roundsPerSource`
/// rounds (one round = trying every key once) per second; at most `maxSources` sources are tracked
/// per second, and the table is emptied when the second changes, so it never grows. The work per
/// second is therefore bounded by `maxSources × roundsPerSource × keys` MAC computations.
struct TryHarderLimiter {
    let maxSources: Int
    let roundsPerSource: Int
    private var second = Int.min
    private var used: [SourceKey: Int] = [:]
    /// Sources refused because the table was full this second (diagnostics, tests).
    private(set) var refusedTableFull: UInt64 = 0

    struct SourceKey: Hashable {
        var hi: UInt64
        var lo: UInt32
    }

    init(maxSources: Int = 1024, roundsPerSource: Int = 2) {
        self.maxSources = max(1, maxSources)
        self.roundsPerSource = max(1, roundsPerSource)
    }

    static func key(_ a: SocketAddress) -> SourceKey {
        let b = a.addressBytes
        var hi: UInt64 = UInt64(UInt32(truncatingIfNeeded: a.family)) << 32
        if b.count == 16 {
            hi = 0
            for x in b.prefix(8) { hi = hi << 8 | UInt64(x) }   // the /64
            return SourceKey(hi: hi, lo: 6)
        }
        var v: UInt32 = 0
        for x in b.prefix(4) { v = v << 8 | UInt32(x) }
        return SourceKey(hi: hi | UInt64(v), lo: 4)
    }

    /// May a packet from `source` try every key now? Counts the round when it may.
    mutating func allow(_ source: SocketAddress, now: Int) -> Bool {
        if now != second {
            second = now
            used.removeAll(keepingCapacity: true)
        }
        let k = TryHarderLimiter.key(source)
        if let n = used[k] {
            guard n < roundsPerSource else { return false }
            used[k] = n + 1
            return true
        }
        guard used.count < maxSources else {
            refusedTableFull &+= 1
            return false
        }
        used[k] = 1
        return true
    }

    /// Sources tracked this second.
    var trackedSources: Int { used.count }
}
