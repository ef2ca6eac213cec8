import Glibc
import XCTest
import Foundation
import TunTap
@testable import TincDaemon

/// DataPlaneThreads = N opens the TAP device with N queues (IFF_MULTI_QUEUE), one per TX worker,
/// and falls back to one queue when the device cannot have more. Needs root and /dev/net/tun; the
/// devices carry no addresses and are removed by name at the end.
final class DeviceQueuesTests: XCTestCase {
    func settings(_ interface: String, threads: Int?) -> DaemonSettings {
        var s = DaemonSettings(name: "a", confDir: "/nonexistent")
        s.deviceType = .tap
        s.interface = interface
        s.dataPlaneThreads = threads
        return s
    }

    func requireTun() throws {
        guard getuid() == 0, access("/dev/net/tun", R_OK | W_OK) == 0 else { throw XCTSkip("needs root and /dev/net/tun") }
    }

    func ip(_ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The kernel's count of transmit queues attached to the interface.
    func txQueues(_ interface: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net/\(interface)/queues")) ?? []
        return names.filter { $0.hasPrefix("tx-") }.count
    }

    func testThreeThreadsOpenThreeQueuesOfOneInterface() throws {
        try requireTun()
        let name = "mqq\(getpid() % 100000)"
        let (first, more) = try MeshDaemon.openDeviceQueues(settings(name, threads: 3))
        defer { for q in more { q.close() }; first.close() }
        XCTAssertEqual(first.interface, name)
        XCTAssertEqual(more.count, 2)
        XCTAssertTrue(more.allSatisfy { $0.interface == name && $0.fd >= 0 })
        XCTAssertEqual(Set([first.fd] + more.map(\.fd)).count, 3, "one fd per queue")
        XCTAssertEqual(txQueues(name), 3)
        XCTAssertTrue(more.allSatisfy { $0.offload == (first as? TunTapDevice)?.offload })
    }

    func testOneThreadOpensOneQueue() throws {
        try requireTun()
        let name = "mqo\(getpid() % 100000)"
        let (first, more) = try MeshDaemon.openDeviceQueues(settings(name, threads: 1))
        defer { first.close() }
        XCTAssertTrue(more.isEmpty)
        XCTAssertEqual((first as? TunTapDevice)?.multiQueue, false)
    }

    /// A persistent single-queue device (made by `ip tuntap add` without multi_queue) refuses
    /// IFF_MULTI_QUEUE: the daemon still opens it, with one queue and one TX worker.
    func testASingleQueueDeviceFallsBackToOneQueue() throws {
        try requireTun()
        let name = "mqf\(getpid() % 100000)"
        guard ip(["tuntap", "add", "dev", name, "mode", "tap"]) == 0 else { throw XCTSkip("ip tuntap add failed") }
        defer { _ = ip(["tuntap", "del", "dev", name, "mode", "tap"]) }
        let (first, more) = try MeshDaemon.openDeviceQueues(settings(name, threads: 2))
        defer { first.close() }
        XCTAssertTrue(more.isEmpty)
        XCTAssertGreaterThanOrEqual(first.fd, 0)
        XCTAssertEqual(first.interface, name)
        XCTAssertEqual(txQueues(name), 1)
    }
}
