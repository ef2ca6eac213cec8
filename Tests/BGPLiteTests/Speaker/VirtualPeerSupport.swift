import XCTest
import Glibc
import MeshIO
@testable import BGPLite

/// One BGPSpeaker on a virtual clock (`ManualClock`) whose neighbor is played by the test over
/// socketpairs: each outgoing connect of the speaker gets a fresh socketpair (the speaker's end
/// through `connectHook`), whose other end is `peerFD`. A socketpair delivers in the sending call,
/// so `loop.settle()` sees everything that was sent; time moves only with `advance`, so a test of a
/// 240 s timer takes microseconds and no test waits in real time.
final class VirtualPeer {
    let clock = ManualClock(start: 1000)
    let loop: EventLoop
    let speaker: BGPSpeaker
    /// The test's end of the current connection (-1 before the first connect).
    private(set) var peerFD: Int32 = -1
    /// Virtual times (relative to the start) of the speaker's outgoing connect attempts.
    private(set) var connectAttempts: [Double] = []
    /// The next connect attempts fail at once (as a refused or unreachable connect does).
    var refuseConnects = false
    /// What the speaker logged, with the virtual time.
    private(set) var log: [String] = []
    /// Messages the speaker sent on the current connection, with the virtual time they were read.
    private(set) var received: [(time: Double, message: BGPMessage)] = []
    private var partial: [UInt8] = []
    let start: Double
    /// Codec options for decoding what the speaker sends (AS4 once both sides offered it).
    var options = CodecOptions.initial

    init(_ config: String, liveness: LivenessMonitor? = nil) throws {
        loop = try EventLoop()
        loop.clock = clock.clock
        start = clock.now
        speaker = try BGPSpeaker(config: BGPConfig.parse(text: config), loop: loop, liveness: liveness)
        speaker.quiet = true
        speaker.onEvent = { [unowned self] m in self.log.append(String(format: "%8.3f ", self.now) + m) }
        speaker.connectHook = { [unowned self] _, _ in
            self.connectAttempts.append(self.now)
            if self.refuseConnects { throw BGPSpeakerError("connection refused (test)") }
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw BGPSpeakerError("socketpair: errno \(errno)")
            }
            // Called from a timer: read what is left on the old connection, no loop turn here.
            self.collect()
            if self.peerFD >= 0 { Glibc.close(self.peerFD) }
            self.partial = []
            self.peerFD = fds[1]
            return fds[0]
        }
    }

    deinit {
        speaker.onEvent = nil
        speaker.connectHook = { _, _ in throw BGPSpeakerError("test over") }
        speaker.stop()
        dropPeerEnd()
        clock.advance(by: 10)   // lingering closes finish on their timers
        loop.runTimersDue()
    }

    var session: Session { speaker.sessions[0] }
    /// Virtual seconds since the peer was made.
    var now: Double { clock.now - start }

    func advance(_ seconds: Double) {
        loop.advance(clock, by: seconds)
        collect()
    }

    /// Advances in steps of `step` seconds for `seconds`, running `each` after every step.
    func advance(_ seconds: Double, step: Double, each: () -> Void) {
        let end = clock.now + seconds
        while clock.now + step <= end + 1e-9 {
            advance(step)
            each()
        }
    }

    /// Sends messages as the peer and lets the speaker handle them.
    func send(_ messages: BGPMessage...) {
        for m in messages { sendRaw(m.encode(options: options)) }
    }

    func sendRaw(_ bytes: [UInt8]) {
        let n = bytes.withUnsafeBytes { Glibc.send(peerFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        XCTAssertEqual(n, bytes.count, "peer write")
        loop.settle()
        collect()
    }

    /// The peer's end closes (a crash or a reset connection, without a NOTIFICATION).
    func dropPeerEnd() {
        if peerFD >= 0 { Glibc.close(peerFD) }
        peerFD = -1
        partial = []
        loop.settle()
    }

    /// Reads what the speaker wrote into `received`.
    func collect() {
        guard peerFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(peerFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { break }
            partial += buf[0..<n]
        }
        while partial.count >= 19 {
            let len = Int(partial[16]) << 8 | Int(partial[17])
            guard len >= 19, partial.count >= len else { break }
            let bytes = Array(partial[0..<len])
            partial.removeFirst(len)
            switch bytes.withUnsafeBytes({ raw -> Result<BGPMessage, BGPError> in
                do throws(BGPError) { return .success(try BGPMessage.decode(raw, options: options)) } catch { return .failure(error) }
            }) {
            case .success(let m): received.append((now, m))
            case .failure(let e): XCTFail("the speaker sent a message that does not decode: \(e)")
            }
        }
    }

    func takeReceived() -> [(time: Double, message: BGPMessage)] {
        collect()
        defer { received = [] }
        return received
    }

    var keepaliveTimes: [Double] { received.compactMap { if case .keepalive = $0.message { return $0.time } else { return nil } } }
    var notifications: [NotificationMessage] { received.compactMap { if case .notification(let n) = $0.message { return n } else { return nil } } }

    /// The speaker's outgoing connection has sent its OPEN and waits for the peer's.
    var connectionWaitsForOpen: Bool {
        peerFD >= 0 && session.conns.contains { $0.outgoing && !$0.closed && $0.state == .openSent && $0.peerOpen == nil }
    }

    /// Starts the speaker if needed, moves time on from timer to timer until it has connected (the
    /// connect delay, an error wait), and plays a peer that answers OPEN and KEEPALIVE: the session
    /// is Established at the returned virtual time. Clears `received`.
    @discardableResult
    func establish(holdTime: UInt16 = 90, capabilities: [Capability] = VirtualPeer.defaultCapabilities, peerAS: UInt32 = 65001,
                   file: StaticString = #filePath, line: UInt = #line) -> Double {
        if !speaker.started { speaker.start() }
        loop.settle()
        for _ in 0..<1000 where !connectionWaitsForOpen {
            guard let next = loop.nextTimerDeadline else { break }
            advance(max(0, next - clock.now))
        }
        XCTAssertTrue(connectionWaitsForOpen, "the speaker connected and sent OPEN\n" + log.joined(separator: "\n"), file: file, line: line)
        send(.open(OpenMessage(myAS: peerAS, holdTime: holdTime, bgpIdentifier: 0x0A00_0002, capabilities: capabilities)))
        if capabilities.contains(where: { if case .fourOctetAS = $0 { return true } else { return false } }) {
            options = CodecOptions(fourOctetAS: true, extendedMessages: false)
        }
        send(.keepalive)
        XCTAssertNotNil(session.established, "Established\n" + log.joined(separator: "\n"), file: file, line: line)
        received = []
        return now
    }

    static let defaultCapabilities: [Capability] = [.multiprotocol(.ipv4Unicast), .fourOctetAS(65001)]

    /// A configuration with one eBGP neighbor (AS 65001) and `extra` lines inside its protocol block.
    static func config(_ extra: String = "", channel: String = "import all; export all;") -> String {
        """
        router id 10.0.0.1;
        protocol bgp peer {
            local 127.0.0.1 as 65000;
            neighbor 127.0.0.2 as 65001;
            ipv4 { \(channel) };
        \(extra)
        }
        """
    }
}
