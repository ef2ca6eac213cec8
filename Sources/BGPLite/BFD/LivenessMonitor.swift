import MeshIO

/// Fast failure detection for a BGP neighbor (`bfd on`). `watch` returns a token; releasing the token stops
/// watching (and the BFD session when nobody else watches that neighbor). `onDown` is called when a session
/// that was Up goes Down (detection time expired or the neighbor signalled Down); `onUp` when it comes Up.
/// Both are called on the monitor's event loop.
public protocol LivenessMonitor: AnyObject {
    func watch(peer: SocketAddress, local: SocketAddress?, interface: String?,
               onDown: @escaping () -> Void, onUp: @escaping () -> Void) -> AnyObject
}
