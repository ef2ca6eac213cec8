import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The README's main command end to end: `scripts/lab.sh up` (the ISP integration guide's topology in
/// network namespaces), `scripts/validate.sh` (the guide's checklist, which must pass) and
/// `scripts/lab.sh down`, with the debug binary (env LAB_BIN picks another one).
///
/// The lab's namespace names are fixed (isp, bird1..bird5, labnet), so this test refuses to run while a
/// lab is up (someone's `make lab`: it is not ours to remove), and always tears down the lab it started.
/// Bounded to about three minutes each. Besides the plain lab: testFailoverBird3 (scripts/failover.sh: stop
/// and restart one node's daemon) and testMixedMeshBird4 (LAB_MIXED=bird4: C tincd 1.0 + bird2 on bird4).
final class LabTests: XCTestCase {
    static let fixedNamespaces = ["isp", "bird1", "bird2", "bird3", "bird4", "bird5", "labnet"]

    /// The repository: this file is Tests/InteropTests/LabTests.swift.
    static var repo: URL {
        URL(fileURLWithPath: realPath(#filePath)).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testLabUpValidateDown() throws {
        try withLab(name: "lab") { lab in
            let validate = try lab.script([lab.validateScript], timeout: lab.remaining(60), extraEnv: ["STABILITY_WINDOW=10"])
            print("--- validate.sh\n\(validate.stdout)\(validate.stderr)")
            XCTAssertEqual(validate.status, 0, "scripts/validate.sh failed:\n\(validate.stdout)\(validate.stderr)")
            XCTAssertFalse(validate.timedOut, "scripts/validate.sh timed out")
            XCTAssertTrue(validate.stdout.contains("✅"), validate.stdout)
        }
    }

    /// The deploy issue's first item: configs rendered from a second env file with other addresses (LAN,
    /// overlay, underlay, site prefixes, keys) start in the namespaces and the mesh validates too.
    func testLabWithOtherAddressesValidates() throws {
        let base = try String(contentsOf: LabTests.repo.appendingPathComponent("deploy/lab.env"), encoding: .utf8)
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("tsw-lab-keys-\(getpid())")
        defer { try? FileManager.default.removeItem(at: keys) }
        var lines: [String] = []
        let overrides = [
            "ISP_NEIGHBOR": "10.44.0.228", "LAN_SUBNET": "10.44.0.0/24", "LAN_GATEWAY": "10.44.0.1",
            "LAN_IP_RANGE": "10.44.0.100/31", "TINC1_LAN_IP": "10.44.0.100", "ISP_LOCAL_IP": "10.44.0.100",
            "OVERLAY_PREFIX": "10.9.0", "OVERLAY6_PREFIX": "2001:db8:9::", "UNDERLAY_PREFIX": "172.31.5",
            "SITE_PREFIX": "10.101", "SITE6_PREFIX": "2001:db8:101", "KEYS_DIR": keys.path,
        ]
        // The top-level hosts/ files carry the example addresses; other addresses render every host
        // file from the variables, as docs/DEPLOY.md says (render refuses the mismatch otherwise).
        lines.append("HOSTS_DIR=none")
        for line in base.split(separator: "\n", omittingEmptySubsequences: false) {
            let key = line.split(separator: "=", maxSplits: 1).first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            if let v = overrides[key] { lines.append("\(key)=\(v)") } else { lines.append(String(line)) }
        }
        let env = FileManager.default.temporaryDirectory.appendingPathComponent("tsw-lab-\(getpid()).env")
        try lines.joined(separator: "\n").write(to: env, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: env) }
        try withLab(name: "otherenv", extraEnv: ["LAB_ENV=\(env.path)"]) { lab in
            let validate = try lab.script([lab.validateScript], timeout: lab.remaining(60),
                                          extraEnv: ["STABILITY_WINDOW=5", "LAB_ENV=\(env.path)"])
            print("--- validate.sh (second env)\n\(validate.stdout)\(validate.stderr)")
            XCTAssertEqual(validate.status, 0, "validate with the second env failed:\n\(validate.stdout)\(validate.stderr)")
            XCTAssertTrue(validate.stdout.contains("10.44.0.100"), "validate should report the second env's LAN address")
        }
    }

    /// The lab issue's failover item: stop bird3's daemon (`lab.sh stop-node`), every other node must report
    /// it unreachable, drop its iBGP session and withdraw its site prefixes from BGP and the kernel FIB
    /// within FAILOVER_GOAL (5 s); `lab.sh start-node` must bring everything back without touching the
    /// other processes, and validate.sh must pass again (scripts/failover.sh does all that and prints the
    /// figures).
    func testFailoverBird3() throws {
        try withLab(name: "failover") { lab in
            let failover = lab.repo.appendingPathComponent("scripts/failover.sh").path
            let r = try lab.script([failover, "bird3"], timeout: lab.remaining(90),
                                   extraEnv: ["FAILOVER_GOAL=5", "FAILOVER_TIMEOUT=20", "STABILITY_WINDOW=5"])
            print("--- failover.sh bird3\n\(r.stdout)\(r.stderr)")
            XCTAssertFalse(r.timedOut, "scripts/failover.sh timed out")
            XCTAssertEqual(r.status, 0, "scripts/failover.sh bird3 failed:\n\(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stdout.contains("failover summary: bird3 down everywhere"), r.stdout)
            XCTAssertTrue(r.stdout.contains("validate: all 11 items passed"), r.stdout)
        }
    }

    /// The border router loses the ISP (issue 11, faults): nftables in bird1's namespace drops BGP to and
    /// from the ISP for the hold time + 3 s (hold 9 s, keepalive 3 s here, so the test stays short), then
    /// lets it through again. scripts/isp-fault.sh watches every node: the ISP's three prefixes must leave
    /// every node's BGP table and FIB within hold + 5 s of the fault's start, and come back everywhere
    /// (and bird5 must ping the ISP through the mesh) within 90 s of its end -- after a hold-timer expiry
    /// both BIRD and BGPLite wait their `error wait time` (60 s) before connecting again.
    func testISPLossWithdrawsAndRelearnsEverywhere() throws {
        try withLab(name: "ispfault", extraEnv: ["ISP_HOLD_TIME=9", "ISP_KEEPALIVE_TIME=3"]) { lab in
            let script = lab.repo.appendingPathComponent("scripts/isp-fault.sh").path
            let r = try lab.script([script], timeout: lab.remaining(150),
                                   extraEnv: ["ISP_FAULT=nft", "ISP_WITHDRAW_SLACK=5", "ISP_RELEARN_GOAL=90"])
            print("--- isp-fault.sh\n\(r.stdout)\(r.stderr)")
            XCTAssertFalse(r.timedOut, "scripts/isp-fault.sh timed out")
            XCTAssertEqual(r.status, 0, "scripts/isp-fault.sh failed:\n\(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stdout.contains("isp-fault summary: (nft, hold 9 s"), r.stdout)
            XCTAssertTrue(r.stdout.contains(": PASS"), r.stdout)
        }
    }

    /// A mixed mesh as during a migration: bird4 runs C tincd 1.0 (/usr/sbin/tincd) plus bird2 with static
    /// iBGP sessions, the other nodes tincd-swift with their automatic sessions; the whole checklist must
    /// still pass.
    func testMixedMeshBird4() throws {
        let tincd = ProcessInfo.processInfo.environment["LAB_TINCD"] ?? "/usr/sbin/tincd"
        guard FileManager.default.isExecutableFile(atPath: tincd) else { throw XCTSkip("no C tincd at \(tincd)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bird"),
              FileManager.default.isExecutableFile(atPath: "/usr/sbin/birdc") else { throw XCTSkip("bird2 is not installed") }
        try withLab(name: "mixed", extraEnv: ["LAB_MIXED=bird4"]) { lab in
            // bird4's recorded processes are C tincd and bird, not tincd-swift
            let pids = (try? String(contentsOf: lab.runDir.appendingPathComponent("pids"), encoding: .utf8)) ?? ""
            let bird4 = pids.split(separator: "\n").filter { $0.hasPrefix("bird4 ") }.compactMap { $0.split(separator: " ").last.map(String.init) }
            let cmdlines = bird4.map { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\0", with: " ")
            }
            XCTAssertEqual(bird4.count, 2, "bird4 should run two processes (tincd + bird): \(pids)")
            XCTAssertTrue(cmdlines.contains { $0.hasPrefix(tincd + " ") }, "no C tincd on bird4: \(cmdlines)")
            XCTAssertTrue(cmdlines.contains { $0.hasPrefix("bird ") }, "no bird on bird4: \(cmdlines)")
            XCTAssertFalse(cmdlines.contains { $0.contains("tincd-swift") }, "tincd-swift runs on bird4: \(cmdlines)")

            let validate = try lab.script([lab.validateScript], timeout: lab.remaining(60), extraEnv: ["STABILITY_WINDOW=10"])
            print("--- validate.sh (LAB_MIXED=bird4)\n\(validate.stdout)\(validate.stderr)")
            XCTAssertEqual(validate.status, 0, "scripts/validate.sh failed on the mixed mesh:\n\(validate.stdout)\(validate.stderr)")
            XCTAssertFalse(validate.timedOut, "scripts/validate.sh timed out")
            XCTAssertTrue(validate.stdout.contains("C tincd + bird2 on: bird4"), validate.stdout)
            XCTAssertTrue(validate.stdout.contains("full iBGP mesh 20/20 sessions"), validate.stdout)
        }
    }

    /// What a test body gets: the scripts, the binary, and a deadline (three minutes from the start).
    struct Lab {
        let repo: URL
        let bin: String
        let labScript: String
        let validateScript: String
        let runDir: URL
        let deadline: Date
        let env: [String]
        func remaining(_ cap: TimeInterval) -> TimeInterval { max(5, min(cap, deadline.timeIntervalSinceNow)) }
        func script(_ argv: [String], timeout: TimeInterval, extraEnv: [String] = []) throws -> CommandResult {
            try Shell.run(["env", "LAB_BIN=\(bin)"] + env + extraEnv + argv, timeout: timeout)
        }
    }

    /// `lab.sh up` (with extraEnv, e.g. LAB_MIXED=bird4), then body, then always `lab.sh down` with checks that
    /// nothing is left behind. Refuses to run while a lab is up (not ours to remove). Bounded to three minutes.
    func withLab(name: String, extraEnv: [String] = [], _ body: (Lab) throws -> Void) throws {
        guard getuid() == 0 else { throw XCTSkip("the lab needs root (network namespaces); uid is \(getuid())") }
        let repo = LabTests.repo
        let labScript = repo.appendingPathComponent("scripts/lab.sh").path
        let validateScript = repo.appendingPathComponent("scripts/validate.sh").path
        guard FileManager.default.isExecutableFile(atPath: labScript),
              FileManager.default.isExecutableFile(atPath: validateScript) else {
            XCTFail("scripts/lab.sh or scripts/validate.sh missing or not executable in \(repo.path)")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let bin = env["LAB_BIN"] ?? repo.appendingPathComponent(".build/debug/tincd-swift").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            XCTFail("no tincd-swift binary at \(bin): run `swift build` first or set LAB_BIN")
            return
        }

        // Refuse to touch a lab that is already up.
        let list = try Shell.run(["ip", "netns", "list"], timeout: 20)
        let present = Set(list.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        let clash = LabTests.fixedNamespaces.filter { present.contains($0) }
        let runDir = repo.appendingPathComponent("lab-run")
        let recorded = ["netns", "pids"].contains {
            ((try? FileManager.default.attributesOfItem(atPath: runDir.appendingPathComponent($0).path)[.size] as? Int) ?? 0) > 0
        }
        if !clash.isEmpty || recorded {
            XCTFail("""
                A lab is already up (namespaces present: \(clash.isEmpty ? "none" : clash.joined(separator: " ")); \
                run dir \(runDir.path)\(recorded ? " has records" : "")). This test uses the same fixed namespace \
                names and will not touch someone else's lab: run `make lab-down` (or `ip netns del NAME` for \
                namespaces the lab did not create) and re-run.
                """)
            return
        }

        // the lab's own variables must come from this test, not from the caller's environment
        let lab = Lab(repo: repo, bin: bin, labScript: labScript, validateScript: validateScript, runDir: runDir,
                      deadline: Date().addingTimeInterval(180), env: ["LAB_MIXED="] + extraEnv)

        // From here on the lab is ours: always remove it, whatever happens below.
        var tornDown = false
        func tearDownLab() {
            guard !tornDown else { return }
            tornDown = true
            let down = try? lab.script([labScript, "down"], timeout: 60)
            print("--- [\(name)] lab.sh down\n\(down?.stdout ?? "")\(down?.stderr ?? "")")
            if down?.succeeded != true { XCTFail("scripts/lab.sh down failed: \(down.map { "\($0)" } ?? "could not run")") }
            let after = (try? Shell.run(["ip", "netns", "list"], timeout: 20).stdout) ?? ""
            let left = LabTests.fixedNamespaces.filter { name in after.split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == name } }
            XCTAssertTrue(left.isEmpty, "namespaces left behind after lab.sh down: \(left)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDir.path), "lab.sh down left \(runDir.path)")
        }
        addTeardownBlock { tearDownLab() }
        defer { tearDownLab() }

        let up = try lab.script([labScript, "up"], timeout: lab.remaining(100), extraEnv: ["LAB_CONVERGE_TIMEOUT=45"])
        print("--- [\(name)] lab.sh up\n\(up.stdout)\(up.stderr)")
        if !up.succeeded {
            XCTFail("scripts/lab.sh up failed: \(up)")
            // an incomplete lab (a daemon died, say): the checks still tell what works and what does not
            guard FileManager.default.fileExists(atPath: runDir.appendingPathComponent("config/render.env").path) else { return }
        }
        try body(lab)
    }
}
