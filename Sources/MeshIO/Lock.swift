import Glibc

/// A mutex for state shared between threads, built on a heap-allocated pthread mutex.
///
/// Not `Synchronization.Mutex`: on Linux that one parks on raw futexes, which ThreadSanitizer cannot
/// see, so every access it protects is reported as a race and real races drown in the noise.
/// pthread_mutex_lock is intercepted by TSan, and the mutex lives at a stable address (never a
/// stored `pthread_mutex_t` in a Swift field, whose address Swift does not guarantee).
public final class Lock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deinitialize(count: 1)
        m.deallocate()
    }

    @inline(__always)
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// A value guarded by a `Lock`.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = Lock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        try lock.withLock { try body(&value) }
    }
}
