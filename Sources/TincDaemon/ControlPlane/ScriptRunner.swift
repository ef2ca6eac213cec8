import Glibc
import MeshIO
import CNetShim

/// Runs tinc's hook scripts (`tinc-up`, `host-up`, `subnet-up`, …) from the config directory.
///
/// tinc 1.0 runs every script synchronously. Here only `tinc-up` and `tinc-down` are waited for
/// (`runAndWait`: interfaces must be configured before the daemon goes on, and torn down before it
/// exits). The event scripts (`run`) go through one FIFO queue and run one at a time, so a node's
/// `subnet-up` never overtakes its `host-up`, but the loop that also carries BGP keepalives and BFD
/// never waits for them: a script is started with posix_spawn and reaped when its pidfd becomes
/// readable. The queue is bounded and each script has a timeout, after which its process group gets
/// SIGTERM and, if it is still there after a grace period, SIGKILL. When the queue is full (a
/// flapping mesh), queued `-up` scripts whose matching `-down` is queued behind them are cancelled in
/// pairs first, since running both leaves the same state as running neither; only then is a script
/// skipped, with a log line.
public final class ScriptRunner {
    public struct Limits {
        /// Scripts waiting behind the running one.
        public var maxQueued = 1000
        /// Seconds an event script may run before it gets SIGTERM.
        public var timeout: Double = 30
        /// Seconds between SIGTERM and SIGKILL.
        public var killGrace: Double = 5
        public init() {}
    }

    public struct Counters: Equatable {
        public var started = 0
        public var failed = 0
        public var timedOut = 0
        public var dropped = 0
        /// Scripts not run because the queue was full and each was undone by a later one
        /// (`subnet-up` then `subnet-down` for the same node and subnet): counted per script.
        public var coalesced = 0
    }

    let confDir: String
    let interpreter: String?
    var baseEnvironment: [String: String]
    private let loop: EventLoop?
    public var limits: Limits
    public private(set) var counters = Counters()
    /// Called on the loop thread when a queued script has finished: (name, exit status or 128+signal).
    var onFinish: ((String, Int32) -> Void)?

    private struct Job {
        var name: String
        var argv: [String]
        var environment: [String]
        /// For `X-up` / `X-down` event scripts: what they are about (script base name, NODE,
        /// SUBNET), so a queued up can be cancelled against a later down.
        var pair: (key: String, up: Bool)? = nil
    }

    private final class Running {
        let job: Job
        let pid: pid_t
        let started: Double
        var pidfd: Int32 = -1
        var pollTimer: EventLoop.TimerID?
        var timeoutTimer: EventLoop.TimerID?
        var killTimer: EventLoop.TimerID?
        init(job: Job, pid: pid_t, started: Double) { self.job = job; self.pid = pid; self.started = started }
    }

    private var queue: [Job] = []
    private var queueHead = 0
    private var running: Running?
    private var droppedInEpisode = 0

    /// - Parameter loop: where event scripts are reaped; without one every script runs synchronously.
    public init(confDir: String, interpreter: String?, baseEnvironment: [String: String], loop: EventLoop? = nil,
                limits: Limits = Limits()) {
        self.confDir = confDir
        self.interpreter = interpreter
        self.baseEnvironment = baseEnvironment
        self.loop = loop
        self.limits = limits
    }

    /// Scripts waiting (not counting the running one).
    public var queued: Int { queue.count - queueHead }
    /// True while a script runs or waits.
    public var busy: Bool { running != nil || queued > 0 }

    /// Queues `<confdir>/<name>` if it exists (runs it at once if nothing else runs). Returns false when
    /// the queue was full and the script was skipped. Without a loop: runs it and waits, returns false
    /// when it failed.
    @discardableResult
    public func run(_ name: String, extra: [String: String] = [:]) -> Bool {
        guard let job = makeJob(name, extra: extra) else { return true }
        return enqueue(job)
    }

    private func enqueue(_ job: Job) -> Bool {
        guard loop != nil else { return runSynchronously(job, timeout: limits.timeout) }
        if queued >= limits.maxQueued {
            queue.append(job)
            let cancelled = cancelPairs()
            if cancelled > 0 {
                Log.warning("Script queue is full: cancelled \(cancelled) queued scripts that later ones undo (an -up with its -down)")
            }
            if queued <= limits.maxQueued {
                startNext()
                return true
            }
            queue.removeLast()
            counters.dropped += 1
            droppedInEpisode += 1
            if droppedInEpisode == 1 {
                Log.error("Script queue is full (\(queued) waiting behind \(running?.job.name ?? "nothing")): not running \(job.name); further skipped scripts are counted")
            }
            return false
        }
        queue.append(job)
        startNext()
        return true
    }

    /// Queues a shell command line (`GraphDumpFile = |command`) that reads `inputFile` on its stdin.
    /// It runs like an event script: in the FIFO behind queued scripts, with the same timeout, never
    /// waited for on the loop (tinc 1.0 uses popen and blocks until the command exits). The file is
    /// unlinked once the command's shell has opened it, or here when the queue was full.
    /// Returns false when the queue was full.
    @discardableResult
    public func runCommand(_ name: String, command: String, inputFile: String) -> Bool {
        // "$1" is the file, so a command line with quotes or `$` needs no escaping: it is the script.
        let script = "exec <\"$1\" && rm -f -- \"$1\" && shift && " + command
        let job = Job(name: name, argv: ["/bin/sh", "-c", script, "sh", inputFile],
                      environment: ScriptRunner.environmentStrings(inherited: ProcessEnvironment.current, ours: baseEnvironment))
        if enqueue(job) { return true }
        unlink(inputFile)
        return false
    }

    /// Runs `<confdir>/<name>` if it exists and waits for it, after every queued script has finished
    /// (so `tinc-down` follows the `subnet-down` scripts before it). No timeout for this script, as in tinc.
    /// Returns false when it ran and failed.
    @discardableResult
    public func runAndWait(_ name: String, extra: [String: String] = [:]) -> Bool {
        drain()
        guard let job = makeJob(name, extra: extra) else { return true }
        return runSynchronously(job, timeout: nil)
    }

    /// Seconds `drain` spends on queued scripts before it skips the rest (a stop must not take
    /// 1000 × the script timeout).
    public var drainBudget: Double = 60

    /// Finishes the running script and the queued ones, blocking (shutdown; the loop no longer runs).
    /// Scripts still waiting after `drainBudget` seconds are skipped with a log line.
    public func drain() {
        let end = EventLoop.now() + drainBudget
        if let r = running {
            running = nil
            detach(r)
            finish(r, status: wait(r.pid, pidfd: r.pidfd, name: r.job.name, started: r.started, timeout: limits.timeout))
            if r.pidfd >= 0 { close(r.pidfd) }
        }
        while queued > 0 {
            if EventLoop.now() >= end {
                let n = queued
                counters.dropped += n
                Log.error("Not running \(n) queued script(s) (first: \(queue[queueHead].name)): \(Self.seconds(drainBudget)) spent waiting for scripts already")
                queue.removeAll()
                queueHead = 0
                break
            }
            let job = queue[queueHead]
            popHead()
            _ = runSynchronously(job, timeout: limits.timeout)
        }
    }

    // MARK: - Jobs

    private func makeJob(_ name: String, extra: [String: String]) -> Job? {
        let path = confDir + "/" + name
        guard access(path, F_OK) == 0 else { return nil }
        var ours = baseEnvironment
        for (k, v) in extra { ours[k] = v }
        let argv: [String] = interpreter.map { [$0, path] } ?? [path]
        var pair: (key: String, up: Bool)?
        for (suffix, up) in [("-up", true), ("-down", false)] where name.hasSuffix(suffix) {
            pair = (String(name.dropLast(suffix.count)) + "\u{0}" + (extra["NODE"] ?? "") + "\u{0}" + (extra["SUBNET"] ?? ""), up)
        }
        return Job(name: name, argv: argv,
                   environment: ScriptRunner.environmentStrings(inherited: ProcessEnvironment.current, ours: ours), pair: pair)
    }

    /// `NAME=value` strings for execve. The daemon's own environment (the operator's) passes unchanged;
    /// the variables we set (NODE, SUBNET, REMOTEADDRESS ... partly from peers) replace inherited ones,
    /// with names that are not shell identifiers left out and values escaped like log text (no NUL,
    /// newline or escape sequence from a peer's strings) and capped at 4 KiB.
    static func environmentStrings(inherited: [String: String] = [:], ours: [String: String]) -> [String] {
        var env = inherited
        for (k, v) in ours {
            guard isIdentifier(k) else { continue }
            env[k] = Log.escape(v, limit: 4096)
        }
        return env.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }
    }

    private static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.utf8.first, f == UInt8(ascii: "_") || (f | 0x20) >= UInt8(ascii: "a") && (f | 0x20) <= UInt8(ascii: "z") else { return false }
        return s.utf8.allSatisfy { c in
            c == UInt8(ascii: "_") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z"))
        }
    }

    /// Removes every queued `-up` script that a `-down` queued after it undoes, with that `-down`.
    /// Returns how many scripts were removed.
    private func cancelPairs() -> Int {
        var openUp: [String: Int] = [:]   // pair key -> index of the latest queued up not yet matched
        var cancel = [Bool](repeating: false, count: queue.count)
        var count = 0
        for i in queueHead..<queue.count {
            guard let p = queue[i].pair else { continue }
            if p.up {
                openUp[p.key] = i
            } else if let j = openUp.removeValue(forKey: p.key) {
                cancel[j] = true
                cancel[i] = true
                count += 2
            }
        }
        guard count > 0 else { return 0 }
        var kept: [Job] = []
        kept.reserveCapacity(queue.count - queueHead - count)
        for i in queueHead..<queue.count where !cancel[i] { kept.append(queue[i]) }
        queue = kept
        queueHead = 0
        counters.coalesced += count
        return count
    }

    private func popHead() {
        queueHead += 1
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= 4096)
            queueHead = 0
        } else if queueHead >= 1024 && queueHead * 2 >= queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    /// posix_spawn; a file that cannot be executed directly is tried through /bin/sh like system() would.
    private func spawn(_ job: Job) -> pid_t? {
        Log.info(Log.status, "Executing script \(job.name)")
        counters.started += 1
        var pid: pid_t = 0
        var rc = ProcessEnvironment.spawn(argv: job.argv, environment: job.environment, pid: &pid)
        if rc != 0 {
            let first = rc
            rc = ProcessEnvironment.spawn(argv: ["/bin/sh"] + job.argv, environment: job.environment, pid: &pid)
            if rc != 0 {
                counters.failed += 1
                Log.error("Could not execute script \(job.name): \(String(cString: strerror(first)))")
                return nil
            }
        }
        return pid
    }

    // MARK: - Asynchronous (event scripts)

    private func startNext() {
        guard let loop = loop else { return }
        while running == nil && queued > 0 {
            let job = queue[queueHead]
            popHead()
            guard let pid = spawn(job) else { continue }
            if droppedInEpisode > 0 {
                Log.warning("Script queue: \(droppedInEpisode) script(s) were skipped because the queue was full")
                droppedInEpisode = 0
            }
            let r = Running(job: job, pid: pid, started: loop.now)
            running = r
            let fd = cns_pidfd_open(pid)
            if fd >= 0 {
                r.pidfd = fd
                loop.register(fd, events: .readable) { [weak self, weak r] _ in
                    guard let self = self, let r = r else { return }
                    self.poll(r)
                }
            } else {
                schedulePoll(r)   // no pidfd (kernel < 5.3): look every 20 ms
            }
            r.timeoutTimer = loop.schedule(after: limits.timeout) { [weak self, weak r] in
                guard let self = self, let r = r, self.running === r else { return }
                r.timeoutTimer = nil
                self.counters.timedOut += 1
                Log.error("Script \(r.job.name) (pid \(r.pid)) still runs after \(Self.seconds(self.limits.timeout)): sending SIGTERM to its process group")
                kill(-r.pid, SIGTERM)
                r.killTimer = loop.schedule(after: self.limits.killGrace) { [weak self, weak r] in
                    guard let self = self, let r = r, self.running === r else { return }
                    r.killTimer = nil
                    Log.error("Script \(r.job.name) (pid \(r.pid)) ignored SIGTERM for \(Self.seconds(self.limits.killGrace)): sending SIGKILL")
                    kill(-r.pid, SIGKILL)
                }
            }
            // The child may already be gone (a script that exits at once): the pidfd is then readable at the next wakeup.
        }
    }

    private func schedulePoll(_ r: Running) {
        r.pollTimer = loop?.schedule(after: 0.02) { [weak self, weak r] in
            guard let self = self, let r = r else { return }
            r.pollTimer = nil
            self.poll(r)
            if self.running === r { self.schedulePoll(r) }
        }
    }

    private func poll(_ r: Running) {
        guard running === r else { return }
        var status: Int32 = 0
        let got = cns_reap(r.pid, 0, &status)
        if got == 0 { return }
        if got < 0 { status = -1; Log.error("Script \(r.job.name) (pid \(r.pid)): waitpid: \(String(cString: strerror(-got)))") }
        running = nil
        detach(r)
        if r.pidfd >= 0 { close(r.pidfd); r.pidfd = -1 }
        finish(r, status: status)
        onFinish?(r.job.name, status)
        startNext()
    }

    private func detach(_ r: Running) {
        if r.pidfd >= 0 { loop?.unregister(r.pidfd) }
        loop?.cancel(r.pollTimer)
        loop?.cancel(r.timeoutTimer)
        loop?.cancel(r.killTimer)
        r.pollTimer = nil; r.timeoutTimer = nil; r.killTimer = nil
    }

    private func finish(_ r: Running, status: Int32) {
        report(r.job.name, status: status, seconds: EventLoop.now() - r.started)
    }

    private func report(_ name: String, status: Int32, seconds: Double) {
        if status != 0 {
            counters.failed += 1
            if status > 128 && status < 128 + 65 {
                Log.error("Script \(name) was killed by signal \(status - 128) after \(Self.seconds(seconds))")
            } else {
                Log.error("Script \(name) exited with non-zero status \(status)")
            }
        } else {
            Log.info(Log.status, "Script \(name) exited with status 0 after \(Self.seconds(seconds))")
        }
    }

    static func seconds(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        return "\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst()) s"
    }

    // MARK: - Synchronous (tinc-up, tinc-down, no loop, shutdown)

    private func runSynchronously(_ job: Job, timeout: Double?) -> Bool {
        let started = EventLoop.now()
        guard let pid = spawn(job) else { return false }
        let fd = cns_pidfd_open(pid)
        defer { if fd >= 0 { close(fd) } }
        let status = wait(pid, pidfd: fd, name: job.name, started: started, timeout: timeout)
        report(job.name, status: status, seconds: EventLoop.now() - started)
        return status == 0
    }

    /// Blocks until `pid` exits; after `timeout` its process group gets SIGTERM, after the grace SIGKILL.
    private func wait(_ pid: pid_t, pidfd: Int32, name: String, started: Double, timeout: Double?) -> Int32 {
        var status: Int32 = 0
        var termSent = false, killSent = false
        while true {
            let got = cns_reap(pid, 0, &status)
            if got > 0 { return status }
            if got < 0 {
                Log.error("Script \(name) (pid \(pid)): waitpid: \(String(cString: strerror(-got)))")
                return -1
            }
            let now = EventLoop.now()
            var waitFor = 1.0
            if let t = timeout {
                if !termSent && now - started >= t {
                    termSent = true
                    counters.timedOut += 1
                    Log.error("Script \(name) (pid \(pid)) still runs after \(Self.seconds(t)): sending SIGTERM to its process group")
                    kill(-pid, SIGTERM)
                } else if termSent && !killSent && now - started >= t + limits.killGrace {
                    killSent = true
                    Log.error("Script \(name) (pid \(pid)) ignored SIGTERM for \(Self.seconds(limits.killGrace)): sending SIGKILL")
                    kill(-pid, SIGKILL)
                }
                let next = killSent ? 1.0 : (termSent ? t + limits.killGrace : t) - (now - started)
                waitFor = max(0.001, min(1.0, next))
            }
            if pidfd >= 0 {
                var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = Glibc.poll(&p, 1, Int32(waitFor * 1000) + 1)
            } else {
                usleep(UInt32(min(waitFor, 0.02) * 1_000_000))
            }
        }
    }
}

enum ProcessEnvironment {
    static var current: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let e = p.pointee {
            let s = String(cString: e)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// posix_spawn with an empty signal mask, default signal dispositions and its own process group.
    /// Returns 0 or the errno.
    static func spawn(argv: [String], environment: [String], pid: inout pid_t) -> Int32 {
        guard let path = argv.first else { return EINVAL }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        return cns_spawn(path, cArgs, cEnv, &pid)
    }
}
