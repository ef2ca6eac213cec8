import XCTest
@testable import TincDaemon

final class SeenRequestsTests: XCTestCase {
    func testRemembersAgesAndEvictsOldestFirst() {
        var s = SeenRequests(limit: 1000)
        XCTAssertFalse(s.check("10 1 a 10.0.0.0/8", now: 0))
        XCTAssertTrue(s.check("10 1 a 10.0.0.0/8", now: 1))
        XCTAssertFalse(s.check("10 2 a 10.0.0.0/8", now: 2))
        s.age(olderThan: 1.5)
        XCTAssertEqual(s.count, 1)
        XCTAssertFalse(s.check("10 1 a 10.0.0.0/8", now: 3), "aged out, so it is new again")
        XCTAssertTrue(s.check("10 2 a 10.0.0.0/8", now: 3))
    }

    /// A flood of unique lines never grows the cache past its limit, and does not flush it all at
    /// once: recent lines stay known (the old cache cleared everything when full).
    func testFloodKeepsBoundAndRecentLines() {
        var s = SeenRequests(limit: 5000)
        for i in 0..<100_000 { _ = s.check("12 \(i) x y 1.2.3.4 655 0 1", now: Double(i) / 1000) }
        XCTAssertEqual(s.count, 5000)
        XCTAssertEqual(s.evicted, 95_000)
        for i in 95_000..<100_000 { XCTAssertTrue(s.check("12 \(i) x y 1.2.3.4 655 0 1", now: 100)) }
        XCTAssertFalse(s.check("12 94999 x y 1.2.3.4 655 0 1", now: 100))
        // Lines from 99.5 s on (500 of them) and the one re-added at 100 s survive.
        s.age(olderThan: 99.5)
        XCTAssertEqual(s.count, 501)
    }
}
