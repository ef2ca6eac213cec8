import XCTest
@testable import TincConfig

final class HostConfigTests: XCTestCase {
    var dir: TempConfigDir!

    override func setUpWithError() throws { dir = try TempConfigDir() }
    override func tearDown() { dir.remove() }

    func host(_ text: String, name: String = "beta") throws -> HostConfig {
        try dir.write("hosts/" + name, text)
        return try ConfigLoader.loadHost(name: name, confdir: dir.path)
    }

    func testDefaults() throws {
        let h = try host("")
        XCTAssertEqual(h, HostConfig(name: "beta"))
        XCTAssertEqual(h.port, "655")
        XCTAssertEqual(h.portNumber, 655)
        XCTAssertEqual(h.addresses, [])
        XCTAssertEqual(h.cipher, "aes-256-cbc")
        XCTAssertTrue(h.clampMSS)
        XCTAssertEqual(h.compression, 0)
        XCTAssertEqual(h.digest, "sha256")
        XCTAssertFalse(h.indirectData)
        XCTAssertEqual(h.macLength, 4)
        XCTAssertNil(h.pmtu)
        XCTAssertTrue(h.pmtuDiscovery)
        XCTAssertNil(h.publicKey)
        XCTAssertNil(h.publicKeyFile)
        XCTAssertEqual(h.subnets, [])
        XCTAssertFalse(h.tcpOnly)
        XCTAssertNil(h.weight)
    }

    func testAllValues() throws {
        let h = try host("""
            Address = 192.0.2.7 7000
            Address = beta.example.org
            Cipher = aes-128-cbc
            ClampMSS = no
            Compression = 11
            Digest = sha1
            IndirectData = yes
            MACLength = 20
            PMTU = 1400
            PMTUDiscovery = no
            Port = 7001
            PublicKey = ABCDEF0123
            PublicKeyFile = /etc/tinc/beta.pub
            Subnet = 10.1.0.0/16
            Subnet = 00:11:22:33:44:55
            TCPOnly = no
            Weight = 25
            -----BEGIN RSA PUBLIC KEY-----
            MIIBCgKCAQEA
            -----END RSA PUBLIC KEY-----
            """)
        XCTAssertEqual(h.addresses, [
            HostAddress(host: "192.0.2.7", port: "7000", location: .file("hosts/beta", line: 1)),
            HostAddress(host: "beta.example.org", port: nil, location: .file("hosts/beta", line: 2)),
        ])
        XCTAssertEqual(h.cipher, "aes-128-cbc")
        XCTAssertFalse(h.clampMSS)
        XCTAssertEqual(h.compression, 11)
        XCTAssertEqual(h.digest, "sha1")
        XCTAssertTrue(h.indirectData)
        XCTAssertEqual(h.macLength, 20)
        XCTAssertEqual(h.pmtu, 1400)
        XCTAssertEqual(h.effectivePMTU, 1400)
        XCTAssertFalse(h.pmtuDiscovery)
        XCTAssertEqual(h.port, "7001")
        XCTAssertEqual(h.publicKey, "ABCDEF0123")
        XCTAssertEqual(h.publicKeyFile, "/etc/tinc/beta.pub")
        XCTAssertEqual(h.subnets, [
            SubnetEntry(value: "10.1.0.0/16", location: .file("hosts/beta", line: 14)),
            SubnetEntry(value: "00:11:22:33:44:55", location: .file("hosts/beta", line: 15)),
        ])
        XCTAssertFalse(h.tcpOnly)
        XCTAssertEqual(h.weight, 25)
        XCTAssertEqual(h.warnings, [])
    }

    func testPortRange() throws {
        XCTAssertEqual(try host("Port = 1\n").port, "1")
        XCTAssertEqual(try host("Port = 65535\n").port, "65535")
        assertConfigError(try host("\n\nPort = 65536\n"), contains: ["hosts/beta:3: Port: \"65536\" is not a valid port"])
        assertConfigError(try host("Port = 0\n"), contains: ["hosts/beta:1", "not a valid port"])
        assertConfigError(try host("Port = -1\n"), contains: ["hosts/beta:1", "not a valid port"])
        assertConfigError(try host("Port = 65a\n"), contains: ["hosts/beta:1", "not a valid port"])
        assertConfigError(try host("Port = no-such-service-xyz\n"), contains: ["hosts/beta:1", "not a valid port"])
        assertConfigError(try host("Address = 1.2.3.4 0\n"), contains: ["hosts/beta:1", "Address", "not a valid port"])
        assertConfigError(try host("Address = 1.2.3.4 655 x\n"), contains: ["hosts/beta:1", "Address"])
    }

    func testCompressionRange() throws {
        XCTAssertEqual(try host("Compression = 0\n").compression, 0)
        assertConfigError(try host("Compression = 12\n"), contains: ["hosts/beta:1", "Compression", "out of range (0-11)"])
        assertConfigError(try host("Compression = -1\n"), contains: ["hosts/beta:1", "Compression"])
        assertConfigError(try host("Compression = lzo\n"), contains: ["hosts/beta:1", "not an integer"])
    }

    func testMACLengthRange() throws {
        XCTAssertEqual(try host("MACLength = 0\n").macLength, 0)
        XCTAssertEqual(try host("MACLength = 32\n").macLength, 32)  // sha256 default
        assertConfigError(try host("MACLength = 33\n"), contains: ["hosts/beta:1", "MACLength", "sha256"])
        assertConfigError(try host("Digest = md5\nMACLength = 17\n"), contains: ["hosts/beta:2", "MACLength"])
        assertConfigError(try host("MACLength = -1\n"), contains: ["hosts/beta:1", "MACLength"])
        XCTAssertEqual(try host("Digest = whirlpool\nMACLength = 64\n").macLength, 64)
        assertConfigError(try host("Digest = whirlpool\nMACLength = 65\n"), contains: ["hosts/beta:2", "MACLength"])
        XCTAssertEqual(try host("Digest = none\nMACLength = 100\n").macLength, 100)  // unused without a digest
    }

    func testPMTUAndWeightRanges() throws {
        assertConfigError(try host("PMTU = 0\n"), contains: ["hosts/beta:1", "PMTU"])
        XCTAssertEqual(try host("PMTU = 9000\n").effectivePMTU, 1518)
        assertConfigError(try host("Weight = -3\n"), contains: ["hosts/beta:1", "Weight"])
    }

    func testTCPOnlyDisablesPMTUDiscoveryByDefault() throws {
        var h = try host("TCPOnly = yes\n")
        XCTAssertFalse(h.pmtuDiscovery)
        XCTAssertTrue(h.effectiveIndirectData)
        h = try host("TCPOnly = yes\nPMTUDiscovery = yes\n")
        XCTAssertTrue(h.pmtuDiscovery)
    }

    func testPublicKeyMustBeHex() {
        assertConfigError(try host("PublicKey = 12G4\n"), contains: ["hosts/beta:1", "PublicKey", "hexadecimal"])
    }

    func testPeerFileWarningsAndIgnoredVariables() throws {
        // Server variables in a peer's file are ignored (tinc never reads them there);
        // unsupported ones too; unknown ones are warnings.
        let h = try host("Mode = switch\nVDEPort = x\nEd25519PublicKey = abc\nSubnett = 1.2.3.4\n")
        XCTAssertEqual(h.warnings.count, 2)
        XCTAssertTrue(h.warnings[0].hasPrefix("hosts/beta:3:"))
        XCTAssertTrue(h.warnings[1].hasPrefix("hosts/beta:4:"))
    }

    func testInvalidPeerName() {
        assertConfigError(try ConfigLoader.loadHost(name: "../etc", confdir: dir.path), contains: ["not a valid node name"])
    }

    func testNodeNameValidation() {
        XCTAssertTrue(ConfigLoader.isValidNodeName("alpha_1"))
        XCTAssertTrue(ConfigLoader.isValidNodeName("A"))
        XCTAssertFalse(ConfigLoader.isValidNodeName(""))
        XCTAssertFalse(ConfigLoader.isValidNodeName("a-b"))
        XCTAssertFalse(ConfigLoader.isValidNodeName("a.b"))
        XCTAssertFalse(ConfigLoader.isValidNodeName("é"))
        XCTAssertFalse(ConfigLoader.isValidNodeName("a b"))
    }
}
