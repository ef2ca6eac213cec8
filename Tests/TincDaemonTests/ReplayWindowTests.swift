import XCTest
@testable import TincDaemon

final class ReplayWindowTests: XCTestCase {
    func accepted(_ v: ReplayWindow.Verdict) -> Bool {
        if case .accept = v { return true }
        if case .accepted = v { return true }
        return false
    }

    func testInOrderAndExactReplay() {
        var w = ReplayWindow(bytes: 16)
        for s: UInt32 in 1...10 { XCTAssertTrue(accepted(w.check(s))) }
        XCTAssertFalse(accepted(w.check(10)))
        XCTAssertFalse(accepted(w.check(3)))
    }

    func testLatePacketsInsideTheWindowAreAcceptedOnce() {
        var w = ReplayWindow(bytes: 16)
        XCTAssertTrue(accepted(w.check(1)))
        XCTAssertTrue(accepted(w.check(5)))      // 2, 3, 4 become "late but expected"
        XCTAssertTrue(accepted(w.check(3)))
        XCTAssertFalse(accepted(w.check(3)))
        XCTAssertTrue(accepted(w.check(2)))
        XCTAssertTrue(accepted(w.check(4)))
    }

    func testTooOldIsDroppedAndFarFutureResyncsAfterFourDrops() {
        var w = ReplayWindow(bytes: 16)   // 128 packets
        for s: UInt32 in 1...300 { _ = w.check(s) }
        XCTAssertFalse(accepted(w.check(100)))
        for _ in 0..<4 {
            guard case .farFuture = w.check(10_000) else { return XCTFail("far-future packets must be dropped first") }
        }
        guard case .accepted(let lost) = w.check(10_000) else { return XCTFail("the fifth far-future packet resynchronises") }
        XCTAssertEqual(lost, 10_000 - 300 - 1)
    }

    func testZeroWindowDisablesTheCheck() {
        var w = ReplayWindow(bytes: 0)
        XCTAssertTrue(accepted(w.check(5)))
        XCTAssertTrue(accepted(w.check(5)))
    }
}
