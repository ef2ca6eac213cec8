// Protocol and session states as enums. BIRD's words for them are produced only where text is
// rendered (`show protocols`, the control socket's JSON, metrics labels), by `description`.

/// BIRD's protocol state (nest/protocol.h PS_DOWN, PS_START, PS_UP): the State column of
/// `show protocols`. BIRD also shows `stop` and `flush` while a stopping protocol's routes are still
/// being withdrawn from its tables; BGPLite withdraws them inside the call that stops the protocol,
/// so a protocol goes from up or start straight to down and those two are never observable.
public enum ProtocolState: Sendable, Equatable, CustomStringConvertible {
    /// Disabled, stopped, or not started.
    case down
    /// Starting: for BGP, every state before Established, including the error wait.
    case start
    /// Running: for BGP, Established.
    case up

    public var description: String {
        switch self {
        case .down: return "down"
        case .start: return "start"
        case .up: return "up"
        }
    }
}

/// The RFC 4271 8 finite state machine of one BGP connection, and of a session (its most advanced
/// connection). Ordered as the session compares connections (`max`), not as the RFC numbers them.
public enum BGPState: Int, Comparable, Sendable, CustomStringConvertible {
    case idle = 0, active, connect, openSent, openConfirm, established

    public static func < (a: BGPState, b: BGPState) -> Bool { a.rawValue < b.rawValue }

    /// BIRD's name (bsm_state_names).
    public var description: String {
        switch self {
        case .idle: return "Idle"
        case .active: return "Active"
        case .connect: return "Connect"
        case .openSent: return "OpenSent"
        case .openConfirm: return "OpenConfirm"
        case .established: return "Established"
        }
    }
}

/// A BGP protocol's session state as operators see it (BIRD's bgp_state_dsc): Down while the
/// protocol is disabled, Passive while a passive session waits for the peer, else the FSM state.
public enum BGPSessionState: Sendable, Equatable, CustomStringConvertible {
    case down
    case passive
    case fsm(BGPState)

    public var description: String {
        switch self {
        case .down: return "Down"
        case .passive: return "Passive"
        case .fsm(let s): return s.description
        }
    }
}
