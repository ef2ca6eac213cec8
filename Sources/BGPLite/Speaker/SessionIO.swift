// Non-blocking TCP transport of one BGP connection on the EventLoop: framed reads, buffered writes.
import Glibc
import MeshIO

/// Where a connection without a socket (`fd` -1) puts what it sends: the fuzzer drives a session
/// this way, feeding input through `Connection.ingest` with no system call per message.
final class MemoryTransport {
    var written: [UInt8] = []
    init() {}
}

/// One TCP connection of a session (a session can briefly have two: outgoing and incoming).
final class Connection {
    let fd: Int32
    /// Set instead of a socket (`fd` is then -1).
    let memory: MemoryTransport?
    let outgoing: Bool
    unowned let session: Session
    let loop: EventLoop
    var remote: SocketAddress
    var state: BGPState
    var options = CodecOptions.initial
    var peerOpen: OpenMessage?
    /// The peer's OPEN is in (`peerOpen`) but our KEEPALIVE is held back: this connection loses a
    /// collision (RFC 4271 6.8) if the other one, still in OpenSent, gets its OPEN too.
    var held: Bool { state == .openSent && peerOpen != nil }
    /// A KEEPALIVE that arrived while held (the peer already confirmed this connection).
    var keepaliveWhileHeld = false
    var closed = false
    /// Closed for the session, but the socket stays open until the peer has read what we sent.
    private(set) var lingering = false
    private var lingerTimer: EventLoop.TimerID?
    private var writeShut = false

    private var readBuf: [UInt8] = []
    private var readStart = 0
    private var writeBuf: [UInt8] = []
    private var writeStart = 0
    private var wantWrite = false

    var holdTimer: EventLoop.TimerID?
    var keepaliveTimer: EventLoop.TimerID?
    var connectTimer: EventLoop.TimerID?
    var lastReceived: Double
    var lastWriteProgress: Double
    var holdTime: Int = 240
    var keepaliveTime: Int = 80
    var bytesIn = 0
    var bytesOut = 0

    init(fd: Int32, outgoing: Bool, remote: SocketAddress, session: Session, loop: EventLoop, state: BGPState,
         memory: MemoryTransport? = nil) {
        self.fd = memory == nil ? fd : -1
        self.memory = memory
        self.outgoing = outgoing
        self.remote = remote
        self.session = session
        self.loop = loop
        self.state = state
        lastReceived = loop.now
        lastWriteProgress = lastReceived
    }

    /// Outgoing connect in progress: wait for writability, then report.
    func watchConnect(_ done: @escaping (Int32) -> Void) {
        loop.register(fd, events: [.writable]) { [weak self] _ in
            guard let self, !self.closed else { return }
            let err = Sockets.pendingError(self.fd)
            done(err)
        }
    }

    func startReading() {
        guard memory == nil else { return }
        wantWrite = writeStart < writeBuf.count
        loop.register(fd, events: wantWrite ? [.readable, .writable] : [.readable]) { [weak self] ev in
            guard let self, !self.closed else { return }
            if ev.contains(.writable) { self.flush() }
            if !self.closed && (ev.contains(.readable) || ev.contains(.error)) { self.onReadable() }
        }
    }

    var pendingOutput: Int { writeBuf.count - writeStart }

    func send(_ bytes: [UInt8]) {
        guard !closed else { return }
        if writeStart == writeBuf.count { writeBuf.removeAll(keepingCapacity: true); writeStart = 0 }
        writeBuf.append(contentsOf: bytes)
        bytesOut += bytes.count
        flush()
    }

    func send(_ messages: [[UInt8]]) {
        guard !closed, !messages.isEmpty else { return }
        if writeStart == writeBuf.count { writeBuf.removeAll(keepingCapacity: true); writeStart = 0 }
        for m in messages { writeBuf.append(contentsOf: m); bytesOut += m.count }
        flush()
    }

    func flush() {
        guard !closed else { return }
        if let m = memory {
            m.written.append(contentsOf: writeBuf[writeStart...])
            writeBuf.removeAll(keepingCapacity: true)
            writeStart = 0
            lastWriteProgress = loop.now
            return
        }
        while writeStart < writeBuf.count {
            let n = writeBuf.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + writeStart, raw.count - writeStart, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                writeStart += n
                lastWriteProgress = loop.now
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if errno == EINTR { continue }
                break
            }
            let e = errno
            session.connectionFailed(self, reason: "Socket: " + String(cString: strerror(e)))
            return
        }
        if writeStart == writeBuf.count {
            writeBuf.removeAll(keepingCapacity: writeBuf.capacity <= 1 << 20)
            writeStart = 0
        } else if writeStart > 1 << 20 {
            writeBuf.removeFirst(writeStart)
            writeStart = 0
        }
        let need = writeStart < writeBuf.count
        if need != wantWrite && state != .connect {
            wantWrite = need
            loop.modify(fd, events: need ? [.readable, .writable] : [.readable])
        }
    }

    /// Reads what is already in the socket now (no waiting), e.g. an EOF not yet seen by the loop.
    func readNow() {
        guard !closed, memory == nil else { return }
        onReadable()
    }

    private static let zeroChunk = [UInt8](repeating: 0, count: 65536)

    private func onReadable() {
        var total = 0
        var eof = false
        var failure: Int32 = 0
        // Bounded per wakeup so timers (keepalives) keep running during a big table transfer.
        while total < 1 << 20 {
            let chunk = 65536
            let old = readBuf.count
            readBuf.reserveCapacity(old + chunk)
            var n = 0
            readBuf.append(contentsOf: Connection.zeroChunk)
            n = readBuf.withUnsafeMutableBytes { raw in Glibc.recv(fd, raw.baseAddress! + old, chunk, 0) }
            if n > 0 {
                readBuf.removeLast(chunk - n)
                total += n
                if n < chunk { break }
                continue
            }
            readBuf.removeLast(chunk)
            if n == 0 { eof = true; break }
            if errno == EINTR { continue }
            if errno != EAGAIN && errno != EWOULDBLOCK { failure = errno }
            break
        }
        bytesIn += total
        if total > 0 { processMessages() }
        if closed { return }
        if failure != 0 {
            session.connectionFailed(self, reason: "Socket: " + String(cString: strerror(failure)))
        } else if eof {
            session.connectionFailed(self, reason: "Connection closed")
        }
    }

    /// Takes bytes as if they had been read from the socket (the fuzzer drives a session this way).
    func ingest(_ bytes: [UInt8]) {
        guard !closed else { return }
        readBuf.append(contentsOf: bytes)
        bytesIn += bytes.count
        if !bytes.isEmpty { processMessages() }
    }

    private func processMessages() {
        var consumed = readStart
        readBuf.withUnsafeBytes { raw in
            while !closed {
                let avail = UnsafeRawBufferPointer(rebasing: raw[consumed...])
                let len: Int?
                do throws(BGPError) {
                    len = try BGPFraming.messageLength(avail, options: options)
                } catch {
                    session.protocolError(self, error)
                    return
                }
                guard let l = len else { break }
                let msg = UnsafeRawBufferPointer(rebasing: raw[consumed..<(consumed + l)])
                consumed += l
                lastReceived = loop.now
                session.handleMessage(self, msg)
            }
        }
        if closed { return }
        readStart = consumed
        if readStart == readBuf.count {
            readBuf.removeAll(keepingCapacity: readBuf.capacity <= 4 << 20)
            readStart = 0
        } else if readStart > 1 << 20 {
            readBuf.removeFirst(readStart)
            readStart = 0
        }
        session.afterReadBatch(self)
    }

    func cancelTimers() {
        loop.cancel(holdTimer); holdTimer = nil
        loop.cancel(keepaliveTimer); keepaliveTimer = nil
        loop.cancel(connectTimer); connectTimer = nil
    }

    /// Closes the connection for the session. With `linger` > 0 (and a TCP connection that got past
    /// Connect) the socket stays open a little: queued output (a NOTIFICATION) is sent, the write side
    /// is shut down, and input is read and discarded until the peer closes or `linger` seconds pass.
    /// Closing a socket with unread input sends a RST, and a RST makes the peer's kernel drop data
    /// the peer has not read yet: the NOTIFICATION would be lost.
    func close(linger: Double = 2) {
        guard !closed else { return }
        closed = true
        cancelTimers()
        // readBuf may be under a read access (close called from a message handler); dropped with self.
        guard linger > 0, state != .connect, memory == nil else {
            if writeStart < writeBuf.count {
                _ = writeBuf.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress! + writeStart, raw.count - writeStart, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
            finishClose()
            return
        }
        lingering = true
        // The session may be gone before the linger ends (unowned); the speaker tracks us instead,
        // so a shutdown can finish the linger before the process exits (finishLingering).
        lingerSpeaker = session.speaker
        session.speaker.lingering[ObjectIdentifier(self)] = self
        lingerFlush()
        guard lingering else { return }
        loop.register(fd, events: writeStart < writeBuf.count ? [.readable, .writable] : [.readable]) { ev in
            // Holds self strongly until finishClose unregisters the handler.
            if ev.contains(.writable) { self.lingerFlush() }
            if self.lingering && (ev.contains(.readable) || ev.contains(.error)) { self.lingerDrain() }
        }
        lingerTimer = loop.schedule(after: linger) { self.finishClose() }
    }

    private func lingerFlush() {
        while writeStart < writeBuf.count {
            let n = writeBuf.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + writeStart, raw.count - writeStart, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if n > 0 { writeStart += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            finishClose()
            return
        }
        writeBuf = []
        writeStart = 0
        if !writeShut {
            writeShut = true
            Glibc.shutdown(fd, Int32(SHUT_WR))
            if lingering && loop.isRegistered(fd) { loop.modify(fd, events: [.readable]) }
        }
    }

    private func lingerDrain() {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while lingering {
            let n = withUnsafeMutableBytes(of: &scratch) { Glibc.recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            finishClose()   // EOF or error: the peer is done with this connection
        }
    }

    /// One step of the linger outside the loop (shutdown): send what is queued, read what came in.
    func lingerStep() {
        guard lingering else { return }
        lingerFlush()
        if lingering { lingerDrain() }
    }

    var lingerWantsWrite: Bool { writeStart < writeBuf.count }

    /// The linger's bound passed (shutdown): close now.
    func abortLinger() { finishClose() }

    private weak var lingerSpeaker: BGPSpeaker?

    /// Keeps `o` alive until this connection has finished closing. The session's BFD watch is held
    /// this way: releasing it sends AdminDown over UDP at once, and a peer that handles that before
    /// our NOTIFICATION (BIRD does, in about half the cases) takes it as a failure and delays its
    /// restart by its error wait time (60 s), refusing us meanwhile.
    func holdUntilClosed(_ o: AnyObject) {
        guard !finished else { return }
        heldUntilClosed.append(o)
    }
    private var heldUntilClosed: [AnyObject] = []

    private func finishClose() {
        guard !finished else { return }
        finished = true
        heldUntilClosed = []
        lingerSpeaker?.lingering[ObjectIdentifier(self)] = nil
        lingering = false
        loop.cancel(lingerTimer); lingerTimer = nil
        writeBuf = []
        guard memory == nil else { return }
        loop.unregister(fd)
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
    private var finished = false
}
