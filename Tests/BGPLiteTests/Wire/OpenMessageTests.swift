import XCTest
@testable import BGPLite

final class OpenMessageTests: XCTestCase {
    /// An OPEN laid out the way BIRD 2 sends it: AS 65001, hold 240, router ID 10.0.0.1,
    /// one Capabilities parameter with MP ipv4+ipv6 unicast, route refresh, graceful
    /// restart (120 s, both families), 4-octet AS and enhanced route refresh.
    let birdOpen = hex("""
        ffffffffffffffffffffffffffffffff 0041 01
        04 fde9 00f0 0a000001
        24 02 22
          01 04 0001 00 01
          01 04 0002 00 01
          02 00
          40 0a 0078 0001 01 00 0002 01 00
          41 04 0000fde9
          46 00
        """)

    var birdOpenValue: OpenMessage {
        OpenMessage(myAS: 65001, holdTime: 240, bgpIdentifier: 0x0A00_0001, capabilities: [
            .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .routeRefresh,
            .gracefulRestart(GracefulRestartCapability(restartTime: 120, families: [
                (.ipv4Unicast, forwardingPreserved: false), (.ipv6Unicast, forwardingPreserved: false)])),
            .fourOctetAS(65001), .enhancedRouteRefresh,
        ])
    }

    func testBirdOpenKnownAnswer() throws {
        XCTAssertEqual(birdOpen.count, 0x41)
        let m = try XCTUnwrap(decodeMessage(birdOpen, .initial).value)
        guard case .open(let o) = m else { return XCTFail("not an OPEN") }
        XCTAssertEqual(o, birdOpenValue)
        XCTAssertEqual(o.multiprotocolFamilies, [.ipv4Unicast, .ipv6Unicast])
        XCTAssertTrue(o.supportsRouteRefresh)
        XCTAssertTrue(o.supportsEnhancedRouteRefresh)
        XCTAssertFalse(o.supportsExtendedMessages)
        XCTAssertEqual(o.fourOctetASCapability, 65001)
        XCTAssertEqual(o.gracefulRestart?.restartTime, 120)
        XCTAssertEqual(BGPMessage.open(birdOpenValue).encode(options: .initial), birdOpen)
    }

    func testFourOctetASUsesASTrans() throws {
        let o = OpenMessage(myAS: 4_200_000_000, holdTime: 90, bgpIdentifier: 0xC000_0201,
                            capabilities: [.fourOctetAS(4_200_000_000)])
        let b = BGPMessage.open(o).encode(options: .initial)
        XCTAssertEqual(Array(b[19...]), hex("04 5ba0 005a c0000201 08 02 06 41 04 fa56ea00"))
        XCTAssertEqual(decodeMessage(b, .initial).value, .open(o))
        XCTAssertEqual(o.twoOctetAS, 23456)
    }

    func testEveryCapabilityRoundTrips() throws {
        let caps: [Capability] = [
            .multiprotocol(.ipv4Unicast), .multiprotocol(AFISAFI(afi: 25, safi: 65)),
            .routeRefresh, .enhancedRouteRefresh, .fourOctetAS(65_000), .extendedMessage,
            .gracefulRestart(GracefulRestartCapability(restartState: true, notification: true, restartTime: 4095,
                                                       families: [GracefulRestartFamily(.ipv6Unicast, forwardingPreserved: true)])),
            .gracefulRestart(GracefulRestartCapability(restartTime: 0, families: [])),
            .addPath([AddPathEntry(.ipv4Unicast, mode: .receive), AddPathEntry(.ipv6Unicast, mode: .both)]),
            .unknown(code: 73, data: Array("host".utf8)),
            .unknown(code: 128, data: []),
        ]
        for c in caps {
            let o = OpenMessage(myAS: 65000, holdTime: 0, bgpIdentifier: 1, capabilities: [c])
            let b = BGPMessage.open(o).encode(options: .initial)
            XCTAssertEqual(decodeMessage(b, .initial).value, .open(o), "\(c)")
        }
        let all = OpenMessage(myAS: 65000, holdTime: 3, bgpIdentifier: 1, capabilities: caps)
        XCTAssertEqual(decodeMessage(BGPMessage.open(all).encode(options: .initial), .initial).value, .open(all))
        // Known answers for a few capability values.
        XCTAssertEqual(Capability.gracefulRestart(GracefulRestartCapability(restartState: true, restartTime: 120,
            families: [(.ipv4Unicast, forwardingPreserved: true)])).value, hex("8078 0001 01 80"))
        XCTAssertEqual(Capability.addPath([AddPathEntry(.ipv6Unicast, mode: .send)]).value, hex("0002 01 02"))
        XCTAssertEqual(Capability.multiprotocol(.ipv6Unicast).value, hex("0002 00 01"))
    }

    func testCapabilitiesSpreadOverSeveralParameters() throws {
        // RFC 5492: several Capabilities parameters, each with one capability.
        let body = hex("04 fde9 00b4 0a000002 0c 02 06 01 04 0001 00 01 02 02 02 00")
        let m = try XCTUnwrap(decodeMessage(bgpMessage(type: 1, body: body), .initial).value)
        guard case .open(let o) = m else { return XCTFail() }
        XCTAssertEqual(o.capabilities, [.multiprotocol(.ipv4Unicast), .routeRefresh])
        XCTAssertEqual(o.myAS, 65001) // no AS4 capability: 2-byte field
    }

    func testExtendedOptionalParameters() throws {
        // More than 255 bytes of capabilities -> RFC 9072 encoding.
        let caps = (0..<30).map { Capability.unknown(code: 200, data: [UInt8](repeating: UInt8($0), count: 10)) }
        let o = OpenMessage(myAS: 65000, holdTime: 180, bgpIdentifier: 7, capabilities: caps)
        let b = BGPMessage.open(o).encode(options: .initial)
        XCTAssertEqual(b[28], 255)
        XCTAssertEqual(b[29], 255)
        XCTAssertEqual(decodeMessage(b, .initial).value, .open(o))
    }

    func testOpenErrors() {
        func body(version: UInt8 = 4, asn: [UInt8] = [0xfd, 0xe9], hold: [UInt8] = [0, 0xb4],
                  id: [UInt8] = [10, 0, 0, 1], params: [UInt8] = []) -> [UInt8] {
            bgpMessage(type: 1, body: [version] + asn + hold + id + [UInt8(params.count)] + params)
        }
        XCTAssertNotNil(decodeMessage(body(), .initial).value)
        XCTAssertNotification(decodeMessage(body(version: 3), .initial).error, 2, 1, data: [0, 4])
        XCTAssertNotification(decodeMessage(body(hold: [0, 1]), .initial).error, 2, 6)
        XCTAssertNotification(decodeMessage(body(hold: [0, 2]), .initial).error, 2, 6)
        XCTAssertNotNil(decodeMessage(body(hold: [0, 3]), .initial).value)
        XCTAssertNotification(decodeMessage(body(id: [0, 0, 0, 0]), .initial).error, 2, 3)
        XCTAssertNotification(decodeMessage(body(asn: [0, 0]), .initial).error, 2, 2)
        // Authentication parameter (type 1, deprecated) -> Unsupported Optional Parameter.
        XCTAssertNotification(decodeMessage(body(params: [1, 2, 0, 0]), .initial).error, 2, 4)
        // Malformed capability (MP with 3 bytes).
        XCTAssertNotification(decodeMessage(body(params: [2, 5, 1, 3, 0, 1, 0]), .initial).error, 2, 0)
        // Capability overrunning its parameter.
        XCTAssertNotification(decodeMessage(body(params: [2, 3, 1, 4, 0]), .initial).error, 2, 0)
        // Optional parameter length inconsistent with the message length.
        var b = body(params: [2, 2, 2, 0])
        b[28] = 5
        XCTAssertNotification(decodeMessage(b, .initial).error, 1, 2)
        // Parameter longer than the optional parameters field.
        XCTAssertNotification(decodeMessage(body(params: [2, 9, 2, 0]), .initial).error, 2, 0)
    }
}
