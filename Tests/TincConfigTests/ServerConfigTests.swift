import XCTest
@testable import TincConfig

final class ServerConfigTests: XCTestCase {
    func config(_ lines: String, host: String? = nil, args: [String] = [], env: [String: String] = [:]) throws -> ServerConfig {
        try serverConfig("Name = alpha\n" + lines, host: host, args: args, env: env).0
    }

    func warnings(_ lines: String, host: String? = nil) throws -> [String] {
        try serverConfig("Name = alpha\n" + lines, host: host).1
    }

    func testDefaults() throws {
        let dir = try TempConfigDir()
        defer { dir.remove() }
        try dir.write("tinc.conf", "Name = alpha\n")
        try dir.write("hosts/alpha", "")
        let (c, warnings) = try ConfigLoader.load(confdir: dir.path, options: CommandLineOptions())
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(c.name, "alpha")
        XCTAssertEqual(c.addressFamily, .any)
        XCTAssertEqual(c.bindToAddresses, [])
        XCTAssertNil(c.bindToInterface)
        XCTAssertEqual(c.broadcast, .mst)
        XCTAssertEqual(c.connectTo, [])
        XCTAssertFalse(c.decrementTTL)
        XCTAssertEqual(c.device, "/dev/net/tun")
        XCTAssertNil(c.deviceType)
        XCTAssertEqual(c.effectiveDeviceType, .tun)
        XCTAssertFalse(c.directOnly)
        XCTAssertEqual(c.forwarding, .internal)
        XCTAssertNil(c.graphDumpFile)
        XCTAssertFalse(c.hostnames)
        XCTAssertFalse(c.iffOneQueue)
        XCTAssertNil(c.interface)
        XCTAssertEqual(c.keyExpire, 3600)
        XCTAssertFalse(c.localDiscovery)
        XCTAssertEqual(c.macExpire, 600)
        XCTAssertEqual(c.maxOutputBufferSize, 15180)
        XCTAssertEqual(c.maxTimeout, 900)
        XCTAssertEqual(c.minTimeout, 0)
        XCTAssertEqual(c.mode, .router)
        XCTAssertEqual(c.pingInterval, 60)
        XCTAssertEqual(c.pingTimeout, 5)
        XCTAssertFalse(c.priorityInheritance)
        XCTAssertNil(c.privateKey)
        XCTAssertEqual(c.privateKeyFile, dir.path + "/rsa_key.priv")
        XCTAssertNil(c.processPriority)
        XCTAssertEqual(c.proxy, ProxyConfig.none)
        XCTAssertEqual(c.replayWindow, 16)
        XCTAssertNil(c.scriptsInterpreter)
        XCTAssertFalse(c.strictSubnets)
        XCTAssertFalse(c.tunnelServer)
        XCTAssertNil(c.udpRcvBuf)
        XCTAssertNil(c.udpSndBuf)
        XCTAssertNil(c.metricsAddress)
        XCTAssertNil(c.controlSocket)
        // own host defaults
        XCTAssertEqual(c.myself.port, "655")
        XCTAssertEqual(c.myself.cipher, "aes-256-cbc")
        XCTAssertEqual(c.myself.digest, "sha256")
        XCTAssertEqual(c.myself.macLength, 4)
        XCTAssertEqual(c.myself.compression, 0)
        XCTAssertTrue(c.myself.clampMSS)
        XCTAssertTrue(c.myself.pmtuDiscovery)
        XCTAssertNil(c.myself.pmtu)
        XCTAssertEqual(c.myself.effectivePMTU, 1518)
        XCTAssertEqual(c.myself, {
            var h = HostConfig(name: "alpha")
            h.warnings = []
            return h
        }())
        // the memberwise-default initializer agrees with the loader
        XCTAssertEqual(c, ServerConfig(name: "alpha", confdir: dir.path))
    }

    func testAllValuesSet() throws {
        let c = try config("""
            AddressFamily = IPv6
            BindToAddress = 192.0.2.1
            BindToInterface = eth0
            Broadcast = direct
            ConnectTo = beta
            DecrementTTL = yes
            Device = /dev/tun9
            DeviceType = tap
            DirectOnly = YES
            Forwarding = kernel
            GraphDumpFile = |dot -Tpng
            Hostnames = yes
            IffOneQueue = yes
            Interface = vpn0
            KeyExpire = 100
            LocalDiscovery = yes
            MACExpire = 60
            MaxOutputBufferSize = 2000
            MaxTimeout = 100
            MinTimeout = 10
            Mode = switch
            PingInterval = 30
            PingTimeout = 10
            PriorityInheritance = yes
            PrivateKey = 0aFf
            PrivateKeyFile = /etc/key.pem
            ProcessPriority = High
            Proxy = exec ssh gw nc %h %p
            ReplayWindow = 0
            ScriptsInterpreter = /bin/bash
            StrictSubnets = yes
            UDPRcvBuf = 100000
            UDPSndBuf = 200000
            MetricsAddress = 127.0.0.1:9100
            ControlSocket = /tmp/x.sock
            """)
        XCTAssertEqual(c.addressFamily, .ipv6)
        XCTAssertEqual(c.bindToAddresses.first?.address, "192.0.2.1")
        XCTAssertNil(c.bindToAddresses.first?.port)
        XCTAssertEqual(c.bindToInterface, "eth0")
        XCTAssertEqual(c.broadcast, .direct)
        XCTAssertEqual(c.connectTo, ["beta"])
        XCTAssertTrue(c.decrementTTL)
        XCTAssertEqual(c.device, "/dev/tun9")
        XCTAssertEqual(c.deviceType, .tap)
        XCTAssertTrue(c.directOnly)
        XCTAssertEqual(c.forwarding, .kernel)
        XCTAssertEqual(c.graphDumpFile, "|dot -Tpng")
        XCTAssertTrue(c.hostnames)
        XCTAssertTrue(c.iffOneQueue)
        XCTAssertEqual(c.interface, "vpn0")
        XCTAssertEqual(c.keyExpire, 100)
        XCTAssertTrue(c.localDiscovery)
        XCTAssertEqual(c.macExpire, 60)
        XCTAssertEqual(c.maxOutputBufferSize, 2000)
        XCTAssertEqual(c.maxTimeout, 100)
        XCTAssertEqual(c.minTimeout, 10)
        XCTAssertEqual(c.mode, .switch)
        XCTAssertEqual(c.effectiveDeviceType, .tap)
        XCTAssertEqual(c.pingInterval, 30)
        XCTAssertEqual(c.pingTimeout, 10)
        XCTAssertTrue(c.priorityInheritance)
        XCTAssertEqual(c.privateKey, "0aFf")
        XCTAssertEqual(c.privateKeyFile, "/etc/key.pem")
        XCTAssertEqual(c.processPriority, .high)
        XCTAssertEqual(c.proxy, .exec(command: "ssh gw nc %h %p"))
        XCTAssertEqual(c.replayWindow, 0)
        XCTAssertEqual(c.scriptsInterpreter, "/bin/bash")
        XCTAssertTrue(c.strictSubnets)
        XCTAssertFalse(c.tunnelServer)
        XCTAssertEqual(c.udpRcvBuf, 100000)
        XCTAssertEqual(c.udpSndBuf, 200000)
        XCTAssertEqual(c.metricsAddress, MetricsAddress(host: "127.0.0.1", port: 9100))
        XCTAssertEqual(c.controlSocket, "/tmp/x.sock")
    }

    func testModeOptions() throws {
        XCTAssertEqual(try config("Mode = router\n").mode, .router)
        XCTAssertEqual(try config("Mode = Switch\n").mode, .switch)
        XCTAssertEqual(try config("Mode = HUB\n").mode, .hub)
        XCTAssertEqual(try config("Mode = hub\n").effectiveDeviceType, .tap)
        assertConfigError(try config("Mode = bridge\n"), contains: ["tinc.conf:2", "Mode", "\"bridge\"", "routing mode"])
    }

    func testBroadcastOptions() throws {
        XCTAssertEqual(try config("Broadcast = no\n").broadcast, .no)
        XCTAssertEqual(try config("Broadcast = mst\n").broadcast, .mst)
        XCTAssertEqual(try config("Broadcast = yes\n").broadcast, .mst)
        XCTAssertEqual(try config("Broadcast = Direct\n").broadcast, .direct)
        assertConfigError(try config("Broadcast = all\n"), contains: ["tinc.conf:2", "Broadcast"])
    }

    func testForwardingOptions() throws {
        XCTAssertEqual(try config("Forwarding = off\n").forwarding, .off)
        XCTAssertEqual(try config("Forwarding = internal\n").forwarding, .internal)
        XCTAssertEqual(try config("Forwarding = KERNEL\n").forwarding, .kernel)
        assertConfigError(try config("Forwarding = yes\n"), contains: ["tinc.conf:2", "Forwarding"])
    }

    func testAddressFamilyOptions() throws {
        XCTAssertEqual(try config("AddressFamily = ipv4\n").addressFamily, .ipv4)
        XCTAssertEqual(try config("AddressFamily = IPv6\n").addressFamily, .ipv6)
        XCTAssertEqual(try config("AddressFamily = any\n").addressFamily, .any)
        assertConfigError(try config("AddressFamily = inet\n"), contains: ["tinc.conf:2", "AddressFamily"])
    }

    func testDeviceTypeOptions() throws {
        XCTAssertEqual(try config("DeviceType = tun\n").deviceType, .tun)
        XCTAssertEqual(try config("DeviceType = TAP\n").deviceType, .tap)
        XCTAssertEqual(try config("DeviceType = dummy\n").deviceType, .dummy)
        XCTAssertEqual(try config("DeviceType = tun\nMode = switch\n").effectiveDeviceType, .tun)
        for t in ["raw_socket", "multicast", "uml", "vde"] {
            assertConfigError(try config("DeviceType = \(t)\n"), contains: ["tinc.conf:2", "DeviceType", t, "not supported by tincd-swift"])
        }
        assertConfigError(try config("DeviceType = ethertap\n"), contains: ["tinc.conf:2", "not a valid device type"])
    }

    func testProcessPriorityOptions() throws {
        XCTAssertEqual(try config("ProcessPriority = low\n").processPriority, .low)
        XCTAssertEqual(try config("ProcessPriority = Normal\n").processPriority, .normal)
        XCTAssertEqual(ProcessPriority.high.niceValue, -10)
        assertConfigError(try config("ProcessPriority = realtime\n"), contains: ["tinc.conf:2", "ProcessPriority"])
    }

    func testProxyForms() throws {
        func parse(_ v: String) throws -> ProxyConfig {
            try ProxyConfig.parse(ConfigEntry(variable: "Proxy", value: v, location: .file("tinc.conf", line: 7)))
        }
        XCTAssertEqual(try parse("none"), ProxyConfig.none)
        XCTAssertEqual(try parse("EXEC /usr/bin/nc %h %p"), .exec(command: "/usr/bin/nc %h %p"))
        XCTAssertEqual(try parse("socks4 proxy 1080"), .socks4(host: "proxy", port: "1080", user: nil))
        XCTAssertEqual(try parse("socks4 proxy 1080 bob"), .socks4(host: "proxy", port: "1080", user: "bob"))
        XCTAssertEqual(try parse("socks4a proxy 1080"), .socks4a(host: "proxy", port: "1080", user: nil))
        XCTAssertEqual(try parse("socks5 proxy 1080 bob se cret"),
                       .socks5(host: "proxy", port: "1080", user: "bob", password: "se cret"))
        XCTAssertEqual(try parse("http proxy 3128"), .http(host: "proxy", port: "3128"))
        assertConfigError(try parse("exec"), contains: ["tinc.conf:7", "Proxy", "command"])
        assertConfigError(try parse("socks5 proxy"), contains: ["tinc.conf:7", "host and a port"])
        assertConfigError(try parse("socks5 proxy 99999"), contains: ["tinc.conf:7", "not a valid port"])
        assertConfigError(try parse("ftp proxy 21"), contains: ["tinc.conf:7", "unknown proxy type"])

        XCTAssertEqual(try config("Proxy = none\n").proxy, ProxyConfig.none)
        XCTAssertEqual(try config("Proxy = exec nc x 1\n").proxy, .exec(command: "nc x 1"))
        for p in ["socks4 h 1080", "socks4a h 1080", "socks5 h 1080", "http h 3128"] {
            assertConfigError(try config("Proxy = \(p)\n"), contains: ["tinc.conf:2", "Proxy", "not supported by tincd-swift yet"])
        }
    }

    func testBooleans() throws {
        XCTAssertTrue(try config("Hostnames = Yes\n").hostnames)
        XCTAssertFalse(try config("Hostnames = NO\n").hostnames)
        for bad in ["true", "1", "on", "yess"] {
            assertConfigError(try config("\nHostnames = \(bad)\n"), contains: ["tinc.conf:3", "Hostnames", "yes or no"])
        }
    }

    func testStrictIntegers() throws {
        assertConfigError(try config("PingInterval = 12abc\n"), contains: ["tinc.conf:2", "PingInterval", "\"12abc\" is not an integer"])
        assertConfigError(try config("KeyExpire = 1e3\n"), contains: ["tinc.conf:2", "not an integer"])
        assertConfigError(try config("MACExpire = 99999999999\n"), contains: ["tinc.conf:2", "not an integer"])
        XCTAssertEqual(try config("KeyExpire = +50\n").keyExpire, 50)
    }

    func testPingIntervalBelowOneMeansOneDay() throws {
        let c = try config("PingInterval = 0\n")
        XCTAssertEqual(c.pingInterval, 86400)
        XCTAssertEqual(c.pingTimeout, 5)
        XCTAssertEqual(try config("PingInterval = -5\n").pingInterval, 86400)
    }

    func testPingTimeoutClamp() throws {
        var c = try config("PingInterval = 30\nPingTimeout = 45\n")
        XCTAssertEqual(c.pingTimeout, 30)
        c = try config("PingTimeout = 0\n")
        XCTAssertEqual(c.pingTimeout, 60)
        c = try config("PingInterval = 3\n")  // default 5 > 3
        XCTAssertEqual(c.pingTimeout, 3)
        c = try config("PingTimeout = 60\n")
        XCTAssertEqual(c.pingTimeout, 60)
        XCTAssertTrue(try warnings("PingTimeout = -1\n").contains { $0.hasPrefix("tinc.conf:2:") && $0.contains("PingTimeout") })
    }

    func testTimeoutRanges() throws {
        assertConfigError(try config("MaxTimeout = 0\n"), contains: ["tinc.conf:2", "MaxTimeout"])
        assertConfigError(try config("MinTimeout = -1\n"), contains: ["tinc.conf:2", "MinTimeout", "negative"])
        let (c, w) = try serverConfig("Name = alpha\nMaxTimeout = 10\nMinTimeout = 20\n")
        XCTAssertEqual(c.minTimeout, 10)
        XCTAssertTrue(w.contains { $0.hasPrefix("tinc.conf:3:") && $0.contains("MinTimeout") })
    }

    func testOtherServerRanges() throws {
        assertConfigError(try config("UDPRcvBuf = 0\n"), contains: ["tinc.conf:2", "UDPRcvBuf"])
        assertConfigError(try config("UDPSndBuf = -4\n"), contains: ["tinc.conf:2", "UDPSndBuf"])
        assertConfigError(try config("ReplayWindow = -1\n"), contains: ["tinc.conf:2", "ReplayWindow", "negative"])
        assertConfigError(try config("KeyExpire = 0\n"), contains: ["tinc.conf:2", "KeyExpire"])
        assertConfigError(try config("MACExpire = 0\n"), contains: ["tinc.conf:2", "MACExpire"])
        assertConfigError(try config("MaxOutputBufferSize = 0\n"), contains: ["tinc.conf:2", "MaxOutputBufferSize"])
        assertConfigError(try config("PrivateKey = xyz\n"), contains: ["tinc.conf:2", "PrivateKey", "hexadecimal"])
    }

    func testTunnelServerImpliesStrictSubnets() throws {
        let c = try config("TunnelServer = yes\nStrictSubnets = no\n")
        XCTAssertTrue(c.tunnelServer)
        XCTAssertTrue(c.strictSubnets)
    }

    func testConnectToValidation() throws {
        assertConfigError(try config("ConnectTo = good\nConnectTo = bad-name\n"), contains: ["tinc.conf:3", "ConnectTo", "bad-name"])
    }

    func testBindToAddressForms() throws {
        let c = try config("BindToAddress = *\nBindToAddress = ::1 700\n")
        XCTAssertEqual(c.bindToAddresses.map(\.address), [nil, "::1"])
        XCTAssertEqual(c.bindToAddresses.map(\.port), [nil, "700"])
        assertConfigError(try config("BindToAddress = 1.2.3.4 70000\n"), contains: ["tinc.conf:2", "not a valid port"])
        assertConfigError(try config("BindToAddress = 1.2.3.4 70 x\n"), contains: ["tinc.conf:2", "BindToAddress"])
    }

    func testMetricsAddress() throws {
        XCTAssertEqual(try config("MetricsAddress = [::1]:9100\n").metricsAddress, MetricsAddress(host: "::1", port: 9100))
        XCTAssertEqual(try config("MetricsAddress = localhost:80\n").metricsAddress?.description, "localhost:80")
        XCTAssertNil(try config("MetricsAddress = off\n").metricsAddress)
        for bad in ["9100", "::1:9100", "host:0", "host:", ":80", "[::1]9100"] {
            assertConfigError(try config("MetricsAddress = \(bad)\n"), contains: ["tinc.conf:2", "MetricsAddress"])
        }
    }

    func testInterfaceDefaultsToNetname() throws {
        XCTAssertEqual(try config("", args: ["-n", "office"]).interface, "office")
        XCTAssertEqual(try config("Interface = tun7\n", args: ["-n", "office"]).interface, "tun7")
        XCTAssertNil(try config("", args: ["-n", "."]).interface)
    }

    func testUnsupportedVariableIsAnError() throws {
        assertConfigError(try config("\nVDEPort = /tmp/vde\n"), contains: ["tinc.conf:3", "VDEPort", "not supported by tincd-swift"])
        assertConfigError(try config("", host: "vdegroup = x\n"), contains: ["hosts/alpha:1", "vdegroup", "not supported"])
        assertConfigError(try config("", args: ["-o", "VDEGroup=x"]), contains: ["command line option -o #1", "VDEGroup"])
    }

    func testUnknownVariablesAreWarnings() throws {
        let w = try warnings("Colour = blue\nEd25519PublicKey = abc\nAutoConnect = yes\n", host: "Adress = 1.2.3.4\n")
        XCTAssertEqual(w.count, 4)
        XCTAssertTrue(w.contains { $0.hasPrefix("tinc.conf:2:") && $0.contains("unknown variable Colour") })
        XCTAssertTrue(w.contains { $0.hasPrefix("tinc.conf:3:") && $0.contains("tinc 1.1") })
        XCTAssertTrue(w.contains { $0.hasPrefix("tinc.conf:4:") && $0.contains("AutoConnect") })
        XCTAssertTrue(w.contains { $0.hasPrefix("hosts/alpha:1:") && $0.contains("Adress") })
    }

    func testNameFromEnvironment() throws {
        XCTAssertEqual(try serverConfig("Name = $NODE\n", env: ["NODE": "gw.example-1"]).0.name, "gw_example_1")
        XCTAssertEqual(try serverConfig("Name = $HOST\n", env: ["HOST": "box"]).0.name, "box")
        // $HOST falls back to gethostname (the test helper returns "test-host")
        XCTAssertEqual(try serverConfig("Name = $HOST\n", env: [:]).0.name, "test_host")
        assertConfigError(try serverConfig("Name = $NOPE\n", env: [:]), contains: ["tinc.conf:1", "NOPE", "does not exist"])
        assertConfigError(try serverConfig("Name = $E\n", env: ["E": ""]), contains: ["tinc.conf:1", "not a valid node name"])
        // multi-byte characters become one '_' per byte, like tinc
        XCTAssertEqual(try serverConfig("Name = $N\n", env: ["N": "é1"]).0.name, "__1")
    }

    func testInvalidName() throws {
        assertConfigError(try serverConfig("Name = my-node\n"), contains: ["tinc.conf:1", "Name", "not a valid node name"])
    }

    func testOwnHostVariablesFromTincConf() throws {
        let c = try config("Port = 700\nSubnet = 10.0.0.0/8\nTCPOnly = yes\n", host: "Subnet = 10.1.0.0/16\n")
        XCTAssertEqual(c.myself.port, "700")
        XCTAssertEqual(c.myself.subnets.map(\.value), ["10.1.0.0/16", "10.0.0.0/8"])
        XCTAssertFalse(c.myself.pmtuDiscovery)
        XCTAssertTrue(c.myself.effectiveIndirectData)
    }

    func testHostVariableErrorsNameHostsFile() throws {
        assertConfigError(try config("", host: "Address = 1.2.3.4\n\nPort = 65536\n"),
                          contains: ["hosts/alpha:3: Port: \"65536\" is not a valid port"])
    }
}

extension ServerConfigTests {
    func testMeshLimitsParseAndRefuseBadValues() throws {
        let t = self
        let c = try t.config("MaxNodes = 50\nMaxEdges = 60\nMaxSubnets = 70\nMaxSubnetsPerNode = 8\n")
        XCTAssertEqual(c.limits.maxNodes, 50)
        XCTAssertEqual(c.limits.maxEdges, 60)
        XCTAssertEqual(c.limits.maxSubnets, 70)
        XCTAssertEqual(c.limits.maxSubnetsPerNode, 8)
        XCTAssertEqual(try t.config("").limits, MeshLimits())
        XCTAssertThrowsError(try t.config("MaxNodes = 1\n")) { XCTAssertTrue("\($0)".contains("tinc.conf:2"), "\($0)") }
        XCTAssertThrowsError(try t.config("MaxSubnets = lots\n")) { XCTAssertTrue("\($0)".contains("tinc.conf:2"), "\($0)") }
    }
}

extension ServerConfigTests {
    func testDataPlaneThreadsParsesAndRefusesBadValuesWithFileAndLine() throws {
        let t = self
        XCTAssertEqual(try t.config("DataPlaneThreads = 3\n").dataPlaneThreads, 3)
        XCTAssertNil(try t.config("").dataPlaneThreads)   // default: one per online core, decided at start
        for bad in ["0", "-1", "65", "two", "2x", ""] {
            XCTAssertThrowsError(try t.config("DataPlaneThreads = \(bad)\n"), bad) {
                XCTAssertTrue("\($0)".contains("tinc.conf:2"), "\($0)")
            }
        }
    }
}
