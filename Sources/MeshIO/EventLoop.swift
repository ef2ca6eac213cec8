import Glibc
import CNetShim
import Synchronization

/// A single-threaded epoll reactor: file descriptor readiness, timers, signals and cross-thread posts.
/// The control plane (meta connections, gossip, BGP sessions, the control socket) runs on one of these;
/// everything registered with it is touched only from its thread, so no locks are needed there.
///
/// Sendable by contract, not by construction: `post` is the only method other threads may call (it
/// goes through a lock and the eventfd); everything else belongs to the loop thread once `run()` has
/// started, which `preconditionInLoop()` checks in debug builds. Before `run()` the thread that
/// builds the daemon (or a test driving it without a running loop) owns it.
public final class EventLoop: @unchecked Sendable {
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: 1)
        public static let writable = Events(rawValue: 2)
        public static let error = Events(rawValue: 4)
    }

    public typealias TimerID = Int

    private struct Timer {
        var deadline: Double
        var action: () -> Void
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private var handlers: [Int32: (Events) -> Void] = [:]
    private var timers: [TimerID: Timer] = [:]
    private var nextTimerID = 1
    private var running = false
    /// Work posted from other threads (the data-plane workers), run on the loop thread.
    private let posted = Locked<[() -> Void]>([])
    /// pthread_self() of the thread inside `run()`, 0 while none is (atomic: read by `preconditionInLoop`
    /// from any thread that calls in by mistake).
    private let owner = Atomic<UInt>(0)
    private var signalFD: Int32 = -1
    private var signalHandler: ((Int32) -> Void)?

    public init() throws {
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epfd >= 0 else { throw SystemError("epoll_create1") }
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SystemError("eventfd") }
        register(wakeFD, events: .readable) { [unowned self] _ in
            var v: UInt64 = 0
            _ = read(self.wakeFD, &v, 8)
            self.drainPosted()
        }
    }

    deinit {
        close(epfd)
        close(wakeFD)
        if signalFD >= 0 { close(signalFD) }
    }

    /// Monotonic seconds.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Tests: a virtual clock for this loop's timers (`now`); nil means the monotonic clock.
    public var clock: (() -> Double)?

    public var now: Double { clock?() ?? EventLoop.now() }

    /// Tests driving the loop by hand (with `clock`): the earliest timer deadline, running the due
    /// timers, and delivering readiness to the handler registered for `fd` (false if there is none).
    public var nextTimerDeadline: Double? { timers.values.map(\.deadline).min() }
    public func runTimersDue() { runDueTimers() }
    @discardableResult
    public func dispatch(_ fd: Int32, _ events: Events) -> Bool {
        guard let h = handlers[fd] else { return false }
        h(events)
        return true
    }
    public func isRegistered(_ fd: Int32) -> Bool { handlers[fd] != nil }

    private func epollEvents(_ e: Events) -> UInt32 {
        var v: UInt32 = 0
        if e.contains(.readable) { v |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if e.contains(.writable) { v |= EPOLLOUT.rawValue }
        return v
    }

    public func register(_ fd: Int32, events: Events, handler: @escaping (Events) -> Void) {
        preconditionInLoop()
        handlers[fd] = handler
        var ev = epoll_event()
        ev.events = epollEvents(events)
        ev.data.fd = fd
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST {
            _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
        }
    }

    public func modify(_ fd: Int32, events: Events) {
        preconditionInLoop()
        var ev = epoll_event()
        ev.events = epollEvents(events)
        ev.data.fd = fd
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    public func unregister(_ fd: Int32) {
        preconditionInLoop()
        handlers[fd] = nil
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
    }

    @discardableResult
    public func schedule(after seconds: Double, _ action: @escaping () -> Void) -> TimerID {
        preconditionInLoop()
        let id = nextTimerID
        nextTimerID += 1
        timers[id] = Timer(deadline: now + max(0, seconds), action: action)
        return id
    }

    public func cancel(_ id: TimerID?) {
        preconditionInLoop()
        if let id = id { timers[id] = nil }
    }

    /// Runs every pending timer now (tinc's SIGALRM "flush event queue").
    public func fireAllTimers() {
        preconditionInLoop()
        let t = now
        for id in timers.keys { timers[id]?.deadline = t }
    }

    /// Delivers the given signals to `handler` on the loop thread (signalfd; the signals are blocked for the process).
    public func handleSignals(_ signals: [Int32], handler: @escaping (Int32) -> Void) throws {
        let fd = signals.withUnsafeBufferPointer { cns_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw SystemError("signalfd", errno: -fd) }
        signalFD = fd
        signalHandler = handler
        register(fd, events: .readable) { [unowned self] _ in
            while true {
                let s = cns_signalfd_read(self.signalFD)
                if s <= 0 { break }
                self.signalHandler?(s)
            }
        }
    }

    /// Thread-safe: runs `action` on the loop thread soon.
    public func post(_ action: @escaping () -> Void) {
        posted.withLock { $0.append(action) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func drainPosted() {
        let work = posted.withLock { p -> [() -> Void] in
            let w = p
            p.removeAll()
            return w
        }
        for w in work { w() }
    }

    public func stop() {
        preconditionInLoop()
        running = false
    }

    /// True on the loop thread while `run()` runs, and on any thread while the loop is not running
    /// (set-up before `run()`, tests that drive the daemon without a loop).
    public var inLoopOrIdle: Bool {
        let o = owner.load(ordering: .acquiring)
        return o == 0 || pthread_equal(o, pthread_self()) != 0
    }

    /// Debug builds trap when control-loop state is touched from another thread (a data-plane worker
    /// calling in instead of posting). Release builds check nothing.
    @inline(__always)
    public func preconditionInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoopOrIdle, "EventLoop state touched off the loop thread", file: file, line: line)
    }

    public func run() {
        owner.store(pthread_self(), ordering: .releasing)
        defer { owner.store(0, ordering: .releasing) }
        running = true
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        while running {
            runDueTimers()
            var timeout: Int32 = 1000
            if let next = timers.values.map(\.deadline).min() {
                timeout = Int32(max(0, min(1000, (next - now) * 1000 + 1)))
            }
            if waitAndDispatch(&events, timeoutMs: timeout) == nil { break }
        }
    }

    /// Tests driving the loop by hand (usually with `clock`): delivers the readiness of every
    /// descriptor that is ready now, waiting at most `maxWait` seconds of real time for the first
    /// (data on its way through the kernel), then runs the due timers. Posted work counts too (it
    /// arrives through the loop's eventfd). Returns the number of descriptors handled and timers run.
    @discardableResult
    public func runOnce(maxWait: Double = 0) -> Int {
        preconditionInLoop()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var n: Int?
        repeat { n = waitAndDispatch(&events, timeoutMs: Int32(max(0, min(maxWait, 60)) * 1000)) } while n == -1
        return max(0, n ?? 0) + runDueTimers()
    }

    /// One epoll_wait and the handlers of what it returned: their number, -1 when interrupted
    /// (EINTR), nil on failure.
    private func waitAndDispatch(_ events: inout [epoll_event], timeoutMs: Int32) -> Int? {
        let n = epoll_wait(epfd, &events, Int32(events.count), timeoutMs)
        if n < 0 { return errno == EINTR ? -1 : nil }
        for i in 0..<Int(n) {
            let fd = events[i].data.fd
            guard let h = handlers[fd] else { continue }
            var ev: Events = []
            let raw = events[i].events
            if raw & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0 { ev.insert(.readable) }
            if raw & EPOLLOUT.rawValue != 0 { ev.insert(.writable) }
            if raw & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { ev.insert(.error) }
            h(ev)
        }
        return Int(n)
    }

    @discardableResult
    private func runDueTimers() -> Int {
        preconditionInLoop()
        let t = now
        let due = timers.filter { $0.value.deadline <= t }.sorted { $0.value.deadline < $1.value.deadline }
        var ran = 0
        for (id, timer) in due {
            guard timers[id] != nil else { continue }   // cancelled by an earlier timer in this round
            timers[id] = nil
            timer.action()
            ran += 1
        }
        return ran
    }
}

/// A clock for tests (`loop.clock = manual.clock`): time moves only when told to.
public final class ManualClock: Sendable {
    private let time: Locked<Double>

    public init(start: Double = 1000) { time = Locked(start) }

    public var now: Double { time.withLock { $0 } }

    public func advance(by seconds: Double) { time.withLock { $0 += max(0, seconds) } }

    /// Moves the clock to `t` exactly (never back).
    public func advance(to t: Double) { time.withLock { $0 = max($0, t) } }

    /// The function to set as an EventLoop's `clock`.
    public var clock: () -> Double { { [self] in self.now } }
}

extension EventLoop {
    /// Tests on a `ManualClock` (set as this loop's `clock`): moves the clock forward by `seconds`,
    /// stopping at every timer deadline on the way, so each timer fires at its own virtual time and
    /// sees the effects of the ones before it. Ready descriptors are handled at every stop.
    public func advance(_ clock: ManualClock, by seconds: Double) {
        let end = clock.now + max(0, seconds)
        settle()
        while let next = nextTimerDeadline, next <= end {
            clock.advance(to: next)
            settle()
        }
        clock.advance(to: end)
        settle()
    }

    /// Tests: handles ready descriptors, posted work and due timers until a round finds nothing to
    /// do at the current (virtual) time; stops after `maxRounds` rounds (a timer that re-arms itself
    /// with no delay).
    public func settle(maxRounds: Int = 10_000) {
        for _ in 0..<maxRounds {
            if runOnce() == 0 { return }
        }
    }
}
