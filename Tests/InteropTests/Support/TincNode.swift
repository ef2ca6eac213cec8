import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Where the two daemons live.
enum TincBinaries {
    /// Package root derived from this file: <root>/Tests/InteropTests/Support/TincNode.swift (symlinks resolved).
    static var packageRoot: URL {
        URL(fileURLWithPath: realPath(#filePath))
            .deletingLastPathComponent() // Support
            .deletingLastPathComponent() // InteropTests
            .deletingLastPathComponent() // Tests
            .deletingLastPathComponent() // root
    }

    /// `TINCD_SWIFT_BIN`, else `<package root>/.build/debug/tincd-swift`.
    static var swiftBinary: String {
        if let env = ProcessInfo.processInfo.environment["TINCD_SWIFT_BIN"], !env.isEmpty { return env }
        return packageRoot.appendingPathComponent(".build/debug/tincd-swift").path
    }

    /// `TINCD_C_BIN`, else `/usr/sbin/tincd`.
    static var cBinary: String {
        if let env = ProcessInfo.processInfo.environment["TINCD_C_BIN"], !env.isEmpty { return env }
        return "/usr/sbin/tincd"
    }

    /// A missing Swift daemon is a test failure (not a skip): the tests exist to exercise it.
    static func requireSwiftBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: swiftBinary) else {
            throw InteropError("tincd-swift binary not found at \(swiftBinary): build it (swift build --product tincd-swift) or set TINCD_SWIFT_BIN")
        }
    }
}

enum TincImpl: String, CustomStringConvertible {
    case c, swift
    var binary: String { self == .c ? TincBinaries.cBinary : TincBinaries.swiftBinary }
    var description: String { self == .c ? "C tincd (\(binary))" : "tincd-swift (\(binary))" }
}

/// Description of one tinc node in a lab: writes its config dir and starts/stops/signals the daemon.
///
/// Layout under `lab.workDir/<name>/`: `conf/` (the `-c` dir: tinc.conf, rsa_key.priv, hosts/, scripts),
/// `tinc.log` (--logfile), `tinc.pid`, `events` (script output), `output.txt` (daemon stdout/stderr).
final class TincNode: CustomStringConvertible {
    let name: String
    let impl: TincImpl
    let lab: NetnsLab
    let nsIndex: Int
    let port: Int
    var subnets: [String]
    var connectTo: [String] = []
    var mode = "router"
    var pingInterval = 10
    var pingTimeout = 3
    var extraConfig: [String] = []
    /// Extra lines for our own hosts/NAME (after Port and Subnets); peers get them with `installHostFile`.
    var hostConfig: [String] = []
    /// Shell commands run by tinc-up before it records its event (e.g. `ip addr add ... dev "$INTERFACE"`),
    /// so a `tinc-up` event means the interface is configured. A failing command fails the script (`set -e`).
    var tincUpCommands: [String] = []
    var debugLevel = 5
    /// Extra environment variables for the daemon (started through `env K=V ...`, which execs: same pid).
    var environment: [String: String] = [:]
    /// Another tincd-swift build for this node (e.g. the ThreadSanitizer one in .build-tsan).
    var binaryOverride: String?
    private(set) var process: ManagedProcess?

    init(name: String, impl: TincImpl, lab: NetnsLab, nsIndex: Int, port: Int, subnets: [String]) {
        self.name = name
        self.impl = impl
        self.lab = lab
        self.nsIndex = nsIndex
        self.port = port
        self.subnets = subnets
    }

    var description: String { "\(name) [\(impl == .c ? "C" : "swift") @\(address):\(port)]" }
    var namespace: String { lab.namespace(nsIndex) }
    var address: String { lab.address(nsIndex) }
    /// Directory name under the lab's work dir; two processes of the same node need two.
    var dirName: String?
    var dir: URL { lab.workDir.appendingPathComponent(dirName ?? name) }
    var confDir: URL { dir.appendingPathComponent("conf") }
    var hostsDir: URL { confDir.appendingPathComponent("hosts") }
    var hostFile: URL { hostsDir.appendingPathComponent(name) }
    var logURL: URL { dir.appendingPathComponent("tinc.log") }
    var log: LogFile { LogFile(url: logURL) }
    var pidFile: URL { dir.appendingPathComponent("tinc.pid") }
    var eventsURL: URL { dir.appendingPathComponent("events") }
    var outputURL: URL { dir.appendingPathComponent("output.txt") }
    var isRunning: Bool { process?.isRunning ?? false }

    // MARK: configuration

    /// Writes tinc.conf, our own hosts/NAME (Port, Subnets; the key is appended by `generateKeys`) and the scripts.
    func writeConfig() throws {
        let fm = FileManager.default
        // tinc clamps PingTimeout to PingInterval, so a test asking for more would silently get less.
        guard pingTimeout <= pingInterval else {
            throw InteropError("\(name): PingTimeout \(pingTimeout) > PingInterval \(pingInterval) would be clamped to \(pingInterval); raise pingInterval too")
        }
        try fm.createDirectory(at: hostsDir, withIntermediateDirectories: true)
        var conf = ["Name = \(name)", "Mode = \(mode)",
                    "PingInterval = \(pingInterval)", "PingTimeout = \(pingTimeout)"]
        conf += connectTo.map { "ConnectTo = \($0)" }
        conf += extraConfig
        try (conf.joined(separator: "\n") + "\n").write(to: confDir.appendingPathComponent("tinc.conf"),
                                                         atomically: true, encoding: .utf8)
        if !fm.fileExists(atPath: hostFile.path) {
            let host = ["Port = \(port)"] + subnets.map { "Subnet = \($0)" } + hostConfig
            try (host.joined(separator: "\n") + "\n").write(to: hostFile, atomically: true, encoding: .utf8)
        }
        _ = fm.createFile(atPath: eventsURL.path, contents: nil)
        try writeScripts()
    }

    /// host-up/host-down/subnet-up/subnet-down/tinc-up/tinc-down append
    /// `<event> <NODE> <SUBNET> <REMOTEADDRESS>` (`-` when empty) to the events file.
    private func writeScripts() throws {
        let events = eventsURL.path
        for script in ["host-up", "host-down", "subnet-up", "subnet-down"] {
            try installScript(script, body: "echo \"\(script) ${NODE:--} ${SUBNET:--} ${REMOTEADDRESS:--}\" >> '\(events)'\n")
        }
        let setup = tincUpCommands.isEmpty ? "" : "set -e\n" + tincUpCommands.joined(separator: "\n") + "\n"
        try installScript("tinc-up", body: setup + "echo \"tinc-up ${NAME:--} - -\" >> '\(events)'\n")
        try installScript("tinc-down", body: "echo \"tinc-down ${NAME:--} - -\" >> '\(events)'\n")
    }

    private func installScript(_ scriptName: String, body: String) throws {
        let url = confDir.appendingPathComponent(scriptName)
        try ("#!/bin/sh\n" + body).write(to: url, atomically: true, encoding: .utf8)
        chmod(url.path, 0o755)
    }

    /// Runs `<binary> -c DIR -K<bits>` (stdin and stdout not a TTY), which writes rsa_key.priv and appends
    /// the public key to hosts/NAME, exactly like tincd -K. `keygenImpl` picks the implementation that does it.
    func generateKeys(with keygenImpl: TincImpl? = nil, bits: Int = 2048) throws {
        let impl = keygenImpl ?? self.impl
        let r = try Shell.run([impl.binary, "-c", confDir.path, "-K\(bits)"], timeout: 60)
        let host = (try? String(contentsOf: hostFile, encoding: .utf8)) ?? ""
        guard r.succeeded,
              FileManager.default.fileExists(atPath: confDir.appendingPathComponent("rsa_key.priv").path),
              host.contains("-----BEGIN RSA PUBLIC KEY-----") else {
            throw InteropError("key generation for \(name) with \(impl) failed: \(r)\nhosts/\(name):\n\(host)")
        }
    }

    /// The PEM public key block(s) in our own hosts/NAME.
    var publicKeyPEM: String {
        let text = (try? String(contentsOf: hostFile, encoding: .utf8)) ?? ""
        var out: [String] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-----BEGIN RSA PUBLIC KEY") { inside = true }
            if inside { out.append(String(line)) }
            if line.hasPrefix("-----END RSA PUBLIC KEY") { inside = false }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Copies our hosts/NAME into `other`'s hosts dir, prepending `Address = ip port` when `withAddress`.
    func installHostFile(on other: TincNode, withAddress: Bool = true, publicKeyOverride: String? = nil) throws {
        var text = try String(contentsOf: hostFile, encoding: .utf8)
        if let key = publicKeyOverride {
            var kept: [Substring] = []
            var inside = false
            for line in text.split(separator: "\n") {
                if line.hasPrefix("-----BEGIN") { inside = true }
                if !inside { kept.append(line) }
                if line.hasPrefix("-----END") { inside = false }
            }
            text = kept.joined(separator: "\n") + "\n\n" + key
        }
        if withAddress { text = "Address = \(address) \(port)\n" + text }
        try FileManager.default.createDirectory(at: other.hostsDir, withIntermediateDirectories: true)
        try text.write(to: other.hostsDir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    // MARK: process control

    var commandLine: [String] {
        [binaryOverride ?? impl.binary, "-c", confDir.path, "-D", "-d\(debugLevel)", "--logfile=\(logURL.path)", "--pidfile=\(pidFile.path)"]
    }

    /// Starts the daemon in its namespace (`ip netns exec NS <binary> -c DIR -D -d5 --logfile=... --pidfile=...`).
    func start() throws {
        if impl == .swift && binaryOverride == nil { try TincBinaries.requireSwiftBinary() }
        precondition(!isRunning, "\(name) already running")
        let envPrefix = environment.isEmpty ? [] : ["env"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        process = try lab.spawn(in: namespace, envPrefix + commandLine, output: outputURL, label: name)
    }

    /// True once something listens on our TCP port inside our namespace (implementation-independent readiness).
    var isListening: Bool {
        guard let r = try? lab.exec(in: namespace, ["ss", "-Hltn", "sport = :\(port)"], timeout: 5) else { return false }
        return r.succeeded && r.stdout.contains(":\(port)")
    }

    /// Waits until the daemon listens on its port (or exits, or `timeout` passes).
    @discardableResult
    func waitUntilListening(timeout: TimeInterval) -> Bool {
        waitUntil(timeout: timeout, poll: 0.05) { self.isListening || !self.isRunning }
        return isListening
    }

    /// SIGTERM to exactly this node's pid, then waits for it to exit (KILL after `grace`).
    @discardableResult
    func stop(grace: TimeInterval = 5) -> Int32? {
        process?.stop(grace: grace)
    }

    @discardableResult
    func signal(_ sig: Int32) -> Bool { process?.signal(sig) ?? false }

    /// Sends USR2 and returns the log text of the dump (statistics, nodes, edges, subnets), or nil on timeout.
    func usr2Dump(timeout: TimeInterval = 5) -> String? {
        let offset = log.size
        guard signal(SIGUSR2) else { return nil }
        guard log.waitForLine(containing: "End of subnet list", from: offset, timeout: timeout) != nil else { return nil }
        return log.text(from: offset)
    }

    /// Sends USR1 and returns the connection list dump, or nil on timeout.
    func usr1Dump(timeout: TimeInterval = 5) -> String? {
        let offset = log.size
        guard signal(SIGUSR1) else { return nil }
        guard log.waitForLine(containing: "End of connections", from: offset, timeout: timeout) != nil else { return nil }
        return log.text(from: offset)
    }

    // MARK: events

    var events: [TincEvent] { LogFile(url: eventsURL).lines().compactMap(TincEvent.init(line:)) }

    func events(_ kind: String, node: String, subnet: String? = nil) -> [TincEvent] {
        events.filter { $0.kind == kind && $0.node == node && (subnet == nil || $0.subnetMatches(subnet!)) }
    }

    /// Waits until at least `count` matching events exist.
    @discardableResult
    func waitForEvent(_ kind: String, node: String, subnet: String? = nil, count: Int = 1,
                      timeout: TimeInterval) -> Bool {
        waitUntil(timeout: timeout, poll: 0.1) { self.events(kind, node: node, subnet: subnet).count >= count }
    }

    /// Diagnostics for failure messages: events and the log tail; for a running tincd-swift also
    /// its node table (keys, PMTU) and counters (frames dropped, and why), which say where frames
    /// stopped when the log at the test's debug level does not.
    func diagnostics(logLines: Int = 30) -> String {
        let ev = (try? String(contentsOf: eventsURL, encoding: .utf8)) ?? "<none>"
        let out = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        var s = "---- \(self) running=\(isRunning) events:\n\(ev)---- log tail (\(logURL.path)):\n\(log.tail(logLines))\n"
            + (out.isEmpty ? "" : "---- stdout/stderr:\n\(String(out.suffix(2000)))\n")
        if impl == .swift && isRunning {
            let socket = pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
            func ctl(_ args: [String]) -> String {
                let r = try? Shell.run([binaryOverride ?? impl.binary, "ctl", "--socket", socket] + args, timeout: 5)
                return r.map { $0.stdout + $0.stderr } ?? "ctl did not run\n"
            }
            let nodes = ctl(["dump", "nodes"])
            s += "---- ctl dump nodes:\n\(nodes)---- ctl stats:\n\(ctl(["stats"]))"
            // Per peer: frames in and out by UDP and TCP, and the drops by reason.
            for line in nodes.split(separator: "\n").dropFirst() {
                let cols = line.split(separator: " ")
                guard cols.count > 1, cols[1] != "myself" else { continue }
                s += "---- ctl info \(cols[0]):\n" + ctl(["info", String(cols[0])])
            }
        }
        return s
    }
}

/// Generates a fresh key pair for `name` in a scratch dir and returns its PEM public key
/// (used to give a node a host file with a DIFFERENT key than the real one).
func generateForeignPublicKey(name: String, lab: NetnsLab, impl: TincImpl = .c, bits: Int = 2048) throws -> String {
    let dir = lab.workDir.appendingPathComponent("\(name)-foreignkey")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("hosts"), withIntermediateDirectories: true)
    try "Name = \(name)\n".write(to: dir.appendingPathComponent("tinc.conf"), atomically: true, encoding: .utf8)
    let r = try Shell.run([impl.binary, "-c", dir.path, "-K\(bits)"], timeout: 60)
    let pub = (try? String(contentsOf: dir.appendingPathComponent("hosts/\(name)"), encoding: .utf8)) ?? ""
    guard r.succeeded, pub.contains("-----BEGIN RSA PUBLIC KEY-----") else {
        throw InteropError("foreign key generation failed: \(r)")
    }
    return pub.split(separator: "\n").filter { !$0.isEmpty }.joined(separator: "\n") + "\n"
}

/// Writes every node's config, generates its keys (`keygen` picks the implementation per node, default its own)
/// and installs each node's host file on every other node. `knowsAddress(a, b)`: whether a's copy of hosts/b
/// carries b's Address.
func setUpNetwork(_ nodes: [TincNode], keygen: (TincNode) -> TincImpl = { $0.impl },
                  knowsAddress: (TincNode, TincNode) -> Bool = { _, _ in true }) throws {
    for n in nodes {
        try n.writeConfig()
        try n.generateKeys(with: keygen(n))
    }
    for a in nodes {
        for b in nodes where a !== b {
            try b.installHostFile(on: a, withAddress: knowsAddress(a, b))
        }
    }
}
