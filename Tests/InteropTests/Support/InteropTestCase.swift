import Foundation
import XCTest

/// Base class with assertion helpers that print both nodes' events and log tails on failure.
class InteropTestCase: XCTestCase {
    /// Nodes whose diagnostics are attached to every failure message of the current test.
    var watched: [TincNode] = []
    /// Every wait in a test is capped so the whole test stays within this many seconds
    /// (default 60, env TSW_TEST_BUDGET), even when every step times out.
    private(set) var deadline = Date.distantFuture

    override func setUp() {
        super.setUp()
        continueAfterFailure = true
        watched = []
        let budget = ProcessInfo.processInfo.environment["TSW_TEST_BUDGET"].flatMap(Double.init) ?? 60
        deadline = Date().addingTimeInterval(budget)
    }

    /// A test that needs more than the default budget says so (and stays bounded).
    func setBudget(_ seconds: TimeInterval) {
        deadline = Date().addingTimeInterval(seconds)
    }

    /// `timeout`, capped by what is left of the test's time budget (at least 0.2 s, for a last look).
    func budget(_ timeout: TimeInterval) -> TimeInterval {
        max(0.2, min(timeout, deadline.timeIntervalSinceNow))
    }

    func diagnostics() -> String {
        "\n" + watched.map { $0.diagnostics() }.joined(separator: "\n")
    }

    /// Makes a lab, skipping only when the environment lacks root/ip/tincd.
    func makeLab(nodes: Int, function: String = #function) throws -> NetnsLab {
        try NetnsLab(nodeCount: nodes, testCase: self, function: function)
    }

    /// Starts the nodes in order, each after the previous one listens on its port, so an initiator does not
    /// hit a closed port and wait out tinc's 5 s retry. Not listening after 10 s is not fatal here: the
    /// reachability assertions that follow report the failure with the logs.
    func start(_ nodes: TincNode...) throws {
        for n in nodes {
            try n.start()
            n.waitUntilListening(timeout: budget(10))
        }
    }

    /// Asserts that `node`'s events file gets `kind` for `peer` (and `subnet`) within `timeout` seconds.
    @discardableResult
    func assertEvent(_ node: TincNode, _ kind: String, _ peer: String, subnet: String? = nil, count: Int = 1,
                     timeout: TimeInterval, _ message: String = "",
                     file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let ok = node.waitForEvent(kind, node: peer, subnet: subnet, count: count, timeout: budget(timeout))
        if !ok {
            XCTFail("\(node.name): expected \(count)x `\(kind) \(peer)\(subnet.map { " " + $0 } ?? "")` in its events file within \(timeout)s. \(message)" + diagnostics(),
                    file: file, line: line)
        }
        return ok
    }

    /// Asserts that a log line matching the (case-insensitive) regex appears after `offset` within `timeout`.
    @discardableResult
    func assertLogLine(_ node: TincNode, matching pattern: String, from offset: Int = 0, timeout: TimeInterval,
                       _ message: String = "", file: StaticString = #filePath, line: UInt = #line) -> String? {
        let found = node.log.waitForLine(matching: pattern, from: offset, caseInsensitive: true, timeout: budget(timeout))
        if found == nil {
            XCTFail("\(node.name): no log line matching /\(pattern)/i within \(timeout)s. \(message)" + diagnostics(),
                    file: file, line: line)
        }
        return found
    }

    func assertRunning(_ node: TincNode, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(node.isRunning, "\(node.name) is not running. \(message)" + diagnostics(), file: file, line: line)
    }
}
