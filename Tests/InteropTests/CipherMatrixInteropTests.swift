import Foundation
import XCTest

/// Config variants between tincd-swift and the C tincd, in switch mode (tap): for each variant a 4 MiB
/// checksummed TCP transfer in both directions. The variant lines go into both nodes' tinc.conf and both host
/// files, so each node, as the receiver, asks for the variant in its ANS_KEY. The C node's USR2 node dump then
/// shows what the Swift node asked for (cipher/digest NIDs, MAC length, compression level).
final class CipherMatrixInteropTests: InteropTestCase {

    struct Variant {
        var lines: [String] = []
        /// Expected parameters in the C node's dump line for the Swift node (nil: not checked).
        var cipher: Int? = nil
        var digest: Int? = nil
        var maclength: Int? = nil
        var compression: Int? = nil
        /// Drop all UDP on the tinc ports inside the C node's namespace (frames must go over TCP).
        var dropUDP = false
        /// Count UDP on the tinc ports inside the C node's namespace: data must not use it.
        var expectNoUDPData = false
        /// Wait for both sides to fix the PMTU before the transfers (with `PMTUDiscovery = no` all data is UDP anyway).
        var pmtuDiscovery = true
        /// Start both daemons with OPENSSL_CONF activating OpenSSL's legacy provider (Blowfish).
        var legacyProvider = false
    }

    // OpenSSL NIDs as the C tincd dumps them.
    static let aes256cbc = 427, aes128cbc = 419, bfcbc = 91, sha256 = 672, sha1 = 64

    func testVariantDefaults() throws {
        try run(Variant(cipher: Self.aes256cbc, digest: Self.sha256, maclength: 4, compression: 0))
    }

    func testVariantAES128SHA1() throws {
        try run(Variant(lines: ["Cipher = aes-128-cbc", "Digest = sha1"],
                        cipher: Self.aes128cbc, digest: Self.sha1, maclength: 4, compression: 0))
    }

    func testVariantBlowfish() throws {
        // The C tincd needs OpenSSL's legacy provider for Blowfish (see `opensslLegacyConfig`).
        try run(Variant(lines: ["Cipher = blowfish"], cipher: Self.bfcbc, digest: Self.sha256, maclength: 4, compression: 0,
                        legacyProvider: true))
    }

    func testVariantCipherNoneDigestNone() throws {
        // No MAC is sent or checked with Digest = none, so the advertised MAC length is not checked.
        try run(Variant(lines: ["Cipher = none", "Digest = none"], cipher: 0, digest: 0, compression: 0))
    }

    func testVariantMACLength16() throws {
        try run(Variant(lines: ["MACLength = 16"], cipher: Self.aes256cbc, digest: Self.sha256, maclength: 16, compression: 0))
    }

    // With compression, PMTU discovery (random, incompressible probes) only ends after 30 rounds (~30 s) in the
    // C tincd, and until then full-size frames go over TCP. PMTUDiscovery = no sends every frame by UDP at once
    // (the kernel fragments the datagrams), so the compressed UDP data path is what the transfer exercises.
    func testVariantCompressionZlib9() throws {
        try run(Variant(lines: ["Compression = 9", "PMTUDiscovery = no"], cipher: Self.aes256cbc, digest: Self.sha256,
                        maclength: 4, compression: 9, pmtuDiscovery: false))
    }

    func testVariantCompressionLZO11() throws {
        try run(Variant(lines: ["Compression = 11", "PMTUDiscovery = no"], cipher: Self.aes256cbc, digest: Self.sha256,
                        maclength: 4, compression: 11, pmtuDiscovery: false))
    }

    func testVariantTCPOnly() throws {
        try run(Variant(lines: ["TCPOnly = yes"], expectNoUDPData: true))
    }

    func testVariantUDPDroppedFallsBackToTCP() throws {
        try run(Variant(dropUDP: true))
    }

    // MARK: runner

    private func run(_ v: Variant, function: String = #function) throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: function)
        let s = TincNode(name: "sw", impl: .swift, lab: lab, nsIndex: 0, port: 7601, subnets: [])
        let c = TincNode(name: "cn", impl: .c, lab: lab, nsIndex: 1, port: 7602, subnets: [])
        let sAddr = "10.82.0.1", cAddr = "10.82.0.2"
        s.configureSwitch(overlay: sAddr)
        c.configureSwitch(overlay: cAddr)
        let legacy = v.legacyProvider ? try lab.opensslLegacyConfig() : nil
        for n in [s, c] {
            n.pingTimeout = 5
            n.applyVariant(v.lines)
            if let legacy { n.environment["OPENSSL_CONF"] = legacy.path }
        }
        s.connectTo = ["cn"]
        watched = [s, c]
        try setUpNetwork([s, c])
        let payload = try lab.randomPayload()
        let ports = "{ \(s.port), \(c.port) }"
        if v.dropUDP {
            try lab.nft(in: c.namespace, """
            table inet tswudp {
              counter dropped { }
              chain in { type filter hook input priority 0; policy accept;
                udp dport \(ports) counter name dropped drop; udp sport \(ports) counter name dropped drop; }
              chain out { type filter hook output priority 0; policy accept;
                udp dport \(ports) counter name dropped drop; udp sport \(ports) counter name dropped drop; }
            }
            """, tag: "drop-udp")
        }
        if v.expectNoUDPData {
            try lab.nft(in: c.namespace, """
            table inet tswudp {
              counter udpseen { }
              chain in { type filter hook input priority 0; policy accept; udp dport \(ports) counter name udpseen; }
              chain out { type filter hook output priority 0; policy accept; udp sport \(ports) counter name udpseen; }
            }
            """, tag: "count-udp")
        }

        let viaUDP = !v.dropUDP && !v.expectNoUDPData
        if viaUDP { try lab.countTincUDP(of: c) }

        try start(c, s)
        guard assertEvent(s, "host-up", "cn", timeout: 20), assertEvent(c, "host-up", "sw", timeout: 10) else { return }
        let variant = v.lines.isEmpty ? "defaults" : v.lines.joined(separator: ", ")
        let tag = "variant [\(variant)\(v.dropUDP ? ", UDP dropped" : "")]"

        var udp: (received: NftCounter?, sent: NftCounter?) = (nil, nil)
        if viaUDP {
            // Until PMTU discovery has finished tinc sends full-size frames over TCP, which would hide a broken
            // UDP data path. Pings start the key exchanges; then wait for both sides to fix the PMTU.
            assertPing(from: s, to: cAddr, count: 2, tag)
            assertPing(from: c, to: sAddr, count: 2, tag)
            if v.pmtuDiscovery {
                assertPMTUFixed(s, for: c, tag)
                assertPMTUFixed(c, for: s, tag)
            }
            udp = lab.tincUDP(of: c)
        }

        assertTransfer(from: s, to: c, address: cAddr, payload: payload, port: 5001, tag)
        assertTransfer(from: c, to: s, address: sAddr, payload: payload, port: 5002, tag)
        if viaUDP { assertUDPCarried(c, since: udp, atLeast: 4 << 20, tag) }

        if v.cipher != nil || v.digest != nil || v.maclength != nil || v.compression != nil {
            let dump = c.usr2Dump(timeout: budget(5)) ?? ""
            XCTAssertFalse(dump.isEmpty, "no USR2 dump from the C node" + diagnostics())
            let checks: [(String, Int?)] = [("cipher", v.cipher), ("digest", v.digest),
                                            ("maclength", v.maclength), ("compression", v.compression)]
            for (field, expected) in checks {
                guard let expected else { continue }
                let got = TincNode.nodeDumpField(dump, peer: "sw", field: field)
                XCTAssertEqual(got, expected, "\(tag): the C node's dump shows \(field) \(got.map(String.init) ?? "nil") for sw "
                               + "(what sw asked for in its ANS_KEY), expected \(expected)\n\(dump)")
            }
        }
        if v.dropUDP {
            let dropped = lab.nftCounter(in: c.namespace, table: "tswudp", name: "dropped")
            print("\(tag): UDP dropped in cn's namespace: \(dropped.map { "\($0)" } ?? "?")")
            XCTAssertGreaterThan(dropped?.packets ?? 0, 0, "\(tag): no UDP was dropped, the rule proves nothing" + diagnostics())
        }
        if v.expectNoUDPData {
            let udp = lab.nftCounter(in: c.namespace, table: "tswudp", name: "udpseen")
            print("\(tag): UDP on the tinc ports in cn's namespace: \(udp.map { "\($0)" } ?? "?")")
            XCTAssertNotNil(udp)
            // 2 x 4 MiB over UDP would be thousands of packets; a handful of stray packets would not carry the data.
            XCTAssertLessThan(udp?.packets ?? 0, 20, "\(tag): data went over UDP despite TCPOnly (\(udp.map { "\($0)" } ?? "?"))"
                              + diagnostics())
        }
        assertRunning(s)
        assertRunning(c)
    }
}
