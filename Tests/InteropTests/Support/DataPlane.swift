import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// Data-plane helpers: overlay interfaces configured by tinc-up, nftables rules and counters inside a lab's
// namespaces, ping checks and checksummed TCP transfers with OpenBSD `nc` run inside the namespaces.

extension TincNode {
    /// Switch mode on a tap device; tinc-up brings the interface up with `address/prefix`.
    func configureSwitch(overlay address: String, prefix: Int = 24) {
        mode = "switch"
        extraConfig.append("DeviceType = tap")
        tincUpCommands = ["ip link set \"$INTERFACE\" up",
                          "ip addr add \(address)/\(prefix) dev \"$INTERFACE\""]
    }

    /// Router mode on a tun device with one IPv4 and one IPv6 address; the prefixes route the whole overlay
    /// into the tun (tinc then routes by Subnet). IPv6 without DAD, so it is usable at once.
    func configureRouter(v4 address4: String, prefix4: Int, v6 address6: String, prefix6: Int) {
        mode = "router"
        extraConfig.append("DeviceType = tun")
        tincUpCommands = ["ip link set \"$INTERFACE\" up",
                          "ip addr add \(address4)/\(prefix4) dev \"$INTERFACE\"",
                          "ip -6 addr add \(address6)/\(prefix6) dev \"$INTERFACE\" nodad"]
    }

    /// Puts `lines` in tinc.conf AND in our own hosts/NAME (which every peer gets a copy of), so a per-host
    /// variable such as Cipher, Digest, MACLength, Compression or TCPOnly is seen wherever tinc looks it up.
    func applyVariant(_ lines: [String]) {
        extraConfig += lines
        hostConfig += lines
    }

    /// Extracts `<field> N` for node `peer` from a C tincd USR2 node dump line
    /// (` peer at ADDR port P cipher C digest D maclength M compression Z options ...`).
    static func nodeDumpField(_ dump: String, peer: String, field: String) -> Int? {
        for line in dump.split(separator: "\n") where line.contains(" \(peer) at ") {
            let f = line.split(separator: " ").map(String.init)
            if let i = f.firstIndex(of: field), i + 1 < f.count { return Int(f[i + 1]) }
        }
        return nil
    }
}

struct NftCounter: CustomStringConvertible {
    let packets: Int
    let bytes: Int
    var description: String { "\(packets) packets / \(bytes) bytes" }
}

extension NetnsLab {
    /// Loads an nftables ruleset (`nft -f`) inside namespace `ns`; tables live and die with the namespace.
    func nft(in ns: String, _ ruleset: String, tag: String) throws {
        let url = workDir.appendingPathComponent("nft-\(tag).nft")
        try ruleset.write(to: url, atomically: true, encoding: .utf8)
        let r = try exec(in: ns, ["nft", "-f", url.path], timeout: 15)
        guard r.succeeded else { throw InteropError("nft ruleset \(tag) failed in \(ns): \(r)\n\(ruleset)") }
    }

    /// Reads the named counter `table`/`name` (family inet) in namespace `ns`.
    func nftCounter(in ns: String, table: String, name: String) -> NftCounter? {
        guard let r = try? exec(in: ns, ["nft", "list", "counter", "inet", table, name], timeout: 10), r.succeeded
        else { return nil }
        let re = try! NSRegularExpression(pattern: "packets ([0-9]+) bytes ([0-9]+)")
        let s = r.stdout
        guard let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)),
              let p = Range(m.range(at: 1), in: s), let b = Range(m.range(at: 2), in: s) else { return nil }
        return NftCounter(packets: Int(s[p]) ?? 0, bytes: Int(s[b]) ?? 0)
    }

    /// Sets the MTU of every node's underlay `eth0` (both ends of the veth pair in a 2-node lab).
    func setUnderlayMTU(_ mtu: Int) throws {
        for ns in namespaces {
            try Shell.check(["ip", "-n", ns, "link", "set", "eth0", "mtu", "\(mtu)"])
        }
        if let br = bridgeNamespace {
            for i in 0..<nodeCount { try Shell.check(["ip", "-n", br, "link", "set", "p\(i)", "mtu", "\(mtu)"]) }
        }
    }

    /// Counts the UDP on `node`'s tinc port inside its namespace: counter `udp_in` (datagrams to the port) and
    /// `udp_out` (datagrams from it), in table inet `tswudpcount`. Read them with `tincUDP(of:)`.
    func countTincUDP(of node: TincNode) throws {
        try nft(in: node.namespace, """
        table inet tswudpcount {
          counter udp_in { }
          counter udp_out { }
          chain in { type filter hook input priority -20; policy accept; udp dport \(node.port) counter name udp_in; }
          chain out { type filter hook output priority -20; policy accept; udp sport \(node.port) counter name udp_out; }
        }
        """, tag: "udpcount-\(node.name)")
    }

    func tincUDP(of node: TincNode) -> (received: NftCounter?, sent: NftCounter?) {
        (nftCounter(in: node.namespace, table: "tswudpcount", name: "udp_in"),
         nftCounter(in: node.namespace, table: "tswudpcount", name: "udp_out"))
    }

    /// An OpenSSL 3 config activating the "default" and "legacy" providers, for OPENSSL_CONF. Debian's OpenSSL 3
    /// keeps Blowfish in the legacy provider, which the C tincd 1.0.36 never loads by itself ("Error during
    /// initialisation of key ...: digital envelope routines::unsupported" for Cipher = blowfish).
    func opensslLegacyConfig() throws -> URL {
        let url = workDir.appendingPathComponent("openssl-legacy.cnf")
        try """
        openssl_conf = openssl_init
        [openssl_init]
        providers = provider_sect
        [provider_sect]
        default = default_sect
        legacy = legacy_sect
        [default_sect]
        activate = 1
        [legacy_sect]
        activate = 1

        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// `bytes` random bytes in a file of the lab's work dir.
    func randomPayload(bytes: Int = 4 << 20, tag: String = "payload") throws -> URL {
        let url = workDir.appendingPathComponent("\(tag).bin")
        try Shell.check(["sh", "-c", "head -c \(bytes) /dev/urandom > '\(url.path)'"], timeout: 20)
        return url
    }
}

func sha256(of url: URL) -> String {
    guard let r = try? Shell.run(["sha256sum", url.path], timeout: 20), r.succeeded else { return "<sha256sum failed>" }
    return String(r.stdout.prefix(64))
}

extension InteropTestCase {
    /// Waits for tinc's "Fixing MTU of PEER (HOST port PORT) to N after K probes" (the part in parentheses is
    /// optional) in `node`'s log and returns N; fails the test when it does not come within `timeout`.
    @discardableResult
    func assertPMTUFixed(_ node: TincNode, for peer: TincNode, timeout: TimeInterval = 20, _ message: String = "",
                         file: StaticString = #filePath, line: UInt = #line) -> Int? {
        let pattern = "Fixing MTU of \(peer.name)( \\([^)]*\\))? to ([0-9]+)"
        guard let l = assertLogLine(node, matching: pattern, timeout: timeout, message, file: file, line: line) else { return nil }
        let re = try! NSRegularExpression(pattern: pattern)
        guard let m = re.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)),
              let g = Range(m.range(at: 2), in: l) else { return nil }
        print("\(node.name): \(l)")
        return Int(l[g])
    }

    /// Asserts that `node`'s tinc port received and sent at least `bytes` of UDP each since `before` (a
    /// `tincUDP(of:)` reading; needs `countTincUDP(of:)`). Used to prove that a transfer went over the UDP data
    /// path and not inside the meta connections (tinc's fallback until PMTU discovery finds a usable size).
    func assertUDPCarried(_ node: TincNode, since before: (received: NftCounter?, sent: NftCounter?), atLeast bytes: Int,
                          _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let after = node.lab.tincUDP(of: node)
        let rx = (after.received?.bytes ?? 0) - (before.received?.bytes ?? 0)
        let tx = (after.sent?.bytes ?? 0) - (before.sent?.bytes ?? 0)
        let rxp = (after.received?.packets ?? 0) - (before.received?.packets ?? 0)
        let txp = (after.sent?.packets ?? 0) - (before.sent?.packets ?? 0)
        print("\(node.name): UDP on port \(node.port): received \(rxp) packets / \(rx) bytes, sent \(txp) packets / \(tx) bytes")
        XCTAssertGreaterThanOrEqual(rx, bytes, "\(node.name) received only \(rx) bytes of UDP (expected >= \(bytes)): "
                                    + "the data did not use the UDP path. \(message)" + diagnostics(), file: file, line: line)
        XCTAssertGreaterThanOrEqual(tx, bytes, "\(node.name) sent only \(tx) bytes of UDP (expected >= \(bytes)): "
                                    + "the data did not use the UDP path. \(message)" + diagnostics(), file: file, line: line)
    }

    /// One ICMP echo from `node`'s namespace (ping decides v4/v6 from the address).
    func pingOnce(from node: TincNode, to address: String, size: Int? = nil, dontFragment: Bool = false) -> Bool {
        var argv = ["ping", "-n", "-c", "1", "-W", "1"]
        if let size { argv += ["-s", "\(size)"] }
        if dontFragment { argv += ["-M", "dont"] }
        return (try? node.lab.exec(in: node.namespace, argv + [address], timeout: 5))?.succeeded ?? false
    }

    /// Waits (up to `warmup` s) until one echo gets through — ARP/ND, MAC learning and the key exchange happen
    /// then — and asserts that `count` further echoes all get answered.
    @discardableResult
    func assertPing(from node: TincNode, to address: String, count: Int = 5, size: Int? = nil,
                    dontFragment: Bool = false, warmup: TimeInterval = 15, _ message: String = "",
                    file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let what = "ping \(node.name) -> \(address)\(size.map { " -s \($0)" } ?? "")\(dontFragment ? " -M dont" : "")"
        let t0 = Date()
        let first = waitUntil(timeout: budget(warmup), poll: 0.05) {
            self.pingOnce(from: node, to: address, size: size, dontFragment: dontFragment)
        }
        guard first else {
            XCTFail("\(what): no echo reply within \(warmup)s. \(message)" + diagnostics(), file: file, line: line)
            return false
        }
        let firstReply = Date().timeIntervalSince(t0)
        var argv = ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "2"]
        if let size { argv += ["-s", "\(size)"] }
        if dontFragment { argv += ["-M", "dont"] }
        let r = try? node.lab.exec(in: node.namespace, argv + [address], timeout: budget(Double(count) * 0.2 + 5))
        let out = r?.stdout ?? ""
        let re = try! NSRegularExpression(pattern: "([0-9]+) received")
        var received = -1
        if let m = re.firstMatch(in: out, range: NSRange(out.startIndex..., in: out)), let g = Range(m.range(at: 1), in: out) {
            received = Int(out[g]) ?? -1
        }
        print("\(what): first reply after \(String(format: "%.2f", firstReply))s, then \(received)/\(count)")
        if received != count {
            XCTFail("\(what): \(received)/\(count) echo replies after warm-up. \(message)\n\(r.map { "\($0)" } ?? "ping did not run")"
                    + diagnostics(), file: file, line: line)
            return false
        }
        return true
    }

    /// Sends `payload` from `src`'s namespace to `nc -l` at `address:port` in `dst`'s namespace through the
    /// overlay and asserts that the received bytes have the same SHA-256.
    @discardableResult
    func assertTransfer(from src: TincNode, to dst: TincNode, address: String, payload: URL, port: Int = 5001,
                        timeout: TimeInterval = 25, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let lab = src.lab
        let label = "\(src.name)-to-\(dst.name)-\(port)"
        let what = "transfer \(src.name) -> \(dst.name) (\(address):\(port))"
        let recv = lab.workDir.appendingPathComponent("recv-\(label).bin")
        let secs = max(2, Int(budget(timeout).rounded(.up)))
        let server: ManagedProcess
        do {
            server = try lab.spawn(in: dst.namespace,
                                   ["sh", "-c", "exec timeout \(secs) nc -d -n -l -s \(address) -p \(port) > '\(recv.path)'"],
                                   output: lab.workDir.appendingPathComponent("nc-server-\(label).txt"), label: "nc-\(label)")
        } catch {
            XCTFail("\(what): cannot start nc server: \(error)", file: file, line: line)
            return false
        }
        let listening = waitUntil(timeout: budget(5), poll: 0.05) {
            guard let r = try? lab.exec(in: dst.namespace, ["ss", "-Hltn", "sport = :\(port)"], timeout: 5) else { return false }
            return r.stdout.contains(":\(port)")
        }
        guard listening else {
            XCTFail("\(what): nc server not listening" + diagnostics(), file: file, line: line)
            return false
        }
        let t0 = Date()
        let client = try? lab.exec(in: src.namespace,
                                   ["sh", "-c", "timeout \(secs) nc -N -n \(address) \(port) < '\(payload.path)'"],
                                   timeout: Double(secs) + 5)
        server.waitForExit(timeout: budget(5))
        let elapsed = Date().timeIntervalSince(t0)
        let sent = sha256(of: payload)
        let got = sha256(of: recv)
        let size = (try? FileManager.default.attributesOfItem(atPath: recv.path)[.size] as? Int) ?? 0
        let total = (try? FileManager.default.attributesOfItem(atPath: payload.path)[.size] as? Int) ?? 0
        print("\(what): \(size)/\(total) bytes in \(String(format: "%.2f", elapsed))s, sha256 \(sent == got ? "match" : "MISMATCH")")
        if sent != got {
            XCTFail("\(what): received \(size) of \(total) bytes in \(String(format: "%.1f", elapsed))s, sha256 \(got) != sent \(sent). "
                    + "\(message)\nclient: \(client.map { "\($0)" } ?? "did not run")" + diagnostics(), file: file, line: line)
            return false
        }
        return true
    }
}
