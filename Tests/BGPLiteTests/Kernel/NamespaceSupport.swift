import Foundation
import Glibc

/// Root-only helpers for tests that build network namespaces: `ip` commands, entering a namespace from a
/// thread (setns via dlsym: Glibc's module does not export the GNU declaration), and bounded child processes.
enum Netns {
    static var isRoot: Bool { geteuid() == 0 }

    @discardableResult
    static func sh(_ args: [String], timeout: Double = 10) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        // Read while the child runs so a chatty child cannot block on a full pipe.
        let box = DataBox()
        let readDone = DispatchSemaphore(value: 0)
        Thread { box.data = pipe.fileHandleForReading.readDataToEndOfFile(); readDone.signal() }.start()
        if readDone.wait(timeout: .now() + timeout) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            _ = readDone.wait(timeout: .now() + 2)
        }
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: box.data, as: UTF8.self))
    }

    final class ResultBox<T>: @unchecked Sendable { var value: T? }
    final class DataBox: @unchecked Sendable { var data = Data() }

    /// `ip netns exec ns args...`
    @discardableResult
    static func exec(_ ns: String, _ args: [String], timeout: Double = 10) -> (status: Int32, output: String) {
        sh(["ip", "netns", "exec", ns] + args, timeout: timeout)
    }

    private typealias SetnsFn = @convention(c) (Int32, Int32) -> Int32
    private static let setnsFn: SetnsFn? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return nil }
        return unsafeBitCast(sym, to: SetnsFn.self)
    }()

    /// Moves the calling thread into network namespace `ns` (created by `ip netns add`).
    static func enter(_ ns: String) -> Bool {
        let fd = open("/var/run/netns/\(ns)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0, let f = setnsFn else { return false }
        defer { close(fd) }
        return f(fd, 0x4000_0000 /* CLONE_NEWNET */) == 0
    }

    /// Runs `body` on a fresh thread inside `ns` and waits for it (sockets made there stay in `ns`).
    static func run<T>(in ns: String, _ body: @escaping @Sendable () -> T) -> T? {
        let result = ResultBox<T>()
        let sem = DispatchSemaphore(value: 0)
        let t = Thread {
            if enter(ns) { result.value = body() }
            sem.signal()
        }
        t.start()
        sem.wait()
        return result.value
    }
}
