import Foundation
import MeshCrypto
import TincProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue 10: no input stops a node. Each test attacks a running tincd-swift in a namespace through
/// its real listening socket, then checks that it is still up, still serving a well-behaved peer,
/// and said what it refused.
final class HostileInputInteropTests: InteropTestCase {

    /// victim (tincd-swift, no ConnectTo) and a good C peer that connects to it; `mallory` has a host
    /// file on the victim but no daemon: the tests speak for it.
    func makeVictim(goodImpl: TincImpl = .c, pingTimeout: Int = 3, function: String = #function) throws -> (NetnsLab, TincNode, TincNode, TincNode) {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: function)
        let victim = TincNode(name: "victim", impl: .swift, lab: lab, nsIndex: 0, port: 7401, subnets: ["10.71.1.0/24"])
        let good = TincNode(name: "good", impl: goodImpl, lab: lab, nsIndex: 1, port: 7402, subnets: ["10.71.2.0/24"])
        let mallory = TincNode(name: "mallory", impl: .swift, lab: lab, nsIndex: 1, port: 7403, subnets: ["10.71.3.0/24"])
        good.connectTo = ["victim"]
        // tinc (and we) clamp PingTimeout to PingInterval: a longer timeout needs a longer interval.
        for n in [victim, good] {
            n.pingTimeout = pingTimeout
            n.pingInterval = max(n.pingInterval, pingTimeout)
        }
        victim.debugLevel = 2   // protocol lines (level 3+) would repeat the numbers the tests count
        watched = [victim, good]
        try setUpNetwork([victim, good, mallory])
        try start(victim, good)
        assertEvent(victim, "host-up", "good", timeout: 20)
        return (lab, victim, good, mallory)
    }

    func publicKey(of node: TincNode) throws -> RSAKey {
        try RSAKey.publicKey(inText: String(contentsOf: node.hostFile, encoding: .utf8))
    }

    func privateKey(of node: TincNode) throws -> RSAKey {
        try RSAKey(privatePEM: String(contentsOf: node.confDir.appendingPathComponent("rsa_key.priv"), encoding: .utf8))
    }

    /// ID, then METAKEY with the given numbers and a key that really decrypts under the victim's key
    /// (first byte 00, below the modulus), then one more byte for the stream cipher to chew on.
    private func sendMetaKey(to victim: TincNode, from mallory: TincNode, cipher: String, digest: String,
                             mac: String, compression: String) throws -> ScriptedPeer {
        let peer = try ScriptedPeer(namespace: mallory.namespace, host: victim.address, port: victim.port, label: "mallory")
        try peer.send(.id(name: "mallory", version: 17))
        let victimKey = try publicKey(of: victim)
        var k = SecureRandom.bytes(victimKey.size)
        k[0] = 0
        let encrypted = try victimKey.rawEncrypt(k)
        try peer.send(line: "1 \(cipher) \(digest) \(mac) \(compression) \(Hex.encode(encrypted))")
        try peer.send(raw: [0x41])
        return peer
    }

    func countLines(_ node: TincNode, matching pattern: String) -> Int {
        let re = try! NSRegularExpression(pattern: pattern)
        return node.log.lines().filter { re.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }.count
    }

    /// The reported remote crash: AES-128-XTS (NID 913) as the meta cipher and one more byte.
    /// Before the fix the daemon died with a Swift runtime trap (signal 4).
    func testMetaKeyWithXTSCipherIsRefusedAndNodeStaysUp() throws {
        let (_, victim, good, mallory) = try makeVictim()
        let peer = try sendMetaKey(to: victim, from: mallory, cipher: "913", digest: "672", mac: "0", compression: "0")
        defer { peer.close() }
        assertLogLine(victim, matching: #"mallory uses unusable meta cipher 913: aes-128-xts is an XTS cipher"#, timeout: 10)
        Thread.sleep(forTimeInterval: 0.5)
        assertRunning(victim)
        XCTAssertTrue(victim.events("host-down", node: "good").isEmpty, "the good peer lost its connection" + diagnostics())
        // The node still authenticates newcomers: mallory, done properly, gets in.
        let honest = try ScriptedPeer(namespace: mallory.namespace, host: victim.address, port: victim.port, label: "mallory-2")
        defer { honest.close() }
        XCTAssertNoThrow(try honest.authenticate(as: "mallory", key: privateKey(of: mallory), target: "victim",
                                                 targetKey: publicKey(of: victim), port: mallory.port))
        _ = good
    }

    /// Every class of bad number in METAKEY, one connection each: logged once each, never a crash.
    func testEveryBadMetaKeyNumberIsLoggedOnceAndNeverStopsTheNode() throws {
        let (_, victim, _, mallory) = try makeVictim()
        // (cipher, digest, MAC length, compression, the number the log line must name)
        var attempts: [(String, String, String, String, String)] = []
        // XTS, GCM, CCM, OCB, ChaCha20-Poly1305, key wrap, a block mode, none, negative, unknown, past Int32.
        for c in ["913", "895", "896", "958", "1018", "788", "427", "0", "-1", "99999", "2147483648"] {
            attempts.append((c, "672", "0", "0", c))
        }
        attempts.append(("99999999999999999999", "672", "0", "0", "99999999999999999999"))
        // SHAKE (XOF), none, negative, unknown.
        for d in ["1100", "1101", "0", "-7", "99999"] { attempts.append(("429", d, "0", "0", d)) }
        for m in ["-1", "33", "2147483648"] { attempts.append(("429", "672", m, "0", m)) }
        for z in ["-1", "12", "99999"] { attempts.append(("429", "672", "0", z, z)) }

        var peers: [ScriptedPeer] = []
        defer { peers.forEach { $0.close() } }
        for (i, (c, d, m, z, _)) in attempts.enumerated() {
            peers.append(try sendMetaKey(to: victim, from: mallory, cipher: c, digest: d, mac: m, compression: z))
            // Stay under the 10-per-second accept throttle so every attempt is really handled.
            Thread.sleep(forTimeInterval: 0.15)
            XCTAssertTrue(waitUntil(timeout: budget(5)) { self.countLines(victim, matching: "mallory") >= i + 1 },
                          "no log line for METAKEY \(c) \(d) \(m) \(z)" + diagnostics())
            XCTAssertTrue(victim.isRunning, "victim died on METAKEY \(c) \(d) \(m) \(z)" + diagnostics())
        }
        Thread.sleep(forTimeInterval: 0.5)
        // Exactly one line per attempt names mallory, in attempt order, with that attempt's number.
        let malloryLines = victim.log.lines().filter { $0.contains("mallory") }
        XCTAssertEqual(malloryLines.count, attempts.count, "one log line per attempt expected:\n" + malloryLines.joined(separator: "\n"))
        for (i, line) in malloryLines.prefix(attempts.count).enumerated() {
            let named = attempts[i].4
            let escaped = NSRegularExpression.escapedPattern(for: named)
            let re = try NSRegularExpression(pattern: "(^|[^0-9-])\(escaped)([^0-9]|$)")
            XCTAssertNotNil(re.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                            "attempt \(i) (\(attempts[i])) should be named in: \(line)")
        }
        assertRunning(victim)
        XCTAssertTrue(victim.events("host-down", node: "good").isEmpty, "the good peer lost its connection" + diagnostics())
    }

    /// A second authenticated connection from a node whose only connection is frozen (SIGSTOP): the
    /// victim closes the old one, keeps the node consistent and serves the new process. Before the
    /// fix, closing the old connection purged the node and activating the new one trapped.
    func testSecondConnectionWhileTheFirstIsFrozen() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 3)
        let victim = TincNode(name: "victim", impl: .swift, lab: lab, nsIndex: 0, port: 7411, subnets: ["10.72.0.1/32"])
        let first = TincNode(name: "roamer", impl: .swift, lab: lab, nsIndex: 1, port: 7412, subnets: ["10.72.0.2/32"])
        for n in [victim, first] {
            n.mode = "router"
            n.extraConfig.append("DeviceType = tun")
        }
        victim.tincUpCommands = ["ip link set \"$INTERFACE\" up", "ip addr add 10.72.0.1/24 dev \"$INTERFACE\""]
        first.tincUpCommands = ["ip link set \"$INTERFACE\" up", "ip addr add 10.72.0.2/24 dev \"$INTERFACE\""]
        first.connectTo = ["victim"]
        first.pingInterval = 60
        first.pingTimeout = 30   // the frozen process must not time anything out on its own
        watched = [victim, first]
        try setUpNetwork([victim, first])
        try start(victim, first)
        assertEvent(victim, "host-up", "roamer", timeout: 20)
        assertPing(from: victim, to: "10.72.0.2", count: 2)

        XCTAssertTrue(first.signal(SIGSTOP))
        defer { _ = first.signal(SIGCONT) }
        // The same node (name, key, config) started again on another machine (namespace 2).
        let second = TincNode(name: "roamer", impl: .swift, lab: lab, nsIndex: 2, port: 7412, subnets: ["10.72.0.2/32"])
        second.dirName = "roamer-second"
        second.mode = "router"
        second.extraConfig = first.extraConfig
        second.tincUpCommands = first.tincUpCommands
        second.connectTo = ["victim"]
        let fm = FileManager.default
        try second.writeConfig()
        try fm.removeItem(at: second.hostFile)
        try fm.copyItem(at: first.hostFile, to: second.hostFile)
        try fm.copyItem(at: first.confDir.appendingPathComponent("rsa_key.priv"),
                        to: second.confDir.appendingPathComponent("rsa_key.priv"))
        try victim.installHostFile(on: second)
        watched.append(second)
        try second.start()

        assertLogLine(victim, matching: #"Established a second connection with roamer"#, timeout: 15)
        assertEvent(victim, "host-up", "roamer", count: 2, timeout: 10)
        XCTAssertEqual(victim.events("host-up", node: "roamer").last?.remoteAddress, lab.address(2),
                       "host-up for the second process should carry its address" + diagnostics())
        assertRunning(victim)
        assertPing(from: victim, to: "10.72.0.2", count: 3, warmup: 15, "the second process must be served")

        // The frozen process resumes: its old connection is gone, the victim stays up.
        let offset = first.log.size
        XCTAssertTrue(first.signal(SIGCONT))
        XCTAssertNotNil(first.log.waitForLine(matching: #"(Connection closed by|Error while|Metadata socket read error|didn't respond|Closing connection)"#,
                                              from: offset, caseInsensitive: true, timeout: budget(40)),
                        "the resumed process should find its old connection closed" + diagnostics())
        first.stop()
        assertRunning(victim)
        XCTAssertTrue(waitUntil(timeout: budget(20)) { self.pingOnce(from: victim, to: "10.72.0.2") },
                      "after the frozen process left, the second one must be reachable again" + diagnostics())
    }

    func rssKiB(_ node: TincNode) -> Int? {
        guard let pidText = try? String(contentsOf: node.pidFile, encoding: .utf8),
              let pid = Int(pidText.split(whereSeparator: { $0 == " " || $0 == "\n" }).first ?? ""),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }
}
