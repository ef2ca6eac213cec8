import XCTest
@testable import TincConfig

final class PathsTests: XCTestCase {
    func paths(_ args: String...) throws -> Paths {
        try Paths(options: try CommandLineOptions(arguments: args))
    }

    func testDefaultsWithoutNetname() throws {
        let p = try paths()
        XCTAssertNil(p.netname)
        XCTAssertEqual(p.confdir, "/etc/tinc")
        XCTAssertEqual(p.hostsDir, "/etc/tinc/hosts")
        XCTAssertEqual(p.tincConf, "/etc/tinc/tinc.conf")
        XCTAssertEqual(p.pidfile, "/run/tinc.pid")
        XCTAssertEqual(p.logfile, "/var/log/tinc.log")
        XCTAssertEqual(p.controlSocket, "/run/tinc.sock")
        XCTAssertEqual(p.identName, "tinc")
        XCTAssertEqual(p.privateKeyFile, "/etc/tinc/rsa_key.priv")
        XCTAssertEqual(p.hostFile("alpha"), "/etc/tinc/hosts/alpha")
    }

    func testNetname() throws {
        let p = try paths("-n", "office")
        XCTAssertEqual(p.netname, "office")
        XCTAssertEqual(p.confdir, "/etc/tinc/office")
        XCTAssertEqual(p.hostsDir, "/etc/tinc/office/hosts")
        XCTAssertEqual(p.pidfile, "/run/tinc.office.pid")
        XCTAssertEqual(p.logfile, "/var/log/tinc.office.log")
        XCTAssertEqual(p.controlSocket, "/run/tinc.office.sock")
        XCTAssertEqual(p.identName, "tinc.office")
    }

    func testDotMeansNoNetname() throws {
        XCTAssertEqual(try paths("-n", "."), try paths())
        XCTAssertEqual(try Paths(netname: "."), try paths())
    }

    func testConfigDirKeepsRunDefaults() throws {
        let p = try paths("-c", "/srv/vpn", "-n", "office")
        XCTAssertEqual(p.confdir, "/srv/vpn")
        XCTAssertEqual(p.hostsDir, "/srv/vpn/hosts")
        XCTAssertEqual(p.pidfile, "/run/tinc.office.pid")
        XCTAssertEqual(p.controlSocket, "/run/tinc.office.sock")
        let q = try paths("-c", "/srv/vpn")
        XCTAssertEqual(q.pidfile, "/run/tinc.pid")
        XCTAssertEqual(q.logfile, "/var/log/tinc.log")
    }

    func testExplicitFiles() throws {
        let p = try paths("--pidfile=/tmp/x.pid", "--logfile=/tmp/x.log")
        XCTAssertEqual(p.pidfile, "/tmp/x.pid")
        XCTAssertEqual(p.logfile, "/tmp/x.log")
        XCTAssertEqual(p.controlSocket, "/run/tinc.sock")
    }

    func testInvalidNetnames() {
        for bad in ["a/b", "../x", ".hidden", "", "a\\b"] {
            assertCommandLineError(try Paths(netname: bad), argument: bad, contains: "netname")
        }
    }
}
