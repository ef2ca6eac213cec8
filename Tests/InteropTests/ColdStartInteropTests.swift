import Foundation
import XCTest

/// The short CI version of `make cold-start` (scripts/cold-start.sh): 12 nodes (8 tincd-swift, 4 C tincd 1.0)
/// started together twice, pinging each other while the graph converges; every pair must exchange data
/// within 5 s of convergence (all host-up and every ConnectTo link up). The script names everything
/// cs<pid>… and removes it on exit.
final class ColdStartInteropTests: InteropTestCase {
    func testColdStartMixedMeshEveryPairExchangesData() throws {
        try NetnsLab.requireEnvironment()
        try TincBinaries.requireSwiftBinary()
        let script = TincBinaries.packageRoot.appendingPathComponent("scripts/cold-start.sh").path
        let n = ProcessInfo.processInfo.environment["TSW_COLD_START_N"] ?? "2"
        let r = try Shell.run(["env", "N=\(n)", "TINCD_SWIFT_BIN=\(TincBinaries.swiftBinary)",
                               "TINCD_C_BIN=\(TincBinaries.cBinary)", script], timeout: 85 * (Double(n) ?? 2))
        print(r.stdout)
        XCTAssertTrue(r.stdout.contains("cold-start summary:"), "no summary line from \(script): \(r)")
        XCTAssertTrue(r.succeeded, "pairs without data after a cold start (or a set-up error): \(r)")
    }
}
