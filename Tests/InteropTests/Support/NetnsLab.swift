import Foundation
import XCTest
import MeshIO
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away network lab made of Linux network namespaces.
///
/// * Namespace names: `tsw<pid>r<2 hex>l<lab>n<index>` (and `...br` for the bridge namespace), so parallel test
///   processes and parallel labs never collide, and leftovers of a killed run can be recognised by the dead pid.
/// * Two nodes: one veth pair `eth0 <-> eth0`, created directly inside the namespaces (never in the root namespace).
///   More nodes: a bridge namespace with `br0` and one veth pair per node (`p<i>` on the bridge, `eth0` in the node).
/// * Node `i` gets `10.203.0.<i+1>/24` on `eth0`; `lo` is up. Addresses exist only inside the namespaces.
/// * `teardown()` signals exactly the pids this lab started (TERM, then KILL) and deletes exactly its namespaces.
///   It is registered with `addTeardownBlock`, so it runs even when the test fails or throws.
final class NetnsLab {
    /// Per test-process tag: `tsw` + pid + 2 random hex digits.
    static let processTag: String = {
        let rnd = String(format: "%02x", Int.random(in: 0..<256))
        return "tsw\(getpid())r\(rnd)"
    }()
    /// Labs made by this process, and whether stale namespaces of dead runs were cleaned up yet.
    private static let processState = Locked((labCounter: 0, staleCleanupDone: false))

    let prefix: String
    let nodeCount: Int
    let workDir: URL
    private(set) var namespaces: [String] = []
    private(set) var bridgeNamespace: String?
    private var processes: [ManagedProcess] = []
    private let lock = NSLock()
    private var tornDown = false
    private weak var testCase: XCTestCase?

    /// Skips (XCTSkip, with a message) only when not root or when `ip` or the C tincd is missing.
    static func requireEnvironment() throws {
        guard getuid() == 0 else { throw XCTSkip("interop tests need root (network namespaces); uid is \(getuid())") }
        guard Shell.which("ip") != nil else { throw XCTSkip("interop tests need iproute2's `ip` command, not found in PATH") }
        guard FileManager.default.isExecutableFile(atPath: TincBinaries.cBinary) else {
            throw XCTSkip("interop tests need the C tincd at \(TincBinaries.cBinary) (set TINCD_C_BIN)")
        }
    }

    /// Creates `nodeCount` namespaces connected by a veth pair (2) or a bridge namespace (> 2).
    init(nodeCount: Int, testCase: XCTestCase, function: String = #function) throws {
        try NetnsLab.requireEnvironment()
        NetnsLab.cleanupStale()
        precondition(nodeCount >= 1 && nodeCount < 200)
        let seq = NetnsLab.processState.withLock { st -> Int in
            st.labCounter += 1
            return st.labCounter
        }
        self.prefix = "\(NetnsLab.processTag)l\(seq)"
        self.nodeCount = nodeCount
        self.testCase = testCase
        let safeName = function.filter { $0.isLetter || $0.isNumber }
        self.workDir = URL(fileURLWithPath: "/tmp/tincd-swift-interop/\(prefix)-\(safeName)")
        try? FileManager.default.removeItem(at: workDir)
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)

        // Register before creating anything so a half-built lab is cleaned up too.
        // The block holds the lab strongly: a lab made in a helper whose variable goes out of scope
        // early must still be torn down (a weak capture leaked its namespaces).
        testCase.addTeardownBlock { [self] in
            let failed = (self.testCase?.testRun?.totalFailureCount ?? 0) > 0
            self.teardown(keepWorkDir: failed || ProcessInfo.processInfo.environment["TSW_KEEP"] != nil)
            if failed { print("interop lab \(self.prefix): logs kept in \(self.workDir.path)") }
        }

        for i in 0..<nodeCount {
            let ns = "\(prefix)n\(i)"
            try Shell.check(["ip", "netns", "add", ns])
            namespaces.append(ns)
            try Shell.check(["ip", "-n", ns, "link", "set", "lo", "up"])
        }
        if nodeCount == 2 {
            try Shell.check(["ip", "-n", namespaces[0], "link", "add", "eth0", "type", "veth",
                             "peer", "name", "eth0", "netns", namespaces[1]])
        } else if nodeCount > 2 {
            let br = "\(prefix)br"
            try Shell.check(["ip", "netns", "add", br])
            bridgeNamespace = br
            try Shell.check(["ip", "-n", br, "link", "set", "lo", "up"])
            try Shell.check(["ip", "-n", br, "link", "add", "br0", "type", "bridge"])
            try Shell.check(["ip", "-n", br, "link", "set", "br0", "up"])
            for i in 0..<nodeCount {
                try Shell.check(["ip", "-n", br, "link", "add", "p\(i)", "type", "veth",
                                 "peer", "name", "eth0", "netns", namespaces[i]])
                try Shell.check(["ip", "-n", br, "link", "set", "p\(i)", "master", "br0"])
                try Shell.check(["ip", "-n", br, "link", "set", "p\(i)", "up"])
            }
        }
        if nodeCount >= 2 {
            for i in 0..<nodeCount {
                try Shell.check(["ip", "-n", namespaces[i], "addr", "add", "\(address(i))/24", "dev", "eth0"])
                try Shell.check(["ip", "-n", namespaces[i], "link", "set", "eth0", "up"])
            }
        }
    }

    /// IPv4 address of node `i` (inside its namespace only).
    func address(_ i: Int) -> String { "10.203.0.\(i + 1)" }

    func namespace(_ i: Int) -> String { namespaces[i] }

    /// Starts `argv` inside namespace `ns` (`ip netns exec NS argv...`; `ip` execs, so the pid is the program's).
    func spawn(in ns: String, _ argv: [String], output: URL, label: String) throws -> ManagedProcess {
        let p = try Shell.launch(["ip", "netns", "exec", ns] + argv, output: output, label: label)
        lock.lock()
        processes.append(p)
        lock.unlock()
        return p
    }

    /// Runs `argv` inside namespace `ns` to completion.
    @discardableResult
    func exec(in ns: String, _ argv: [String], timeout: TimeInterval = 30) throws -> CommandResult {
        try Shell.run(["ip", "netns", "exec", ns] + argv, timeout: timeout)
    }

    /// Stops every process this lab started and deletes every namespace it created. Idempotent.
    func teardown(keepWorkDir: Bool = false) {
        lock.lock()
        if tornDown { lock.unlock(); return }
        tornDown = true
        let procs = processes
        lock.unlock()

        for p in procs where p.isRunning { p.signal(SIGTERM) }
        for p in procs {
            if !p.waitForExit(timeout: 5) {
                p.signal(SIGKILL)
                p.waitForExit(timeout: 5)
            }
        }
        for ns in namespaces + (bridgeNamespace.map { [$0] } ?? []) {
            _ = try? Shell.run(["ip", "netns", "del", ns], timeout: 20)
        }
        if !keepWorkDir { try? FileManager.default.removeItem(at: workDir) }
    }

    // MARK: leftovers of interrupted runs

    /// Deletes namespaces with our naming scheme whose owning test process is gone, after stopping the
    /// processes still inside them (by pid; those were started by that dead harness). Runs once per process.
    static func cleanupStale() {
        let first = processState.withLock { st -> Bool in
            defer { st.staleCleanupDone = true }
            return !st.staleCleanupDone
        }
        guard first else { return }

        guard let list = try? Shell.run(["ip", "netns", "list"], timeout: 20), list.succeeded else { return }
        let regex = try! NSRegularExpression(pattern: "^tsw([0-9]+)r[0-9a-f]{2}l[0-9]+(n[0-9]+|br)$")
        for line in list.stdout.split(separator: "\n") {
            guard let name = line.split(separator: " ").first.map(String.init) else { continue }
            let range = NSRange(name.startIndex..., in: name)
            guard let m = regex.firstMatch(in: name, range: range),
                  let pidRange = Range(m.range(at: 1), in: name),
                  let owner = Int32(name[pidRange]) else { continue }
            if owner == getpid() { continue }
            if kill(owner, 0) == 0 || errno == EPERM { continue } // owner still alive: not ours to touch
            if let pids = try? Shell.run(["ip", "netns", "pids", name], timeout: 10) {
                let victims = pids.stdout.split(separator: "\n").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
                for pid in victims { kill(pid, SIGTERM) }
                if !victims.isEmpty { Thread.sleep(forTimeInterval: 1) }
                for pid in victims where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
            }
            _ = try? Shell.run(["ip", "netns", "del", name], timeout: 20)
        }
    }
}
