/// DecrementTTL for frames we forward between other nodes: IPv4 TTL (checksum fixed incrementally,
/// RFC 1624) or IPv6 hop limit. Returns false when the packet must be dropped (TTL would reach 0).
enum TTL {
    static func decrement(_ f: UnsafeMutableRawPointer, length: Int) -> Bool {
        guard length >= 14 else { return true }
        let type = UInt16(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(f.load(fromByteOffset: 13, as: UInt8.self))
        if type == 0x0800 && length >= 34 {
            let ttl = f.load(fromByteOffset: 22, as: UInt8.self)
            guard ttl > 1 else { return false }
            f.storeBytes(of: ttl - 1, toByteOffset: 22, as: UInt8.self)
            // The TTL is the high byte of the 16-bit word at offset 22; the checksum grows by 0x0100.
            var sum = UInt32(f.load(fromByteOffset: 24, as: UInt8.self)) << 8 | UInt32(f.load(fromByteOffset: 25, as: UInt8.self))
            sum += 0x0100
            sum = (sum & 0xFFFF) + (sum >> 16)
            f.storeBytes(of: UInt8(sum >> 8 & 0xFF), toByteOffset: 24, as: UInt8.self)
            f.storeBytes(of: UInt8(sum & 0xFF), toByteOffset: 25, as: UInt8.self)
        } else if type == 0x86DD && length >= 54 {
            let hl = f.load(fromByteOffset: 21, as: UInt8.self)
            guard hl > 1 else { return false }
            f.storeBytes(of: hl - 1, toByteOffset: 21, as: UInt8.self)
        }
        return true
    }
}
