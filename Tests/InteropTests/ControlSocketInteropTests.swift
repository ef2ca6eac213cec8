import Foundation
import XCTest

/// The control socket and `tincd-swift ctl`: tinc-style dumps of a live mesh with a C peer, JSON for
/// scripts, and a Graphviz graph that `dot` renders.
final class ControlSocketInteropTests: InteropTestCase {
    func testDumpsInfoAndGraphOfALiveMesh() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2)
        let a = TincNode(name: "swiftA", impl: .swift, lab: lab, nsIndex: 0, port: 7401, subnets: ["10.66.1.0/24"])
        let b = TincNode(name: "cB", impl: .c, lab: lab, nsIndex: 1, port: 7402, subnets: ["10.66.2.0/24"])
        a.connectTo = ["cB"]
        watched = [a, b]
        try setUpNetwork([a, b])
        try start(b, a)
        assertEvent(a, "host-up", "cB", timeout: 20)

        let socket = a.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
        func ctl(_ args: String...) throws -> CommandResult {
            try Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket] + args, timeout: 10)
        }
        let nodes = try ctl("dump", "nodes")
        XCTAssertEqual(nodes.status, 0, nodes.stderr)
        XCTAssertTrue(nodes.stdout.contains("cB") && nodes.stdout.contains("reachable"), nodes.stdout)
        let edges = try ctl("dump", "edges")
        XCTAssertTrue(edges.stdout.contains("swiftA") && edges.stdout.contains("cB"), edges.stdout)
        let subnets = try ctl("dump", "subnets")
        XCTAssertTrue(subnets.stdout.contains("10.66.2.0/24"), subnets.stdout)
        let info = try ctl("info", "cB")
        XCTAssertTrue(info.stdout.contains("directly connected"), info.stdout)

        let json = try ctl("--json", "dump", "nodes")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        let cb = parsed?.first { $0["name"] as? String == "cB" }
        XCTAssertEqual(cb?["reachable"] as? Bool, true, json.stdout)

        let unknown = try ctl("info", "nosuchnode")
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("Unknown node"), unknown.stderr)

        // The graph renders with Graphviz and names both nodes.
        let dot = try ctl("dump", "graph")
        XCTAssertTrue(dot.stdout.hasPrefix("digraph"), dot.stdout)
        XCTAssertTrue(dot.stdout.contains("\"swiftA\" -> \"cB\"") || dot.stdout.contains("\"cB\" -> \"swiftA\""), dot.stdout)
        if Shell.which("dot") != nil {
            let dotFile = lab.workDir.appendingPathComponent("graph.dot")
            try dot.stdout.write(to: dotFile, atomically: true, encoding: .utf8)
            let png = lab.workDir.appendingPathComponent("graph.png")
            let r = try Shell.run(["dot", "-Tpng", dotFile.path, "-o", png.path], timeout: 20)
            XCTAssertEqual(r.status, 0, r.stderr)
            let size = (try? FileManager.default.attributesOfItem(atPath: png.path)[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size, 1000)
        }
        assertRunning(a)
    }
}
