import XCTest
import Foundation
import Glibc
import MeshIO
import DaemonTestSupport
@testable import TincDaemon

/// `ctl log [LEVEL]`: the control connection turns into a stream of log lines (tinc 1.1's `tinc log`)
/// that never holds up the loop or the threads that log, and leaves the daemon's own log alone.
final class ControlLogStreamTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/control.sock" }

    override func setUp() {
        var t = Array("/tmp/tincd-swift-log-XXXXXX".utf8CString)
        dir = t.withUnsafeMutableBufferPointer { $0.baseAddress.map { String(cString: mkdtemp($0)) } ?? "" }
        Log.level = 0
    }

    override func tearDown() {
        Log.level = 0
        try? FileManager.default.removeItem(atPath: dir)
    }

    func sendLine(_ fd: Int32, _ text: String) {
        let n = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        XCTAssertEqual(n, text.utf8.count)
    }

    /// A stream at level 5 gets debug lines the sink (level 0) does not, and the sink keeps its own.
    func testStreamGetsLinesUpToItsLevelAndTheSinkIsUnchanged() throws {
        let loop = try EventLoop()
        let server = ControlServer(path: path, loop: loop) { _ in "ok\n" }
        try server.start()
        defer { server.stop() }
        let sink = Locked<[String]>([])
        Log.observer = { m in sink.withLock { $0.append(m) } }
        defer { Log.observer = nil }

        let fd = connectControlClient(path)
        defer { close(fd) }
        sendLine(fd, "log 3\n")
        let reader = ControlServerTests.Reader(fd)
        runLoop(loop, timeout: 10) { server.logClientCount == 1 }
        XCTAssertEqual(server.logClientCount, 1)
        XCTAssertEqual(Log.streamCount, 1)

        Log.debug(3, "stream-marker level 3")
        Log.debug(4, "stream-marker level 4 (above the stream's level)")
        Log.notice("stream-marker notice")
        runLoop(loop, timeout: 10) { reader.pump(); return reader.text.contains("stream-marker notice") }
        XCTAssertEqual(reader.text, "stream-marker level 3\nstream-marker notice\n")
        // The daemon's own log (level 0) got the notice only, as it would without the stream.
        XCTAssertEqual(sink.withLock { $0 }.filter { $0.hasPrefix("stream-marker") }, ["stream-marker notice"])

        // The client leaves: the stream is gone from the logger.
        close(fd)
        runLoop(loop, timeout: 10) { server.logClientCount == 0 }
        XCTAssertEqual(Log.streamCount, 0)
        XCTAssertFalse(Log.enabled(3), "no stream left: level-3 messages are not even built")
    }

    func testJSONLinesAndBadLevel() throws {
        let loop = try EventLoop()
        let server = ControlServer(path: path, loop: loop) { _ in "ok\n" }
        try server.start()
        defer { server.stop() }
        let bad = connectControlClient(path)
        defer { close(bad) }
        sendLine(bad, "log -1\n")
        let badReader = ControlServerTests.Reader(bad)
        runLoop(loop, timeout: 10) { badReader.pump(); return badReader.eof }
        XCTAssertTrue(badReader.text.hasPrefix("ERROR log takes one debug level"), badReader.text)

        let fd = connectControlClient(path)
        defer { close(fd) }
        sendLine(fd, "--json log 2\n")
        let reader = ControlServerTests.Reader(fd)
        runLoop(loop, timeout: 10) { server.logClientCount == 1 }
        Log.info(2, "json \"quoted\" line")
        runLoop(loop, timeout: 10) { reader.pump(); return reader.text.hasSuffix("\n") }
        let line = try JSONDecoder().decode(LogStreamJSONLine.self, from: Data(reader.text.utf8))
        XCTAssertEqual(line, LogStreamJSONLine(level: 2, priority: "info", message: "json \"quoted\" line"))
    }

    /// A client that stops reading: the loop keeps answering others, the logging thread never waits,
    /// the lines that did not fit are dropped and counted, and the client finds a marker where they were.
    func testStalledSubscriberDoesNotStallTheLoopAndGetsADropMarker() throws {
        let loop = try EventLoop()
        let server = ControlServer(path: path, loop: loop) { line in "reply to \(line)\n" }
        server.limits.logBufferLines = 100
        server.limits.logWriteBytes = 4096
        try server.start()
        defer { server.stop() }

        let stalled = connectControlClient(path, receiveBuffer: 4096)
        defer { close(stalled) }
        sendLine(stalled, "log 5\n")
        runLoop(loop, timeout: 10) { server.logClientCount == 1 }

        // Another thread logs far more than the client's socket, its output and its stream can hold.
        let total = 20_000
        let logged = DispatchSemaphore(value: 0)
        let payload = String(repeating: "x", count: 100)
        Thread {
            for i in 0..<total { Log.debug(5, "line \(i) \(payload)") }
            logged.signal()
        }.start()
        // The loop runs meanwhile; the logging thread finishes without the client reading anything.
        var loggerDone = false
        runLoop(loop, timeout: 60) {
            if !loggerDone { loggerDone = logged.wait(timeout: .now()) == .success }
            return loggerDone
        }
        XCTAssertTrue(loggerDone, "the logging thread was held up by a client that does not read")

        // The loop still answers a second client while the first one is stalled.
        let other = connectControlClient(path)
        defer { close(other) }
        sendLine(other, "stats\n")
        let otherReader = ControlServerTests.Reader(other)
        runLoop(loop, timeout: 10) { otherReader.pump(); return otherReader.eof }
        XCTAssertEqual(otherReader.text, "reply to stats\n")

        // Now the client reads: whatever it gets ends in order, with the gap marked and counted; a
        // line logged once the backlog is out arrives as usual.
        // (A marker may already have gone out during the flood: the test waits until every line is
        // accounted for, so the stream is empty again before it logs one more.)
        let reader = ControlServerTests.Reader(stalled)
        func accounted(_ text: String) -> (received: Int, dropped: Int) {
            let lines = text.split(separator: "\n")
            let dropped = lines.filter { $0.hasPrefix("*** ") }.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +)
            return (lines.filter { $0.hasPrefix("line ") }.count, dropped)
        }
        runLoop(loop, timeout: 30) {
            reader.pump()
            guard reader.text.hasSuffix("\n") else { return false }
            let a = accounted(reader.text)
            return a.received + a.dropped >= total
        }
        Log.debug(5, "after the stall")
        runLoop(loop, timeout: 30) { reader.pump(); return reader.text.contains("after the stall\n") }
        let lines = reader.text.split(separator: "\n").map(String.init)
        let markers = lines.filter { $0.hasPrefix("*** ") && $0.contains("log lines dropped") }
        XCTAssertFalse(markers.isEmpty, "no drop marker in \(lines.count) lines")
        let droppedInMarkers = markers.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +)
        let received = lines.filter { $0.hasPrefix("line ") }.count
        XCTAssertEqual(received + droppedInMarkers, total, "every line is either delivered or counted as dropped")
        XCTAssertEqual(server.counters.logLinesDropped, droppedInMarkers)
        XCTAssertGreaterThan(droppedInMarkers, 0)
        // Delivered lines keep their order.
        let numbers = lines.filter { $0.hasPrefix("line ") }.compactMap { Int($0.split(separator: " ")[1]) }
        XCTAssertEqual(numbers, numbers.sorted())
        XCTAssertEqual(lines.last, "after the stall")
    }

    func testSubscribersAreLimited() throws {
        let loop = try EventLoop()
        let server = ControlServer(path: path, loop: loop) { _ in "ok\n" }
        server.limits.maxLogSubscribers = 2
        try server.start()
        defer { server.stop() }
        let a = connectControlClient(path), b = connectControlClient(path), c = connectControlClient(path)
        defer { close(a); close(b); close(c) }
        sendLine(a, "log\n")
        sendLine(b, "log 1\n")
        runLoop(loop, timeout: 10) { server.logClientCount == 2 }
        sendLine(c, "log\n")
        let reader = ControlServerTests.Reader(c)
        runLoop(loop, timeout: 10) { reader.pump(); return reader.eof }
        XCTAssertEqual(reader.text, "ERROR too many log clients (2), try again later\n")
        XCTAssertEqual(server.counters.refusedLogSubscribers, 1)
        XCTAssertEqual(server.logClientCount, 2)
    }

    /// The whole path in a running daemon: `ctl log` (following the daemon's level), `debug 5` and
    /// `reload` from another client, then a peer connecting: their lines arrive in the stream.
    func testLiveDaemonStreamsAfterDebugLevelChange() throws {
        let mesh = try LiveMesh()
        let sock = dir + "/a.sock"
        let a = try mesh.start("a", controlSocket: sock)
        let fd = connectControlClient(sock)
        defer { close(fd) }
        sendLine(fd, "log\n")
        let reader = ControlServerTests.Reader(fd)
        XCTAssertTrue(mesh.wait { a.onLoop { $0.control?.logClientCount } == 1 })

        XCTAssertEqual(controlReply("debug 5", socket: sock), "Old level 0, new level 5.\n")
        XCTAssertEqual(controlReply("reload", socket: sock), "Configuration reloaded.\n")
        XCTAssertTrue(mesh.wait { reader.pump(); return reader.text.contains("Got 'reload' command\n") }, reader.text)
        XCTAssertTrue(reader.text.hasPrefix("Changed debug level from 0 to 5\n"), reader.text)
        _ = try mesh.start("b", connectTo: ["a"])
        XCTAssertTrue(mesh.wait(timeout: 20) { reader.pump(); return reader.text.contains("Connection with b") && reader.text.contains("activated") },
                      "stream so far:\n" + reader.text)
        XCTAssertTrue(reader.text.contains("Got ID from"), "level-3+ protocol lines are streamed at debug 5:\n" + reader.text)
    }
}

/// One command line to a control socket and everything it answers (the loop runs on another thread).
func controlReply(_ line: String, socket: String) -> String {
    let fd = connectControlClient(socket)
    defer { close(fd) }
    _ = (line + "\n").withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    let reader = ControlServerTests.Reader(fd)
    let end = EventLoop.now() + 10
    while !reader.eof && EventLoop.now() < end { reader.pump(); usleep(5_000) }
    return reader.text
}
