import Glibc
import CNetShim

/// A single-threaded epoll reactor: file descriptor readiness, timers, signals and cross-thread posts.
/// The control plane (meta connections, gossip, BGP sessions, the control socket) runs on one of these;
/// everything registered with it is touched only from its thread, so no locks are needed there.
public final class EventLoop {
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
        handlers[fd] = handler
        var ev = epoll_event()
        ev.events = epollEvents(events)
        ev.data.fd = fd
        if epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST {
            _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
        }
    }

    public func modify(_ fd: Int32, events: Events) {
        var ev = epoll_event()
        ev.events = epollEvents(events)
        ev.data.fd = fd
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    public func unregister(_ fd: Int32) {
        handlers[fd] = nil
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil)
    }

    @discardableResult
    public func schedule(after seconds: Double, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timers[id] = Timer(deadline: now + max(0, seconds), action: action)
        return id
    }

    public func cancel(_ id: TimerID?) {
        if let id = id { timers[id] = nil }
    }

    /// Runs every pending timer now (tinc's SIGALRM "flush event queue").
    public func fireAllTimers() {
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

    public func stop() { running = false }

    public func run() {
        running = true
        var events = [epoll_event](repeating: epoll_event(), count: 128)
        while running {
            runDueTimers()
            var timeout: Int32 = 1000
            if let next = timers.values.map(\.deadline).min() {
                timeout = Int32(max(0, min(1000, (next - now) * 1000 + 1)))
            }
            let n = epoll_wait(epfd, &events, Int32(events.count), timeout)
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
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
        }
    }

    private func runDueTimers() {
        let t = now
        let due = timers.filter { $0.value.deadline <= t }.sorted { $0.value.deadline < $1.value.deadline }
        for (id, timer) in due {
            guard timers[id] != nil else { continue }   // cancelled by an earlier timer in this round
            timers[id] = nil
            timer.action()
        }
    }
}
