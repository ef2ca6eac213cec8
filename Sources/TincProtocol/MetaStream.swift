import MeshCrypto

/// Inbound side of a meta connection: bytes from the socket become lines and PACKET payloads.
/// Decryption starts exactly after the peer's METAKEY line, even when later bytes arrived in the
/// same read (tinc's receive_meta), so bytes stay buffered undecrypted until the cipher is known.
public final class MetaInbound {
    /// tinc's MAXBUFSIZE with MTU 1518: a line longer than this is "Metadata read buffer overflow".
    public static let maxLine = 2176

    public enum Item: Equatable {
        case line(String)
        case packet([UInt8])
    }

    public struct Overflow: Error, CustomStringConvertible {
        public var description: String { "Metadata read buffer overflow" }
    }

    /// The stream cipher failed; everything after this point is unreadable.
    public struct DecryptionFailed: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "Meta stream decryption failed: \(reason)" }
    }

    private var buffer: [UInt8] = []
    private var start = 0
    private var cipher: StreamCipher?
    private var packetBytes = 0
    /// Set when decryption failed; `next()` throws it so the caller closes the connection.
    private var failure: DecryptionFailed?
    public private(set) var bytesReceived: UInt64 = 0

    public init() {}

    public var isDecrypting: Bool { cipher != nil }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        bytesReceived &+= UInt64(bytes.count)
        guard failure == nil else { return }
        let old = buffer.count
        buffer.append(contentsOf: bytes)
        if let c = cipher { decrypt(c, from: old) }
    }

    private func decrypt(_ c: StreamCipher, from offset: Int) {
        do {
            try buffer.withUnsafeMutableBytes { try c.process(UnsafeMutableRawBufferPointer(rebasing: $0[offset...])) }
        } catch {
            failure = DecryptionFailed(reason: "\(error)")
            buffer.removeAll()
            start = 0
        }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Turns on decryption; everything still buffered after the current position is decrypted now.
    public func enableDecryption(_ c: StreamCipher) {
        cipher = c
        if start < buffer.count { decrypt(c, from: start) }
    }

    /// After a PACKET line: the next `length` bytes are a raw frame.
    public func expectPacket(length: Int) { packetBytes = length }

    public func next() throws -> Item? {
        if let f = failure { throw f }
        defer { compact() }
        if packetBytes > 0 {
            guard buffer.count - start >= packetBytes else { return nil }
            let p = Array(buffer[start ..< start + packetBytes])
            start += packetBytes
            packetBytes = 0
            return .packet(p)
        }
        guard let nl = buffer[start...].firstIndex(of: 0x0A) else {
            if buffer.count - start >= MetaInbound.maxLine { throw Overflow() }
            return nil
        }
        if nl - start >= MetaInbound.maxLine { throw Overflow() }
        var end = nl
        if end > start && buffer[end - 1] == 0x0D { end -= 1 }
        let line = String(decoding: buffer[start ..< end], as: UTF8.self)
        start = nl + 1
        return .line(line)
    }

    private func compact() {
        if start > 0 && (start >= 4096 || start == buffer.count) {
            buffer.removeSubrange(0 ..< start)
            start = 0
        }
    }
}

/// Outbound side: lines and raw PACKET bytes, encrypted from the moment our METAKEY was queued.
public final class MetaOutbound {
    private var cipher: StreamCipher?
    /// Set when encryption failed: nothing more is queued and `flush` reports the connection dead.
    public private(set) var failure: Error?
    public private(set) var pending: [UInt8] = []
    private var sent = 0
    public private(set) var bytesSent: UInt64 = 0

    public init() {}

    public var isEncrypting: Bool { cipher != nil }
    public var queuedBytes: Int { pending.count - sent }

    public func enableEncryption(_ c: StreamCipher) { cipher = c }

    public func queue(line: String) {
        var b = Array(line.utf8)
        b.append(0x0A)
        queue(bytes: b)
    }

    public func queue(bytes: [UInt8]) {
        guard failure == nil else { return }
        var b = bytes
        if let c = cipher {
            do { try b.withUnsafeMutableBytes { try c.process($0) } } catch {
                failure = error
                return
            }
        }
        pending.append(contentsOf: b)
    }

    /// Writes as much as the socket takes. Returns false on a fatal write error.
    public func flush(to fd: Int32, write: (Int32, UnsafeRawBufferPointer) -> Int) -> Bool {
        guard failure == nil else { return false }
        while sent < pending.count {
            let n = pending.withUnsafeBytes { write(fd, UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            if n > 0 { sent += n; bytesSent &+= UInt64(n); continue }
            if n == -11 /* EAGAIN */ || n == -4 /* EINTR */ { break }
            return false
        }
        if sent == pending.count { pending.removeAll(keepingCapacity: pending.count < 65536); sent = 0 }
        else if sent > 65536 { pending.removeSubrange(0 ..< sent); sent = 0 }
        return true
    }
}
