// A NetworkDevice backed by an AF_UNIX SOCK_SEQPACKET socketpair: the daemon reads and writes one
// end, the test the other. SEQPACKET keeps frame boundaries, so one write is one frame either way;
// no virtio header, no offloads. Frames are whole Ethernet frames in both directions (what a TAP
// device carries; the TUN header synthesis of TunTapDevice is not imitated).
#if DEBUG || FUZZ_BUILD
import Glibc
import TunTap

public final class SocketPairDevice: NetworkDevice, @unchecked Sendable {
    public let type: DeviceType
    public let path = "socketpair"
    public let interface: String
    /// The daemon's end (nonblocking; the TX worker polls it).
    public let fd: Int32
    /// The test's end (blocking; reads wait through poll with a timeout).
    public let testFD: Int32
    private var daemonEndOpen = true

    public init(type: DeviceType, interface: String) throws {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else {
            throw LiveMeshError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        self.type = type
        self.interface = interface
        fd = fds[0]
        testFD = fds[1]
    }

    deinit {
        close()
        Glibc.close(testFD)
    }

    // MARK: daemon side (NetworkDevice)

    public func read(into buf: UnsafeMutableRawBufferPointer) -> Int {
        let n = recv(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT))
        if n < 0 { return errno == EAGAIN || errno == EINTR ? 0 : -1 }
        return n
    }

    public func write(_ frame: UnsafeRawBufferPointer) -> Bool {
        send(fd, frame.baseAddress, frame.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) == frame.count
    }

    /// Called once at shutdown, after the data-plane threads have stopped.
    public func close() {
        if daemonEndOpen { daemonEndOpen = false; Glibc.close(fd) }
    }

    // MARK: test side

    /// Hands the daemon one frame as if the kernel had routed it into the interface.
    @discardableResult
    public func inject(_ frame: [UInt8]) -> Bool {
        frame.withUnsafeBytes { send(testFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == frame.count
    }

    /// The next frame the daemon wrote to the device, or nil if none came within `timeout` seconds.
    public func receive(timeout: Double) -> [UInt8]? {
        var p = pollfd(fd: testFD, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(testFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n >= 0 else { return nil }
        return Array(buf[0..<n])
    }

    /// Every frame the daemon wrote within `timeout` seconds (waits the whole time).
    public func receiveAll(during timeout: Double) -> [[UInt8]] {
        let end = monotonicNow() + timeout
        var out: [[UInt8]] = []
        while true {
            let left = end - monotonicNow()
            guard left > 0 else { break }
            if let f = receive(timeout: left) { out.append(f) }
        }
        return out
    }

    /// Discards frames already written by the daemon.
    public func drain() {
        while receive(timeout: 0) != nil {}
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
#endif
