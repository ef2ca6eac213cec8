import XCTest
@testable import TincConfig

final class PrecedenceTests: XCTestCase {
    var dir: TempConfigDir!

    override func setUpWithError() throws { dir = try TempConfigDir() }
    override func tearDown() { dir.remove() }

    func load(_ args: [String] = []) throws -> (ServerConfig, [String]) {
        try ConfigLoader.load(confdir: dir.path, options: try CommandLineOptions(arguments: args), environment: [:])
    }

    func testLowestLineNumberWinsAcrossFiles() throws {
        // tinc.conf sets Port on line 3, hosts/alpha on line 1: the hosts file wins.
        try dir.write("tinc.conf", "Name = alpha\n\nPort = 1000\nMode = switch\n")
        try dir.write("hosts/alpha", "Port = 2000\n")
        try dir.write("conf.d/a.conf", "\n\n\n\n\nMode = hub\n")
        let (cfg, warnings) = try load()
        XCTAssertEqual(cfg.myself.port, "2000")
        XCTAssertEqual(cfg.mode, .switch)  // line 4 beats line 6
        XCTAssertTrue(warnings.contains { $0.contains("tinc.conf:3: Port is set again; the value from hosts/alpha:1 is used") })
    }

    func testSameLineTieBrokenByFileName() throws {
        try dir.write("tinc.conf", "Name = alpha\nMode = switch\n")
        try dir.write("conf.d/x.conf", "\nMode = hub\n")
        // "conf.d/x.conf" < "tinc.conf"
        let (cfg, _) = try load()
        XCTAssertEqual(cfg.mode, .hub)
    }

    func testCommandLineFirst() throws {
        try dir.write("tinc.conf", "Mode = switch\nName = alpha\n")
        try dir.write("hosts/alpha", "Port = 2000\n")
        let (cfg, warnings) = try load(["-o", "Mode=hub", "-o", "alpha.Port=3000", "-o", "Port=4000"])
        XCTAssertEqual(cfg.mode, .hub)
        XCTAssertEqual(cfg.myself.port, "3000")  // -o #2 before -o #3
        XCTAssertFalse(warnings.contains { $0.contains("set again") })
    }

    func testCommandLineNameOverride() throws {
        try dir.write("tinc.conf", "Name = alpha\n")
        try dir.write("hosts/beta", "Port = 5000\n")
        let (cfg, _) = try load(["-o", "Name=beta"])
        XCTAssertEqual(cfg.name, "beta")
        XCTAssertEqual(cfg.myself.port, "5000")
    }

    func testMultiValuedOrder() throws {
        try dir.write("tinc.conf", "Name = alpha\nConnectTo = c1\nConnectTo = c3\nBindToAddress = * 700\n")
        try dir.write("conf.d/01.conf", "ConnectTo = c0\n\nConnectTo = c2\n")
        try dir.write("hosts/alpha", "Subnet = 10.0.0.0/24\nSubnet = 10.0.1.0/24\n")
        let (cfg, _) = try load(["-o", "ConnectTo=cmd", "-o", "alpha.Subnet=10.9.0.0/16"])
        // cmd first; then line 1 (conf.d), line 2 (tinc.conf), line 3 (conf.d < tinc.conf), line 3
        XCTAssertEqual(cfg.connectTo, ["cmd", "c0", "c1", "c2", "c3"])
        XCTAssertEqual(cfg.myself.subnets.map(\.value), ["10.9.0.0/16", "10.0.0.0/24", "10.0.1.0/24"])
        XCTAssertEqual(cfg.myself.subnets[1].location, .file("hosts/alpha", line: 1))
        XCTAssertEqual(cfg.myself.subnets[0].location, .commandLine(option: 2))
        XCTAssertEqual(cfg.bindToAddresses, [BindAddress(address: nil, port: "700", location: .file("tinc.conf", line: 4))])
    }

    func testConfDOnlyDotConfFiles() throws {
        try dir.write("tinc.conf", "Name = alpha\n")
        try dir.write("conf.d/a.conf", "Mode = hub\n")
        try dir.write("conf.d/b.conf.bak", "Mode = \n")  // would be an error if read
        try dir.write("conf.d/.conf", "Mode = \n")
        try dir.mkdir("conf.d/sub.conf")
        XCTAssertEqual(ConfigLoader.confDotDFiles(confdir: dir.path), ["a.conf"])
        let (cfg, _) = try load()
        XCTAssertEqual(cfg.mode, .hub)
    }

    func testPeerConfig() throws {
        try dir.write("hosts/beta", "Address = beta.example.org\nAddress = 10.0.0.2 7000\nPort = 6000\nCompression = 9\n")
        let options = try CommandLineOptions(arguments: ["-o", "beta.Compression=3", "-o", "gamma.Port=1", "-o", "Port=2"])
        let host = try ConfigLoader.loadHost(name: "beta", confdir: dir.path, options: options)
        XCTAssertEqual(host.compression, 3)
        XCTAssertEqual(host.port, "6000")
        XCTAssertEqual(host.addresses.map(\.host), ["beta.example.org", "10.0.0.2"])
        XCTAssertEqual(host.addresses.map(\.port), [nil, "7000"])
        XCTAssertEqual(host.resolvedAddresses.map(\.port), ["6000", "7000"])
    }

    func testMissingHostFile() {
        assertConfigError(try ConfigLoader.loadHost(name: "nobody", confdir: dir.path), contains: ["hosts/nobody: no such file"])
    }

    func testMissingTincConf() {
        assertConfigError(try load(), contains: ["tinc.conf: no such file"])
    }

    func testMissingName() throws {
        try dir.write("tinc.conf", "Mode = hub\n")
        assertConfigError(try load(), contains: ["Name"])
    }

    func testMissingOwnHostFileIsAWarning() throws {
        try dir.write("tinc.conf", "Name = alpha\nPort = 700\n")
        let (cfg, warnings) = try load()
        XCTAssertEqual(cfg.myself.port, "700")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("hosts/alpha: no such file") })
    }

    func testHostNamesAndReadName() throws {
        try dir.write("tinc.conf", "Name = $NODE\n")
        try dir.write("hosts/alpha", "")
        try dir.write("hosts/beta", "")
        try dir.write("hosts/not-valid", "")
        XCTAssertEqual(ConfigLoader.hostNames(confdir: dir.path), ["alpha", "beta"])
        let o = CommandLineOptions()
        XCTAssertEqual(ConfigLoader.readName(confdir: dir.path, options: o, environment: ["NODE": "gw-1"]), "gw_1")
        XCTAssertNil(ConfigLoader.readName(confdir: dir.path, options: o, environment: [:]))
    }
}
