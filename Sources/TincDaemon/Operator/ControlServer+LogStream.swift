import Foundation
import Glibc
import MeshIO
import CNetShim

/// `[--json] log [LEVEL]` on the control socket (tinc 1.1's `tinc log`): the connection stops being
/// request/reply and carries every later log message at or below LEVEL (no LEVEL: the daemon's
/// current debug level, following `debug N`) until the client closes it.
///
/// The loop never waits for the client: messages go into the subscriber's bounded LogStream from
/// whichever thread logs, the loop moves at most `logWriteBytes` of them per wakeup into the
/// client's socket without blocking, and what does not fit is dropped and reported in the stream
/// as "N log lines dropped". What the daemon logs to its own sink does not change.
struct LogRequest: Equatable {
    var level: Int?
    var json: Bool

    /// nil when the line is not a `log` command; a bad level is refused by `ControlServer`.
    init?(_ line: String) {
        var words = line.split(separator: " ").map(String.init)
        json = words.first == "--json"
        if json { words.removeFirst() }
        guard words.first == "log" else { return nil }
        level = words.count > 1 ? Int(words[1]) ?? Int.min : nil
        if words.count > 2 { level = Int.min }
    }
}

/// One line of `--json log`: a message, or a gap marker with `dropped` set.
struct LogStreamJSONLine: Codable, Equatable {
    var level: Int?
    var priority: String?
    var message: String?
    var dropped: Int?
}

extension ControlServer {
    var logClientCount: Int { clients.values.filter { $0.stream != nil }.count }

    func startLogStream(_ c: Client, _ request: LogRequest) {
        if let l = request.level, l < 0 {
            reply(c, "ERROR log takes one debug level, 0 or more (log [LEVEL])\n")
            return
        }
        guard logClientCount < limits.maxLogSubscribers else {
            counters.refusedLogSubscribers += 1
            reply(c, "ERROR too many log clients (\(limits.maxLogSubscribers)), try again later\n")
            return
        }
        guard let wake = ensureLogWakeup() else {
            reply(c, "ERROR cannot stream the log: eventfd: \(String(cString: strerror(errno)))\n")
            return
        }
        loop.cancel(c.timer)
        c.timer = nil
        c.streamJSON = request.json
        // Any thread that logs only pokes the eventfd; the loop drains (pumpLogs) on its own time.
        let stream = LogStream(level: request.level, maxLines: limits.logBufferLines, maxBytes: limits.logBufferBytes) {
            var one: UInt64 = 1
            _ = Glibc.write(wake, &one, 8)
        }
        c.stream = stream
        counters.logSubscribers += 1
        Log.addStream(stream)
    }

    /// Called by `drop` for a streaming client.
    func endLogStream(_ c: Client, _ stream: LogStream) {
        Log.removeStream(stream)
        c.stream = nil
        if logClientCount == 0, logWakeFD >= 0 {
            loop.unregister(logWakeFD)
            close(logWakeFD)
            logWakeFD = -1
        }
    }

    /// The eventfd every subscriber's stream pokes when it gets lines (one for all of them).
    private func ensureLogWakeup() -> Int32? {
        if logWakeFD >= 0 { return logWakeFD }
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard fd >= 0 else { return nil }
        logWakeFD = fd
        loop.register(fd, events: .readable) { [weak self] _ in
            guard let self = self else { return }
            var v: UInt64 = 0
            _ = Glibc.read(fd, &v, 8)
            for c in self.clients.values where c.stream != nil { self.pumpLog(c) }
        }
        return fd
    }

    /// Readable: the client closed (or wrote something, which a log client has no reason to; it is
    /// read and ignored). Writable: more of its stream can go out.
    func logClientEvent(_ c: Client, _ ev: EventLoop.Events) {
        if ev.contains(.readable) || ev.contains(.error) {
            var buf = [UInt8](repeating: 0, count: 512)
            let n = buf.withUnsafeMutableBytes { Glibc.recv(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { drop(c); return }
        }
        if ev.contains(.writable) { pumpLog(c) }
    }

    /// Moves what the stream holds into the client's output (up to `logWriteBytes` waiting) and
    /// writes as much as the socket takes now.
    func pumpLog(_ c: Client) {
        guard let stream = c.stream, clients[c.fd] === c else { return }
        // Forget what was written already, so `output` only holds what still has to go.
        if c.written > 0 {
            c.output.removeFirst(c.written)
            bufferedBytes -= c.written
            c.written = 0
        }
        while c.output.count < limits.logWriteBytes {
            let batch = stream.drain(maxLines: 256)
            if batch.lines.isEmpty && batch.dropped == 0 { break }
            counters.logLinesDropped += batch.dropped
            let bytes = Array(logText(batch, json: c.streamJSON).utf8)
            c.output += bytes
            bufferedBytes += bytes.count
        }
        guard !c.output.isEmpty else { loop.modify(c.fd, events: .readable); return }
        flush(c)
    }

    /// `flush` wrote all of a streaming client's output.
    func logOutputFlushed(_ c: Client) {
        bufferedBytes -= c.output.count
        c.output = []
        c.written = 0
        guard let stream = c.stream else { return }
        if stream.buffered > 0 {
            // More waited than one pump takes: come back through the eventfd, after other work.
            var one: UInt64 = 1
            _ = Glibc.write(logWakeFD, &one, 8)
        }
        loop.modify(c.fd, events: .readable)
    }

    /// Called after `flush` left output unwritten (the socket is full): wait for writability.
    func logOutputPending(_ c: Client) {
        loop.modify(c.fd, events: [.readable, .writable])
    }

    func logText(_ batch: LogStream.Batch, json: Bool) -> String {
        var out = ""
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for l in batch.lines {
                let line = LogStreamJSONLine(level: l.level, priority: l.priority.name, message: l.message)
                out += ((try? e.encode(line)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
            }
            if batch.dropped > 0 {
                out += ((try? e.encode(LogStreamJSONLine(dropped: batch.dropped))).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
            }
        } else {
            for l in batch.lines { out += l.message + "\n" }
            if batch.dropped > 0 { out += "*** \(batch.dropped) log line\(batch.dropped == 1 ? "" : "s") dropped (this client did not keep up) ***\n" }
        }
        return ControlServer.terminalSafe(out)
    }
}
