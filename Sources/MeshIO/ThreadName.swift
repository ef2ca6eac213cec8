import Glibc

/// Names the calling thread for the OS (`top -H`, `ps -L`, `/proc/PID/task/TID/comm`, perf, gdb).
/// Foundation's `Thread.name` on Linux does not reach the kernel when set before `start()`, so every
/// thread of the daemon looked like `tincd-swift`; an operator could not tell a busy TX worker from
/// the RX thread. Linux keeps at most 15 bytes; longer names are cut. Written through
/// /proc/thread-self/comm (prctl is variadic and pthread_setname_np is not in Swift's Glibc module).
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// The calling thread's name as the kernel has it ("" if /proc is not there).
    public static func current() -> String {
        let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return "" }
        return String(decoding: buf.prefix(n).prefix { $0 != 0x0A }, as: UTF8.self)
    }
}
