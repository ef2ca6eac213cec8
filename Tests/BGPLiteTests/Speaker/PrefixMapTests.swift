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
}
