import XCTest
@testable import TincConfig

final class ConfigFileTests: XCTestCase {
    func parse(_ text: String, _ name: String = "tinc.conf") throws -> ConfigFile {
        try ConfigFile.parse(text, displayName: name)
    }

    func testBothSeparators() throws {
        let f = try parse("Name = alpha\nPort 655\nMode=switch\nDevice\t/dev/net/tun\nCipher \t=\t aes-128-cbc\n")
        XCTAssertEqual(f.entries.map(\.variable), ["Name", "Port", "Mode", "Device", "Cipher"])
        XCTAssertEqual(f.entries.map(\.value), ["alpha", "655", "switch", "/dev/net/tun", "aes-128-cbc"])
        XCTAssertEqual(f.entries.map(\.location.line), [1, 2, 3, 4, 5])
        XCTAssertEqual(f.entries[0].location, .file("tinc.conf", line: 1))
    }

    func testOnlyOneEqualsIsASeparator() throws {
        let f = try parse("Proxy = exec ssh -o Foo=bar host\nX == y\n")
        XCTAssertEqual(f.entries[0].value, "exec ssh -o Foo=bar host")
        XCTAssertEqual(f.entries[1].value, "= y")
    }

    func testValueKeepsInnerSpaces() throws {
        let f = try parse("Address = 10.0.0.1   700   \n")
        XCTAssertEqual(f.entries[0].value, "10.0.0.1   700")
    }

    func testCaseInsensitiveNames() throws {
        let f = try parse("pOrT = 1000\n")
        let tree = ConfigTree(entries: f.entries)
        XCTAssertEqual(tree.string("Port"), "1000")
        XCTAssertEqual(tree.string("PORT"), "1000")
        XCTAssertEqual(f.entries[0].variable, "pOrT")
    }

    func testCommentsAndBlankLines() throws {
        let f = try parse("# comment\n\n   \nName = a\n#Port = 1\nMode = hub # not a comment\n")
        XCTAssertEqual(f.entries.count, 2)
        XCTAssertEqual(f.entries[0].location.line, 4)
        XCTAssertEqual(f.entries[1].value, "hub # not a comment")  // no inline comments
    }

    func testCRLFAndTrailingWhitespace() throws {
        let f = try parse("Name = alpha\r\nPort = 655 \t\r\nMode = router")
        XCTAssertEqual(f.entries.map(\.value), ["alpha", "655", "router"])
        XCTAssertEqual(f.entries[2].location.line, 3)
    }

    func testPEMBlocksAreSkipped() throws {
        let text = """
            Address = 1.2.3.4
            -----BEGIN RSA PUBLIC KEY-----
            MIIBCgKCAQEAx
            Port = 999
            -----END RSA PUBLIC KEY-----
            Subnet = 10.0.0.0/24
            """
        let f = try parse(text, "hosts/alpha")
        XCTAssertEqual(f.entries.map(\.variable), ["Address", "Subnet"])
        XCTAssertEqual(f.entries[1].location, .file("hosts/alpha", line: 6))
    }

    func testUnterminatedPEMSkipsRest() throws {
        let f = try parse("Port = 1\n-----BEGIN RSA PUBLIC KEY-----\nabc\nName = x\n")
        XCTAssertEqual(f.entries.map(\.variable), ["Port"])
    }

    func testEmptyValueIsAnErrorWithFileAndLine() {
        assertConfigError(try parse("Name = a\n\nPort =\n", "hosts/alpha"), contains: ["hosts/alpha:3", "Port", "no value"])
        assertConfigError(try parse("Port\n"), contains: ["tinc.conf:1", "Port"])
        assertConfigError(try parse("Port = \t \r\n"), contains: ["tinc.conf:1", "Port"])
    }

    func testIndentedLineIsIgnoredWithWarning() throws {
        let f = try parse("  Port = 1\nName = a\n")
        XCTAssertEqual(f.entries.map(\.variable), ["Name"])
        XCTAssertEqual(f.warnings.count, 1)
        XCTAssertTrue(f.warnings[0].hasPrefix("tinc.conf:1:"))
    }

    func testOverlongLineIsAnError() {
        let long = "Subnet = " + String(repeating: "x", count: 3000)
        assertConfigError(try parse("Name = a\n" + long + "\n"), contains: ["tinc.conf:2", "too long"])
    }

    func testReadMissingFile() {
        assertConfigError(try ConfigFile.read(path: "/nonexistent/tinc.conf-x", displayName: "hosts/nobody"),
                          contains: ["hosts/nobody: no such file"])
    }

    func testParseLineForOptions() throws {
        let e = try ConfigFile.parseLine("alpha.Port=700", location: .commandLine(option: 2))
        XCTAssertEqual(e.variable, "alpha.Port")
        XCTAssertEqual(e.value, "700")
        XCTAssertEqual(e.location.description, "command line option -o #2")
    }

    func testErrorDescriptionFormat() {
        let e = ConfigError(location: .file("hosts/alpha", line: 3), variable: "Port",
                            message: "\"65536\" is not a valid port")
        XCTAssertEqual(e.description, "hosts/alpha:3: Port: \"65536\" is not a valid port")
    }
}
