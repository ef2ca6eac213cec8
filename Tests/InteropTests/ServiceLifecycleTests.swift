import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a service manager sees of the daemon: exit status after a failed start (foreground and
/// detached) and after a failed reload, systemd readiness (NOTIFY_SOCKET) and severity prefixes
/// when stderr is journald's stream. Dummy device and a free port: no root needed.
final class ServiceLifecycleTests: InteropTestCase {
    private func scratch(_ function: String = #function) throws -> URL {
        let dir = URL(fileURLWithPath: "/tmp/tincd-swift-lifecycle/\(getpid())-\(function.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("hosts"), withIntermediateDirectories: true)
        addTeardownBlock {
            if (self.testRun?.totalFailureCount ?? 0) == 0 { try? FileManager.default.removeItem(at: dir) }
        }
        return dir
    }

    /// A port nobody listens on right now (TCP bound, then released).
    private func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    private func writeConfig(_ dir: URL, name: String = "svc", port: Int) throws {
        try "Name = \(name)\nDeviceType = dummy\nPort = \(port)\nBindToAddress = 127.0.0.1\n"
            .write(to: dir.appendingPathComponent("tinc.conf"), atomically: true, encoding: .utf8)
    }

    private func generateKey(_ dir: URL) throws {
        try Shell.check([TincBinaries.swiftBinary, "-c", dir.path, "-K2048"], timeout: 60)
    }

    /// Starts the daemon with its own environment additions; stdout+stderr go to `log`.
    private func start(_ args: [String], log: URL, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TincBinaries.swiftBinary)
        p.arguments = args
        p.environment = Shell.childEnvironment.merging(environment) { _, new in new }
        p.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        // createFile replaces an existing file (a new inode): keep one the caller made (JOURNAL_STREAM)
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let out = try FileHandle(forWritingTo: log)
        p.standardOutput = out
        p.standardError = out
        try p.run()
        try? out.close()
        addTeardownBlock { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        return p
    }

    private func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    func testBadConfigExitsNonZero() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        try "Name = not a name\n".write(to: dir.appendingPathComponent("tinc.conf"), atomically: true, encoding: .utf8)
        for detach in [false, true] {
            let r = try Shell.run([TincBinaries.swiftBinary, "-c", dir.path, "--pidfile", dir.path + "/pid"] + (detach ? [] : ["-D"]), timeout: 20)
            XCTAssertEqual(r.status, 1, "detach=\(detach): \(r)")
            XCTAssertTrue((r.stdout + r.stderr).contains("tinc.conf:1"), r.description)
        }
        // bgp.conf broken: the start fails at BGP, with file:line.
        try writeConfig(dir, port: freePort())
        try generateKey(dir)
        try "protocol bgp x { no such option; }\n".write(to: dir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        let r = try Shell.run([TincBinaries.swiftBinary, "-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], timeout: 20)
        XCTAssertEqual(r.status, 1, r.description)
        XCTAssertTrue(r.stderr.contains("bgp.conf:1:"), r.description)
    }

    /// Detached (no -D), the start-up failure happens in the child, after the fork: the parent
    /// must still exit non-zero (tincd 1.0's parent exits 0 here), and 0 when the child started.
    func testDetachedStartReportsTheChildsResult() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        let port = freePort()
        try writeConfig(dir, port: port)
        try generateKey(dir)
        // Occupy the port so that binding fails after the fork.
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(blocker, 1), 0)
        let log = dir.appendingPathComponent("daemon.log").path
        let failed = try Shell.run([TincBinaries.swiftBinary, "-c", dir.path, "--pidfile", dir.path + "/pid", "--logfile=\(log)"], timeout: 20)
        XCTAssertEqual(failed.status, 1, failed.description + "\nlog: " + text(URL(fileURLWithPath: log)))
        XCTAssertTrue(text(URL(fileURLWithPath: log)).contains("Address already in use"), text(URL(fileURLWithPath: log)))

        try writeConfig(dir, port: freePort())
        let ok = try Shell.run([TincBinaries.swiftBinary, "-c", dir.path, "--pidfile", dir.path + "/pid", "--logfile=\(log)"], timeout: 20)
        XCTAssertEqual(ok.status, 0, ok.description)
        let pidText = text(dir.appendingPathComponent("pid")).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(pidText), pid > 0 else { return XCTFail("no pidfile after a detached start: \(pidText)") }
        XCTAssertEqual(kill(pid, 0), 0, "the detached daemon is not running")
        kill(pid, SIGTERM)
        XCTAssertTrue(waitUntil(timeout: budget(10)) { kill(pid, 0) != 0 }, "daemon \(pid) did not stop")
    }

    func testFailedReloadExitsNonZero() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        try writeConfig(dir, port: freePort())
        try generateKey(dir)
        let log = dir.appendingPathComponent("daemon.log")
        let p = try start(["-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], log: log)
        XCTAssertTrue(waitUntil(timeout: budget(15)) { self.text(log).contains("Ready") }, text(log))
        // A good reload keeps it running.
        kill(p.processIdentifier, SIGHUP)
        XCTAssertTrue(waitUntil(timeout: budget(5)) { self.text(log).contains("Got HUP signal") }, text(log))
        usleep(300_000)
        XCTAssertTrue(p.isRunning, text(log))
        // A broken tinc.conf: it says why and exits 1 (Restart=on-failure fires).
        try "Name = not a name\n".write(to: dir.appendingPathComponent("tinc.conf"), atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        XCTAssertTrue(waitUntil(timeout: budget(10)) { !p.isRunning }, text(log))
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 1, text(log))
        XCTAssertTrue(text(log).contains("Unable to reread configuration file"), text(log))
    }

    /// NOTIFY_SOCKET gets READY=1 once the daemon is up (Type=notify units), nothing before a failed start.
    func testReadinessNotification() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        try writeConfig(dir, port: freePort())
        try generateKey(dir)
        let sockPath = dir.appendingPathComponent("notify").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in sockPath.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(rc, 0, String(cString: strerror(errno)))
        var tv = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

        let log = dir.appendingPathComponent("daemon.log")
        let p = try start(["-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], log: log, environment: ["NOTIFY_SOCKET": sockPath])
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        XCTAssertGreaterThan(n, 0, "no readiness datagram: \(text(log))")
        let message = String(decoding: buf.prefix(max(0, n)), as: UTF8.self)
        XCTAssertTrue(message.contains("READY=1"), message)
        XCTAssertTrue(text(log).contains("Ready"), "READY=1 came before the daemon was up: \(text(log))")
        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text(log))
    }

    /// Under systemd (JOURNAL_STREAM names stderr) every line carries `<N>` with its syslog priority;
    /// with stderr elsewhere (an inherited JOURNAL_STREAM that does not match) lines stay plain.
    func testJournaldSeverityPrefixes() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        try writeConfig(dir, port: freePort())
        try generateKey(dir)
        for matching in [true, false] {
            let log = dir.appendingPathComponent("daemon-\(matching).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            var st = stat()
            XCTAssertEqual(stat(log.path, &st), 0)
            let stream = matching ? "\(st.st_dev):\(st.st_ino)" : "\(st.st_dev):\(st.st_ino &+ 1)"
            let p = try start(["-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], log: log, environment: ["JOURNAL_STREAM": stream])
            XCTAssertTrue(waitUntil(timeout: budget(15)) { self.text(log).contains("Ready") }, text(log))
            p.terminate()
            p.waitUntilExit()
            let lines = text(log).split(separator: "\n")
            XCTAssertFalse(lines.isEmpty)
            if matching {
                XCTAssertTrue(lines.contains { $0.hasPrefix("<5>") && $0.contains("Ready") }, text(log))
                for l in lines { XCTAssertNotNil(l.range(of: #"^<[3-7]>"#, options: .regularExpression), "line without priority: \(l)") }
            } else {
                for l in lines { XCTAssertFalse(l.hasPrefix("<"), "prefix without journald: \(l)") }
            }
        }
    }

    /// bgp.conf's `debug protocols { states }` makes state changes visible at -d0 (without it they need -d2);
    /// a `log` statement is refused at start with file:line (it could not redirect the daemon's log).
    func testBGPDebugHonouredAndLogRefused() throws {
        try TincBinaries.requireSwiftBinary()
        let dir = try scratch()
        try writeConfig(dir, port: freePort())
        try generateKey(dir)
        let closedPort = freePort()
        let session = """
        protocol bgp up1 {
            local 127.0.0.1 as 65000;
            neighbor 127.0.0.1 port \(closedPort) as 65001;
            multihop;
            connect retry time 1;
            ipv4 { import all; export none; };
        }
        """
        let bgp = dir.appendingPathComponent("bgp.conf")
        for debug in [true, false] {
            try ("router id 10.9.9.9;\n" + (debug ? "debug protocols { states };\n" : "") + session)
                .write(to: bgp, atomically: true, encoding: .utf8)
            let log = dir.appendingPathComponent("debug-\(debug).log")
            let p = try start(["-c", dir.path, "--pidfile", dir.path + "/pid", "-D", "-d0"], log: log)
            XCTAssertTrue(waitUntil(timeout: budget(15)) { self.text(log).contains("Ready") }, text(log))
            if debug {
                XCTAssertTrue(waitUntil(timeout: budget(10)) { self.text(log).contains("up1: BGP state changed from") }, text(log))
                // only the class asked for: connection events stay at -d1
                XCTAssertFalse(text(log).contains("up1: Connecting to"), text(log))
            } else {
                usleep(2_500_000)   // > connect retry time: the state changes have happened by now
                XCTAssertFalse(text(log).contains("BGP state changed"), text(log))
            }
            p.terminate()
            p.waitUntilExit()
        }
        // configure (SIGHUP, ctl reload, birdc configure) refuses it the same way and keeps running
        try ("router id 10.9.9.9;\n" + session).write(to: bgp, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("configure.log")
        let p = try start(["-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], log: log)
        XCTAssertTrue(waitUntil(timeout: budget(15)) { self.text(log).contains("Ready") }, text(log))
        try ("router id 10.9.9.9;\nlog \"bgp.log\" all;\n" + session).write(to: bgp, atomically: true, encoding: .utf8)
        let c = try Shell.run([TincBinaries.swiftBinary, "ctl", "--pidfile", dir.path + "/pid", "configure"], timeout: 20)
        XCTAssertEqual(c.status, 1, c.description)
        XCTAssertTrue(c.stderr.contains("bgp.conf:2:1: log bgp.log"), c.description)
        XCTAssertTrue(p.isRunning, text(log))
        p.terminate()
        p.waitUntilExit()

        try ("router id 10.9.9.9;\nlog syslog all;\n" + session).write(to: bgp, atomically: true, encoding: .utf8)
        let r = try Shell.run([TincBinaries.swiftBinary, "-c", dir.path, "--pidfile", dir.path + "/pid", "-D"], timeout: 20)
        XCTAssertEqual(r.status, 1, r.description)
        XCTAssertTrue(r.stderr.contains("bgp.conf:2:1: log syslog"), r.description)
    }
}
