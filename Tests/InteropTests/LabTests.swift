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
/// Bounded to about three minutes.
final class LabTests: XCTestCase {
    static let fixedNamespaces = ["isp", "bird1", "bird2", "bird3", "bird4", "bird5", "labnet"]

    /// The repository: this file is Tests/InteropTests/LabTests.swift.
    static var repo: URL {
        URL(fileURLWithPath: realPath(#filePath)).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testLabUpValidateDown() throws {
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

        let deadline = Date().addingTimeInterval(180)
        func remaining(_ cap: TimeInterval) -> TimeInterval { max(5, min(cap, deadline.timeIntervalSinceNow)) }
        func script(_ argv: [String], timeout: TimeInterval, extraEnv: [String] = []) throws -> CommandResult {
            try Shell.run(["env", "LAB_BIN=\(bin)"] + extraEnv + argv, timeout: timeout)
        }

        // From here on the lab is ours: always remove it, whatever happens below.
        var tornDown = false
        func tearDownLab() {
            guard !tornDown else { return }
            tornDown = true
            let down = try? script([labScript, "down"], timeout: 60)
            print("--- lab.sh down\n\(down?.stdout ?? "")\(down?.stderr ?? "")")
            if down?.succeeded != true { XCTFail("scripts/lab.sh down failed: \(down.map { "\($0)" } ?? "could not run")") }
            let after = (try? Shell.run(["ip", "netns", "list"], timeout: 20).stdout) ?? ""
            let left = LabTests.fixedNamespaces.filter { name in after.split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == name } }
            XCTAssertTrue(left.isEmpty, "namespaces left behind after lab.sh down: \(left)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDir.path), "lab.sh down left \(runDir.path)")
        }
        addTeardownBlock { tearDownLab() }
        defer { tearDownLab() }

        let up = try script([labScript, "up"], timeout: remaining(100), extraEnv: ["LAB_CONVERGE_TIMEOUT=45"])
        print("--- lab.sh up\n\(up.stdout)\(up.stderr)")
        if !up.succeeded {
            XCTFail("scripts/lab.sh up failed: \(up)")
            // an incomplete lab (a daemon died, say): the checklist still tells what works and what does not
            guard FileManager.default.fileExists(atPath: runDir.appendingPathComponent("config/render.env").path) else { return }
        }

        let validate = try script([validateScript], timeout: remaining(60), extraEnv: ["STABILITY_WINDOW=10"])
        print("--- validate.sh\n\(validate.stdout)\(validate.stderr)")
        XCTAssertEqual(validate.status, 0, "scripts/validate.sh failed:\n\(validate.stdout)\(validate.stderr)")
        XCTAssertFalse(validate.timedOut, "scripts/validate.sh timed out")
        XCTAssertTrue(validate.stdout.contains("✅"), validate.stdout)
    }
}
