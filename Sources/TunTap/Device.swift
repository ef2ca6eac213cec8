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

    /// True when the device hands us TCP super-frames (IFF_VNET_HDR + TSO) that we segment ourselves.
    public private(set) var offload = false
    private var vnet = false
    private var superBuffer: UnsafeMutableRawPointer?
    private var segmenter = SuperFrameSegmenter()
    private static let superSize = 65536 + VirtioNetHeader.size + 64
    private var zeroHeader = [UInt8](repeating: 0, count: VirtioNetHeader.size)

    /// True when the device was opened with IFF_MULTI_QUEUE: `openQueue()` adds queues to it.
    public let multiQueue: Bool
    private let oneQueue: Bool

    /// - Parameter offload: ask the kernel for TSO super-frames on a TAP device (fewer reads per byte).
    /// - Parameter multiQueue: open with IFF_MULTI_QUEUE, so that `openQueue()` can add queues (the
    ///   kernel then spreads the frames it hands us over the queues by flow hash).
    public init(type: DeviceType, path: String = "/dev/net/tun", interface: String?, oneQueue: Bool = false, offload: Bool = false,
                multiQueue: Bool = false) throws {
        precondition(type != .dummy)
        var name = [CChar](repeating: 0, count: 16)
        let wantVnet = offload && type == .tap
        let r = cns_tun_open_queue(path, interface ?? "", type == .tap ? 1 : 0, oneQueue ? 1 : 0, wantVnet ? 1 : 0,
                                   multiQueue ? 1 : 0, &name)
        guard r >= 0 else {
            throw DeviceError(description: "Could not open \(path) for \(interface ?? type.rawValue): \(String(cString: strerror(-r)))")
        }
        self.type = type
        self.path = path
        self.fd = r
        self.multiQueue = multiQueue
        self.oneQueue = oneQueue
        self.interface = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if wantVnet {
            vnet = true
            self.offload = cns_tun_enable_tso(r) == 0
            superBuffer = .allocate(byteCount: TunTapDevice.superSize, alignment: 64)
        }
    }

    /// One more queue of this multi-queue device: its own fd and read state (give it to one thread).
    /// Offload is asked for again on the new queue (the header size and offloads are per device, so
    /// this repeats what the first queue set); a queue that does not get it is refused.
    public func openQueue() throws -> TunTapDevice {
        guard multiQueue else { throw DeviceError(description: "\(interface) was not opened with IFF_MULTI_QUEUE") }
        let q = try TunTapDevice(type: type, path: path, interface: interface, oneQueue: oneQueue, offload: vnet,
                                 multiQueue: true)
        guard q.offload == offload else {
            q.close()
            throw DeviceError(description: "queue of \(interface) differs in offload from the first one")
        }
        return q
    }

    /// With a virtio header: one read may carry a 64 KB TCP super-frame, handed out segment by segment.
    private func readVnet(into buf: UnsafeMutableRawBufferPointer) -> Int {
        if segmenter.hasMore {
            let n = segmenter.next(into: buf)
            if n > 0 { return n }
        }
        guard let sb = superBuffer else { return -1 }
        while true {
            let n = Glibc.read(fd, sb, TunTapDevice.superSize)
            if n < 0 { return errno == EAGAIN || errno == EINTR ? 0 : -1 }
            guard n > VirtioNetHeader.size + 14 else { continue }
            let h = VirtioNetHeader(sb)
            let frame = sb + VirtioNetHeader.size
            let len = n - VirtioNetHeader.size
            if h.gsoType & ~VirtioNetHeader.gsoECN != VirtioNetHeader.gsoNone {
                if segmenter.start(frame, length: len, header: h) {
                    let s = segmenter.next(into: buf)
                    if s > 0 { return s }
                }
                continue   // a super-frame we cannot split is dropped (never seen with TCP TSO only)
            }
            if h.flags & VirtioNetHeader.needsChecksum != 0 {
                SuperFrameSegmenter.completeChecksum(frame, length: len, start: h.checksumStart, offset: h.checksumOffset)
            }
            guard len <= buf.count else { continue }
            buf.baseAddress!.copyMemory(from: frame, byteCount: len)
            return len
        }
    }

    public func read(into buf: UnsafeMutableRawBufferPointer) -> Int {
        if vnet { return readVnet(into: buf) }
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
        if vnet {
            return zeroHeader.withUnsafeBytes { h in
                cns_writev2(fd, h.baseAddress, h.count, frame.baseAddress, frame.count) == h.count + frame.count
            }
        }
        if type == .tap { return Glibc.write(fd, frame.baseAddress, frame.count) == frame.count }
        guard frame.count > 14 else { return false }
        return Glibc.write(fd, frame.baseAddress! + 14, frame.count - 14) == frame.count - 14
    }

    /// Writes a frame behind an explicit virtio header (GRO super-frames); only with offload.
    public func write(header: UnsafeRawPointer, frame: UnsafeRawPointer, length: Int) -> Bool {
        guard vnet else { return write(UnsafeRawBufferPointer(start: frame, count: length)) }
        return cns_writev2(fd, header, VirtioNetHeader.size, frame, length) == VirtioNetHeader.size + length
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit {
        close()
        superBuffer?.deallocate()
    }
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
