import XCTest
@testable import BGPLite

/// `configure`'s comparison of the running and the new bgp.conf (ConfigDiff).
final class ConfigDiffTests: XCTestCase {
    static let base = """
        router id 10.0.0.1;
        define LP = 200;
        function is_ours(prefix p) { return p ~ [10.0.0.0/8+]; }
        filter from_isp { if net ~ [192.0.2.0/24] then { bgp_local_pref = LP; accept; } reject; }
        filter to_isp { if is_ours(net) then accept; reject; }
        protocol static mesh_routes { ipv4; route 10.0.0.0/24 blackhole; route 10.0.1.0/24 blackhole; }
        protocol bgp isp {
            description "the ISP";
            local 10.203.0.2 as 65000;
            neighbor 10.203.0.1 as 65001;
            hold time 180;
            ipv4 { import filter from_isp; export filter to_isp; };
        }
        protocol bgp peer2 {
            local 10.203.0.2 as 65000;
            neighbor 10.203.0.3 as 65002;
            ipv4 { import all; export where net ~ [10.0.0.0/24]; };
        }
        template bgp mesh { local as 65000; ipv4 { import all; export all; }; }
        """

    private func diff(_ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) throws -> ConfigDiff {
        func parse(_ t: String) throws -> (BGPConfig, [String: BGPProtocolConfig]) {
            var p = ConfigParser(text: t, fileName: "bgp.conf", includeLoader: nil)
            let c = try p.parseConfig()
            return (c, p.bgpTemplates)
        }
        let (a, at) = try parse(old), (b, bt) = try parse(new)
        return ConfigDiff.compute(old: a, new: b, oldTemplates: at, newTemplates: bt)
    }

    private func change(_ d: ConfigDiff, _ name: String) -> ProtocolChange? {
        d.protocols.first { $0.name == name }?.change
    }

    private func edited(_ from: String, _ to: String) -> String {
        XCTAssertTrue(Self.base.contains(from), from)
        return Self.base.replacingOccurrences(of: from, with: to)
    }

    func testSameFileChangesNothing() throws {
        let d = try diff(Self.base, Self.base)
        XCTAssertTrue(d.isEmpty, "\(d)")
        XCTAssertEqual(d.protocols.map { $0.change }, [.unchanged, .unchanged, .unchanged])
    }

    func testLayoutCommentsAndDescriptionChangeNothing() throws {
        let moved = "# a comment\n\n" + edited("description \"the ISP\";", "description \"the upstream\";")
            .replacingOccurrences(of: "hold time 180;", with: "hold   time\n 180 ;")
        XCTAssertTrue(try diff(Self.base, moved).isEmpty)
    }

    func testExportFilterChangeReloadsOnlyThatChannel() throws {
        let d = try diff(Self.base, edited("if is_ours(net) then accept; reject;", "if net = 10.0.0.0/24 then accept; reject;"))
        XCTAssertEqual(change(d, "isp"), .reload(importChanged: [], exportChanged: [.ipv4]))
        XCTAssertEqual(change(d, "peer2"), .unchanged)
        XCTAssertEqual(change(d, "mesh_routes"), .unchanged)
    }

    func testImportFilterChangeReloadsImport() throws {
        let d = try diff(Self.base, edited("[192.0.2.0/24] then", "[192.0.2.0/24, 198.51.100.0/24] then"))
        XCTAssertEqual(change(d, "isp"), .reload(importChanged: [.ipv4], exportChanged: []))
    }

    func testInlineWherePolicyAndAllNone() throws {
        var d = try diff(Self.base, edited("export where net ~ [10.0.0.0/24]", "export where net ~ [10.0.1.0/24]"))
        XCTAssertEqual(change(d, "peer2"), .reload(importChanged: [], exportChanged: [.ipv4]))
        d = try diff(Self.base, edited("ipv4 { import all; export where", "ipv4 { import none; export where"))
        XCTAssertEqual(change(d, "peer2"), .reload(importChanged: [.ipv4], exportChanged: []))
    }

    /// A filter's meaning includes the functions and constants it uses (BIRD f_same).
    func testChangedFunctionOrDefineChangesTheFiltersUsingIt() throws {
        var d = try diff(Self.base, edited("return p ~ [10.0.0.0/8+];", "return p ~ [10.0.0.0/16+];"))
        XCTAssertEqual(change(d, "isp"), .reload(importChanged: [], exportChanged: [.ipv4]))
        d = try diff(Self.base, edited("define LP = 200;", "define LP = 300;"))
        XCTAssertEqual(change(d, "isp"), .reload(importChanged: [.ipv4], exportChanged: []))
        XCTAssertEqual(change(d, "peer2"), .unchanged)
    }

    func testRenamedFilterWithTheSameBodyIsUnchanged() throws {
        let d = try diff(Self.base, Self.base.replacingOccurrences(of: "to_isp", with: "export_to_isp"))
        XCTAssertEqual(change(d, "isp"), .unchanged)
    }

    func testSessionParametersRestartOnlyThatProtocol() throws {
        for (from, to) in [("hold time 180;", "hold time 90;"), ("neighbor 10.203.0.1 as 65001;", "neighbor 10.203.0.1 as 65009;"),
                           ("neighbor 10.203.0.1 as", "neighbor 10.203.0.9 as"), ("hold time 180;", "hold time 180; password \"s3cret\";"),
                           ("hold time 180;", "hold time 180; passive on;")] {
            let d = try diff(Self.base, edited(from, to))
            guard case .restart? = change(d, "isp") else { XCTFail("\(to): \(String(describing: change(d, "isp")))"); continue }
            XCTAssertEqual(change(d, "peer2"), .unchanged, to)
        }
        // A channel option other than the policies belongs to the session too.
        let d = try diff(Self.base, edited("export filter to_isp; };", "export filter to_isp; next hop self; };"))
        guard case .restart? = change(d, "isp") else { return XCTFail("\(d)") }
    }

    func testAddedRemovedDisabledProtocols() throws {
        let added = Self.base + "\nprotocol bgp third { local 10.203.0.2 as 65000; neighbor 10.203.0.4 as 65003; ipv4 { import all; export none; }; }\n"
        var d = try diff(Self.base, added)
        XCTAssertEqual(change(d, "third"), .add)
        d = try diff(added, Self.base)
        XCTAssertEqual(change(d, "third"), .remove)
        XCTAssertEqual(change(d, "isp"), .unchanged)
        d = try diff(Self.base, edited("hold time 180;", "hold time 180; disabled;"))
        XCTAssertEqual(change(d, "isp"), .disable)
        d = try diff(edited("hold time 180;", "hold time 180; disabled;"), Self.base)
        XCTAssertEqual(change(d, "isp"), .enable)
    }

    func testStaticRouteChangesReloadTheStaticProtocol() throws {
        let d = try diff(Self.base, edited("route 10.0.1.0/24 blackhole;", "route 10.0.2.0/24 blackhole;"))
        XCTAssertEqual(change(d, "mesh_routes"), .reload(importChanged: [.ipv4], exportChanged: []))
        XCTAssertEqual(change(d, "isp"), .unchanged)
    }

    func testTemplateAndRouterIDChanges() throws {
        var d = try diff(Self.base, edited("template bgp mesh { local as 65000; ipv4 { import all; export all; }; }",
                                           "template bgp mesh { local as 65000; ipv4 { import all; export none; }; }"))
        XCTAssertEqual(d.changedTemplates, ["mesh"])
        XCTAssertFalse(d.isEmpty)
        d = try diff(Self.base, edited("router id 10.0.0.1;", "router id 10.0.0.2;"))
        XCTAssertTrue(d.routerIDChanged)
    }

    func testRenamedProtocolIsRemovedAndAdded() throws {
        let d = try diff(Self.base, edited("protocol static mesh_routes { ipv4;", "protocol static mesh_static { ipv4;"))
        XCTAssertEqual(change(d, "mesh_static"), .add)
        XCTAssertEqual(change(d, "mesh_routes"), .remove)
    }
}
