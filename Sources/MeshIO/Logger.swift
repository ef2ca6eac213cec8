import Glibc
import Synchronization

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

    /// The debug level; read on every log call from any thread, set by the control thread.
    public static var level: Int {
        get { currentLevel.load(ordering: .relaxed) }
        set { currentLevel.store(newValue, ordering: .relaxed) }
    }
    private static let currentLevel = Atomic<Int>(0)
    nonisolated(unsafe) private static var sink: Sink = .stderr
    nonisolated(unsafe) private static var ident = "tinc"
    nonisolated(unsafe) private static var file: UnsafeMutablePointer<FILE>?
    /// Serialises sink changes and writes (sink, ident, file, observer are only touched under it).
    private static let lock = Lock()
    /// Optional extra observer (the control socket's `log` stream, tests).
    nonisolated(unsafe) public static var observer: ((String) -> Void)?

    public static func configure(sink: Sink, ident: String) {
        lock.withLock { configureLocked(sink: sink, ident: ident) }
    }

    private static func configureLocked(sink: Sink, ident: String) {
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
        lock.withLock { if case .file = sink { configureLocked(sink: sink, ident: ident) } }
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

    /// The longest message a sink gets; a longer one (a garbage line from a peer in an error) is cut.
    public static let maxMessageBytes = 8192

    private static func write(_ prio: Priority, _ raw: String) {
        // Every message is one line of printable text whatever a peer put into it (see `escape`).
        let message = escape(raw, limit: maxMessageBytes)
        lock.withLock { writeLocked(prio, message) }
    }

    private static func writeLocked(_ prio: Priority, _ message: String) {
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

extension Log {
    /// Text from a peer (a request line, an address, a BGP string) made safe for a log line or a script
    /// environment: C0 controls (newline, ESC, NUL ...), DEL and C1 controls become `\xNN`; Unicode line and
    /// paragraph separators and bidirectional overrides become `\u{NNNN}`. Other text, backslashes
    /// included, stays as it is, so escaping twice changes nothing. Longer than `limit` UTF-8 bytes: cut at
    /// a character boundary and marked with how much was left out.
    public static func escape<S: StringProtocol>(_ text: S, limit: Int = 512) -> String {
        let utf8 = text.utf8
        if utf8.count <= limit && utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(text) }
        var out = ""
        out.reserveCapacity(min(utf8.count, limit) + 16)
        var used = 0
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let piece: String
            if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) {
                piece = "\\x" + hex(v, digits: 2)
            } else if v == 0x2028 || v == 0x2029 || v == 0x061C || v == 0x200E || v == 0x200F
                        || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) {
                piece = "\\u{" + hex(v, digits: 4) + "}"
            } else {
                piece = String(Character(scalar))
            }
            let n = piece.utf8.count
            if used + n > limit {
                out += "...(cut, \(utf8.count) bytes in all)"
                return out
            }
            out += piece
            used += n
        }
        return out
    }

    private static func hex(_ v: UInt32, digits: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return s.count >= digits ? s : String(repeating: "0", count: digits - s.count) + s
    }
}
