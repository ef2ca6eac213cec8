import Glibc
import Synchronization

/// Process-wide logger with tinc's debug levels (0 errors/starts … 5 traffic … 10 scary) and tinc's
/// three sinks: stderr (foreground), a log file (`--logfile`), or syslog (daemon default).
public enum Log {
    public enum Sink { case stderr, file(String), syslog(ident: String) }

    public enum Priority: Int32, Sendable {
        case error = 3, warning = 4, notice = 5, info = 6, debug = 7
        /// syslog's name for it (`ctl --json log`).
        public var name: String {
            switch self { case .error: return "err"; case .warning: return "warning"; case .notice: return "notice"; case .info: return "info"; case .debug: return "debug" }
        }
        var tag: String {
            switch self { case .error: return "Error"; case .warning: return "Warning"; case .notice: return "Notice"; case .info: return "Info"; case .debug: return "Debug" }
        }
    }

    // Debug levels as tinc names them.
    public static let always = 0, connections = 1, status = 2, protocol_ = 3, meta = 4, traffic = 5, packets = 6, scary = 10

    /// The debug level of the log sink; read on every log call from any thread, set by the control thread.
    public static var level: Int {
        get { currentLevel.load(ordering: .relaxed) }
        set {
            currentLevel.store(newValue, ordering: .relaxed)
            updateGate()
        }
    }
    private static let currentLevel = Atomic<Int>(0)
    /// The highest level any stream subscriber asked for (-1: none), kept apart from `level` so a
    /// `ctl log 5` sees level-5 lines without the sink (file, syslog, stderr) getting them.
    private static let streamLevel = Atomic<Int>(-1)
    /// max(level, streamLevel): the one load on the hot path that decides whether a message is built.
    private static let gateLevel = Atomic<Int>(0)

    private static func updateGate() {
        gateLevel.store(max(currentLevel.load(ordering: .relaxed), streamLevel.load(ordering: .relaxed)), ordering: .relaxed)
    }

    /// Where messages go; touched only under `state`'s lock (configure, reopen, every write).
    private struct SinkState {
        var sink: Sink = .stderr
        var ident = "tinc"
        var file: UnsafeMutablePointer<FILE>?
        var observer: (@Sendable (String) -> Void)?
        /// `ctl log` subscribers, each with its own bounded buffer.
        var streams: [LogStream] = []
        /// stderr is journald's stream (JOURNAL_STREAM names it): prefix `<N>` so journald keeps the severity.
        var severityPrefix = false
    }
    /// Serialises sink changes and writes: any thread logs, the control thread reconfigures.
    private static let state = Locked(SinkState())

    /// Optional extra observer (the control socket's `log` stream, tests); called under the log lock
    /// from whichever thread logs, so it must not log itself.
    public static var observer: (@Sendable (String) -> Void)? {
        get { state.withLock { $0.observer } }
        set { state.withLock { $0.observer = newValue } }
    }

    /// Adds a stream subscriber (`ctl log`); it gets every later message at or below its level.
    public static func addStream(_ stream: LogStream) {
        state.withLock { st in
            st.streams.append(stream)
            recomputeStreamLevel(st)
        }
    }

    public static func removeStream(_ stream: LogStream) {
        state.withLock { st in
            st.streams.removeAll { $0 === stream }
            recomputeStreamLevel(st)
        }
    }

    public static var streamCount: Int { state.withLock { $0.streams.count } }

    private static func recomputeStreamLevel(_ st: SinkState) {
        // A stream without a level follows `level`, which the gate covers already.
        streamLevel.store(st.streams.compactMap(\.level).max() ?? -1, ordering: .relaxed)
        updateGate()
    }

    public static func configure(sink: Sink, ident: String) {
        state.withLock { configureLocked(&$0, sink: sink, ident: ident) }
    }

    private static func configureLocked(_ st: inout SinkState, sink: Sink, ident: String) {
        if let f = st.file { fclose(f); st.file = nil }
        st.sink = sink
        st.ident = ident
        switch sink {
        case .file(let path):
            st.file = fopen(path, "a")
            if st.file == nil { st.sink = .stderr }
        case .syslog(let id):
            openlog(strdup(id), LOG_CONS | LOG_PID, LOG_DAEMON)
        case .stderr:
            break
        }
        st.severityPrefix = { if case .stderr = st.sink { return stderrIsJournal() } else { return false } }()
    }

    /// systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is connected to journald; it
    /// is inherited by children whose stderr went elsewhere, so the descriptor itself must match.
    public static func stderrIsJournal(_ environment: String? = getenv("JOURNAL_STREAM").map { String(cString: $0) }) -> Bool {
        guard let value = environment else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// Re-opens the log file (SIGHUP, for logrotate).
    public static func reopen() {
        state.withLock { st in
            if case .file = st.sink { configureLocked(&st, sink: st.sink, ident: st.ident) }
        }
    }

    /// Whether a message at `lvl` goes anywhere (the sink or a stream subscriber): build it only then.
    @inline(__always)
    public static func enabled(_ lvl: Int) -> Bool { gateLevel.load(ordering: .relaxed) >= lvl }

    public static func log(_ lvl: Int, _ prio: Priority, _ message: @autoclosure () -> String) {
        guard enabled(lvl) else { return }
        write(lvl, prio, message())
    }

    public static func error(_ m: @autoclosure () -> String) { write(0, .error, m()) }
    public static func warning(_ m: @autoclosure () -> String) { write(0, .warning, m()) }
    public static func notice(_ m: @autoclosure () -> String) { write(0, .notice, m()) }
    public static func info(_ lvl: Int, _ m: @autoclosure () -> String) { if enabled(lvl) { write(lvl, .info, m()) } }
    public static func debug(_ lvl: Int, _ m: @autoclosure () -> String) { if enabled(lvl) { write(lvl, .debug, m()) } }

    /// The longest message a sink gets; a longer one (a garbage line from a peer in an error) is cut.
    public static let maxMessageBytes = 8192

    private static func write(_ lvl: Int, _ prio: Priority, _ raw: String) {
        // Every message is one line of printable text whatever a peer put into it (see `escape`).
        let message = escape(raw, limit: maxMessageBytes)
        let toSink = lvl <= 0 || level >= lvl
        state.withLock { st in
            for s in st.streams where s.wants(lvl) { s.append(LogStream.Line(level: lvl, priority: prio, message: message)) }
            if toSink { writeLocked(&st, prio, message) }
        }
    }

    private static func writeLocked(_ st: inout SinkState, _ prio: Priority, _ message: String) {
        st.observer?(message)
        switch st.sink {
        case .stderr:
            writeStandardError(st.severityPrefix ? "<\(prio.rawValue)>" + message + "\n" : message + "\n")
        case .file:
            guard let f = st.file else { return }
            var t = time(nil)
            var tmv = tm()
            localtime_r(&t, &tmv)
            var buf = [CChar](repeating: 0, count: 32)
            strftime(&buf, 32, "%Y-%m-%d %H:%M:%S", &tmv)
            let stamp = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            fputs("\(stamp) \(st.ident)[\(getpid())]: \(message)\n", f)
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
    /// `keepTabs`: a tab passes unchanged (control-socket replies: birdc's `show route` layout puts
    /// a tab before each next hop, and scripts that parse it rely on that).
    public static func escape<S: StringProtocol>(_ text: S, limit: Int = 512, keepTabs: Bool = false) -> String {
        let utf8 = text.utf8
        if utf8.count <= limit && utf8.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || (keepTabs && $0 == 0x09) }) { return String(text) }
        var out = ""
        out.reserveCapacity(min(utf8.count, limit) + 16)
        var used = 0
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let piece: String
            if keepTabs && v == 0x09 {
                piece = "\t"
            } else if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) {
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
