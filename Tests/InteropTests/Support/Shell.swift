import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Result of a finished helper command.
struct CommandResult: CustomStringConvertible {
    let argv: [String]
    let status: Int32
    let stdout: String
    let stderr: String
    let timedOut: Bool

    var succeeded: Bool { status == 0 && !timedOut }

    var description: String {
        "`\(argv.joined(separator: " "))` -> status \(status)\(timedOut ? " (timed out)" : "")"
            + (stdout.isEmpty ? "" : "\nstdout: \(stdout)") + (stderr.isEmpty ? "" : "\nstderr: \(stderr)")
    }
}

struct InteropError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A child process started by the harness. Only these pids are ever signalled by the harness.
final class ManagedProcess {
    let process: Process
    let label: String
    let argv: [String]

    init(process: Process, label: String, argv: [String]) {
        self.process = process
        self.label = label
        self.argv = argv
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Sends `sig` to exactly this pid (never to a group or by name).
    @discardableResult
    func signal(_ sig: Int32) -> Bool {
        guard process.isRunning, pid > 0 else { return false }
        return kill(pid, sig) == 0
    }

    /// Waits for the process to exit; true when it has exited.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
        waitUntil(timeout: timeout, poll: 0.02) { !self.process.isRunning }
    }

    /// TERM, wait up to `grace` seconds, then KILL. Returns the termination status, nil if it could not be reaped.
    @discardableResult
    func stop(grace: TimeInterval = 5) -> Int32? {
        if process.isRunning {
            signal(SIGTERM)
            if !waitForExit(timeout: grace) {
                signal(SIGKILL)
                waitForExit(timeout: 5)
            }
        }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

enum Shell {
    /// Finds an executable in PATH plus the sbin directories (root's tools such as `ip`).
    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Environment for children: ours plus the sbin directories in PATH (scripts call `ip`).
    static var childEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (env["PATH"].map { $0 + ":" } ?? "") + "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
        return env
    }

    /// Starts `argv` with stdin from /dev/null and stdout+stderr appended to `output`.
    static func launch(_ argv: [String], output: URL, label: String) throws -> ManagedProcess {
        guard let exe = which(argv[0]) else { throw InteropError("executable not found: \(argv[0])") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = Array(argv.dropFirst())
        p.environment = childEnvironment
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        if !FileManager.default.fileExists(atPath: output.path) {
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        }
        guard let out = FileHandle(forWritingAtPath: output.path) else { throw InteropError("cannot open \(output.path)") }
        out.seekToEndOfFile()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        try? out.close()
        return ManagedProcess(process: p, label: label, argv: argv)
    }

    /// Runs a short command to completion (stdin from /dev/null), killing it after `timeout` seconds.
    @discardableResult
    static func run(_ argv: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        let tmp = FileManager.default.temporaryDirectory
        let tag = UUID().uuidString
        let outURL = tmp.appendingPathComponent("tsw-cmd-\(tag).out")
        let errURL = tmp.appendingPathComponent("tsw-cmd-\(tag).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        guard let exe = which(argv[0]) else { throw InteropError("executable not found: \(argv[0])") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = Array(argv.dropFirst())
        p.environment = childEnvironment
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let outFH = FileHandle(forWritingAtPath: outURL.path)!
        let errFH = FileHandle(forWritingAtPath: errURL.path)!
        p.standardOutput = outFH
        p.standardError = errFH
        try p.run()
        try? outFH.close()
        try? errFH.close()
        let managed = ManagedProcess(process: p, label: argv[0], argv: argv)
        var timedOut = false
        if !managed.waitForExit(timeout: timeout) {
            timedOut = true
            managed.signal(SIGKILL)
            managed.waitForExit(timeout: 5)
        }
        p.waitUntilExit()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return CommandResult(argv: argv, status: p.terminationStatus, stdout: out, stderr: err, timedOut: timedOut)
    }

    /// Runs a command and throws with its output when it fails.
    @discardableResult
    static func check(_ argv: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        let r = try run(argv, timeout: timeout)
        guard r.succeeded else { throw InteropError("command failed: \(r)") }
        return r
    }
}

/// Polls `condition` every `poll` seconds until it holds or `timeout` expires. Returns the last result.
@discardableResult
func waitUntil(timeout: TimeInterval, poll: TimeInterval = 0.1, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: poll)
    }
}

/// Resolves symlinks (the scratch package reaches these sources through a symlinked directory).
func realPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}
