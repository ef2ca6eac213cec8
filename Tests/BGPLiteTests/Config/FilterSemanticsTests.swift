import XCTest
@testable import BGPLite

final class FilterSemanticsTests: XCTestCase {
    func filter(_ body: String, name: String = "f", extra: String = "", file: StaticString = #filePath, line: UInt = #line) throws -> Filter {
        let text = "\(extra)\nfilter \(name) {\n\(body)\n}\nprotocol device {}\n"
        if Bird.available {
            let (ok, err) = try Bird.check(text)
            XCTAssertTrue(ok, "BIRD rejected: \(err)", file: file, line: line)
        }
        let c = try XCTUnwrap(parse(text, file: file, line: line), file: file, line: line)
        return try XCTUnwrap(c.filters[name], file: file, line: line)
    }

    func verdict(_ f: Filter, _ p: String, proto: String = "bgp1") -> FilterVerdict {
        var r = route(p, proto: proto)
        return f.run(&r).0
    }

    func testPrefixSetPatterns() throws {
        let f = try filter("if net ~ [10.0.0.0/8{16,24}] then accept; reject;")
        XCTAssertEqual(verdict(f, "10.1.0.0/16"), .accept)
        XCTAssertEqual(verdict(f, "10.1.2.0/24"), .accept)
        XCTAssertEqual(verdict(f, "10.0.0.0/8"), .reject)
        XCTAssertEqual(verdict(f, "10.1.2.0/25"), .reject)
        XCTAssertEqual(verdict(f, "11.1.0.0/16"), .reject)

        let plus = try filter("if net ~ [10.0.0.0/8+] then accept; reject;")
        XCTAssertEqual(verdict(plus, "10.0.0.0/8"), .accept)
        XCTAssertEqual(verdict(plus, "10.255.255.255/32"), .accept)
        XCTAssertEqual(verdict(plus, "10.0.0.0/7"), .reject)
        XCTAssertEqual(verdict(plus, "11.0.0.0/8"), .reject)

        // 10.0.0.0/8- = {0,8}: shorter prefixes match when their first l bits agree with 10.0.0.0.
        let minus = try filter("if net ~ [10.0.0.0/8-] then accept; reject;")
        XCTAssertEqual(verdict(minus, "10.0.0.0/8"), .accept)
        XCTAssertEqual(verdict(minus, "0.0.0.0/0"), .accept)
        XCTAssertEqual(verdict(minus, "8.0.0.0/6"), .accept)
        XCTAssertEqual(verdict(minus, "10.0.0.0/9"), .reject)
        XCTAssertEqual(verdict(minus, "12.0.0.0/6"), .reject)

        let lowBelow = try filter("if net ~ [10.1.0.0/16{8,20}] then accept; reject;")
        XCTAssertEqual(verdict(lowBelow, "10.0.0.0/8"), .accept)    // first 8 bits agree
        XCTAssertEqual(verdict(lowBelow, "10.1.16.0/20"), .accept)
        XCTAssertEqual(verdict(lowBelow, "10.2.0.0/16"), .reject)
        XCTAssertEqual(verdict(lowBelow, "10.1.0.0/21"), .reject)

        let v6 = try filter("if net ~ [2001:db8::/32{33,48}, 2001:db8:ffff::/48] then accept; reject;")
        XCTAssertEqual(verdict(v6, "2001:db8:1::/48"), .accept)
        XCTAssertEqual(verdict(v6, "2001:db8:8000::/33"), .accept)
        XCTAssertEqual(verdict(v6, "2001:db8::/32"), .reject)
        XCTAssertEqual(verdict(v6, "2001:db8:1::/49"), .reject)
        XCTAssertEqual(verdict(v6, "2001:db9::/48"), .reject)
        XCTAssertEqual(verdict(v6, "10.0.0.0/8"), .reject)            // other family never matches

        let neg = try filter("if net !~ [192.0.2.0/24] then reject; accept;")
        XCTAssertEqual(verdict(neg, "192.0.2.0/24"), .accept)
        XCTAssertEqual(verdict(neg, "192.0.2.0/25"), .reject)
    }

    func testPrintFormatting() throws {
        let f = try filter("""
        print "net=", net, " len=", net.len, " ip=", net.ip, " ok=", true, " pair=", (65000, 10), " path=", bgp_path;
        print "lp=", bgp_local_pref, " src=", source = RTS_BGP;
        accept;
        """)
        var r = route("192.0.2.0/24")
        r.bgpPath = [65001, 65002]
        var out: [String] = []
        XCTAssertEqual(f.run(&r) { out.append($0) }.0, .accept)
        XCTAssertEqual(out, ["net=192.0.2.0/24 len=24 ip=192.0.2.0 ok=TRUE pair=(65000,10) path=(path 65001 65002)",
                             "lp=(void) src=TRUE"])
        let g = try filter("accept \"v6 \", net;", name: "g")
        var r6 = route("2001:db8::/32")
        out = []
        XCTAssertEqual(g.run(&r6) { out.append($0) }.0, .accept)
        XCTAssertEqual(out, ["v6 2001:db8::/32"])
    }

    func testAttributesAndAssignments() throws {
        let f = try filter("""
        if source = RTS_BGP && bgp_path.len >= 2 && bgp_path.first = 65001 && bgp_path.last = 65002 then {
            bgp_local_pref = 200;
            bgp_med = 5 + 3 * 2;
            bgp_path.prepend(65000);
            bgp_community.add((65000, 100));
            bgp_community.delete((65000, 1));
            preference = 150;
            accept;
        }
        reject;
        """)
        var r = route("192.0.2.0/24")
        r.bgpPath = [65001, 65002]
        r.bgpCommunities = [65000 << 16 | 1]
        XCTAssertEqual(f.run(&r).0, .accept)
        XCTAssertEqual(r.bgpLocalPref, 200)
        XCTAssertEqual(r.bgpMED, 11)
        XCTAssertEqual(r.bgpPath, [65000, 65001, 65002])
        XCTAssertEqual(r.bgpCommunities, [65000 << 16 | 100])
        XCTAssertEqual(r.preference, 150)
        var r2 = route("192.0.2.0/24")
        r2.bgpPath = [65001]
        XCTAssertEqual(f.run(&r2).0, .reject)
        XCTAssertNil(r2.bgpLocalPref, "rejected routes keep their attributes")
    }

    func testSetsMasksCommunities() throws {
        let f = try filter("""
        if bgp_path ~ [= * 65001 * =] then accept;
        if (65000, 7) ~ bgp_community then accept;
        if bgp_community ~ [(65010, 1..10)] then accept;
        if net.len ~ [8, 16..20] then accept;
        if 64512 ~ bgp_path then accept;
        reject;
        """)
        var r = route("1.0.0.0/24"); r.bgpPath = [1, 65001, 3]
        XCTAssertEqual(f.run(&r).0, .accept)
        r = route("1.0.0.0/24"); r.bgpCommunities = [65000 << 16 | 7]
        XCTAssertEqual(f.run(&r).0, .accept)
        r = route("1.0.0.0/24"); r.bgpCommunities = [65010 << 16 | 5]
        XCTAssertEqual(f.run(&r).0, .accept)
        r = route("1.0.0.0/24"); r.bgpCommunities = [65010 << 16 | 11]
        XCTAssertEqual(f.run(&r).0, .reject)
        XCTAssertEqual(verdict(f, "1.0.0.0/8"), .accept)
        XCTAssertEqual(verdict(f, "1.0.0.0/18"), .accept)
        XCTAssertEqual(verdict(f, "1.0.0.0/21"), .reject)
        r = route("1.0.0.0/24"); r.bgpPath = [64512]
        XCTAssertEqual(f.run(&r).0, .accept)
        let m = try filter("if bgp_path ~ [= 65001 ? =] then accept; reject;", name: "m")
        r = route("1.0.0.0/24"); r.bgpPath = [65001, 9]
        XCTAssertEqual(m.run(&r).0, .accept)
        r.bgpPath = [65001]
        XCTAssertEqual(m.run(&r).0, .reject)
    }

    func testDefinesVariablesFunctionsCase() throws {
        let f = try filter("""
        int lim;
        lim = MAXLEN;
        if net.len > lim then reject;
        case net.len {
            8: accept;
            16..24: if isprivate(net) then reject; else accept;
            else: reject;
        }
        """, extra: """
        define MAXLEN = 20 + 4;
        function isprivate(prefix p) {
            return p ~ [10.0.0.0/8+, 192.168.0.0/16+];
        }
        """)
        XCTAssertEqual(verdict(f, "11.0.0.0/8"), .accept)
        XCTAssertEqual(verdict(f, "11.1.0.0/16"), .accept)
        XCTAssertEqual(verdict(f, "10.1.0.0/16"), .reject)
        XCTAssertEqual(verdict(f, "11.1.1.0/25"), .reject)
        XCTAssertEqual(verdict(f, "11.1.0.0/12"), .reject)
    }

    func testRunOffTheEndAndRuntimeErrors() throws {
        let f = try filter("if net.len = 8 then accept;")
        var r = route("10.0.0.0/16")
        let res = f.run(&r)
        XCTAssertEqual(res.0, .reject)
        XCTAssertEqual(res.runtimeError, "Filter f did not return accept nor reject. Make up your mind")
        let g = try filter("if bgp_med + 1 > 5 then accept; reject;", name: "g")
        var r2 = route("10.0.0.0/16")
        let res2 = g.run(&r2)
        XCTAssertEqual(res2.0, .reject)
        XCTAssertTrue(res2.runtimeError?.contains("Argument 1 of ADD must be of type int, got type void") ?? false, "\(String(describing: res2.runtimeError))")
        r2.bgpMED = 10
        XCTAssertEqual(g.run(&r2).0, .accept)
        // void compares lower than anything (BIRD val_compare hack)
        let h = try filter("if bgp_med < 5 then accept; reject;", name: "h")
        XCTAssertEqual(verdict(h, "10.0.0.0/8"), .accept)
    }

    func testWhereAndInlineFilters() throws {
        let text = """
        protocol static { ipv4 { import where net.len <= 24; export filter { if proto = "x" then accept; reject; }; }; route 10.0.0.0/8 unreachable; }
        """
        if Bird.available { XCTAssertTrue(try Bird.check(text).0) }
        let c = try XCTUnwrap(parse(text))
        guard case .static_(let s) = c.protocols[0] else { return XCTFail() }
        XCTAssertEqual(s.name, "static1")
        var r = route("10.0.0.0/8")
        XCTAssertEqual(s.channel.importPolicy?.evaluate(&r).0, .accept)
        r = route("10.0.0.0/25")
        XCTAssertEqual(s.channel.importPolicy?.evaluate(&r).0, .reject)
        XCTAssertEqual(s.channel.exportPolicy?.evaluate(&r).0, .reject)
        r = route("10.0.0.0/25", proto: "x")
        XCTAssertEqual(s.channel.exportPolicy?.evaluate(&r).0, .accept)
    }
}
