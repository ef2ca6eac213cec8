/// One BFD session in asynchronous mode (RFC 5880 §6): the state machine, timer negotiation and Poll/Final
/// sequence. Pure logic: time comes in as seconds (monotonic), packets go out through `transmit`, and the owner
/// calls `tick(now:)` at `nextDeadline`. BFDManager drives it from an EventLoop; tests drive it by hand.
public final class BFDSession {
    /// Session parameters in microseconds (BFDOptions' units).
    public struct Parameters: Equatable {
        public var minTx: UInt32
        public var minRx: UInt32
        public var idleTx: UInt32
        public var multiplier: UInt8
        public var passive: Bool
        public init(minTx: UInt32, minRx: UInt32, idleTx: UInt32, multiplier: UInt8, passive: Bool = false) {
            self.minTx = minTx; self.minRx = minRx; self.idleTx = idleTx; self.multiplier = multiplier; self.passive = passive
        }
        public init(_ o: BFDOptions) {
            func clamp(_ v: Int) -> UInt32 { UInt32(max(1, min(v, Int(UInt32.max)))) }
            self.init(minTx: clamp(o.minTxInterval), minRx: UInt32(max(0, min(o.minRxInterval, Int(UInt32.max)))),
                      idleTx: clamp(o.idleTxInterval), multiplier: UInt8(max(1, min(o.multiplier, 255))), passive: o.passive)
        }
    }

    public let localDiscriminator: UInt32
    public private(set) var parameters: Parameters

    public private(set) var state: BFDState = .down
    public private(set) var remoteState: BFDState = .down
    public private(set) var remoteDiscriminator: UInt32 = 0
    public private(set) var localDiagnostic: BFDDiagnostic = .none
    /// What we advertise (bfd.DesiredMinTxInterval / bfd.RequiredMinRxInterval), µs.
    public private(set) var desiredMinTx: UInt32
    public private(set) var requiredMinRx: UInt32
    /// Last values received from the peer, µs (bfd.RemoteMinRxInterval starts at 1 per §6.8.1).
    public private(set) var remoteMinRx: UInt32 = 1
    public private(set) var remoteDesiredMinTx: UInt32 = 0
    public private(set) var remoteMultiplier: UInt8 = 0
    public private(set) var remoteDemand = false
    public private(set) var pollActive = false
    /// Valid packets received, packets handed to `transmit`.
    public private(set) var received = 0
    public private(set) var sent = 0

    // Values actually in force for our own timing: during a Poll Sequence an increased DesiredMinTx and a
    // reduced RequiredMinRx only take effect once the peer's Final arrives (§6.8.3).
    private var txBasis: UInt32
    private var rxBasis: UInt32

    public private(set) var nextTransmit: Double?
    public private(set) var detectDeadline: Double?

    public var transmit: (BFDPacket) -> Void = { _ in }
    public var stateChanged: (_ from: BFDState, _ to: BFDState, _ diagnostic: BFDDiagnostic) -> Void = { _, _, _ in }
    /// Uniform in [0, 1); replaceable for deterministic tests.
    public var random: () -> Double = { Double.random(in: 0..<1) }

    public init(localDiscriminator: UInt32, parameters: Parameters) {
        precondition(localDiscriminator != 0, "BFD discriminators are nonzero")
        self.localDiscriminator = localDiscriminator
        self.parameters = parameters
        desiredMinTx = parameters.idleTx
        requiredMinRx = parameters.minRx
        txBasis = desiredMinTx
        rxBasis = requiredMinRx
    }

    // MARK: Derived timing

    /// Negotiated transmit interval before jitter, µs (§6.8.7); 0 when the peer asked for no packets.
    public var transmitInterval: UInt32 {
        remoteMinRx == 0 ? 0 : max(txBasis, remoteMinRx)
    }

    /// Detection time in asynchronous mode, µs (§6.8.4): the peer's multiplier times the agreed interval
    /// at which it sends to us. 0 until a packet has been received.
    public var detectionTime: UInt64 {
        UInt64(remoteMultiplier) * UInt64(max(rxBasis, remoteDesiredMinTx))
    }

    public var nextDeadline: Double? {
        switch (nextTransmit, detectDeadline) {
        case let (a?, b?): return min(a, b)
        case let (a?, nil): return a
        case let (nil, b?): return b
        default: return nil
        }
    }

    private var mayTransmit: Bool {
        !(parameters.passive && remoteDiscriminator == 0)
    }

    /// Jittered periodic interval in seconds: 75-100 % of the interval, 75-90 % when the multiplier is 1.
    func jittered(_ interval: UInt32) -> Double {
        let spread = parameters.multiplier == 1 ? 0.15 : 0.25
        return Double(interval) / 1e6 * (0.75 + spread * random())
    }

    // MARK: Control

    /// Starts transmitting (the first packet at once unless passive).
    public func start(now: Double) {
        scheduleTransmit(now: now, immediately: true)
    }

    /// Administratively disables the session (diag 7) and tells the peer at once.
    public func setAdminDown(now: Double) {
        guard state != .adminDown else { return }
        localDiagnostic = .administrativelyDown
        change(to: .adminDown, now: now)
        detectDeadline = nil
        send(final: false)
        scheduleTransmit(now: now, immediately: false)
    }

    /// Leaves AdminDown.
    public func enable(now: Double) {
        guard state == .adminDown else { return }
        change(to: .down, now: now)
        scheduleTransmit(now: now, immediately: true)
    }

    /// New configured parameters; interval changes run a Poll Sequence.
    public func update(parameters p: Parameters, now: Double) {
        guard p != parameters else { return }
        parameters = p
        applyIntervals(now: now)
    }

    /// The intervals we want for the current state: the idle rate unless Up (§6.8.3: at least the idle
    /// interval, one second by default, while the session is not Up).
    private func applyIntervals(now: Double) {
        let wantTx = state == .up ? parameters.minTx : max(parameters.idleTx, parameters.minTx)
        let wantRx = parameters.minRx
        guard wantTx != desiredMinTx || wantRx != requiredMinRx else { return }
        // An increase of our tx interval while Up waits for the Final; a decrease applies now.
        if !(state == .up && wantTx > txBasis) { txBasis = wantTx }
        // A reduction of our rx interval while Up waits for the Final (the peer may not speed up before).
        if !(state == .up && wantRx < rxBasis) { rxBasis = wantRx }
        desiredMinTx = wantTx
        requiredMinRx = wantRx
        if remoteDiscriminator != 0 {
            pollActive = true
            scheduleTransmit(now: now, immediately: true)
        } else {
            txBasis = wantTx
            rxBasis = wantRx
            rescheduleTransmitIfLater(now: now)
        }
    }

    // MARK: Reception (§6.8.6, after decode and session selection)

    public func receive(_ p: BFDPacket, now: Double) {
        received += 1
        remoteDiscriminator = p.myDiscriminator
        remoteState = p.state
        remoteDemand = p.demand
        remoteMinRx = p.requiredMinRxInterval
        remoteDesiredMinTx = p.desiredMinTxInterval
        remoteMultiplier = p.detectMultiplier
        if p.final && pollActive {
            pollActive = false
            txBasis = desiredMinTx
            rxBasis = requiredMinRx
        }
        if transmitInterval == 0 {
            nextTransmit = nil
        } else if nextTransmit == nil {
            scheduleTransmit(now: now, immediately: false)
        } else {
            rescheduleTransmitIfLater(now: now)
        }
        if state != .adminDown { detectDeadline = now + Double(detectionTime) / 1e6 }

        if state == .adminDown { return }
        if p.state == .adminDown {
            if state != .down {
                localDiagnostic = .neighborSignaledSessionDown
                change(to: .down, now: now)
            }
        } else {
            switch state {
            case .down:
                if p.state == .down { change(to: .initial, now: now) }
                else if p.state == .initial { change(to: .up, now: now) }
            case .initial:
                if p.state == .initial || p.state == .up { change(to: .up, now: now) }
            case .up:
                if p.state == .down {
                    localDiagnostic = .neighborSignaledSessionDown
                    change(to: .down, now: now)
                }
            case .adminDown:
                break
            }
        }
        // A Poll is answered at once with a Final, outside the periodic schedule (§6.8.7).
        if p.poll && mayTransmit { send(final: true) }
    }

    // MARK: Timers

    /// Runs whatever is due at `now`: detection timeout, then a periodic transmission.
    public func tick(now: Double) {
        if let d = detectDeadline, now >= d {
            detectDeadline = nil
            if state == .initial || state == .up {
                localDiagnostic = .controlDetectionTimeExpired
                change(to: .down, now: now)
            }
            // §6.8.1: forget the peer when the detection time passes in silence.
            remoteDiscriminator = 0
            remoteState = .down
            remoteMultiplier = 0
            if pollActive { pollActive = false; txBasis = desiredMinTx; rxBasis = requiredMinRx }
        }
        if let t = nextTransmit, now >= t {
            nextTransmit = nil
            if mayTransmit && transmitInterval != 0 { send(final: false) }
            scheduleTransmit(now: now, immediately: false)
        }
    }

    private func scheduleTransmit(now: Double, immediately: Bool) {
        guard transmitInterval != 0 else { nextTransmit = nil; return }
        nextTransmit = immediately ? now : now + jittered(transmitInterval)
    }

    private func rescheduleTransmitIfLater(now: Double) {
        let interval = transmitInterval
        guard interval != 0 else { nextTransmit = nil; return }
        if let t = nextTransmit, t > now + Double(interval) / 1e6 {
            nextTransmit = now + jittered(interval)
        }
    }

    private func change(to new: BFDState, now: Double) {
        let old = state
        guard old != new else { return }
        state = new
        if new == .up { localDiagnostic = .none }
        applyIntervals(now: now)
        // Tell the peer about the new state right away rather than at the next (possibly 1 s) slot.
        if new != .adminDown { scheduleTransmit(now: now, immediately: true) }
        stateChanged(old, new, localDiagnostic)
    }

    /// The packet we would send now.
    public func makePacket(final: Bool) -> BFDPacket {
        BFDPacket(state: state, diagnostic: localDiagnostic, poll: pollActive && !final, final: final,
                  detectMultiplier: parameters.multiplier, myDiscriminator: localDiscriminator,
                  yourDiscriminator: remoteDiscriminator, desiredMinTxInterval: desiredMinTx,
                  requiredMinRxInterval: requiredMinRx, requiredMinEchoRxInterval: 0)
    }

    private func send(final: Bool) {
        sent += 1
        transmit(makePacket(final: final))
    }
}
