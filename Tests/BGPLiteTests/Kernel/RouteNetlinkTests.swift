import XCTest
@testable import BGPLite

final class RouteNetlinkTests: XCTestCase {
    func testEncodeIPv4Add() {
        let r = RouteNetlink.RouteRequest(type: RouteNetlink.newRoute,
                                          flags: RouteNetlink.flagRequest | RouteNetlink.flagAck | RouteNetlink.flagCreate | RouteNetlink.flagReplace,
                                          sequence: 7, prefix: IPPrefix("10.1.2.0/24")!, gateway: IPPrefix("192.0.2.1")!,
                                          metric: 32, table: 254, protocolNumber: 186, outputInterface: nil)
        var b: [UInt8] = []
        RouteNetlink.append(r, to: &b)
        XCTAssertEqual(b.count, r.encodedSize)
        XCTAssertEqual(b, [
            60, 0, 0, 0, 24, 0, 0x05, 0x05, 7, 0, 0, 0, 0, 0, 0, 0,        // nlmsghdr: len 60, NEWROUTE, REQ|ACK|REPLACE|CREATE
            2, 24, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0,                       // rtmsg: AF_INET /24 main proto 186 universe unicast
            8, 0, 1, 0, 10, 1, 2, 0,                                       // RTA_DST
            8, 0, 5, 0, 192, 0, 2, 1,                                      // RTA_GATEWAY
            8, 0, 6, 0, 32, 0, 0, 0,                                       // RTA_PRIORITY
            8, 0, 15, 0, 254, 0, 0, 0,                                     // RTA_TABLE
        ])
    }

    func testEncodeIPv6DeleteWithBigTable() {
        let r = RouteNetlink.RouteRequest(type: RouteNetlink.delRoute, flags: RouteNetlink.flagRequest, sequence: 1,
                                          prefix: IPPrefix("2001:db8::/32")!, gateway: nil, metric: nil, table: 1000,
                                          protocolNumber: 186, outputInterface: 3)
        var b: [UInt8] = [1, 2, 3, 4]
        RouteNetlink.append(r, to: &b)
        XCTAssertEqual(b.count, 4 + 16 + 12 + 20 + 8 + 8)
        let msgs = RouteNetlink.messages(in: b[4...])
        XCTAssertEqual(msgs.count, 1)
        XCTAssertEqual(msgs[0].type, RouteNetlink.delRoute)
        let p = msgs[0].payload
        XCTAssertEqual(p[p.startIndex], 10)                 // AF_INET6
        XCTAssertEqual(p[p.startIndex + 4], 0)              // rtm_table unspec: the id is in RTA_TABLE
        XCTAssertEqual(p[p.startIndex + 6], 255)            // RT_SCOPE_NOWHERE for delete
        let attrs = RouteNetlink.attributes(in: p, from: p.startIndex + 12)
        XCTAssertEqual(attrs.map { $0.0 }, [1, 4, 15])
        XCTAssertEqual(Array(attrs[0].1), [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12))
        XCTAssertEqual(Array(attrs[2].1), [0xe8, 0x03, 0, 0])
    }

    func testParseRouteRoundTrip() {
        // A kernel RTM_NEWROUTE looks like our request (plus other attributes); parse what we build.
        for (pfx, gw) in [("10.9.0.0/16", "10.0.0.1"), ("2001:db8:1::/48", "fe80::1"), ("0.0.0.0/0", "1.1.1.1")] {
            let r = RouteNetlink.RouteRequest(type: RouteNetlink.newRoute, flags: 0, sequence: 1, prefix: IPPrefix(pfx)!,
                                              gateway: IPPrefix(gw)!, metric: 77, table: 254, protocolNumber: 186, outputInterface: 2)
            var b: [UInt8] = []
            RouteNetlink.append(r, to: &b)
            let m = RouteNetlink.messages(in: b[...])[0]
            let route = RouteNetlink.parseRoute(m)
            XCTAssertEqual(route?.prefix, IPPrefix(pfx)!)
            XCTAssertEqual(route?.gateway?.addressString, IPPrefix(gw)!.addressString)
            XCTAssertEqual(route?.metric, 77)
            XCTAssertEqual(route?.table, 254)
            XCTAssertEqual(route?.protocolNumber, 186)
            XCTAssertEqual(route?.outputInterface, 2)
        }
    }

    func testParseAckWithExtendedMessage() {
        // NLMSG_ERROR, flags CAPPED|ACK_TLVS: errno -101, echoed header (seq 42), NLMSGERR_ATTR_MSG.
        var b: [UInt8] = []
        let text = Array("Nexthop has invalid gateway".utf8) + [0]
        let tlvLen = 4 + text.count
        let total = 16 + 4 + 16 + ((tlvLen + 3) & ~3)
        func u32(_ v: UInt32) { b += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
        u32(UInt32(total)); b += [2, 0, 0x00, 0x03]; u32(42); u32(0)
        u32(UInt32(bitPattern: -101))
        u32(60); b += [24, 0, 5, 5]; u32(42); u32(0)
        b += [UInt8(tlvLen), 0, 1, 0] + text
        while b.count % 4 != 0 { b.append(0) }
        let m = RouteNetlink.messages(in: b[...])
        XCTAssertEqual(m.count, 1)
        let ack = RouteNetlink.parseAck(m[0])
        XCTAssertEqual(ack, RouteNetlink.Ack(error: 101, sequence: 42, message: "Nexthop has invalid gateway"))
    }

    func testMalformedInputNeverTraps() {
        var rng = SystemRandomNumberGenerator()
        var seed: [UInt8] = []
        RouteNetlink.append(.init(type: RouteNetlink.newRoute, flags: 0, sequence: 1, prefix: IPPrefix("2001:db8::/64")!,
                                  gateway: IPPrefix("2001:db8::1")!, metric: 1, table: 254, protocolNumber: 186, outputInterface: 1), to: &seed)
        seed[4] = 2   // also exercise the ACK parser
        for i in 0..<20_000 {
            var b = seed
            if i % 4 == 0 {
                b = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                for _ in 0..<Int.random(in: 1...6, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
            }
            for var m in RouteNetlink.messages(in: b[...]) {
                _ = RouteNetlink.parseAck(m)
                m.type = RouteNetlink.newRoute
                _ = RouteNetlink.parseRoute(m)
                _ = RouteNetlink.attributes(in: m.payload, from: m.payload.startIndex + 3)
            }
        }
    }
}
