import MeshIO

/// Builds the Linux-side companions a configuration asks for: a kernel FIB when it has a
/// `protocol kernel`, a BFD manager when it has a `protocol bfd`. Shared by the standalone
/// `tincd-swift bgp` mode and the VPN daemon so both behave the same.
public enum BGPRuntime {
    public static func fib(for config: BGPConfig) throws -> KernelFIB? {
        for p in config.protocols {
            if case .kernel(let k) = p {
                var o = KernelFIB.Options()
                if let t = k.kernelTable { o.table = UInt32(t) }
                // BIRD's `persist` keeps routes after exit; otherwise ours are removed on shutdown.
                o.flushOnClose = !k.persist
                let fib = try KernelFIB(options: o)
                _ = fib.flushOwnRoutes()   // stale routes from a previous run
                return fib
            }
        }
        return nil
    }

    public static func liveness(for config: BGPConfig, loop: EventLoop) throws -> BFDManager? {
        for p in config.protocols {
            if case .bfd(let b) = p { return try BFDManager(loop: loop, config: b) }
        }
        return nil
    }
}
