import XCTest
@testable import BGPLite

final class UpdateMessageTests: XCTestCase {
    /// ORIGIN IGP, AS_PATH sequence 65001 65002 (4-byte), NEXT_HOP 192.0.2.1, three /24s.
    let updateKAT = hex("""
        ffffffffffffffffffffffffffffffff 003b 02
        0000
        0018
          40 01 01 00
          40 02 0a 02 02 0000fde9 0000fdea
          40 03 04 c0000201
        18 0a0001 18 0a0002 18 0a0003
        """)

    var updateKATValue: UpdateMessage {
        UpdateMessage(attributes: PathAttributes(origin: .igp, asPath: [.sequence([65001, 65002])], nextHop: 0xC000_0201),
                      nlri: [p4("10.0.1.0/24"), p4("10.0.2.0/24"), p4("10.0.3.0/24")])
    }

    func testUpdateKnownAnswer() throws {
        XCTAssertEqual(updateKAT.count, 0x3b)
        XCTAssertEqual(BGPMessage.update(updateKATValue).encode(options: opts4), updateKAT)
        XCTAssertEqual(decodeMessage(updateKAT).value, .update(updateKATValue))
        let d = decodeUpdate(Array(updateKAT[19...]))
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.nlri.map(\.description), ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"])
    }

    func testTwoOctetSessionKnownAnswerWithAS4Path() throws {
        // AS_PATH 65001 4200000000 on a 2-byte session: AS_PATH carries AS_TRANS, AS4_PATH the real path.
        let u = UpdateMessage(attributes: PathAttributes(origin: .igp, asPath: [.sequence([65001, 4_200_000_000])],
                                                         nextHop: 0xC000_0201),
                              nlri: [p4("10.0.1.0/24")])
        let b = BGPMessage.update(u).encode(options: opts2)
        let expectedAttrs = hex("""
            40 01 01 00
            40 02 06 02 02 fde9 5ba0
            40 03 04 c0000201
            c0 11 0a 02 02 0000fde9 fa56ea00
            """)
        XCTAssertEqual(Array(b[19...]), updateBody(attrs: expectedAttrs, nlri: hex("18 0a0001")))
        let d = decodeUpdate(Array(b[19...]), opts2)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.asPath, [.sequence([65001, 23456])])
        XCTAssertEqual(d.update.attributes.as4Path, [.sequence([65001, 4_200_000_000])])
        XCTAssertEqual(d.update.attributes.effectiveASPath, [.sequence([65001, 4_200_000_000])])
        // Re-encoding the decoded form for a 2-byte session reproduces the bytes.
        XCTAssertEqual(BGPMessage.update(d.update).encode(options: opts2), b)
        // On a 4-byte session AS4_PATH is never sent.
        let b4 = BGPMessage.update(u).encode(options: opts4)
        XCTAssertFalse(decodeUpdate(Array(b4[19...])).update.attributes.as4Path != nil)
    }

    func testAS4PathMergeRules() {
        // Old speaker prepended 2 ASes: leading (3 - 1) AS_PATH ASes + AS4_PATH.
        var a = PathAttributes(asPath: [.sequence([100, 200, 23456])], as4Path: [.sequence([4_200_000_001])])
        XCTAssertEqual(a.effectiveASPath, [.sequence([100, 200, 4_200_000_001])])
        // AS_SET counts as one.
        a = PathAttributes(asPath: [.sequence([100]), .set([23456, 300]), .sequence([23456])],
                           as4Path: [.set([4_200_000_001, 300]), .sequence([4_200_000_002])])
        XCTAssertEqual(a.effectiveASPath, [.sequence([100]), .set([4_200_000_001, 300]), .sequence([4_200_000_002])])
        // AS4_PATH longer than AS_PATH: ignored.
        a = PathAttributes(asPath: [.sequence([23456])], as4Path: [.sequence([4_200_000_001, 4_200_000_002])])
        XCTAssertEqual(a.effectiveASPath, [.sequence([23456])])
        // AGGREGATOR not AS_TRANS while AS4_AGGREGATOR present: AS4 attributes ignored.
        a = PathAttributes(asPath: [.sequence([23456])], as4Path: [.sequence([4_200_000_001])],
                           aggregator: Aggregator(as: 65001, address: 1), as4Aggregator: Aggregator(as: 4_200_000_001, address: 1))
        XCTAssertEqual(a.effectiveASPath, [.sequence([23456])])
        XCTAssertEqual(a.effectiveAggregator, Aggregator(as: 65001, address: 1))
        a.aggregator = Aggregator(as: 23456, address: 1)
        XCTAssertEqual(a.effectiveASPath, [.sequence([4_200_000_001])])
        XCTAssertEqual(a.effectiveAggregator, Aggregator(as: 4_200_000_001, address: 1))
        XCTAssertEqual(ASPath.length([.sequence([1, 2, 3]), .set([4, 5]), .confedSequence([6])]), 4)
        XCTAssertEqual(ASPath.string([.sequence([1, 2]), .set([3, 4])]), "1 2 {3 4}")
    }

    func testAggregatorOnTwoOctetSession() throws {
        let u = UpdateMessage(attributes: PathAttributes(origin: .egp, asPath: [.sequence([65001])], nextHop: 1,
                                                         aggregator: Aggregator(as: 4_200_000_000, address: 0x0A00_0001)),
                              nlri: [p4("10.1.0.0/16")])
        let b = BGPMessage.update(u).encode(options: opts2)
        let d = decodeUpdate(Array(b[19...]), opts2)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.aggregator, Aggregator(as: 23456, address: 0x0A00_0001))
        XCTAssertEqual(d.update.attributes.as4Aggregator, Aggregator(as: 4_200_000_000, address: 0x0A00_0001))
        XCTAssertEqual(d.update.attributes.effectiveAggregator, Aggregator(as: 4_200_000_000, address: 0x0A00_0001))
    }

    func testEndOfRIB() throws {
        let v4 = UpdateMessage.endOfRIB(.ipv4Unicast).encode(options: opts4)
        XCTAssertEqual(v4, marker + hex("0017 02 0000 0000"))
        let v6 = UpdateMessage.endOfRIB(.ipv6Unicast).encode(options: opts4)
        XCTAssertEqual(v6, marker + hex("001d 02 0000 0006 80 0f 03 0002 01"))
        guard case .update(let u4)? = decodeMessage(v4).value, case .update(let u6)? = decodeMessage(v6).value else {
            return XCTFail("EoR did not decode")
        }
        XCTAssertTrue(u4.isEndOfRIB(for: .ipv4Unicast))
        XCTAssertFalse(u4.isEndOfRIB(for: .ipv6Unicast))
        XCTAssertTrue(u6.isEndOfRIB(for: .ipv6Unicast))
        XCTAssertFalse(u6.isEndOfRIB(for: .ipv4Unicast))
        XCTAssertEqual(u4.endOfRIBFamily, .ipv4Unicast)
        XCTAssertEqual(u6.endOfRIBFamily, .ipv6Unicast)
        XCTAssertNil(updateKATValue.endOfRIBFamily)
        // An MP_UNREACH EoR for a family BGPLite does not parse is still recognized.
        let vpn = AFISAFI(afi: 1, safi: 128)
        let other = decodeUpdate(updateBody(attrs: attr(0x80, 15, hex("0001 80"))))
        XCTAssertEqual(other.action, .none)
        XCTAssertTrue(other.update.isEndOfRIB(for: vpn))
        // Withdrawals are not an EoR.
        XCTAssertFalse(UpdateMessage(withdrawn: [p4("10.0.0.0/8")]).isEndOfRIB(for: .ipv4Unicast))
    }

    func testIPv6WithGlobalAndLinkLocalNextHop() throws {
        let global = IPPrefix("2001:db8::1")!, ll = IPPrefix("fe80::1")!
        let nh = MPReach.ipv6NextHop(global: global, linkLocal: ll)
        XCTAssertEqual(nh.count, 32)
        let u = UpdateMessage(attributes: PathAttributes(origin: .igp, asPath: [.sequence([65001])],
            mpReach: MPReach(afiSafi: .ipv6Unicast, nextHop: nh,
                             nlri: [IPPrefix("2001:db8:1::/48")!, IPPrefix("2001:db8:2:3::/64")!, IPPrefix("::/0")!])))
        let b = BGPMessage.update(u).encode(options: opts4)
        // MP_REACH_NLRI comes first: 80 0e len 0002 01 20 <32 bytes> 00 30 20010db80001 40 20010db800020003 00
        let mp = Array(b[23..<(23 + 3 + 5 + 32 + 7 + 9 + 1)])
        XCTAssertEqual(Array(mp[0..<9]), hex("80 0e 36 0002 01 20 2001"))
        XCTAssertEqual(Array(mp[(mp.count - 17)...]), hex("30 20010db80001 40 20010db800020003 00"))
        let d = decodeUpdate(Array(b[19...]))
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update, u)
        let hops = try XCTUnwrap(d.update.attributes.mpReach).ipv6NextHops
        XCTAssertEqual(hops.global, global)
        XCTAssertEqual(hops.linkLocal, ll)
        // Global only: 16 bytes.
        var u16 = u
        u16.attributes.mpReach!.nextHop = global.addressBytes
        let d16 = decodeUpdate(Array(BGPMessage.update(u16).encode(options: opts4)[19...]))
        XCTAssertEqual(d16.update, u16)
        XCTAssertNil(d16.update.attributes.mpReach!.ipv6NextHops.linkLocal)
    }

    func testFullAttributeRoundTrip() throws {
        let attrs = PathAttributes(
            origin: .incomplete, asPath: [.sequence([65001, 65002]), .set([64512, 64513])], nextHop: 0x0A00_0001,
            med: 50, localPref: 200, atomicAggregate: true, aggregator: Aggregator(as: 65002, address: 0x0A00_0002),
            communities: [0xFDE9_0001, PathAttributes.noExport],
            mpReach: MPReach(afiSafi: .ipv6Unicast, nextHop: IPPrefix("2001:db8::1")!.addressBytes, nlri: [IPPrefix("2001:db8::/32")!]),
            mpUnreach: MPUnreach(afiSafi: .ipv6Unicast, withdrawn: [IPPrefix("2001:db8:ffff::/48")!]),
            unknown: [RawAttribute(flags: 0xC0, type: 32, value: be32(65001) + be32(1) + be32(2)),
                      RawAttribute(flags: 0xC0, type: 16, value: hex("0002fde900000064")),
                      RawAttribute(flags: 0xE0, type: 99, value: [UInt8](repeating: 7, count: 300))])
        let u = UpdateMessage(withdrawn: [p4("192.168.0.0/16"), p4("0.0.0.0/0"), p4("10.1.2.3/32")], attributes: attrs,
                              nlri: [p4("10.0.0.0/8"), p4("172.16.0.0/12")])
        for o in [opts4, opts2] {
            let b = BGPMessage.update(u).encode(options: o)
            let d = decodeUpdate(Array(b[19...]), o)
            XCTAssertEqual(d.action, .none, "\(d.reasons)")
            XCTAssertEqual(d.update, u)
            XCTAssertEqual(decodeMessage(b, o).value, .update(u))
        }
    }

    func testUnknownAttributesPartialBitAndNonTransitiveDropped() {
        let body = updateBody(attrs: mandatory4 + attr(0xC0, 99, [1, 2, 3]) + attr(0x80, 98, [4, 5]), nlri: threeSlash24)
        let d = decodeUpdate(body)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.unknown, [RawAttribute(flags: 0xE0, type: 99, value: [1, 2, 3])])
        // Re-advertised with the Partial bit.
        let out = BGPMessage.update(d.update).encode(options: opts4)
        XCTAssertTrue(hexString(out).contains("e0630301020"))
    }

    func testAddPathRoundTrip() {
        let o = CodecOptions(fourOctetAS: true, addPathReceive: [.ipv4Unicast, .ipv6Unicast], addPathSend: [.ipv4Unicast, .ipv6Unicast])
        let u = UpdateMessage(withdrawn: [p4("10.9.0.0/16")],
                              attributes: PathAttributes(origin: .igp, asPath: [], nextHop: 1,
                                  mpReach: MPReach(afiSafi: .ipv6Unicast, nextHop: IPPrefix("2001:db8::1")!.addressBytes,
                                                   nlri: [IPPrefix("2001:db8::/32")!], pathIDs: [9])),
                              nlri: [p4("10.0.0.0/8"), p4("10.0.0.0/8")], withdrawnPathIDs: [3], nlriPathIDs: [1, 2])
        let b = BGPMessage.update(u).encode(options: o)
        XCTAssertEqual(Array(b[19..<28]), hex("0007 00000003 10 0a09"))
        let d = decodeUpdate(Array(b[19...]), o)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update, u)
    }

    func testPackUpdatesIPv4() throws {
        let prefixes = (0..<10_000).map { IPPrefix(ipv4: 0x0A00_0000 | UInt32($0) << 8, length: 24) }
        let attrs = PathAttributes(origin: .igp, asPath: [.sequence([65001])], nextHop: 0xC000_0201)
        let msgs = UpdateMessage.packUpdates(attributes: attrs, prefixes: prefixes, options: opts4)
        var back: [IPPrefix] = []
        for m in msgs {
            XCTAssertLessThanOrEqual(m.count, 4096)
            guard case .update(let u)? = decodeMessage(m).value else { return XCTFail("bad packed message") }
            XCTAssertEqual(u.attributes, attrs)
            back += u.nlri
        }
        XCTAssertEqual(back, prefixes)
        // 4096 - 19 - 4 - 20 bytes of attributes = 4053 -> 1013 /24s per message.
        let per = (4096 - 23 - 20) / 4
        XCTAssertEqual(msgs.count, (10_000 + per - 1) / per)
        XCTAssertGreaterThan(msgs[0].count, 4096 - 4)
        // Withdrawals.
        let wd = UpdateMessage.packWithdrawals(prefixes: prefixes, options: opts4)
        var wback: [IPPrefix] = []
        for m in wd {
            XCTAssertLessThanOrEqual(m.count, 4096)
            guard case .update(let u)? = decodeMessage(m).value else { return XCTFail() }
            wback += u.withdrawn
        }
        XCTAssertEqual(wback, prefixes)
    }

    func testPackUpdatesMixedFamiliesAndExtended() throws {
        let v6 = (0..<3000).map { IPPrefix(family: .ipv6, hi: 0x2001_0DB8_0000_0000 | UInt64($0) << 16, lo: 0, length: 48) }
        let v4 = (0..<3000).map { IPPrefix(ipv4: 0xC0A8_0000 | UInt32($0), length: 32) }
        let nh = MPReach.ipv6NextHop(global: IPPrefix("2001:db8::1")!, linkLocal: IPPrefix("fe80::1")!)
        let attrs = PathAttributes(origin: .igp, asPath: [.sequence([65001, 65002])], nextHop: 0xC000_0201,
                                   communities: [1, 2, 3],
                                   mpReach: MPReach(afiSafi: .ipv6Unicast, nextHop: nh, nlri: []))
        for o in [opts4, CodecOptions(fourOctetAS: true, extendedMessages: true)] {
            let msgs = UpdateMessage.packUpdates(attributes: attrs, prefixes: v6 + v4, options: o)
            var b4: [IPPrefix] = [], b6: [IPPrefix] = []
            for m in msgs {
                XCTAssertLessThanOrEqual(m.count, o.extendedMessages ? 65535 : 4096)
                guard case .update(let u)? = decodeMessage(m, o).value else { return XCTFail() }
                b4 += u.nlri
                if let r = u.attributes.mpReach {
                    XCTAssertEqual(r.nextHop, nh)
                    XCTAssertNil(u.attributes.nextHop)
                    XCTAssertEqual(u.attributes.communities, [1, 2, 3])
                    b6 += r.nlri
                }
            }
            XCTAssertEqual(b4, v4)
            XCTAssertEqual(b6, v6)
            if o.extendedMessages { XCTAssertLessThan(msgs.count, 4) }
        }
        let wd = UpdateMessage.packWithdrawals(prefixes: v6, options: opts4)
        var back: [IPPrefix] = []
        for m in wd {
            guard case .update(let u)? = decodeMessage(m).value else { return XCTFail() }
            back += u.attributes.mpUnreach!.withdrawn
        }
        XCTAssertEqual(back, v6)
    }

    func testMessageTypes() {
        XCTAssertEqual(BGPMessage.keepalive.type, .keepalive)
        XCTAssertEqual(BGPMessageType.routeRefresh.rawValue, 5)
        XCTAssertEqual(AFISAFI.ipv6Unicast.description, "ipv6-unicast")
    }
}
