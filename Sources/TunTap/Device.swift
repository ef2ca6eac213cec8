import Glibc
import CNetShim
import MeshIO

public enum DeviceType: String, Sendable {
    case tun, tap, dummy
}

/// A virtual network device the daemon reads frames from and writes frames to.
/// Frames are always Ethernet frames (tinc's packet format): a TUN device gets a synthetic
/// 14-byte header on read (12 zero MAC bytes + ethertype) that is stripped again on write.
public protocol NetworkDevice: AnyObject {
    var type: DeviceType { get }
    /// Device path for scripts (DEVICE) and the interface name (INTERFACE).
    var path: String { get }
    var interface: String { get }
    /// Readable fd for the event loop, or -1 for devices without one.
    var fd: Int32 { get }
    /// Reads one frame into `buf`; returns its length, 0 when nothing is pending, -1 on error.
    func read(into buf: UnsafeMutableRawBufferPointer) -> Int
    /// Writes one frame; returns false on error.
    @discardableResult func write(_ frame: UnsafeRawBufferPointer) -> Bool
    func close()
}

public struct DeviceError: Error, CustomStringConvertible {
    public let description: String
}

/// Linux TUN/TAP through /dev/net/tun.
public final class TunTapDevice: NetworkDevice {
    public let type: DeviceType
    public let path: String
    public let interface: String
    public private(set) var fd: Int32

    public init(type: DeviceType, path: String = "/dev/net/tun", interface: String?, oneQueue: Bool = false) throws {
        precondition(type != .dummy)
        var name = [CChar](repeating: 0, count: 16)
        let r = cns_tun_open(path, interface ?? "", type == .tap ? 1 : 0, oneQueue ? 1 : 0, &name)
        guard r >= 0 else {
            throw DeviceError(description: "Could not open \(path) for \(interface ?? type.rawValue): \(String(cString: strerror(-r)))")
        }
        self.type = type
        self.path = path
        self.fd = r
        self.interface = String(cString: name)
    }

    public func read(into buf: UnsafeMutableRawBufferPointer) -> Int {
        if type == .tap {
            let n = Glibc.read(fd, buf.baseAddress, buf.count)
            if n < 0 { return errno == EAGAIN || errno == EINTR ? 0 : -1 }
            return n
        }
        // TUN: leave room for the synthetic Ethernet header.
        guard buf.count > 14 else { return -1 }
        let n = Glibc.read(fd, buf.baseAddress! + 14, buf.count - 14)
        if n < 0 { return errno == EAGAIN || errno == EINTR ? 0 : -1 }
        guard n > 0 else { return 0 }
        memset(buf.baseAddress!, 0, 12)
        let version = buf[14] >> 4
        buf[12] = version == 6 ? 0x86 : 0x08
        buf[13] = version == 6 ? 0xDD : 0x00
        return n + 14
    }

    public func write(_ frame: UnsafeRawBufferPointer) -> Bool {
        if type == .tap { return Glibc.write(fd, frame.baseAddress, frame.count) == frame.count }
        guard frame.count > 14 else { return false }
        return Glibc.write(fd, frame.baseAddress! + 14, frame.count - 14) == frame.count - 14
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit { close() }
}

/// tinc's `DeviceType = dummy`: no kernel device; frames routed to us are discarded. Useful for pure relays and tests.
public final class DummyDevice: NetworkDevice {
    public let type = DeviceType.dummy
    public let path = "dummy"
    public let interface = "dummy"
    public let fd: Int32 = -1
    public private(set) var written: Int = 0
    public init() {}
    public func read(into buf: UnsafeMutableRawBufferPointer) -> Int { 0 }
    public func write(_ frame: UnsafeRawBufferPointer) -> Bool { written += 1; return true }
    public func close() {}
}
