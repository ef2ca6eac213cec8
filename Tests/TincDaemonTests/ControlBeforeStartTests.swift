import XCTest
@testable import TincDaemon
import TincProtocol

/// Operator views read the daemon's parts (script runner, device) before `start()` has opened
/// them: the fuzz harness does, and so could a future caller. They must answer, not trap.
/// Regression for the CI fuzz smoke crash on the control seed `stats` (the script runner was
/// an implicitly unwrapped optional set only in `start()`).
final class ControlBeforeStartTests: XCTestCase {
    func testReadOnlyCommandsAnswerOnADaemonThatHasNotStarted() throws {
        let d = try MeshDaemon(settings: DaemonSettings(name: "me", confDir: "/nonexistent-tincd-swift-test"),
                               loadPeer: { PeerSettings(name: $0) })
        let lines = ["stats", "--json stats", "dump nodes", "--json dump nodes", "dump edges", "dump subnets",
                     "dump connections", "dump graph", "info me", "--json info me", "show protocols", "debug 0"]
        for line in lines {
            let reply = d.controlCommand(line)
            XCTAssertFalse(reply.isEmpty, line)
            if line.hasPrefix("show") {
                XCTAssertTrue(reply.hasPrefix("ERROR BGP is not running"), "\(line): \(reply)")
            } else {
                XCTAssertFalse(reply.hasPrefix("ERROR"), "\(line): \(reply)")
            }
        }
        XCTAssertTrue(d.controlCommand("stats").contains("scripts"), "stats names the script counters")
        d.dumpDeviceStats()   // SIGUSR2's device lines: a dummy device until start opens the real one
    }
}
