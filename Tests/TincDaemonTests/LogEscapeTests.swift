import XCTest
import MeshIO

/// Log.escape and the log sinks: peer text cannot add lines, colours or terminal commands to a log.
final class LogEscapeTests: XCTestCase {
    /// Control-socket replies keep birdc's tab before a next hop (validate.sh and operators' scripts
    /// parse it); every other control character is still escaped.
    func testTabsKeptOnlyWhenAsked() {
        XCTAssertEqual(Log.escape("10.0.0.0/24 unicast\n\tvia 10.0.0.1", limit: 100), "10.0.0.0/24 unicast\\x0A\\x09via 10.0.0.1")
        XCTAssertEqual(Log.escape("\tvia 10.0.0.1 on tinc0", limit: 100, keepTabs: true), "\tvia 10.0.0.1 on tinc0")
        XCTAssertEqual(Log.escape("\tvia\u{1B}[31m", limit: 100, keepTabs: true), "\tvia\\x1B[31m")
    }

    func testControlCharactersBecomeHex() {
        XCTAssertEqual(Log.escape("plain text 10.0.0.1/24 port 655"), "plain text 10.0.0.1/24 port 655")
        XCTAssertEqual(Log.escape("a\nb\rc\td\u{0}e"), #"a\x0Ab\x0Dc\x09d\x00e"#)
        XCTAssertEqual(Log.escape("\u{1B}[2J\u{1B}]0;title\u{07}"), #"\x1B[2J\x1B]0;title\x07"#)
        XCTAssertEqual(Log.escape("del\u{7F} csi\u{9B}31m"), #"del\x7F csi\x9B31m"#)
        XCTAssertEqual(Log.escape("line\u{2028}sep \u{202E}txt.exe"), #"line\u{2028}sep \u{202E}txt.exe"#)
        // Printable non-ASCII and backslashes stay; escaping twice changes nothing.
        XCTAssertEqual(Log.escape("knoten-ü \\x41 ✓"), "knoten-ü \\x41 ✓")
        let once = Log.escape("x\n\u{1B}y\u{2066}")
        XCTAssertEqual(Log.escape(once), once)
    }

    func testEveryByteValue() {
        // Whatever bytes a peer sends (decoded as UTF-8 with replacement), nothing below 0x20, no DEL and no C1.
        var bytes = [UInt8](0...255)
        bytes += [0xC2, 0x9B, 0xE2, 0x80, 0xA8, 0xFF, 0xFE]
        let s = Log.escape(String(decoding: bytes, as: UTF8.self), limit: 100_000)
        for u in s.unicodeScalars {
            XCTAssertFalse(u.value < 0x20 || u.value == 0x7F || (0x80...0x9F).contains(u.value) || u.value == 0x2028, "U+\(String(u.value, radix: 16))")
        }
    }

    func testLongTextIsCut() {
        let long = String(repeating: "A", count: 10_000)
        let out = Log.escape(long, limit: 100)
        XCTAssertTrue(out.hasPrefix(String(repeating: "A", count: 100)))
        XCTAssertTrue(out.hasSuffix("...(cut, 10000 bytes in all)"), out)
        XCTAssertLessThan(out.utf8.count, 140)
        // Escapes count toward the limit and are never split.
        let esc = Log.escape(String(repeating: "\n", count: 50), limit: 10)
        XCTAssertTrue(esc.hasPrefix(#"\x0A\x0A...(cut"#), esc)
    }

    /// The sink escapes whatever a call site forgot: one log call is one line.
    func testSinkEscapesWholeMessage() {
        let captured = Locked<[String]>([])
        Log.observer = { m in captured.withLock { $0.append(m) } }
        defer { Log.observer = nil }
        var seen: [String] { captured.withLock { $0 } }
        let peerLine = "ADD_SUBNET x y\nError: fake line\u{1B}[31m"
        Log.error("Got bad request from peer: \(peerLine)")
        XCTAssertEqual(seen, [#"Got bad request from peer: ADD_SUBNET x y\x0AError: fake line\x1B[31m"#])
        Log.warning(String(repeating: "B", count: Log.maxMessageBytes * 2))
        XCTAssertLessThanOrEqual(seen.last?.utf8.count ?? 0, Log.maxMessageBytes + 64)
    }
}
