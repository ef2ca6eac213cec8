import XCTest
@testable import BGPLite

final class ConfigErrorTests: XCTestCase {
    /// Configs BIRD 2.0.12 rejects; we must reject them too, with a location.
    static let invalid: [(String, String)] = [
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4; }", "EBGP requires explicit import policy"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4 { import all; }; }", "EBGP requires explicit export policy"),
        ("protocol bgp { neighbor 10.0.0.1 as 2; }", "Local AS number must be set"),
        ("protocol bgp { local as 1; }", "Neighbor must be configured"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1; }", "Remote AS number (or peer type) must be set"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 2 internal; }", "IBGP cannot have different ASNs"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1 external; }", "EBGP cannot have the same ASNs"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; bfd on; ipv4; }", "Multihop BGP with BFD requires specified local address"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; hold time 2; }", "Hold time must be in range 3-65535 or zero"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; hold time 30; keepalive time 40; }", "Keepalive time must be at most hold time"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; ipv4; ipv4; }", "Multiple ipv4 channels"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; neighbor 10.0.0.2 as 1; }", "Only one neighbor per BGP instance is allowed"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; multihop 300; }", "Multihop must be in range 1-255"),
        ("protocol bgp { local as 1; neighbor fe80::1 as 1; }", "Link-local addresses require defined interface"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; ipv4 { table master6; }; }", "Incompatible table type"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 2; import limit 1000 action restart; ipv4 { import all; export none; }; }", "syntax error"),
        ("protocol static { ipv4; route 2001:db8::/32 blackhole; }", "Route 2001:db8::/32 incompatible with channel type"),
        ("protocol static { route 10.0.0.0/8 blackhole; }", "Channel not specified"),
        ("protocol static { ipv4; ipv6; }", "Different channel type"),
        ("protocol static { ipv4; route 10.0.0.1/8 blackhole; }", "Invalid IPv4 prefix 10.0.0.1/8, maybe you wanted 10.0.0.0/8"),
        ("protocol static { ipv4; route 10.0.0.0/33 blackhole; }", "Invalid prefix length 33"),
        ("protocol static { ipv4; route 10.0.0.0/8; }", "Unexpected or missing nexthop/type"),
        ("protocol static { ipv4; route 10.0.0.300/32 blackhole; }", "Invalid IPv4 address"),
        ("protocol kernel { }", "Channel not specified"),
        ("protocol kernel { ipv4; } protocol kernel { ipv4; }", "already attached to table master4"),
        ("protocol device {} protocol device {}", "Kernel device protocol already defined"),
        ("protocol device { ipv4; }", "syntax error"),
        ("protocol static static1 { ipv4; } protocol static { ipv4; } protocol static static2 { ipv4; }", "Symbol 'static2' already defined"),
        ("filter f { accept; }", "No protocol is specified in the config file"),
        ("filter perf { accept; } protocol device {}", "syntax error"),
        ("filter f { bgp_local_pref = \"x\"; accept; } protocol device {}", "Argument 1 of EA_SET must be of type int, got type string"),
        ("filter f { if !5 then accept; } protocol device {}", "Argument 1 of NOT must be of type bool, got type int"),
        ("filter f { if net.len then accept; } protocol device {}", "Argument 1 of CONDITION must be of type bool, got type int"),
        ("filter f { if 1 < 2 < 3 then accept; } protocol device {}", "syntax error"),
        ("filter f { if net ~ [10.0.0.0/8, 2001:db8::/32] then accept; } protocol device {}", "Mixed IPv4/IPv6 prefixes in prefix set"),
        ("filter f { if net ~ [10.0.0.0/8{9,8}] then accept; } protocol device {}", "Invalid prefix pattern range: {9, 8}"),
        ("filter f { if net ~ [10.0.0.0/8{8,33}] then accept; } protocol device {}", "Invalid prefix pattern range: {8, 33}"),
        ("filter f { print 1+\"a\"; accept; } protocol device {}", "Argument 2 of ADD must be of type int, got type string"),
        ("filter f { proto = \"x\"; accept; } protocol device {}", "This static attribute is read-only."),
        ("filter f { net = 10.0.0.0/8; accept; } protocol device {}", "This static attribute is read-only."),
        ("filter f { bgp_community.add((65000, 70000)); accept; } protocol device {}", "Can't operate with value out of bounds in pair constructor"),
        ("filter f { if net ~ [1.2.3.0/24, 5] then accept; } protocol device {}", "syntax error"),
        ("filter f { accept } protocol device {}", "syntax error"),
        ("filter f { if net ~ 10.0.0.0/8 then accept reject; } protocol device {}", "syntax error"),
        ("filter f { x = 5; accept; } protocol device {}", "syntax error"),
        ("filter f { accept; } filter f { reject; } protocol device {}", "Symbol 'f' already defined"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; ipv4 { import filter nosuch; }; }", "syntax error"),
        ("define X = 5; protocol bgp { local as 1; neighbor 10.0.0.1 as 1; ipv4 { import filter X; }; }", "Filter name required"),
        ("protocol device { scan time 10 }", "syntax error"),
        ("protocol device {} /* unterminated", "Unterminated comment"),
        ("protocol device { description \"x; }", "Unterminated string"),
        ("protocol device {} & ", "Unknown character"),
        ("protocol device { scan time 99999999999; }", "Number out of range"),
        ("router id 1.2.3; protocol device {}", "syntax error"),
        ("protocol bgp { local as 1; neighbor 10.0.0.1 as 1; bogus on; }", "syntax error"),
        ("template bgp T { local as 1; } protocol static from T { ipv4; }", "different protocol type"),
        ("protocol bfd { neighbor 10.0.0.1 multihop on; }", "Multihop neighbor requires specified local address"),
        ("protocol bfd { interface 10.0.0.0/8; }", "Interface name/mask expected, not IP prefix"),
        ("protocol device {}\ninclude \"\";\n", "Include with empty argument"),
    ]

    func testInvalidConfigsRejectedLikeBird() throws {
        for (text, message) in ConfigErrorTests.invalid {
            guard let e = parseError(text) else { XCTFail("accepted: \(text)"); continue }
            XCTAssertTrue(e.message.contains(message) || (message == "syntax error" && e.message.hasPrefix("syntax error")),
                          "\(text)\n  got: \(e)\n  want: \(message)")
            XCTAssertEqual(e.file, "bgp.conf")
            XCTAssertGreaterThanOrEqual(e.line, 1)
            XCTAssertTrue(e.description.hasPrefix("bgp.conf:\(e.line):\(e.column): "))
            if Bird.available {
                let (ok, err) = try Bird.check(text)
                XCTAssertFalse(ok, "BIRD accepted: \(text)")
                _ = err
            }
        }
    }

    func testErrorLocations() throws {
        let e = try XCTUnwrap(parseError("protocol device {}\nprotocol bgp {\n  local as 1;\n  frobnicate;\n}\n"))
        XCTAssertEqual(e.line, 4); XCTAssertEqual(e.column, 3)
        XCTAssertEqual(e.description, "bgp.conf:4:3: syntax error, unexpected CF_SYM_UNDEFINED")
        // RFC 8212 error reported on the closing brace like BIRD (bgp.conf:1:58)
        let e2 = try XCTUnwrap(parseError("protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4; }"))
        XCTAssertEqual(e2.description, "bgp.conf:1:58: EBGP requires explicit import policy")
    }

    /// BIRD constructs BGPLite deliberately does not implement: accepted by BIRD, rejected by us with a location.
    func testUnsupportedConstructs() throws {
        let cases: [String] = [
            "protocol ospf { area 0 { interface \"eth0\"; }; }",
            "protocol pipe { table master4; peer table t2; }",
            "protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4 { import all; export none; add paths on; }; }",
            "protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4 { import all; export none; import table on; }; }",
            "protocol bgp { local as 1; neighbor 10.0.0.1 as 2; ipv4 { import all; export none; }; local role customer; }",
            "protocol bgp { local as 1; neighbor range 10.0.0.0/24 as 2; }",
            "protocol bgp { local as 1; neighbor 10.0.0.1 as 2; vpn4 mpls { import all; export none; }; }",
            "ipv4 table t2; protocol device {}",
            "filter f { for int i in [1, 2] do print i; accept; } protocol device {}",
            "filter f { bgp_large_community.add((1,2,3)); accept; } protocol device {}",
            "filter f { bgp_ext_community.add((rt, 1, 2)); accept; } protocol device {}",
            "filter f { if roa_check(master4) = ROA_VALID then accept; reject; } protocol device {}",
            "filter f { gw = 10.0.0.1; accept; } protocol device {}",
            "protocol static { ipv4; route 10.0.0.0/8 via 10.0.0.1 via 10.0.0.2; }",
            "protocol static { ipv4; route 10.0.0.0/8 blackhole { bgp_med = 5; }; }",
            "protocol bfd { interface \"eth0\" { authentication keyed md5; password \"x\"; }; }",
            "mrtdump protocols all; protocol device {}",
            "timeformat protocol iso long; protocol device {}",
        ]
        for text in cases {
            guard let e = parseError(text) else { XCTFail("accepted: \(text)"); continue }
            XCTAssertTrue(e.message.contains("not supported") || e.message.hasPrefix("syntax error"), "\(text): \(e)")
            XCTAssertEqual(e.line, 1)
            XCTAssertGreaterThan(e.column, 0)
        }
    }

    func testRFC8212AndBGPDefaults() throws {
        let text = """
        protocol device {}
        protocol bgp ibgp1 { local 10.0.0.1 as 65000; neighbor 10.0.0.2 as 65000; ipv4; ipv6; }
        protocol bgp { local as 65000; neighbor 10.0.0.3 as 65001; ipv4 { import none; export all; }; }
        template bgp mesh { local as 65000; hold time 90; ipv4 { import all; export where source = RTS_STATIC; next hop self; }; }
        protocol bgp peer2 from mesh { neighbor 10.0.0.2 as 65000; }
        protocol bgp peer3 from mesh { neighbor 10.0.0.3 as 65000; ipv4 { import limit 100; }; }
        protocol bgp from mesh { neighbor 10.0.0.4 as 65000; }
        """
        if Bird.available { let (ok, err) = try Bird.check(text); XCTAssertTrue(ok, err) }
        let c = try XCTUnwrap(parse(text))
        XCTAssertEqual(c.bgpProtocols.map { $0.name }, ["ibgp1", "bgp1", "peer2", "peer3", "bgp2"])
        let i = c.bgpProtocols[0]
        XCTAssertTrue(i.isInternal)
        XCTAssertEqual(i.holdTime, 240); XCTAssertNil(i.keepaliveTime); XCTAssertEqual(i.effectiveKeepaliveTime, 80)
        XCTAssertEqual(i.connectRetryTime, 120); XCTAssertEqual(i.startupHoldTime, 240)
        XCTAssertEqual(i.errorWaitTime.min, 60); XCTAssertEqual(i.errorWaitTime.max, 300)
        XCTAssertEqual(i.gracefulRestart, .aware); XCTAssertEqual(i.gracefulRestartTime, 120)
        XCTAssertTrue(i.enableRouteRefresh); XCTAssertTrue(i.enableAS4)
        XCTAssertEqual(i.effectiveMultihop, 64)
        XCTAssertEqual(i.defaultLocalPref, 100)
        XCTAssertEqual(i.channels.map { $0.family }, [.ipv4, .ipv6])
        XCTAssertNil(i.channels[0].importPolicy)   // not written: recorded as nil
        XCTAssertTrue(i.channels[0].bgpImportPolicy(isInternal: true).isAll)
        XCTAssertTrue(i.channels[0].bgpExportPolicy(isInternal: true).isNone)
        let e = c.bgpProtocols[1]
        XCTAssertFalse(e.isInternal)
        XCTAssertEqual(e.effectiveMultihop, 0)
        XCTAssertTrue(e.channels[0].importPolicy?.isNone ?? false)
        XCTAssertTrue(e.channels[0].exportPolicy?.isAll ?? false)
        let p2 = c.bgpProtocols[2], p3 = c.bgpProtocols[3]
        XCTAssertEqual(p2.holdTime, 90); XCTAssertEqual(p2.localAS, 65000)
        XCTAssertEqual(p2.channels.first?.nextHopSelf, .on)
        XCTAssertNil(p2.channels.first?.importLimit)
        XCTAssertEqual(p3.channels.first?.importLimit, Limit(count: 100, action: .disable))   // BIRD default action
        XCTAssertTrue(p3.channels.first?.importPolicy?.isAll ?? false)                       // inherited
    }

    func testAutoNamesAndIncludes() throws {
        let files: [String: String] = [
            "/etc/bird/filters.conf": "filter f1 { accept; }\n",
            "/etc/bird/protos.conf": "protocol static { ipv4 { import filter f1; }; }\ninclude \"more/p.conf\";\n",
            "/etc/bird/more/p.conf": "protocol direct { ipv4; ipv6; interface \"eth*\", -\"lo\"; }\n",
        ]
        let text = "include \"filters.conf\";\n  include \"protos.conf\";\nprotocol static { ipv6; }\nprotocol kernel k { ipv6; }\nprotocol kernel { ipv4; }\n"
        let c = try BGPConfig.parse(text: text, fileName: "/etc/bird/bird.conf") { path in
            guard let t = files[path] else { throw ConfigFileError(path: path, errno: 2) }
            return t
        }
        XCTAssertEqual(c.protocols.map { $0.name }, ["static1", "direct1", "static2", "k", "kernel1"])
        guard case .direct(let d) = c.protocols[1] else { return XCTFail() }
        XCTAssertEqual(d.interfaces, ["eth*", "-lo"])
        // errors inside an included file carry that file's name
        let bad: [String: String] = ["/x/inc.conf": "protocol device {}\nprotocol bgp { bogus; }\n"]
        do {
            _ = try BGPConfig.parse(text: "include \"inc.conf\";\n", fileName: "/x/bird.conf") { p in
                guard let t = bad[p] else { throw ConfigFileError(path: p, errno: 2) }
                return t
            }
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.file, "/x/inc.conf"); XCTAssertEqual(error.line, 2); XCTAssertEqual(error.column, 16)
        }
    }

    /// `debug protocols` and per-protocol `debug` masks reach the BGP protocol config (templates too).
    func testDebugMasks() throws {
        let text = """
        debug protocols { states, events };
        template bgp mesh { local as 65000; debug { packets }; }
        protocol bgp a { local as 65000; neighbor 10.0.0.2 as 65000; }
        protocol bgp b { local as 65000; neighbor 10.0.0.3 as 65000; debug all; }
        protocol bgp c from mesh { neighbor 10.0.0.4 as 65000; }
        protocol bgp d { local as 65000; neighbor 10.0.0.5 as 65000; debug off; }
        """
        if Bird.available { let (ok, err) = try Bird.check(text); XCTAssertTrue(ok, err) }
        let c = try XCTUnwrap(parse(text))
        XCTAssertEqual(c.debugProtocols, ["states", "events"])
        let byName = Dictionary(uniqueKeysWithValues: c.bgpProtocols.map { ($0.name, $0.debugClasses) })
        XCTAssertEqual(byName["a"] ?? [], nil)
        XCTAssertEqual(byName["b"] ?? nil, ["states", "routes", "filters", "interfaces", "events", "packets"])
        XCTAssertEqual(byName["c"] ?? nil, ["packets"])
        XCTAssertEqual(byName["d"] ?? nil, [])
    }

    func testGlobalOptionsAndMiscSyntax() throws {
        let text = """
        log syslog all;
        log "/var/log/bird.log" all;
        log stderr { error, warning };
        debug protocols all;
        debug protocols { states, routes };
        router id 10.0.0.1;
        define ASN = 65000;
        define NETS = [10.0.0.0/8+];
        /* block
           comment */
        protocol device d0 { scan time 10; debug off; }
        protocol direct { ipv4; }
        protocol kernel { ipv4 { import none; export all; }; learn; persist; scan time 20; kernel table 100; merge paths on; }
        protocol kernel { ipv6 { export filter { if net ~ [2001:db8::/32+] then accept; reject; }; }; }
        protocol static { ipv6; route 2001:db8::/48 via "eth0"; route 2001:db8:1::/48 via 2001:db8::1; route 2001:db8:2::/48 prohibit; }
        protocol bfd bfd0 { interface "eth*" { interval 50 ms; multiplier 3; }; interface "lo", "tap0"; neighbor 10.0.0.2 dev "eth1" local 10.0.0.1; }
        protocol bgp 'peer-x' {
          local 10.0.0.1 port 1179 as ASN; neighbor 10.0.0.2 port 1179 as 4200000000;
          connect retry time 30; startup hold time 60; error wait time 10, 100;
          passive; multihop 2; ttl security off; enable route refresh off; enable as4 on;
          default bgp_local_pref 150; allow local as 2; interpret communities on; source address 10.0.0.1;
          graceful restart time 60; graceful restart aware; bfd off; disabled no;
          ipv4 { import where net ~ NETS && bgp_path.len < 10; export none; receive limit 10 action warn;
                 export limit 5 action block; next hop address 10.0.0.1; gateway recursive; import table off; preference 120; };
        }
        """
        if Bird.available { let (ok, err) = try Bird.check(text); XCTAssertTrue(ok, err) }
        let c = try XCTUnwrap(parse(text))
        XCTAssertEqual(c.logTargets, ["syslog", "/var/log/bird.log", "stderr"])
        XCTAssertEqual(c.logLines, [1, 2, 3])
        XCTAssertEqual(c.debugProtocols, ["states", "routes"], "the last `debug protocols` wins, as in BIRD")
        XCTAssertEqual(c.routerID, 0x0A00_0001)
        guard case .int(65000)? = c.defines["ASN"] else { return XCTFail() }
        XCTAssertEqual(c.protocols.map { $0.name }, ["d0", "direct1", "kernel1", "kernel2", "static1", "bfd0", "peer-x"])
        guard case .kernel(let k) = c.protocols[2] else { return XCTFail() }
        XCTAssertTrue(k.learn); XCTAssertTrue(k.persist); XCTAssertEqual(k.scanTime, 20); XCTAssertEqual(k.kernelTable, 100); XCTAssertEqual(k.mergePaths, 16)
        guard case .static_(let s) = c.protocols[4] else { return XCTFail() }
        XCTAssertEqual(s.routes.map { $0.kind }, [.viaInterface("eth0"), .via(IPPrefix("2001:db8::1")!), .prohibit])
        guard case .bfd(let b) = c.protocols[5] else { return XCTFail() }
        XCTAssertEqual(b.interfaces.map { $0.pattern }, ["eth*", "lo", "tap0"])
        XCTAssertEqual(b.interfaces[0].options.minRxInterval, 50_000)
        XCTAssertEqual(b.interfaces[0].options.minTxInterval, 50_000)
        XCTAssertEqual(b.interfaces[0].options.multiplier, 3)
        XCTAssertEqual(b.interfaces[1].options, BFDOptions())
        XCTAssertEqual(b.neighbors.first?.interface, "eth1")
        let p = try XCTUnwrap(c.bgpProtocols.first)
        XCTAssertEqual(p.name, "peer-x")
        XCTAssertEqual(p.localPort, 1179); XCTAssertEqual(p.neighborPort, 1179); XCTAssertEqual(p.neighborAS, 4_200_000_000)
        XCTAssertEqual(p.connectRetryTime, 30); XCTAssertEqual(p.startupHoldTime, 60)
        XCTAssertEqual(p.errorWaitTime.min, 10); XCTAssertEqual(p.errorWaitTime.max, 100)
        XCTAssertTrue(p.passive); XCTAssertEqual(p.effectiveMultihop, 2); XCTAssertFalse(p.enableRouteRefresh)
        XCTAssertEqual(p.defaultLocalPref, 150); XCTAssertEqual(p.allowLocalAS, 2)
        XCTAssertEqual(p.gracefulRestart, .aware); XCTAssertEqual(p.gracefulRestartTime, 60); XCTAssertFalse(p.bfd)
        let ch = try XCTUnwrap(p.channels.first)
        XCTAssertEqual(ch.receiveLimit, Limit(count: 10, action: .warn))
        XCTAssertEqual(ch.exportLimit, Limit(count: 5, action: .block))
        XCTAssertEqual(ch.nextHopAddress, IPPrefix("10.0.0.1"))
        XCTAssertEqual(ch.gateway, .recursive)
        XCTAssertEqual(ch.preference, 120)
        var r = route("10.1.0.0/16"); r.bgpPath = [1, 2]
        XCTAssertEqual(ch.importPolicy?.evaluate(&r).0, .accept)
        r.bgpPath = Array(repeating: 1, count: 10)
        XCTAssertEqual(ch.importPolicy?.evaluate(&r).0, .reject)
    }
}
