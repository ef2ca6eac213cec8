import XCTest
import Foundation
import MeshIO
import DaemonTestSupport

/// Thread names reach the kernel (`top -H`, `/proc/PID/task/TID/comm`), for our helper and for the
/// data-plane threads of a running daemon.
final class ThreadNameTests: XCTestCase {
    /// Names of this process's threads as the kernel lists them.
    private func taskNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { tid in
            (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func testNameReachesTheKernelAndIsCutAt15Bytes() {
        let done = DispatchSemaphore(value: 0)
        let seen = Locked<(String, String)>(("", ""))
        Thread {
            ThreadName.setCurrent("tincd-test-name-that-is-long")
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0 = (ThreadName.current(), comm.trimmingCharacters(in: .whitespacesAndNewlines)) }
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let (current, comm) = seen.withLock { $0 }
        XCTAssertEqual(current, "tincd-test-name")
        XCTAssertEqual(comm, "tincd-test-name")
    }

    func testDataPlaneThreadsAreNamed() throws {
        let mesh = try LiveMesh()
        _ = try mesh.start("A")
        var names: [String] = []
        let end = Date().addingTimeInterval(10)
        repeat {
            names = taskNames()
            if names.contains("tincd-rx") && names.contains(where: { $0.hasPrefix("tincd-tx") }) { break }
            usleep(20_000)
        } while Date() < end
        XCTAssertTrue(names.contains("tincd-rx"), "\(names)")
        XCTAssertTrue(names.contains { $0.hasPrefix("tincd-tx") }, "\(names)")
    }
}
