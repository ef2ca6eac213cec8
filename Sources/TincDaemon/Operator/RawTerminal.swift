import CNetShim
import Glibc

/// The terminal as `ctl top` uses it: raw input (no line buffering, no echo) and the alternate
/// screen, both undone by `restore()`. SIGINT, SIGTERM, SIGHUP and SIGWINCH arrive on a signalfd
/// (`signals`) instead of interrupting, so every way out goes through `restore()`.
final class RawTerminal {
    private var saved = termios()
    private var active = false
    /// Readable when one of the watched signals is pending (-1 when none could be set up).
    let signals: Int32

    init?() {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1, tcgetattr(STDIN_FILENO, &saved) == 0 else { return nil }
        var raw = saved
        // Keys arrive one by one without echo; output processing stays (\n still starts a new line).
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 else { return nil }
        signals = [SIGINT, SIGTERM, SIGHUP, SIGWINCH].withUnsafeBufferPointer { cns_signalfd($0.baseAddress, Int32($0.count)) }
        active = true
        write("\u{1b}[?1049h\u{1b}[?25l")   // alternate screen, cursor hidden
    }

    deinit { restore() }

    func restore() {
        guard active else { return }
        active = false
        write("\u{1b}[?25h\u{1b}[?1049l")
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        if signals >= 0 { close(signals) }
    }

    /// Rows and columns (24×80 when the terminal does not say).
    var size: (rows: Int, columns: Int) {
        var w = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_row > 0, w.ws_col > 0 else { return (24, 80) }
        return (Int(w.ws_row), Int(w.ws_col))
    }

    /// Replaces the screen with `lines` (cut to the terminal's size).
    func draw(_ lines: [String]) {
        let (rows, cols) = size
        var out = "\u{1b}[H"
        for (i, l) in lines.prefix(rows).enumerated() {
            out += String(l.prefix(cols)) + "\u{1b}[K" + (i + 1 < min(rows, lines.count) ? "\r\n" : "")
        }
        write(out + "\u{1b}[J")
    }

    /// Waits up to `seconds` for a key or a signal.
    enum Input { case keys([UInt8]), signal(Int32), timeout }
    func wait(_ seconds: Double) -> Input {
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)]
        if signals >= 0 { fds.append(pollfd(fd: signals, events: Int16(POLLIN), revents: 0)) }
        let n = poll(&fds, nfds_t(fds.count), Int32(max(0, min(seconds, 3600)) * 1000))
        guard n > 0 else { return .timeout }
        if fds.count > 1, fds[1].revents != 0 {
            let s = cns_signalfd_read(signals)
            return s > 0 ? .signal(s) : .timeout
        }
        var buf = [UInt8](repeating: 0, count: 64)
        let r = buf.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
        // End of input (the terminal went away) quits like `q`.
        return r > 0 ? .keys(Array(buf[0..<r])) : .keys([UInt8(ascii: "q")])
    }

    private func write(_ s: String) { writeFully(STDOUT_FILENO, s) }
}

/// Writes all of `s` to `fd` (retrying short writes and EINTR); gives up on an error.
func writeFully(_ fd: Int32, _ s: String) {
    let bytes = Array(s.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { b -> Int in
            guard let base = b.baseAddress else { return 0 }
            return Glibc.write(fd, base + off, b.count - off)
        }
        if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
        off += n
    }
}
