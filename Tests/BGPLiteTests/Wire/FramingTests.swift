import XCTest
@testable import BGPLite

final class FramingTests: XCTestCase {
    func testKeepaliveIsExactly19Bytes() throws {
        let k = BGPMessage.keepalive.encode(options: opts4)
        XCTAssertEqual(k, marker + [0x00, 0x13, 0x04])
        XCTAssertEqual(k.count, 19)
        XCTAssertEqual(frame(k).value!, 19)
        XCTAssertEqual(decodeMessage(k).value, .keepalive)
    }

    func testFramingNeedsMoreBytes() {
        let k = BGPMessage.keepalive.encode(options: opts4)
        for n in 0..<19 { XCTAssertEqual(frame(Array(k[..<n])).value!, nil, "prefix \(n)") }
        let u = UpdateMessage.endOfRIB(.ipv6Unicast).encode(options: opts4)
        XCTAssertEqual(frame(Array(u.dropLast())).value!, nil)
        XCTAssertEqual(frame(u).value!, u.count)
        // Several messages back to back: only the first one's length.
        XCTAssertEqual(frame(u + k + k).value!, u.count)
    }

    func testBadMarkerIsConnectionNotSynchronized() {
        var k = BGPMessage.keepalive.encode(options: opts4)
        k[7] = 0xFE
        XCTAssertNotification(frame(k).error, 1, 1, data: [])
        // Detected even before the header is complete.
        XCTAssertNotification(frame(Array(k[..<8])).error, 1, 1, data: [])
        XCTAssertNotification(decodeMessage(k).error, 1, 1, data: [])
    }

    func testBadLengths() {
        // Below the header size.
        XCTAssertNotification(frame(marker + [0x00, 0x12, 0x04]).error, 1, 2, data: [0x00, 0x12])
        // 4097 without extended messages.
        XCTAssertNotification(frame(marker + [0x10, 0x01, 0x02]).error, 1, 2, data: [0x10, 0x01])
        // With extended messages an UPDATE may be larger, OPEN and KEEPALIVE may not (RFC 8654).
        let ext = CodecOptions(fourOctetAS: true, extendedMessages: true)
        XCTAssertEqual(frame(marker + [0x13, 0x88, 0x02], ext).value!, nil) // 5000, incomplete
        XCTAssertNotification(frame(marker + [0x13, 0x88, 0x01], ext).error, 1, 2, data: [0x13, 0x88])
        XCTAssertNotification(frame(marker + [0x13, 0x88, 0x04], ext).error, 1, 2, data: [0x13, 0x88])
        // Per-type minimums (RFC 4271 6.1).
        XCTAssertNotification(frame(marker + [0x00, 0x14, 0x04, 0x00]).error, 1, 2, data: [0x00, 0x14]) // KEEPALIVE 20
        XCTAssertNotification(frame(marker + [0x00, 0x1C, 0x01]).error, 1, 2, data: [0x00, 0x1C]) // OPEN 28
        XCTAssertNotification(frame(marker + [0x00, 0x16, 0x02]).error, 1, 2, data: [0x00, 0x16]) // UPDATE 22
        XCTAssertNotification(frame(marker + [0x00, 0x14, 0x03]).error, 1, 2, data: [0x00, 0x14]) // NOTIFICATION 20
    }

    func testBadType() {
        XCTAssertNotification(frame(marker + [0x00, 0x13, 0x06]).error, 1, 3, data: [6])
        XCTAssertNotification(frame(marker + [0x00, 0x13, 0x00]).error, 1, 3, data: [0])
        XCTAssertNotification(decodeMessage(marker + [0x00, 0x13, 0xFF]).error, 1, 3, data: [0xFF])
    }

    func testDecodeRequiresExactlyOneMessage() {
        let k = BGPMessage.keepalive.encode(options: opts4)
        XCTAssertNotification(decodeMessage(k + [0]).error, 1, 2, data: [0x00, 0x13])
        XCTAssertNotification(decodeMessage(Array(k[..<10])).error, 1, 2)
    }

    func testRouteRefreshKnownAnswerAndLengthError() {
        let rr = BGPMessage.routeRefresh(.request(.ipv6Unicast)).encode(options: opts4)
        XCTAssertEqual(rr, marker + hex("0017 05 0002 00 01"))
        XCTAssertEqual(decodeMessage(rr).value, .routeRefresh(RouteRefreshMessage(afiSafi: .ipv6Unicast, subtype: 0)))
        let borr = BGPMessage.routeRefresh(.borr(.ipv4Unicast)).encode(options: opts4)
        XCTAssertEqual(borr, marker + hex("0017 05 0001 01 01"))
        let eorr = BGPMessage.routeRefresh(.eorr(.ipv4Unicast)).encode(options: opts4)
        XCTAssertEqual(eorr, marker + hex("0017 05 0001 02 01"))
        XCTAssertEqual(decodeMessage(eorr).value, .routeRefresh(.eorr(.ipv4Unicast)))
        // RFC 7313 5: wrong length -> ROUTE-REFRESH Message Error / Invalid Message Length, data = message.
        let bad = marker + hex("0018 05 0001 00 01 00")
        XCTAssertEqual(frame(bad).value!, 24)
        XCTAssertNotification(decodeMessage(bad).error, 7, 1, data: bad)
    }

    func testNotificationRoundTripAndDescriptions() {
        let cases: [(NotificationMessage, String)] = [
            (.holdTimerExpired, "Hold timer expired"),
            (.maximumPrefixes(.ipv4Unicast, limit: 1000), "Cease: Maximum number of prefixes reached"),
            (.administrativeShutdown(), "Cease: Administrative shutdown"),
            (.administrativeReset(), "Cease: Administrative reset"),
            (.administrativeShutdown(message: "maintenance até 12:00"), "Cease: Administrative shutdown: \"maintenance até 12:00\""),
            (.administrativeReset(message: "new config"), "Cease: Administrative reset: \"new config\""),
            // The peer's text cannot start a log line, colour a terminal or turn text around.
            (.administrativeShutdown(message: "a\"b\\c\n\u{1B}[31m\u{9B}\u{7F}\u{202E}z"),
             #"Cease: Administrative shutdown: "a\"b\\c\x0A\x1B[31m\x9B\x7F\u{202E}z""#),
            (NotificationMessage(code: 1, subcode: 2, data: [0, 18]), "Message header error: Bad message length"),
            (NotificationMessage(code: 3, subcode: 1), "UPDATE message error: Malformed attribute list"),
            (NotificationMessage(code: 6, subcode: 0), "Cease"),
            (NotificationMessage(code: 6, subcode: 99), "Cease: subcode 99"),
            (.sendHoldTimerExpired, "Send hold timer expired"),
        ]
        for (n, text) in cases {
            XCTAssertEqual(n.description, text)
            let bytes = BGPMessage.notification(n).encode(options: opts4)
            XCTAssertEqual(decodeMessage(bytes).value, .notification(n))
        }
        // Known answer: Cease / Maximum prefixes with AFI 1, SAFI 1, limit 1000 (RFC 4486).
        XCTAssertEqual(BGPMessage.notification(.maximumPrefixes(.ipv4Unicast, limit: 1000)).encode(options: opts4),
                       marker + hex("001c 03 06 01 0001 01 000003e8"))
        // Shutdown communication: length octet + UTF-8 (RFC 8203/9003).
        XCTAssertEqual(NotificationMessage.administrativeShutdown(message: "bye").data, [3] + Array("bye".utf8))
        let long = String(repeating: "é", count: 200) // 400 bytes: truncated at a character boundary
        let d = NotificationMessage.administrativeShutdown(message: long).data
        XCTAssertEqual(Int(d[0]), d.count - 1)
        XCTAssertEqual(d.count - 1, 254)
        // Inconsistent communication length: no text, no crash.
        XCTAssertEqual(NotificationMessage(code: 6, subcode: 2, data: [50, 65]).description, "Cease: Administrative shutdown")
        // Minimal NOTIFICATION (21 bytes).
        XCTAssertEqual(decodeMessage(marker + hex("0015 03 04 00")).value, .notification(.holdTimerExpired))
    }

    func testErrorDescription() {
        let e = BGPError(code: 4, subcode: 0, reason: "no KEEPALIVE for 240 s")
        XCTAssertEqual(e.description, "Hold timer expired (no KEEPALIVE for 240 s)")
    }
}
