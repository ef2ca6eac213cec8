/// Where the RIB's best routes go (`protocol kernel` export). The speaker calls `apply` with the changes of one
/// RIB update round; an implementation may batch them (KernelFIB sends them as few netlink messages as fit).
public protocol FIBSink: AnyObject {
    func apply(_ changes: [FIBChange])
}

public enum FIBChange: Equatable {
    /// Install or replace `prefix` via `nextHop` (a host prefix, /32 or /128) with route metric `metric`.
    case add(IPPrefix, nextHop: IPPrefix, metric: UInt32)
    /// Withdraw `prefix`.
    case remove(IPPrefix)

    public var prefix: IPPrefix {
        switch self {
        case .add(let p, _, _): return p
        case .remove(let p): return p
        }
    }
}
