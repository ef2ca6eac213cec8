import Glibc

/// Process-wide logger with tinc's debug levels (0 errors/starts … 5 traffic … 10 scary) and tinc's
/// three sinks: stderr (foreground), a log file (`--logfile`), or syslog (daemon default).
public enum Log {
    public enum Sink { case stderr, file(String), syslog(ident: String) }

    public enum Priority: Int32 {
        case error = 3, warning = 4, notice = 5, info = 6, debug = 7
        var tag: String {
            switch self { case .error: return "Error"; case .warning: return "Warning"; case .notice: return "Notice"; case .info: return "Info"; case .debug: return "Debug" }
        }
    }

    // Debug levels as tinc names them.
    public static let always = 0, connections = 1, status = 2, protocol_ = 3, meta = 4, traffic = 5, packets = 6, scary = 10

    nonisolated(unsafe) public static var level = 0
    nonisolated(unsafe) private static var sink: Sink = .stderr
    nonisolated(unsafe) private static var ident = "tinc"
    nonisolated(unsafe) private static var file: UnsafeMutablePointer<FILE>?
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    nonisolated(unsafe) private static var lockReady = false
    /// Optional extra observer (the control socket's `log` stream, tests).
    nonisolated(unsafe) public static var observer: ((String) -> Void)?

    public static func configure(sink: Sink, ident: String) {
        if !lockReady { pthread_mutex_init(&lock, nil); lockReady = true }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let f = file { fclose(f); file = nil }
        Log.sink = sink
        Log.ident = ident
        switch sink {
        case .file(let path):
            file = fopen(path, "a")
            if file == nil { Log.sink = .stderr }
        case .syslog(let id):
            openlog(strdup(id), LOG_CONS | LOG_PID, LOG_DAEMON)
        case .stderr:
            break
        }
    }

    /// Re-opens the log file (SIGHUP, for logrotate).
    public static func reopen() {
        if case .file = sink { configure(sink: sink, ident: ident) }
    }

    @inline(__always)
    public static func enabled(_ lvl: Int) -> Bool { level >= lvl }

    public static func log(_ lvl: Int, _ prio: Priority, _ message: @autoclosure () -> String) {
        guard level >= lvl else { return }
        write(prio, message())
    }

    public static func error(_ m: @autoclosure () -> String) { write(.error, m()) }
    public static func warning(_ m: @autoclosure () -> String) { write(.warning, m()) }
    public static func notice(_ m: @autoclosure () -> String) { write(.notice, m()) }
    public static func info(_ lvl: Int, _ m: @autoclosure () -> String) { if level >= lvl { write(.info, m()) } }
    public static func debug(_ lvl: Int, _ m: @autoclosure () -> String) { if level >= lvl { write(.debug, m()) } }

    private static func write(_ prio: Priority, _ message: String) {
        if !lockReady { pthread_mutex_init(&lock, nil); lockReady = true }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        observer?(message)
        switch sink {
        case .stderr:
            fputs(message + "\n", stderr)
        case .file:
            guard let f = file else { return }
            var t = time(nil)
            var tmv = tm()
            localtime_r(&t, &tmv)
            var buf = [CChar](repeating: 0, count: 32)
            strftime(&buf, 32, "%Y-%m-%d %H:%M:%S", &tmv)
            fputs("\(String(cString: buf)) \(ident)[\(getpid())]: \(message)\n", f)
            fflush(f)
        case .syslog:
            message.withCString { withVaList([$0]) { vsyslog(prio.rawValue, "%s", $0) } }
        }
    }
}
