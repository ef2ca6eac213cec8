import XCTest
import MeshIO

/// EventLoop timers on an injected clock: deadlines are met by advancing the clock, not by waiting.
final class EventLoopClockTests: XCTestCase {
    func testTimersFireInDeadlineOrderWhenTheClockPassesThem() throws {
        let clock = ManualClock()
        let loop = try EventLoop()
        loop.clock = clock.clock
        var fired: [String] = []
        loop.schedule(after: 10) { fired.append("ten") }
        loop.schedule(after: 5) { fired.append("five") }
        let cancelled = loop.schedule(after: 7) { fired.append("cancelled") }
        loop.cancel(cancelled)

        clock.advance(by: 4.9)
        loop.runTimersDue()
        XCTAssertEqual(fired, [])
        clock.advance(by: 0.1)
        loop.runTimersDue()
        XCTAssertEqual(fired, ["five"])
        clock.advance(by: 100)
        loop.runTimersDue()
        XCTAssertEqual(fired, ["five", "ten"])
        loop.runTimersDue()
        XCTAssertEqual(fired, ["five", "ten"], "a timer fires once")
    }

    /// A periodic timer that re-arms itself (housekeeping, keepalives) ticks once per period of clock time.
    func testRearmingTimerTicksOncePerPeriod() throws {
        let clock = ManualClock()
        let loop = try EventLoop()
        loop.clock = clock.clock
        var ticks = 0
        func arm() { loop.schedule(after: 30) { ticks += 1; arm() } }
        arm()
        for _ in 0..<10 {
            clock.advance(by: 30)
            loop.runTimersDue()
        }
        XCTAssertEqual(ticks, 10)
        XCTAssertEqual(loop.now, 1000 + 300, accuracy: 1e-9)
    }

    /// A timer cancelled by an earlier timer of the same round does not run.
    func testTimerCancelledByEarlierTimerInSameRoundDoesNotRun() throws {
        let clock = ManualClock()
        let loop = try EventLoop()
        loop.clock = clock.clock
        var fired: [Int] = []
        var second: EventLoop.TimerID?
        loop.schedule(after: 1) { fired.append(1); loop.cancel(second) }
        second = loop.schedule(after: 2) { fired.append(2) }
        clock.advance(by: 5)
        loop.runTimersDue()
        XCTAssertEqual(fired, [1])
    }
}
