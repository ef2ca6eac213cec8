import Glibc
import MeshIO
import TunTap

extension MeshDaemon {
    /// How many TX workers (and device queues) to run: DataPlaneThreads, else one per online core.
    static func dataPlaneThreads(_ s: DaemonSettings) -> Int {
        if let n = s.dataPlaneThreads { return n }
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return Int(min(max(cores, 1), 64))
    }

    /// Opens the TAP/TUN device with one queue per TX worker (IFF_MULTI_QUEUE); the kernel then
    /// spreads the frames it hands us over the queues by flow hash, so one flow stays on one worker
    /// and in order. Falls back to one queue (one TX worker) when the kernel or an existing
    /// persistent device refuses multi-queue, and to fewer queues when adding one fails; logged once.
    /// (A TUN/TAP device: `s.deviceType` is .tun or .tap.)
    static func openDeviceQueues(_ s: DaemonSettings) throws -> (NetworkDevice, [TunTapDevice]) {
        let wanted = MeshDaemon.dataPlaneThreads(s)
        let name = s.interface ?? s.netName
        func single() throws -> TunTapDevice {
            try TunTapDevice(type: s.deviceType, path: s.devicePath, interface: name, oneQueue: s.iffOneQueue,
                             offload: s.deviceOffload)
        }
        guard wanted > 1 else { return (try single(), []) }
        let first: TunTapDevice
        do {
            first = try TunTapDevice(type: s.deviceType, path: s.devicePath, interface: name, oneQueue: s.iffOneQueue,
                                     offload: s.deviceOffload, multiQueue: true)
        } catch {
            Log.notice("Multi-queue device refused (\(error)); one queue and one TX worker")
            return (try single(), [])
        }
        var more: [TunTapDevice] = []
        while more.count + 1 < wanted {
            do { more.append(try first.openQueue()) } catch {
                Log.notice("Device queue \(more.count + 2) of \(wanted) refused (\(error)); \(more.count + 1) TX workers")
                break
            }
        }
        return (first, more)
    }
}
