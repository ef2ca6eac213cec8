import XCTest
import Foundation

/// The top-level hosts/ folder (the example mesh's tinc host files, no keys): `make render` and the
/// lab's rendering step (scripts/lab-lib.sh `lab_render`, what `make lab` runs) read it. Rendering only,
/// into scratch directories: no namespaces, nothing started. Keys: openssl (TINCD_SWIFT=none).
final class HostsFolderTests: XCTestCase {
    var root: URL { TincBinaries.packageRoot }
    var dir: URL!

    override func setUpWithError() throws {
        guard Shell.which("openssl") != nil else { throw XCTSkip("openssl not installed") }
        dir = URL(fileURLWithPath: "/tmp/tincd-swift-hosts/\(getpid())-\(name.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let d = dir, (testRun?.totalFailureCount ?? 0) == 0 { try? FileManager.default.removeItem(at: d) }
    }

    /// `make render` into OUT with the given extra environment (KEYS_DIR in the scratch dir).
    func makeRender(_ out: String, env: [String] = []) throws -> CommandResult {
        try Shell.run(["env", "KEYS_DIR=\(dir.path)/keys", "TINCD_SWIFT=none"] + env
                      + ["make", "-s", "-C", root.path, "render", "DEPLOY_ENV=deploy/.env.example", "RENDER_OUT=\(out)"], timeout: 180)
    }

    /// The lab's rendering step alone (lab_render from scripts/lab-lib.sh with deploy/lab.env).
    func labRender(_ out: String, env: [String] = []) throws -> CommandResult {
        try Shell.run(["env", "KEYS_DIR=\(dir.path)/keys", "TINCD_SWIFT=none"] + env
                      + ["bash", "-c", ". \"$1/scripts/lab-lib.sh\" && lab_render \"$2\"", "lab-render", root.path, out], timeout: 180)
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing \(path)>" }

    /// A host file's content without comment lines (the header says where it came from).
    func variables(_ path: String) -> String {
        read(path).split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
    }

    /// The checked-in files are the example mesh as the env files describe it: rendering with them
    /// and without them (HOSTS_DIR=none, host files from the variables) gives the same host variables.
    func testCheckedInHostFilesMatchTheExampleMesh() throws {
        for (label, run) in [("make render", makeRender), ("lab", labRender)] {
            let with = dir.appendingPathComponent("\(label.filter { $0.isLetter })-with").path
            let without = dir.appendingPathComponent("\(label.filter { $0.isLetter })-without").path
            let a = try run(with, [])
            XCTAssertEqual(a.status, 0, "\(label): \(a.description)")
            let b = try run(without, ["HOSTS_DIR=none"])
            XCTAssertEqual(b.status, 0, "\(label): \(b.description)")
            for node in 1...5 {
                for other in 1...5 {
                    let f = "bird\(node)/hosts/bird\(other)"
                    XCTAssertTrue(read("\(with)/\(f)").contains("from hosts/bird\(other) and "), "\(label) \(f) was not rendered from hosts/")
                    XCTAssertEqual(variables("\(with)/\(f)"), variables("\(without)/\(f)"), "\(label) \(f)")
                }
                XCTAssertEqual(read("\(with)/bird\(node)/tinc.conf"), read("\(without)/bird\(node)/tinc.conf"))
            }
        }
    }

    /// Editing hosts/bird3 (here a copy, given as HOSTS_DIR) changes bird3's host file on every node,
    /// in `make render` and in the lab's render alike, and nothing else; the key is still appended.
    func testEditingAHostFileChangesWhatIsRendered() throws {
        let hosts = dir.appendingPathComponent("hosts")
        try FileManager.default.copyItem(at: root.appendingPathComponent("hosts"), to: hosts)
        let bird3 = hosts.appendingPathComponent("bird3")
        try (read(bird3.path) + "Compression = 9\nIndirectData = yes\n").write(to: bird3, atomically: true, encoding: .utf8)
        for (label, run) in [("make render", makeRender), ("lab", labRender)] {
            let base = dir.appendingPathComponent("\(label.filter { $0.isLetter })-base").path
            let edited = dir.appendingPathComponent("\(label.filter { $0.isLetter })-edited").path
            XCTAssertEqual(try run(base, []).status, 0)
            let r = try run(edited, ["HOSTS_DIR=\(hosts.path)"])
            XCTAssertEqual(r.status, 0, r.description)
            for node in 1...5 {
                let text = read("\(edited)/bird\(node)/hosts/bird3")
                XCTAssertTrue(text.contains("BGPAddress6 = 2001:db8::3\nCompression = 9\nIndirectData = yes\n\n-----BEGIN RSA PUBLIC KEY-----"),
                              "\(label) bird\(node)/hosts/bird3:\n\(text)")
                XCTAssertEqual(text.components(separatedBy: "-----BEGIN RSA PUBLIC KEY-----").count, 2, "exactly one key")
                for other in [1, 2, 4, 5] {
                    XCTAssertEqual(variables("\(edited)/bird\(node)/hosts/bird\(other)"), variables("\(base)/bird\(node)/hosts/bird\(other)"))
                }
                XCTAssertEqual(read("\(edited)/bird\(node)/tinc.conf"), read("\(base)/bird\(node)/tinc.conf"))
            }
        }
    }

    /// A key in a host file is refused with the file and line named (keys come from KEYS_DIR).
    func testAKeyInAHostFileIsRefused() throws {
        let hosts = dir.appendingPathComponent("hosts")
        try FileManager.default.copyItem(at: root.appendingPathComponent("hosts"), to: hosts)
        let bird2 = hosts.appendingPathComponent("bird2")
        let lines = read(bird2.path).split(separator: "\n", omittingEmptySubsequences: false).count
        try (read(bird2.path) + "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n").write(to: bird2, atomically: true, encoding: .utf8)
        let r = try makeRender(dir.appendingPathComponent("out").path, env: ["HOSTS_DIR=\(hosts.path)"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(bird2.path):\(lines): a key block"), r.stderr)

        try "Address = 172.30.0.2 655\n= 172.30.0.9 655\n".write(to: bird2, atomically: true, encoding: .utf8)
        let bad = try makeRender(dir.appendingPathComponent("out2").path, env: ["HOSTS_DIR=\(hosts.path)"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("\(bird2.path):2: not a tinc variable line"), bad.stderr)
    }

    /// A host file and the env file must agree on the addresses the rest of the render takes from
    /// the variables (tinc.conf's Port, tinc-up's overlay address, the lab's and compose's networks).
    func testHostFileAndVariablesMustAgree() throws {
        let r = try makeRender(dir.appendingPathComponent("out").path, env: ["UNDERLAY_PREFIX=10.9.9"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("hosts/bird1:5: Address = 172.30.0.1 655 -- but") && r.stderr.contains("'10.9.9.1 655'"), r.stderr)
        let o = try labRender(dir.appendingPathComponent("out2").path, env: ["OVERLAY_PREFIX=10.8.0"])
        XCTAssertNotEqual(o.status, 0)
        XCTAssertTrue(o.stderr.contains("hosts/bird1:7: BGPAddress = 10.0.0.1 -- but"), o.stderr)
        // Without host files the same variables render as before.
        let n = try makeRender(dir.appendingPathComponent("out3").path, env: ["UNDERLAY_PREFIX=10.9.9", "HOSTS_DIR=none"])
        XCTAssertEqual(n.status, 0, n.description)
        XCTAssertTrue(read(dir.appendingPathComponent("out3/bird2/hosts/bird3").path).contains("Address = 10.9.9.3 655"))
    }
}
