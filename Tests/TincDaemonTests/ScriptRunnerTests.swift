import XCTest
import Glibc
import MeshIO
@testable import TincDaemon

/// Collects log messages (Log.observer) for one test.
final class LogCapture: Sendable {
    private let lines = Locked<[String]>([])
    init() { Log.observer = { [weak self] m in self?.append(m) } }
    private func append(_ m: String) { lines.withLock { $0.append(m) } }
    var messages: [String] { lines.withLock { $0 } }
    func contains(_ s: String) -> Bool { messages.contains { $0.contains(s) } }
    func stop() { Log.observer = nil }
}

/// A scratch directory with scripts in it, removed at the end.
final class ScriptDir {
    let path: String
    init() {
        var t = Array("/tmp/tincd-swift-scripts-XXXXXX".utf8CString)
        path = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        mkdir(path + "/hosts", 0o755)
    }
    func script(_ name: String, _ body: String) {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(("#!/bin/sh\n" + body + "\n").utf8))
        chmod(p, 0o755)
    }
    /// Lines the scripts appended to `events`.
    var events: [String] {
        guard let d = FileManager.default.contents(atPath: path + "/events") else { return [] }
        return String(decoding: d, as: UTF8.self).split(separator: "\n").map(String.init)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

final class ScriptRunnerTests: XCTestCase {
    /// Runs `loop` on this thread until `done` is true (checked every 10 ms) or `timeout` passes.
    func run(_ loop: EventLoop, timeout: Double, until done: @escaping () -> Bool) {
        let end = EventLoop.now() + timeout
        func check() {
            if done() || EventLoop.now() > end { loop.stop(); loop.post {}; return }
            loop.schedule(after: 0.01) { check() }
        }
        loop.schedule(after: 0) { check() }
        loop.run()
    }

    /// A subnet-up that sleeps 5 s does not stop a 100 ms timer (a BGP keepalive stands in for it), the
    /// scripts run in the order they were queued, and each exit status is logged.
    func testSlowScriptDoesNotBlockLoopAndOrderIsKept() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let log = LogCapture()
        defer { log.stop() }
        Log.level = Log.status
        defer { Log.level = 0 }
        dir.script("host-up", "echo \"host-up $NODE\" >> \(dir.path)/events; exit 0")
        dir.script("subnet-up", "sleep 5; echo \"subnet-up $NODE $SUBNET\" >> \(dir.path)/events; exit 3")
        dir.script("host-down", "echo \"host-down $NODE\" >> \(dir.path)/events")
        dir.script("hosts/peer1-up", "echo \"hosts/peer1-up\" >> \(dir.path)/events")

        let loop = try EventLoop()
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: ["NAME": "me"], loop: loop)
        var ticks: [Double] = []
        func tick() { ticks.append(EventLoop.now()); loop.schedule(after: 0.1) { tick() } }
        loop.schedule(after: 0) { tick() }
        var finished: [(String, Int32)] = []
        runner.onFinish = { finished.append(($0, $1)) }

        let t0 = EventLoop.now()
        runner.run("host-up", extra: ["NODE": "peer1"])
        runner.run("hosts/peer1-up", extra: ["NODE": "peer1"])
        runner.run("subnet-up", extra: ["NODE": "peer1", "SUBNET": "10.1.0.0/16"])
        runner.run("host-down", extra: ["NODE": "peer1"])
        runner.run("subnet-down", extra: ["NODE": "peer1"])   // does not exist: skipped
        XCTAssertEqual(runner.queued + (runner.busy ? 1 : 0), 4)
        let queuedAt = EventLoop.now() - t0
        XCTAssertLessThan(queuedAt, 1, "queueing must not wait for the scripts")

        run(loop, timeout: 20) { !runner.busy }
        let elapsed = EventLoop.now() - t0
        XCTAssertFalse(runner.busy, "scripts did not finish in 20 s")
        XCTAssertGreaterThanOrEqual(elapsed, 5)
        XCTAssertEqual(dir.events, ["host-up peer1", "hosts/peer1-up", "subnet-up peer1 10.1.0.0/16", "host-down peer1"])
        XCTAssertEqual(finished.map(\.0), ["host-up", "hosts/peer1-up", "subnet-up", "host-down"])
        XCTAssertEqual(finished.map(\.1), [0, 0, 3, 0])
        // The timer kept firing all along: no gap near the script's 5 s.
        let gaps = zip(ticks.dropFirst(), ticks).map { $0 - $1 }
        let maxGap = gaps.max() ?? 99
        print("ScriptRunner: \(ticks.count) timer ticks in \(String(format: "%.2f", elapsed)) s while a 5 s script ran, largest gap \(String(format: "%.3f", maxGap)) s")
        // A blocked loop would show one gap of about 5 s; the bounds leave room for a loaded machine.
        XCTAssertGreaterThan(ticks.count, 20)
        XCTAssertLessThan(maxGap, 2.0)
        XCTAssertTrue(log.contains("Script subnet-up exited with non-zero status 3"), "\(log.messages)")
        XCTAssertTrue(log.contains("Script host-up exited with status 0"), "\(log.messages)")
        XCTAssertEqual(runner.counters, ScriptRunner.Counters(started: 4, failed: 1, timedOut: 0, dropped: 0))
    }

    /// `GraphDumpFile = |command`: the command reads the graph on stdin, runs behind queued scripts
    /// without stalling the loop (tinc's popen would), the temporary input file is gone afterwards,
    /// and a full queue removes the file at once.
    func testCommandReadsInputFileOffTheLoop() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        dir.script("host-up", "echo \"host-up $NODE\" >> \(dir.path)/events")
        let input = dir.path + "/graph.in"
        let dot = "digraph {\n  \"a\" -> \"b\";\n}\n"
        XCTAssertTrue(FileManager.default.createFile(atPath: input, contents: Data(dot.utf8)))

        let loop = try EventLoop()
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop)
        var ticks: [Double] = []
        func tick() { ticks.append(EventLoop.now()); loop.schedule(after: 0.1) { tick() } }
        loop.schedule(after: 0) { tick() }
        var finished: [(String, Int32)] = []
        runner.onFinish = { finished.append(($0, $1)) }

        runner.run("host-up", extra: ["NODE": "peer1"])
        // Quotes and `$` in the operator's command line reach the shell unchanged.
        let command = "sleep 2; tr a-z A-Z > \"\(dir.path)/graph out\"; echo \"cmd $#\" >> \(dir.path)/events"
        XCTAssertTrue(runner.runCommand("GraphDumpFile command", command: command, inputFile: input))
        run(loop, timeout: 20) { !runner.busy }
        XCTAssertFalse(runner.busy, "the command did not finish in 20 s")

        XCTAssertEqual(dir.events, ["host-up peer1", "cmd 0"])
        XCTAssertEqual(finished.map(\.0), ["host-up", "GraphDumpFile command"])
        XCTAssertEqual(finished.map(\.1), [0, 0])
        let out = FileManager.default.contents(atPath: dir.path + "/graph out").map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(out, dot.uppercased())
        XCTAssertFalse(FileManager.default.fileExists(atPath: input), "the input file is left behind")
        let maxGap = zip(ticks.dropFirst(), ticks).map { $0 - $1 }.max() ?? 99
        XCTAssertLessThan(maxGap, 1.5, "the loop waited for the command")

        // A full queue: the command is not run and its input file is removed now.
        let blocked = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop)
        blocked.limits.maxQueued = 1
        dir.script("slow", "sleep 1")
        blocked.run("slow")   // runs
        blocked.run("slow")   // waits: the queue is full
        XCTAssertTrue(FileManager.default.createFile(atPath: input, contents: Data(dot.utf8)))
        XCTAssertFalse(blocked.runCommand("GraphDumpFile command", command: "cat > /dev/null", inputFile: input))
        XCTAssertFalse(FileManager.default.fileExists(atPath: input))
        XCTAssertEqual(blocked.counters.dropped, 1)
        run(loop, timeout: 10) { !blocked.busy }
    }

    /// A script that ignores SIGTERM is killed (with its children: the whole process group) after the
    /// timeout and the grace period; the next script then runs.
    func testTimeoutSendsTermThenKillToProcessGroup() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let log = LogCapture()
        defer { log.stop() }
        dir.script("host-up", "trap '' TERM; sleep 60 & echo $! > \(dir.path)/child; wait; wait")
        dir.script("host-down", "echo after >> \(dir.path)/events")
        let loop = try EventLoop()
        var limits = ScriptRunner.Limits()
        limits.timeout = 0.5
        limits.killGrace = 0.5
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop, limits: limits)
        var finished: [(String, Int32)] = []
        runner.onFinish = { finished.append(($0, $1)) }
        let t0 = EventLoop.now()
        runner.run("host-up")
        runner.run("host-down")
        run(loop, timeout: 10) { !runner.busy }
        let elapsed = EventLoop.now() - t0
        XCTAssertFalse(runner.busy)
        XCTAssertGreaterThanOrEqual(elapsed, 1.0)
        XCTAssertLessThan(elapsed, 5)
        XCTAssertEqual(finished.first?.0, "host-up")
        XCTAssertEqual(finished.first?.1, 128 + SIGKILL)
        XCTAssertEqual(dir.events, ["after"])
        XCTAssertTrue(log.contains("sending SIGTERM"), "\(log.messages)")
        XCTAssertTrue(log.contains("sending SIGKILL"), "\(log.messages)")
        XCTAssertTrue(log.contains("Script host-up was killed by signal 9"), "\(log.messages)")
        XCTAssertEqual(runner.counters.timedOut, 1)
        // The script's child got the SIGKILL too (same process group): gone or a zombie.
        let childText = (FileManager.default.contents(atPath: dir.path + "/child")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let child = pid_t(childText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(child, 0)
        var alive = false
        for _ in 0..<100 {
            let stat = (FileManager.default.contents(atPath: "/proc/\(child)/stat")).map { String(decoding: $0, as: UTF8.self) } ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z")
            if !alive { break }
            usleep(10_000)
        }
        XCTAssertFalse(alive, "the script's child \(child) survived")
        if alive { kill(child, SIGKILL) }
    }

    /// The queue holds `maxQueued` scripts; more are skipped with one log line and counted.
    func testQueueIsBounded() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let log = LogCapture()
        defer { log.stop() }
        dir.script("subnet-up", "echo \"$SUBNET\" >> \(dir.path)/events; sleep 0.2")
        let loop = try EventLoop()
        var limits = ScriptRunner.Limits()
        limits.maxQueued = 3
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop, limits: limits)
        var accepted: [Bool] = []
        for i in 0..<8 { accepted.append(runner.run("subnet-up", extra: ["SUBNET": "10.0.\(i).0/24"])) }
        // One runs, three wait, four are skipped.
        XCTAssertEqual(accepted, [true, true, true, true, false, false, false, false])
        XCTAssertEqual(runner.counters.dropped, 4)
        XCTAssertEqual(log.messages.filter { $0.contains("Script queue is full") }.count, 1, "\(log.messages)")
        run(loop, timeout: 10) { !runner.busy }
        XCTAssertEqual(dir.events, (0..<4).map { "10.0.\($0).0/24" })
        // Once there is room again, scripts are accepted and the skipped ones are reported.
        XCTAssertTrue(runner.run("subnet-up", extra: ["SUBNET": "10.9.0.0/24"]))
        XCTAssertTrue(log.contains("4 script(s) were skipped"), "\(log.messages)")
        runner.drain()
        XCTAssertEqual(dir.events.last, "10.9.0.0/24")
    }

    /// A full queue first cancels queued -up scripts against the -down for the same node and subnet
    /// queued after them (a flap), so a later subnet-down is not skipped; pairs are not cancelled while
    /// there is room, a running -up is never paired, and other nodes' or subnets' scripts stay.
    func testFullQueueCancelsUpDownPairsBeforeSkipping() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let log = LogCapture()
        defer { log.stop() }
        for name in ["subnet-up", "subnet-down", "host-up", "host-down"] {
            dir.script(name, "echo \"\(name) $NODE $SUBNET\" >> \(dir.path)/events; sleep 0.1")
        }
        let loop = try EventLoop()
        var limits = ScriptRunner.Limits()
        limits.maxQueued = 4
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop, limits: limits)
        let a1 = ["NODE": "a", "SUBNET": "10.1.0.0/24"], a2 = ["NODE": "a", "SUBNET": "10.2.0.0/24"]
        let b1 = ["NODE": "b", "SUBNET": "10.1.0.0/24"]
        XCTAssertTrue(runner.run("subnet-up", extra: a1))    // runs at once: never cancelled
        XCTAssertTrue(runner.run("host-up", extra: ["NODE": "b"]))
        XCTAssertTrue(runner.run("subnet-up", extra: a2))
        XCTAssertTrue(runner.run("subnet-up", extra: b1))
        XCTAssertTrue(runner.run("subnet-down", extra: a2))  // queue now full (4): no pair cancelled yet
        XCTAssertEqual(runner.queued, 4)
        XCTAssertEqual(runner.counters.coalesced, 0)
        // Full: the a2 up/down pair goes, the new down for a1 (whose up is running) is queued.
        XCTAssertTrue(runner.run("subnet-down", extra: a1))
        XCTAssertEqual(runner.counters.coalesced, 2)
        XCTAssertEqual(runner.counters.dropped, 0)
        XCTAssertTrue(log.contains("cancelled 2 queued scripts"), "\(log.messages)")
        XCTAssertTrue(runner.run("host-down", extra: ["NODE": "b"]))
        // Full again, with nothing to pair against the new one (b's host-up is matched by the host-down
        // just queued, so that pair goes and b1 stays).
        XCTAssertTrue(runner.run("subnet-down", extra: ["NODE": "c", "SUBNET": "10.3.0.0/24"]))
        XCTAssertEqual(runner.counters.coalesced, 4)
        XCTAssertTrue(runner.run("subnet-up", extra: ["NODE": "d", "SUBNET": "10.4.0.0/24"]))
        XCTAssertEqual(runner.queued, 4)
        XCTAssertFalse(runner.run("subnet-up", extra: ["NODE": "e", "SUBNET": "10.5.0.0/24"]), "nothing left to cancel: skipped")
        XCTAssertEqual(runner.counters.dropped, 1)
        XCTAssertEqual(runner.counters.coalesced, 4)
        run(loop, timeout: 20) { !runner.busy }
        XCTAssertEqual(dir.events, ["subnet-up a 10.1.0.0/24", "subnet-up b 10.1.0.0/24", "subnet-down a 10.1.0.0/24",
                                    "subnet-down c 10.3.0.0/24", "subnet-up d 10.4.0.0/24"])
    }

    /// tinc-down waits for the queued subnet-down scripts before it, and runs to the end before returning.
    func testRunAndWaitDrainsQueueFirst() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        dir.script("subnet-down", "sleep 0.3; echo \"subnet-down $SUBNET\" >> \(dir.path)/events")
        dir.script("tinc-down", "echo tinc-down >> \(dir.path)/events")
        let loop = try EventLoop()
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop)
        runner.run("subnet-down", extra: ["SUBNET": "10.0.1.0/24"])
        runner.run("subnet-down", extra: ["SUBNET": "10.0.2.0/24"])
        XCTAssertTrue(runner.busy)
        XCTAssertTrue(runner.runAndWait("tinc-down"))
        XCTAssertFalse(runner.busy)
        XCTAssertEqual(dir.events, ["subnet-down 10.0.1.0/24", "subnet-down 10.0.2.0/24", "tinc-down"])
        XCTAssertFalse(runner.runAndWait("tinc-missing") == false, "a missing script is not a failure")
    }

    /// At shutdown the queue is drained for at most `drainBudget` seconds; the rest is skipped and logged.
    func testDrainBudget() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let log = LogCapture()
        defer { log.stop() }
        dir.script("subnet-down", "sleep 0.3; echo \"$SUBNET\" >> \(dir.path)/events")
        let loop = try EventLoop()
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop)
        runner.drainBudget = 0.1
        for i in 0..<4 { runner.run("subnet-down", extra: ["SUBNET": "10.0.\(i).0/24"]) }
        runner.drain()
        XCTAssertFalse(runner.busy)
        XCTAssertEqual(dir.events, ["10.0.0.0/24"])   // the running one finishes; three are skipped
        XCTAssertEqual(runner.counters.dropped, 3)
        XCTAssertTrue(log.contains("Not running 3 queued script(s) (first: subnet-down)"), "\(log.messages)")
    }

    /// The child starts with no blocked and no ignored signals even though the daemon blocks its signals
    /// (signalfd) and ignores SIGPIPE; a script without #! runs through /bin/sh.
    func testChildSignalStateIsClean() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        let p = dir.path + "/tinc-up"
        _ = FileManager.default.createFile(atPath: p, contents: Data("grep -E '^Sig(Blk|Ign)' /proc/self/status > \(dir.path)/events\n".utf8))
        chmod(p, 0o755)
        // What the daemon does: block signals for signalfd, ignore SIGPIPE.
        var set = sigset_t(), old = sigset_t()
        sigemptyset(&set)
        for s in [SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, &old)
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil); signal(SIGPIPE, oldPipe) }
        let loop = try EventLoop()
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:], loop: loop)
        XCTAssertTrue(runner.runAndWait("tinc-up"))
        let lines = dir.events
        XCTAssertEqual(lines.count, 2, "\(lines)")
        for l in lines {
            let value = l.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
            XCTAssertEqual(value, "0000000000000000", l)
        }
    }

    /// Peer strings reach scripts escaped: no newline, NUL or escape sequence; odd names are left out.
    func testEnvironmentValuesAreEscaped() throws {
        let dir = ScriptDir()
        defer { dir.remove() }
        dir.script("host-up", "printf '%s|%s|%s\\n' \"$REMOTEADDRESS\" \"$REMOTEPORT\" \"${BAD_NAME-unset}\" > \(dir.path)/events; env | grep -c '^x=' >> \(dir.path)/events || true")
        let runner = ScriptRunner(confDir: dir.path, interpreter: nil, baseEnvironment: [:])   // no loop: synchronous
        XCTAssertTrue(runner.run("host-up", extra: ["REMOTEADDRESS": "10.0.0.1\nINJECTED=1", "REMOTEPORT": "65\u{1B}[31m5\u{0}x",
                                                     "BAD NAME": "1", "x=y": "2"]))
        XCTAssertEqual(dir.events.first, #"10.0.0.1\x0AINJECTED=1|65\x1B[31m5\x00x|unset"#)
        XCTAssertEqual(dir.events.last, "0")
        let env = ScriptRunner.environmentStrings(ours: ["A": "a\u{7F}b", "_ok9": "\u{202E}x", "9no": "1", "": "2"])
        XCTAssertEqual(env, [#"A=a\x7Fb"#, #"_ok9=\u{202E}x"#])
        // The operator's environment passes as it is (multi-line values, exported shell functions); ours wins.
        let mixed = ScriptRunner.environmentStrings(inherited: ["BASH_FUNC_f%%": "() { :\n}", "NODE": "stale"],
                                                    ours: ["NODE": "n1"])
        XCTAssertEqual(mixed, ["BASH_FUNC_f%%=() { :\n}", "NODE=n1"])
    }
}
