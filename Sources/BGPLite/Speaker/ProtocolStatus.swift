// Status types exported by the speaker.

// FIBSink / FIBChange (Kernel/FIBSink.swift) and LivenessMonitor (BFD/LivenessMonitor.swift) are defined
// by the kernel and BFD implementations; the speaker uses only those protocols.

/// One protocol's status, for the VPN daemon's control socket and tests.
public struct BGPProtocolStatus: Equatable {
    public var name: String
    /// "BGP", "Static", "Kernel", "Device", "Direct", "BFD".
    public var proto: String
    /// BIRD's protocol state: "up", "start", "down".
    public var state: String
    /// BGP: "Established", "Active", "Connect", "OpenSent", "OpenConfirm", "Idle", "Passive"; else "".
    public var bgpState: String
    /// Wall-clock seconds since the epoch of the last state change.
    public var since: Double
    public var established: Bool
    public var prefixesReceived: Int
    public var prefixesAccepted: Int
    public var prefixesExported: Int
    public var updatesIn: Int
    public var updatesOut: Int
    public var lastError: String
}
