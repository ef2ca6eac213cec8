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

final class TTLTests: XCTestCase {
    func testDecrementKeepsIPv4ChecksumValidAndDropsAtOne() {
        var f = [UInt8](repeating: 0, count: 34)
        f[12] = 0x08; f[13] = 0x00
        f[14] = 0x45; f[16] = 0; f[17] = 20; f[22] = 64; f[23] = 17
        f[26] = 10; f[29] = 1; f[30] = 10; f[33] = 2
        func csum(_ b: ArraySlice<UInt8>) -> UInt16 {
            var s: UInt32 = 0
            var i = b.startIndex
            while i < b.endIndex { s += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
            while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
            return ~UInt16(s)
        }
        let c = csum(f[14..<34])
        f[24] = UInt8(c >> 8); f[25] = UInt8(c & 0xff)
        for expected in stride(from: 63, through: 1, by: -1) {
            XCTAssertTrue(f.withUnsafeMutableBytes { TTL.decrement($0.baseAddress!, length: $0.count) })
            XCTAssertEqual(Int(f[22]), expected)
            XCTAssertEqual(csum(f[14..<34]), 0, "header checksum stays valid at TTL \(expected)")
        }
        XCTAssertFalse(f.withUnsafeMutableBytes { TTL.decrement($0.baseAddress!, length: $0.count) })
    }
}
