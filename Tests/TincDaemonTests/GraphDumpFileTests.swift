import XCTest
import Glibc
import DaemonTestSupport
@testable import TincDaemon

/// GraphDumpFile, both forms, written by the daemon itself (not only the script queue it uses).
final class GraphDumpFileTests: XCTestCase {
    /// `GraphDumpFile = |command`: the command gets exactly the dot text on stdin and the private
    /// temporary file it was read from is gone; a plain path is replaced as a whole.
    func testCommandAndFileGetTheDotGraph() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let h = try DaemonHarness(name: "alpha")
        h.connectPeer("beta")
        let dot = h.daemon.graphDot()
        XCTAssertTrue(dot.contains("\"alpha\" -> \"beta\""), dot)
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("tincd-graph-") }

        // The harness's script runner has no loop, so the command has finished when dumpGraph returns.
        h.daemon.dumpGraph(to: "|cat > '\(dir.path)/piped.dot'")
        let piped = FileManager.default.contents(atPath: dir.path + "/piped.dot").map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(piped, dot)
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("tincd-graph-") }
        XCTAssertEqual(after.subtracting(before), [], "temporary graph files left in /tmp")

        h.daemon.dumpGraph(to: dir.path + "/graph.dot")
        let written = FileManager.default.contents(atPath: dir.path + "/graph.dot").map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(written, dot)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path + "/graph.dot.new"))
    }
}
