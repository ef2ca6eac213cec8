import Glibc
import CNetShim

/// A multi-producer, single-consumer queue that wakes its consumer's epoll loop through an eventfd.
/// Producers append under a mutex; the consumer swaps the whole array out in one step per batch.
final class Mailbox<T> {
    let fd: Int32
    private var lock = pthread_mutex_t()
    private var items: [T] = []

    init() {
        fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        pthread_mutex_init(&lock, nil)
    }

    deinit { close(fd) }

    func post(_ item: T) {
        pthread_mutex_lock(&lock)
        items.append(item)
        let wasEmpty = items.count == 1
        pthread_mutex_unlock(&lock)
        if wasEmpty { var one: UInt64 = 1; _ = write(fd, &one, 8) }
    }

    func post(contentsOf batch: [T]) {
        guard !batch.isEmpty else { return }
        pthread_mutex_lock(&lock)
        let wasEmpty = items.isEmpty
        items.append(contentsOf: batch)
        pthread_mutex_unlock(&lock)
        if wasEmpty { var one: UInt64 = 1; _ = write(fd, &one, 8) }
    }

    /// Takes everything queued (consumer thread only).
    func drain() -> [T] {
        var v: UInt64 = 0
        _ = read(fd, &v, 8)
        pthread_mutex_lock(&lock)
        let out = items
        items.removeAll(keepingCapacity: true)
        pthread_mutex_unlock(&lock)
        return out
    }
}

/// A value shared between threads by reference swap (the forwarding snapshot).
final class Published<T: AnyObject> {
    private var lock = pthread_mutex_t()
    private var value: T

    init(_ v: T) {
        value = v
        pthread_mutex_init(&lock, nil)
    }

    func load() -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return value
    }

    func store(_ v: T) {
        pthread_mutex_lock(&lock)
        value = v
        pthread_mutex_unlock(&lock)
    }
}
