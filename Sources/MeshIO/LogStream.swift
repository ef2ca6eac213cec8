/// One subscriber to the log (`ctl log`, like tinc 1.1's `tinc log`): a bounded buffer of lines that
/// any logging thread appends to and one consumer (the control loop) drains.
///
/// Appending never blocks on the consumer: when the buffer is full the line is dropped and counted,
/// and the next drain ends with a "N lines dropped" marker, so a slow or stalled client costs at most
/// `maxLines` lines / `maxBytes` bytes and never holds up the thread that logs.
public final class LogStream: @unchecked Sendable {
    /// One logged message as the stream hands it on.
    public struct Line: Sendable, Equatable {
        public var level: Int
        public var priority: Log.Priority
        public var message: String
    }

    /// What a drain returns: the lines in order, then how many were dropped after them.
    public struct Batch: Sendable, Equatable {
        public var lines: [Line]
        public var dropped: Int
    }

    /// Lines up to this debug level are taken; nil follows the daemon's level (`Log.level`).
    public let level: Int?
    public let maxLines: Int
    public let maxBytes: Int

    private struct State {
        var lines: [Line] = []
        var bytes = 0
        var droppedSinceDrain = 0
        var droppedTotal = 0
        /// `onReady` was called and no drain has happened since (one wakeup per batch, not per line).
        var wakeupPending = false
    }
    private let state = Locked(State())
    /// Called (from the logging thread, under the log lock) when the buffer goes from drained to
    /// holding something; it must not log and must not wait (the control server posts to its loop).
    private let onReady: @Sendable () -> Void

    public init(level: Int?, maxLines: Int = 2048, maxBytes: Int = 512 << 10, onReady: @escaping @Sendable () -> Void) {
        self.level = level
        self.maxLines = max(1, maxLines)
        self.maxBytes = max(1, maxBytes)
        self.onReady = onReady
    }

    /// Whether a message at `messageLevel` goes to this subscriber.
    @inline(__always)
    func wants(_ messageLevel: Int) -> Bool { (level ?? Log.level) >= messageLevel }

    /// Called by `Log` for every message this stream wants.
    func append(_ line: Line) {
        let wake = state.withLock { st -> Bool in
            let size = line.message.utf8.count + 1
            guard st.lines.count < maxLines, st.bytes + size <= maxBytes else {
                st.droppedSinceDrain += 1
                st.droppedTotal += 1
                return false
            }
            st.lines.append(line)
            st.bytes += size
            guard !st.wakeupPending else { return false }
            st.wakeupPending = true
            return true
        }
        if wake { onReady() }
    }

    /// Takes at most `maxLines` buffered lines (all when nil). The drop count comes with the batch
    /// that empties the buffer, since every dropped line was logged after the ones still buffered.
    public func drain(maxLines limit: Int? = nil) -> Batch {
        state.withLock { st in
            let n = min(st.lines.count, limit ?? st.lines.count)
            let taken = Array(st.lines.prefix(n))
            st.lines.removeFirst(n)
            for l in taken { st.bytes -= l.message.utf8.count + 1 }
            var dropped = 0
            if st.lines.isEmpty {
                dropped = st.droppedSinceDrain
                st.droppedSinceDrain = 0
                st.wakeupPending = false
            }
            return Batch(lines: taken, dropped: dropped)
        }
    }

    /// Lines dropped over the stream's life.
    public var droppedTotal: Int { state.withLock { $0.droppedTotal } }
    /// Lines waiting to be drained.
    public var buffered: Int { state.withLock { $0.lines.count } }
}
