/// A meta connection, authenticated or not (`ctl dump connections`, SIGUSR1).
public struct ConnectionSnapshot: Codable, Sendable, Equatable {
    /// The peer's name once it said it (nil before ID).
    public var name: String?
    public var address: String
    public var port: Int
    /// Handshake progress: connecting, id, metakey, challenge, chalReply, ack, active, closed.
    public var state: String
    public var outgoing: Bool
    public var options: UInt32
    public var mst: Bool
    /// Bytes queued for the peer, and the limit beyond which the connection is closed.
    public var outbuf: Int
    public var outbufLimit: Int
    /// The socket's file descriptor (SIGUSR1 prints it, as tinc does).
    public var socket: Int32
    /// tinc 1.0's connection status word (`ConnectionStatus` names the bits).
    public var status: UInt32

    public init(name: String?, address: String, port: Int, state: String, outgoing: Bool, options: UInt32,
                mst: Bool, outbuf: Int, outbufLimit: Int, socket: Int32, status: UInt32) {
        self.name = name
        self.address = address
        self.port = port
        self.state = state
        self.outgoing = outgoing
        self.options = options
        self.mst = mst
        self.outbuf = outbuf
        self.outbufLimit = outbufLimit
        self.socket = socket
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case name, address, port, state, outgoing, options, mst, outbuf, outbufLimit = "outbuf_limit", socket, status
    }

    /// `name` is written as null before the peer said it, so every object has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(address, forKey: .address)
        try c.encode(port, forKey: .port)
        try c.encode(state, forKey: .state)
        try c.encode(outgoing, forKey: .outgoing)
        try c.encode(options, forKey: .options)
        try c.encode(mst, forKey: .mst)
        try c.encode(outbuf, forKey: .outbuf)
        try c.encode(outbufLimit, forKey: .outbufLimit)
        try c.encode(socket, forKey: .socket)
        try c.encode(status, forKey: .status)
    }
}

/// tinc 1.0's connection_status_t bits as SIGUSR1 prints them (`status %04x`).
public struct ConnectionStatus: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// A PING is outstanding.
    public static let pinged = ConnectionStatus(rawValue: 0x001)
    /// Authenticated (ACK exchanged).
    public static let active = ConnectionStatus(rawValue: 0x002)
    /// The non-blocking connect() has not finished.
    public static let connecting = ConnectionStatus(rawValue: 0x004)
    /// tinc's encryptout bit; this daemon has always set it for connections it dialled.
    public static let outgoing = ConnectionStatus(rawValue: 0x040)
    /// Part of the minimum spanning tree.
    public static let mst = ConnectionStatus(rawValue: 0x100)
}
