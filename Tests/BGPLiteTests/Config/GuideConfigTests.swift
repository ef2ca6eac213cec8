import XCTest
@testable import BGPLite

/// The ISP integration guide's BIRD snippets (seed 000_a70096a72d6285a4).
enum Guide {
    static let ispConfig = """
    # /etc/bird/bird.conf on ISP node
    router id 192.0.2.100;

    protocol device {}

    protocol kernel {
        ipv4 { export all; };
    }

    # Routes to advertise
    protocol static static1 {
        ipv4;
        route 192.0.2.0/24 blackhole;
        route 198.51.100.0/24 blackhole;
        route 203.0.113.0/24 blackhole;
    }

    # Filters
    filter import_from_customer {
        print "Importing: ", net;
        accept;
    }

    filter export_to_customer {
        if proto = "static1" then {
            print "Exporting: ", net;
            accept;
        }
        reject;
    }

    # BGP session with customer
    protocol bgp customer {
        description "Customer AS 65000";
        local 10.42.0.228 as 65001;
        neighbor 10.42.0.100 as 65000;  # Mesh border router macvlan IP

        ipv4 {
            import filter import_from_customer;
            export filter export_to_customer;
        };

        hold time 180;
        keepalive time 60;
    }

    """

    static let importFromISP = """
    filter import_from_isp {
        # Only accept expected prefixes
        if net ~ [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24] then accept;
        reject;
    }
    """

    /// Mesh border router side: every "Production Recommendations" snippet merged, `...` filled in.
    static let meshConfig = """
    router id 10.0.0.1;
    log syslog all;

    protocol device { scan time 10; }

    \(importFromISP)

    filter export_to_isp {
        if net ~ [10.0.0.0/24+] then accept;
        reject;
    }

    protocol bgp isp {
        description "External ISP AS 65001";
        local 10.42.0.100 as 65000;
        neighbor 10.42.0.228 as 65001;
        password "your-secure-password";
        bfd on;
        graceful restart on;
        hold time 180;
        keepalive time 60;
        ipv4 {
            import filter import_from_isp;
            export filter export_to_isp;
            import limit 1000 action restart;
        };
    }

    protocol bfd {
        interface "eth1";
    }

    """

    /// The individual snippets, each made a complete config (the `...` replaced by real content).
    static let snippetConfigs: [String] = [
        // 1. MD5
        """
        protocol bgp isp {
            local 10.42.0.100 as 65000;
            neighbor 10.42.0.228 as 65001;
            ipv4 { import all; export none; };
            password "your-secure-password";
            hold time 90;
        }
        """,
        // 2. strict filter
        importFromISP + "\nprotocol device {}\n",
        // 3. rate limiting
        """
        protocol bgp isp {
            local 10.42.0.100 as 65000;
            neighbor 10.42.0.228 as 65001;
            ipv4 {
                import all;
                export none;
                import limit 1000 action restart;
            };
        }
        """,
        // Reliability 1. BFD
        """
        protocol bgp isp {
            local 10.42.0.100 as 65000;
            neighbor 10.42.0.228 as 65001;
            ipv4 { import all; export none; };
            bfd on;
        }

        protocol bfd {
            interface "eth1";
        }
        """,
        // 2. hold times (the snippet verbatim plus the mandatory session parameters)
        """
        protocol bgp isp {
            local 10.42.0.100 as 65000;
            neighbor 10.42.0.228 as 65001;
            ipv4 { import all; export none; };
            hold time 180;
            keepalive time 60;
        }
        """,
        // 3. graceful restart
        """
        protocol bgp isp {
            local 10.42.0.100 as 65000;
            neighbor 10.42.0.228 as 65001;
            ipv4 { import all; export none; };
            graceful restart on;
        }
        """,
    ]
}

final class GuideConfigTests: XCTestCase {
    func assertBirdAccepts(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard Bird.available else { throw XCTSkip("bird not installed") }
        let (ok, err) = try Bird.check(text)
        XCTAssertTrue(ok, "BIRD rejected: \(err)", file: file, line: line)
    }

    func testISPConfigVerbatim() throws {
        let c = try XCTUnwrap(parse(Guide.ispConfig))
        XCTAssertEqual(c.routerID, 0xC000_0264)   // 192.0.2.100
        XCTAssertEqual(c.protocols.map { $0.name }, ["device1", "kernel1", "static1", "customer"])
        guard case .kernel(let k) = c.protocols[1] else { return XCTFail() }
        XCTAssertEqual(k.channels.count, 1)
        XCTAssertTrue(k.channels[0].exportPolicy?.isAll ?? false)
        XCTAssertNil(k.channels[0].importPolicy)
        XCTAssertTrue(k.channels[0].effectiveImportPolicy.isAll)
        guard case .static_(let s) = c.protocols[2] else { return XCTFail() }
        XCTAssertEqual(s.family, .ipv4)
        XCTAssertEqual(s.routes.map { $0.prefix.description }, ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"])
        XCTAssertTrue(s.routes.allSatisfy { $0.kind == .blackhole })
        let b = try XCTUnwrap(c.bgpProtocols.first)
        XCTAssertEqual(b.name, "customer")
        XCTAssertEqual(b.description, "Customer AS 65000")
        XCTAssertEqual(b.localAddress, IPPrefix("10.42.0.228"))
        XCTAssertEqual(b.localAS, 65001)
        XCTAssertEqual(b.neighborAddress, IPPrefix("10.42.0.100"))
        XCTAssertEqual(b.neighborAS, 65000)
        XCTAssertFalse(b.isInternal)
        XCTAssertEqual(b.holdTime, 180)
        XCTAssertEqual(b.keepaliveTime, 60)
        XCTAssertEqual(b.effectiveMultihop, 0)
        XCTAssertEqual(b.gracefulRestart, .aware)
        XCTAssertEqual(b.connectRetryTime, 120)
        XCTAssertEqual(b.channels.count, 1)
        guard case .filter(let imp)? = b.channels[0].importPolicy, case .filter(let exp)? = b.channels[0].exportPolicy else { return XCTFail() }
        XCTAssertEqual(imp.name, "import_from_customer")
        XCTAssertEqual(exp.name, "export_to_customer")
        try assertBirdAccepts(Guide.ispConfig)
    }

    func testISPFilters() throws {
        let c = try XCTUnwrap(parse(Guide.ispConfig))
        let exp = try XCTUnwrap(c.filters["export_to_customer"])
        var out: [String] = []
        var r = route("192.0.2.0/24", proto: "static1", source: .static_)
        var res = exp.run(&r) { out.append($0) }
        XCTAssertEqual(res.0, .accept); XCTAssertNil(res.runtimeError)
        XCTAssertEqual(out, ["Exporting: 192.0.2.0/24"])
        out = []
        for p in ["static2", "customer", "kernel1", "static"] {
            var r2 = route("192.0.2.0/24", proto: p)
            res = exp.run(&r2) { out.append($0) }
            XCTAssertEqual(res.0, .reject, p)
        }
        XCTAssertEqual(out, [])
        let imp = try XCTUnwrap(c.filters["import_from_customer"])
        var r3 = route("10.0.0.0/24", proto: "customer")
        res = imp.run(&r3) { out.append($0) }
        XCTAssertEqual(res.0, .accept)
        XCTAssertEqual(out, ["Importing: 10.0.0.0/24"])
    }

    func testMeshConfig() throws {
        let c = try XCTUnwrap(parse(Guide.meshConfig))
        let b = try XCTUnwrap(c.bgpProtocols.first)
        XCTAssertEqual(b.name, "isp")
        XCTAssertEqual(b.password, "your-secure-password")
        XCTAssertTrue(b.bfd)
        XCTAssertEqual(b.gracefulRestart, .on)
        XCTAssertEqual(b.holdTime, 180)
        XCTAssertEqual(b.effectiveKeepaliveTime, 60)
        XCTAssertEqual(b.channels.first?.importLimit, Limit(count: 1000, action: .restart))
        guard case .bfd(let bfd)? = c.protocolNamed("bfd1") else { return XCTFail("no bfd1") }
        XCTAssertEqual(bfd.interfaces.count, 1)
        XCTAssertEqual(bfd.interfaces[0].pattern, "eth1")
        XCTAssertEqual(bfd.interfaces[0].options, BFDOptions())
        XCTAssertEqual(bfd.interfaces[0].options.minRxInterval, 10_000)
        XCTAssertEqual(bfd.interfaces[0].options.minTxInterval, 100_000)
        XCTAssertEqual(bfd.interfaces[0].options.idleTxInterval, 1_000_000)
        XCTAssertEqual(bfd.interfaces[0].options.multiplier, 5)
        guard case .device(let d)? = c.protocolNamed("device1") else { return XCTFail() }
        XCTAssertEqual(d.scanTime, 10)
        try assertBirdAccepts(Guide.meshConfig)
    }

    func testSnippetsParseAndBirdAccepts() throws {
        for (i, s) in Guide.snippetConfigs.enumerated() {
            XCTAssertNotNil(parse(s), "snippet \(i)")
            if Bird.available {
                let (ok, err) = try Bird.check(s)
                XCTAssertTrue(ok, "snippet \(i): \(err)")
            }
        }
        if !Bird.available { throw XCTSkip("bird not installed") }
    }

    func testImportFromISPSemantics() throws {
        let c = try XCTUnwrap(parse(Guide.meshConfig))
        let f = try XCTUnwrap(c.filters["import_from_isp"])
        for p in ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] {
            var r = route(p, proto: "isp")
            XCTAssertEqual(f.run(&r).0, .accept, p)
        }
        for p in ["192.0.2.0/25", "10.0.0.0/8", "192.0.2.128/25", "192.0.0.0/16", "0.0.0.0/0", "2001:db8::/32", "198.51.100.0/23"] {
            var r = route(p, proto: "isp")
            let res = f.run(&r)
            XCTAssertEqual(res.0, .reject, p)
            XCTAssertNil(res.runtimeError)
        }
    }

    /// The guide's ISP import filter over 100 passes of 1024 prefixes: every pass gives the same
    /// verdicts (the filter keeps no state between routes). The time is printed for information only;
    /// speed is measured by `make bench-bgp`, not by a wall-clock bound that a loaded machine breaks.
    func testFilterRunsRepeatably() throws {
        let c = try XCTUnwrap(parse(Guide.meshConfig))
        let f = try XCTUnwrap(c.filters["import_from_isp"])
        let prefixes = (0..<1024).map { IPPrefix(ipv4: UInt32(0xC000_0200) &+ UInt32($0) << 8, length: 24) }
        var r = route("192.0.2.0/24")
        var firstPass = 0
        var accepted = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for i in 0..<(100 * 1024) {
            r.net = prefixes[i & 1023]
            if f.run(&r, print: { _ in }).0 == .accept {
                accepted += 1
                if i < 1024 { firstPass += 1 }
            }
        }
        let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("import_from_isp: 102,400 routes in \(secs) s")
        XCTAssertGreaterThan(firstPass, 0)
        XCTAssertLessThan(firstPass, 1024, "the filter must also reject some of these prefixes")
        XCTAssertEqual(accepted, firstPass * 100)
    }
}
