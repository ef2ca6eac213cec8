import Glibc

/// The standard `process_*` series every Prometheus client library exports, read from procfs on
/// each scrape (names, units and types as client_golang's process collector): CPU time, memory,
/// file descriptors, start time and threads.
public struct ProcessMetrics: Equatable, Sendable {
    public var cpuSeconds: Double
    public var residentBytes: Double
    public var virtualBytes: Double
    public var openFDs: Int
    public var maxFDs: Int
    /// Unix time the process started.
    public var startTime: Double
    public var threads: Int

    /// Reads `/proc/self` (or another process directory, for tests); nil when procfs cannot be read.
    public static func read(process dir: String = "/proc/self", proc root: String = "/proc") -> ProcessMetrics? {
        guard let stat = readText(dir + "/stat"), let fields = statFields(stat),
              let btime = readText(root + "/stat").flatMap(bootTime) else { return nil }
        let ticks = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let page = Double(max(1, sysconf(Int32(_SC_PAGESIZE))))
        // Fields after "(comm)", counted from 0 = field 3 (state) of proc(5).
        func f(_ i: Int) -> Double? { i < fields.count ? Double(fields[i]) : nil }
        guard let utime = f(11), let stime = f(12), let threads = f(17), let start = f(19), let vsize = f(20),
              let rss = f(21) else { return nil }
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0
            ? (limit.rlim_cur == rlim_t.max ? -1 : Int(clamping: limit.rlim_cur)) : -1
        return ProcessMetrics(cpuSeconds: (utime + stime) / ticks, residentBytes: rss * page, virtualBytes: vsize,
                              openFDs: countEntries(dir + "/fd"), maxFDs: maxFDs, startTime: btime + start / ticks,
                              threads: Int(threads))
    }

    /// The fields of /proc/PID/stat after the command name (which may itself hold spaces and parentheses).
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    }

    /// `btime` of /proc/stat: the boot time in Unix seconds.
    static func bootTime(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: " "))
        }
        return nil
    }

    /// Prometheus text exposition of these values, families in name order.
    public var exposition: String {
        var s = ""
        func family(_ name: String, _ type: String, _ help: String, _ value: String) {
            s += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", format(cpuSeconds))
        if maxFDs >= 0 { family("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(maxFDs)") }
        family("process_open_fds", "gauge", "Number of open file descriptors.", "\(openFDs)")
        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", format(residentBytes))
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", format(startTime))
        family("process_threads", "gauge", "Number of OS threads in the process.", "\(threads)")
        family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", format(virtualBytes))
        return s
    }

    /// Whole numbers without a fraction, others with up to 3 decimals (Prometheus parses both).
    private func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String((v * 1000).rounded() / 1000)
    }

    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 20 {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Directory entries other than . and .. (open descriptors under /proc/PID/fd, the one used to
    /// list them included, as other clients count).
    private static func countEntries(_ path: String) -> Int {
        guard let d = opendir(path) else { return -1 }
        defer { closedir(d) }
        var n = 0
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { n += 1 }
        }
        return n
    }
}

private extension Substring {
    func trimmingCharacters(in c: Character) -> Substring {
        var s = self
        while s.first == c { s = s.dropFirst() }
        while s.last == c { s = s.dropLast() }
        return s
    }
}
