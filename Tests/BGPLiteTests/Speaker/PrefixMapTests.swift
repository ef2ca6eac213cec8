import XCTest
@testable import BGPLite

/// The compact-key prefix map under the Loc-RIB and Adj-RIB-Out: every family and length round-trips
/// through its key, prefixes that differ only in length stay apart, and iteration sees each entry once.
final class PrefixMapTests: XCTestCase {
    func testKeysRoundTripAndStayDistinct() throws {
        let texts = ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.1/32", "255.255.255.255/32",
                     "::/0", "2001:db8::/32", "2001:db8::/48", "2001:db8::/120", "2001:db8::/121",
                     "2001:db8::1/128", "2001:db8::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"]
        let prefixes = try texts.map { try XCTUnwrap(IPPrefix($0), $0) }
        var m = PrefixMap<Int>()
        for (i, p) in prefixes.enumerated() { XCTAssertNil(m.updateValue(i, forKey: p)) }
        XCTAssertEqual(m.count, texts.count)
        XCTAssertEqual(m.count(.ipv4), 5)
        XCTAssertEqual(m.count(.ipv6), 8)
        for (i, p) in prefixes.enumerated() { XCTAssertEqual(m[p], i, "\(p)") }
        // Iteration gives back the same prefixes (decoded from the keys), each once.
        var seen: [IPPrefix: Int] = [:]
        for (p, v) in m { XCTAssertNil(seen.updateValue(v, forKey: p), "\(p) twice") }
        XCTAssertEqual(seen, Dictionary(uniqueKeysWithValues: zip(prefixes, prefixes.indices)))
        XCTAssertEqual(Set(m.keys), Set(prefixes))
        // modify: change, then empty a slot.
        let p24 = prefixes[2]
        m.modify(p24) { $0 = ($0 ?? 0) + 100 }
        XCTAssertEqual(m[p24], 102)
        m.modify(p24) { $0 = nil }
        XCTAssertNil(m[p24])
        XCTAssertEqual(m.removeValue(forKey: prefixes[9]), 9)   // a /121 (side map)
        XCTAssertEqual(m.count, texts.count - 2)
        m.removeAll()
        XCTAssertTrue(m.isEmpty)
    }

    /// The open-addressing tables against Dictionary under a random mix of inserts, changes and
    /// removals (removal shifts later keys of a probe run back, so runs must stay findable), with
    /// clustered keys (consecutive /24s share 8-slot groups) and a copy taken midway that must
    /// not see later changes (copy-on-write).
    func testRandomOperationsMatchDictionary() {
        var rng = SystemRandomNumberGenerator()
        var m = PrefixMap<Int>()
        var d: [IPPrefix: Int] = [:]
        var snapshot: PrefixMap<Int>? = nil
        var snapshotDict: [IPPrefix: Int] = [:]
        func randomPrefix() -> IPPrefix {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return IPPrefix(ipv4: 0x0A00_0000 | UInt32.random(in: 0..<4096, using: &rng) << 8, length: 24)
            case 1: return IPPrefix(ipv4: UInt32.random(in: .min ... .max, using: &rng), length: Int.random(in: 0...32, using: &rng))
            case 2: return IPPrefix(family: .ipv6, hi: 0x2a02_0000_0000_0000 | UInt64.random(in: 0..<2048, using: &rng) << 16, lo: 0, length: 48)
            default: return IPPrefix(family: .ipv6, hi: .random(in: .min ... .max, using: &rng), lo: .random(in: .min ... .max, using: &rng),
                                     length: Int.random(in: 0...128, using: &rng))
            }
        }
        for step in 0..<60_000 {
            let p = randomPrefix()
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                XCTAssertEqual(m.updateValue(step, forKey: p), d.updateValue(step, forKey: p), "\(p)")
            case 5..<8:
                XCTAssertEqual(m.removeValue(forKey: p), d.removeValue(forKey: p), "\(p)")
            default:
                m.modify(p) { $0 = $0.map { $0 + 1 } }
                if let v = d[p] { d[p] = v + 1 }
            }
            if step == 30_000 { snapshot = m; snapshotDict = d }
        }
        XCTAssertEqual(m.count, d.count)
        XCTAssertEqual(m.count(.ipv4), d.keys.filter { $0.family == .ipv4 }.count)
        for (p, v) in d { XCTAssertEqual(m[p], v, "\(p)") }
        var seen: [IPPrefix: Int] = [:]
        for (p, v) in m { XCTAssertNil(seen.updateValue(v, forKey: p), "\(p) twice") }
        XCTAssertEqual(seen, d)
        let snap = snapshot.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.prefix, $0.value) }) }
        XCTAssertEqual(snap, snapshotDict)
        // Emptying it key by key leaves nothing behind.
        for p in d.keys { XCTAssertNotNil(m.removeValue(forKey: p)) }
        XCTAssertTrue(m.isEmpty)
        XCTAssertEqual(Array(m.keys), [])
    }
}
