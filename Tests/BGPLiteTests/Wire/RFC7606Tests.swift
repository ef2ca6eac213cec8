import XCTest
@testable import BGPLite

/// Malformed UPDATEs built by hand, one per RFC 7606 rule.
final class RFC7606Tests: XCTestCase {
    let prefixes = [p4("10.0.1.0/24"), p4("10.0.2.0/24"), p4("10.0.3.0/24")]

    func testValidBaseline() {
        let d = decodeUpdate(updateBody(attrs: mandatory4, nlri: threeSlash24))
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.nlri, prefixes)
    }

    // MARK: ORIGIN (7.1)
    func testOriginBadLengthAndValue() {
        for bad in [attr(0x40, 1, [0, 0]), attr(0x40, 1, []), attr(0x40, 1, [3])] {
            let d = decodeUpdate(updateBody(attrs: bad + aASPath65001 + aNextHop, nlri: threeSlash24))
            XCTAssertWithdraw(d)
            XCTAssertEqual(d.update.nlri, prefixes, "prefixes kept for withdrawal")
        }
    }

    // MARK: AS_PATH (7.2)
    func testASPathMalformed() {
        let cases: [[UInt8]] = [
            [2, 2] + be32(65001),                 // overrun
            [2, 1] + be32(65001) + [2],           // one octet left
            [2, 0],                               // zero-length segment
            [5, 1] + be32(65001),                 // unknown segment type
            [2, 1, 0, 0],                         // 2-byte AS on a 4-byte session: overrun
        ]
        for v in cases {
            let d = decodeUpdate(updateBody(attrs: aOriginIGP + attr(0x40, 2, v) + aNextHop, nlri: threeSlash24))
            XCTAssertWithdraw(d)
            XCTAssertEqual(d.update.nlri, prefixes)
        }
        // Empty AS_PATH (iBGP) is fine.
        XCTAssertEqual(decodeUpdate(updateBody(attrs: aOriginIGP + attr(0x40, 2, []) + aNextHop, nlri: threeSlash24)).action, .none)
    }

    func testConfederationSegments() {
        let v = [3, 1] + be32(64512) + [2, 1] + be32(65001)
        let body = updateBody(attrs: aOriginIGP + attr(0x40, 2, v) + aNextHop, nlri: threeSlash24)
        XCTAssertWithdraw(decodeUpdate(body))
        var o = opts4
        o.confederationPeer = true
        let d = decodeUpdate(body, o)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.asPath, [.confedSequence([64512]), .sequence([65001])])
        // Round trip keeps them.
        XCTAssertEqual(decodeUpdate(Array(BGPMessage.update(d.update).encode(options: o)[19...]), o).update, d.update)
    }

    // MARK: NEXT_HOP, MED, LOCAL_PREF (7.3-7.5)
    func testFixedLengthAttributes() {
        let cases: [[UInt8]] = [
            aOriginIGP + aASPath65001 + attr(0x40, 3, [1, 2, 3, 4, 5]),
            mandatory4 + attr(0x80, 4, [0, 0, 1]),
            mandatory4 + attr(0x40, 5, [0, 100]),
        ]
        for a in cases {
            let d = decodeUpdate(updateBody(attrs: a, nlri: threeSlash24))
            XCTAssertWithdraw(d)
            XCTAssertEqual(d.update.nlri, prefixes)
        }
        let ok = decodeUpdate(updateBody(attrs: mandatory4 + attr(0x80, 4, be32(7)) + attr(0x40, 5, be32(300)), nlri: threeSlash24))
        XCTAssertEqual(ok.action, .none)
        XCTAssertEqual(ok.update.attributes.med, 7)
        XCTAssertEqual(ok.update.attributes.localPref, 300)
        // LOCAL_PREF from an eBGP peer: attribute discard, done by the session with this helper.
        var a = ok.update.attributes
        XCTAssertTrue(a.discardLocalPrefFromExternalPeer())
        XCTAssertNil(a.localPref)
        XCTAssertFalse(a.discardLocalPrefFromExternalPeer())
    }

    // MARK: ATOMIC_AGGREGATE, AGGREGATOR (7.6, 7.7) -> attribute discard
    func testAtomicAggregateAndAggregatorDiscard() {
        var d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0x40, 6, [1]), nlri: threeSlash24))
        XCTAssertDiscard(d)
        XCTAssertFalse(d.update.attributes.atomicAggregate)
        XCTAssertEqual(d.update.nlri, prefixes)

        d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 7, [0, 0, 0xfd, 0xe9, 10, 0, 0]), nlri: threeSlash24))
        XCTAssertDiscard(d)
        XCTAssertNil(d.update.attributes.aggregator)
        // 6 bytes is right for a 2-byte session, wrong for a 4-byte one.
        let agg6 = attr(0xC0, 7, [0xfd, 0xe9, 10, 0, 0, 1])
        XCTAssertDiscard(decodeUpdate(updateBody(attrs: mandatory4 + agg6, nlri: threeSlash24)))
        let two = aOriginIGP + attr(0x40, 2, [2, 1, 0xfd, 0xe9]) + aNextHop
        d = decodeUpdate(updateBody(attrs: two + agg6, nlri: threeSlash24), opts2)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.aggregator, Aggregator(as: 65001, address: 0x0A00_0001))
    }

    // MARK: COMMUNITIES (7.8) and other community attributes
    func testCommunities() {
        for v in [[UInt8](repeating: 1, count: 5), []] {
            let d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 8, v), nlri: threeSlash24))
            XCTAssertWithdraw(d)
        }
        XCTAssertWithdraw(decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 16, [UInt8](repeating: 0, count: 7)), nlri: threeSlash24)))
        XCTAssertWithdraw(decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 32, [UInt8](repeating: 0, count: 13)), nlri: threeSlash24)))
        let d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 8, be32(0xFDE9_0064) + be32(0xFFFF_FF01)), nlri: threeSlash24))
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.communities, [0xFDE9_0064, PathAttributes.noExport])
    }

    func testRouteReflectionAttributes() {
        XCTAssertWithdraw(decodeUpdate(updateBody(attrs: mandatory4 + attr(0x80, 9, [1, 2, 3]), nlri: threeSlash24)))
        XCTAssertWithdraw(decodeUpdate(updateBody(attrs: mandatory4 + attr(0x80, 10, [1, 2, 3, 4, 5]), nlri: threeSlash24)))
        XCTAssertEqual(decodeUpdate(updateBody(attrs: mandatory4 + attr(0x80, 9, [1, 2, 3, 4]) + attr(0x80, 10, [1, 2, 3, 4]),
                                               nlri: threeSlash24)).action, .none)
    }

    // MARK: AS4_PATH / AS4_AGGREGATOR (RFC 6793 6, RFC 7606 7.)
    func testAS4AttributesOnTwoOctetSession() {
        let two = aOriginIGP + attr(0x40, 2, [2, 1, 0x5b, 0xa0]) + aNextHop
        // Malformed AS4_PATH -> discarded, route kept.
        var d = decodeUpdate(updateBody(attrs: two + attr(0xC0, 17, [2, 2] + be32(1)), nlri: threeSlash24), opts2)
        XCTAssertDiscard(d)
        XCTAssertNil(d.update.attributes.as4Path)
        XCTAssertEqual(d.update.nlri, prefixes)
        // AS4_PATH with confederation segments -> discarded.
        d = decodeUpdate(updateBody(attrs: two + attr(0xC0, 17, [3, 1] + be32(1)), nlri: threeSlash24), opts2)
        XCTAssertDiscard(d)
        // Bad AS4_AGGREGATOR length -> discarded.
        d = decodeUpdate(updateBody(attrs: two + attr(0xC0, 18, [0, 0, 0, 1, 0, 0]), nlri: threeSlash24), opts2)
        XCTAssertDiscard(d)
        XCTAssertNil(d.update.attributes.as4Aggregator)
        // Valid AS4_PATH merges.
        d = decodeUpdate(updateBody(attrs: two + attr(0xC0, 17, [2, 1] + be32(4_200_000_000)), nlri: threeSlash24), opts2)
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.effectiveASPath, [.sequence([4_200_000_000])])
    }

    func testAS4AttributesIgnoredOnFourOctetSession() {
        let d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0xC0, 17, [2, 1] + be32(7)) + attr(0xC0, 18, [1]),
                                        nlri: threeSlash24))
        XCTAssertEqual(d.action, .none)
        XCTAssertNil(d.update.attributes.as4Path)
        XCTAssertNil(d.update.attributes.as4Aggregator)
    }

    // MARK: Flags (3 c)
    func testAttributeFlags() {
        let cases: [[UInt8]] = [
            attr(0xC0, 1, [0]) + aASPath65001 + aNextHop,      // ORIGIN marked optional
            aOriginIGP + attr(0x00, 2, [2, 1] + be32(65001)) + aNextHop, // AS_PATH non-transitive
            mandatory4 + attr(0xC0, 4, be32(1)),               // MED transitive
            mandatory4 + attr(0x80, 8, be32(1)),               // COMMUNITIES non-transitive
        ]
        for a in cases { XCTAssertWithdraw(decodeUpdate(updateBody(attrs: a, nlri: threeSlash24))) }
        // Partial and Extended Length bits do not matter for well-known attributes.
        let d = decodeUpdate(updateBody(attrs: attr(0x60, 1, [0]) + attr(0x40, 2, [2, 1] + be32(65001), extended: true) + aNextHop,
                                        nlri: threeSlash24))
        XCTAssertEqual(d.action, .none)
        // MP_REACH_NLRI with bad flags -> session reset.
        let mp = attr(0xC0, 14, hex("0002 01 10 20010db8000000000000000000000001 00 20 20010db8"))
        XCTAssertReset(decodeUpdate(updateBody(attrs: mp + aOriginIGP + aASPath65001)), 3, 9)
    }

    // MARK: Duplicates (3 g)
    func testDuplicateAttributes() {
        let d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0x40, 1, [2]), nlri: threeSlash24))
        XCTAssertDiscard(d)
        XCTAssertEqual(d.update.attributes.origin, .igp, "first occurrence wins")
        let mp = attr(0x80, 15, hex("0002 01"))
        XCTAssertReset(decodeUpdate(updateBody(attrs: mp + mp)), 3, 1)
        let reach = attr(0x80, 14, hex("0002 01 10 20010db8000000000000000000000001 00"))
        XCTAssertReset(decodeUpdate(updateBody(attrs: reach + aOriginIGP + aASPath65001 + reach)), 3, 1)
    }

    // MARK: MP_REACH / MP_UNREACH (7.11, 7.12)
    func testMPErrorsResetSession() {
        let nh = "20010db8000000000000000000000001"
        let cases: [[UInt8]] = [
            attr(0x80, 14, hex("0002 01")),                                   // too short
            attr(0x80, 14, hex("0002 01 05 0102030405 00 20 20010db8")),      // bad IPv6 next hop length
            attr(0x80, 14, hex("0002 01 20 \(nh)")),                          // next hop overruns
            attr(0x80, 14, hex("0002 01 10 \(nh) 00 81 20010db8")),           // prefix length 129
            attr(0x80, 14, hex("0002 01 10 \(nh) 00 40 20010db8")),           // truncated prefix
            attr(0x80, 14, hex("0001 01 10 \(nh) 00 21 0a000001ff")),         // IPv4 /33
            attr(0x80, 15, hex("0002")),                                      // MP_UNREACH too short
            attr(0x80, 15, hex("0002 01 90 20010db8")),                       // MP_UNREACH /144
        ]
        for a in cases {
            let d = decodeUpdate(updateBody(attrs: a + aOriginIGP + aASPath65001))
            XCTAssertReset(d, 3, 9)
            if case .sessionReset(let n) = d.action { XCTAssertEqual(n.data, a, "data is the attribute") }
            XCTAssertNotification(decodeMessage(bgpMessage(type: 2, body: updateBody(attrs: a + aOriginIGP + aASPath65001))).error, 3, 9)
        }
        // MP_REACH overrunning the attribute field -> reset (its NLRI cannot be located).
        var bad = attr(0x80, 14, hex("0002 01 10 \(nh) 00"))
        bad[2] = 60
        XCTAssertReset(decodeUpdate(updateBody(attrs: bad)), 3, 9)
    }

    func testUnsupportedFamilyInMPReachIsIgnored() {
        let a = attr(0x80, 14, hex("0019 41 04 0a000001 00 0102030405")) // L2VPN VPLS, opaque NLRI
        let d = decodeUpdate(updateBody(attrs: a + aOriginIGP + aASPath65001))
        XCTAssertDiscard(d)
        XCTAssertNil(d.update.attributes.mpReach)
    }

    func testMPOnlyUpdateNeedsNoNextHop() {
        let a = attr(0x80, 14, hex("0002 01 10 20010db8000000000000000000000001 00 20 20010db8"))
        var d = decodeUpdate(updateBody(attrs: a + aOriginIGP + aASPath65001))
        XCTAssertEqual(d.action, .none)
        XCTAssertEqual(d.update.attributes.mpReach?.nlri, [IPPrefix("2001:db8::/32")!])
        // Missing ORIGIN with MP NLRI -> treat-as-withdraw, NLRI still reported.
        d = decodeUpdate(updateBody(attrs: a + aASPath65001))
        XCTAssertWithdraw(d)
        XCTAssertEqual(d.update.attributes.mpReach?.nlri, [IPPrefix("2001:db8::/32")!])
        // A malformed ordinary attribute after MP_REACH: treat-as-withdraw keeps the MP NLRI.
        d = decodeUpdate(updateBody(attrs: a + aOriginIGP + aASPath65001 + attr(0xC0, 8, [1])))
        XCTAssertWithdraw(d)
        XCTAssertEqual(d.update.announcedPrefixes, [IPPrefix("2001:db8::/32")!])
    }

    // MARK: Missing well-known mandatory attributes (3 d)
    func testMissingMandatory() {
        for a in [aASPath65001 + aNextHop, aOriginIGP + aNextHop, aOriginIGP + aASPath65001, []] {
            let d = decodeUpdate(updateBody(attrs: a, nlri: threeSlash24))
            XCTAssertWithdraw(d)
            XCTAssertEqual(d.update.nlri, prefixes)
        }
        // No NLRI: nothing is mandatory.
        XCTAssertEqual(decodeUpdate(updateBody(withdrawn: threeSlash24, attrs: [])).action, .none)
        XCTAssertEqual(decodeUpdate(updateBody(attrs: aOriginIGP)).action, .none)
    }

    // MARK: Attribute field framing (4)
    func testAttributeOverrunsTotalAttributeLength() {
        // The last attribute claims more bytes than the attribute field holds: treat-as-withdraw,
        // NLRI still located through the Total Attribute Length.
        var bad = mandatory4 + attr(0x80, 4, be32(1))
        bad[bad.count - 5] = 9
        let d = decodeUpdate(updateBody(attrs: bad, nlri: threeSlash24))
        XCTAssertWithdraw(d)
        XCTAssertEqual(d.update.nlri, prefixes)
        // Fewer than 3 bytes left for an attribute header.
        let d2 = decodeUpdate(updateBody(attrs: mandatory4 + [0x80, 4], nlri: threeSlash24))
        XCTAssertWithdraw(d2)
        XCTAssertEqual(d2.update.nlri, prefixes)
        // Extended length flag with only 3 bytes left.
        XCTAssertWithdraw(decodeUpdate(updateBody(attrs: mandatory4 + [0x90, 4, 0], nlri: threeSlash24)))
    }

    func testLengthFieldsOverrunMessage() {
        // Withdrawn Routes Length too large.
        XCTAssertReset(decodeUpdate(hex("0010 0000")), 3, 1)
        // Total Path Attribute Length too large.
        XCTAssertReset(decodeUpdate(hex("0000 0010") + aOriginIGP), 3, 1)
        // Through the message decoder: thrown as BGPError with the same NOTIFICATION.
        XCTAssertNotification(decodeMessage(bgpMessage(type: 2, body: hex("0000 0010") + aOriginIGP)).error, 3, 1)
    }

    func testInvalidNetworkField() {
        for nlri in [hex("21 0a000000 00"), hex("18 0a00"), hex("ff")] {
            XCTAssertReset(decodeUpdate(updateBody(attrs: mandatory4, nlri: nlri)), 3, 10)
            XCTAssertReset(decodeUpdate(updateBody(withdrawn: nlri, attrs: [])), 3, 10)
        }
        // Host bits past the prefix length are ignored (masked), not an error.
        let d = decodeUpdate(updateBody(attrs: mandatory4, nlri: hex("18 0a0001") + hex("17 0a0001")))
        XCTAssertEqual(d.update.nlri, [p4("10.0.1.0/24"), p4("10.0.0.0/23")])
        XCTAssertEqual(decodeUpdate(updateBody(attrs: mandatory4, nlri: hex("00 20 01020304"))).update.nlri,
                       [p4("0.0.0.0/0"), p4("1.2.3.4/32")])
    }

    func testUnrecognizedWellKnownResets() {
        let a = attr(0x40, 99, [1, 2])
        let d = decodeUpdate(updateBody(attrs: mandatory4 + a, nlri: threeSlash24))
        XCTAssertReset(d, 3, 2)
        if case .sessionReset(let n) = d.action { XCTAssertEqual(n.data, a) }
    }

    func testSeverityOrdering() {
        // discard + withdraw -> withdraw; withdraw + reset -> reset.
        let d = decodeUpdate(updateBody(attrs: mandatory4 + attr(0x40, 6, [1]) + attr(0x80, 4, [1]), nlri: threeSlash24))
        XCTAssertWithdraw(d)
        XCTAssertEqual(d.reasons.count, 2)
        XCTAssertReset(decodeUpdate(updateBody(attrs: attr(0x80, 4, [1]) + attr(0x80, 15, [0]), nlri: threeSlash24)), 3, 9)
    }

    func testDecodedMessageCarriesAction() throws {
        let bytes = bgpMessage(type: 2, body: updateBody(attrs: aASPath65001 + aNextHop, nlri: threeSlash24))
        let r = try bytes.withUnsafeBytes { raw in try BGPMessage.decodeDetailed(raw, options: opts4) }
        XCTAssertWithdraw(DecodedUpdate(update: UpdateMessage(), action: r.action, reasons: []))
        guard case .update(let u) = r.message else { return XCTFail() }
        XCTAssertEqual(u.nlri, prefixes)
    }
}
