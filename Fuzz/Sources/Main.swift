// tincd-fuzz: one libFuzzer binary, one entry per input surface. The first argument names the
// target (`tincd-fuzz handshake [libFuzzer flags…] [corpus dirs…]`); FUZZ_TARGET works too.
// Build and run it through `make fuzz` / `make fuzz-smoke` (docs/FUZZING.md).
import CFuzzShim
#if canImport(Glibc)
import Glibc
#endif

typealias FuzzTarget = @Sendable (UnsafeRawBufferPointer) -> Void

let allTargets: [(name: String, run: FuzzTarget)] = [
    ("handshake", fuzzHandshake),
    ("metastream", fuzzMetaStream),
    ("request", fuzzRequest),
    ("subnet", fuzzSubnet),
    ("packet-open", fuzzPacketOpen),
    ("replay-window", fuzzReplayWindow),
    ("decompress", fuzzDecompress),
    ("ccompression", fuzzCCompression),
    ("forwarding", fuzzForwarding),
    ("mss-clamp", fuzzMSSClamp),
    ("gro", fuzzGRO),
    ("segmenter", fuzzSegmenter),
    ("icmp", fuzzICMP),
    ("ttl", fuzzTTL),
    ("bgp-codec", fuzzBGPCodec),
    ("bgp-session", fuzzBGPSession),
    ("bfd", fuzzBFD),
    ("metrics-http", fuzzMetricsHTTP),
    ("control", fuzzControl),
    ("gossip", fuzzGossip),
]

nonisolated(unsafe) var selected: FuzzTarget?

/// Writes to standard error with write(2): the C `stderr` global is shared mutable state to Swift 6.
func fuzzPrint(_ text: String) {
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { b -> Int in
            guard let base = b.baseAddress else { return -1 }
            return write(2, base + off, b.count - off)
        }
        if n <= 0 { return }
        off += n
    }
}

/// Stops the run the way libFuzzer reports a crash (an input that breaks an asserted invariant).
func fuzzCheck(_ ok: @autoclosure () -> Bool, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !ok() {
        fuzzPrint("FUZZ INVARIANT VIOLATED at \(file):\(line): \(what())\n")
        abort()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let t = selected else { return 0 }
    t(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

@_cdecl("tincd_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var args = (0..<Int(argc)).map { argv[$0] }
    var name: String? = getenv("FUZZ_TARGET").map { String(cString: $0) }
    if args.count > 1, let a = args[1], a.pointee != UInt8(ascii: "-"), let t = allTargets.first(where: { $0.name == String(cString: a) }) {
        name = t.name
        args.remove(at: 1)
    }
    guard let n = name, let t = allTargets.first(where: { $0.name == n }) else {
        fuzzPrint("usage: tincd-fuzz TARGET [libFuzzer options] [corpus dirs]\ntargets: \(allTargets.map { $0.name }.joined(separator: " "))\n")
        return 2
    }
    selected = t.run
    fuzzSetUp(n)
    var c = CInt(args.count)
    args.append(nil)
    return args.withUnsafeMutableBufferPointer { buf in
        var v: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buf.baseAddress
        return LLVMFuzzerRunDriver(&c, &v, fuzzOne)
    }
}

/// Reads fuzz bytes as decisions; past the end it yields zeros.
struct FuzzReader {
    let data: UnsafeRawBufferPointer
    var pos = 0
    init(_ d: UnsafeRawBufferPointer) { data = d }
    var remaining: Int { data.count - pos }
    var atEnd: Bool { pos >= data.count }
    mutating func u8() -> UInt8 {
        guard pos < data.count else { return 0 }
        defer { pos += 1 }
        return data[pos]
    }
    mutating func u16() -> UInt16 { UInt16(u8()) << 8 | UInt16(u8()) }
    mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }
    mutating func bytes(_ n: Int) -> [UInt8] {
        let k = max(0, min(n, remaining))
        defer { pos += k }
        return Array(data[pos ..< pos + k])
    }
    mutating func rest() -> [UInt8] { bytes(remaining) }
    /// A chunk of length given by one byte (0-255), or everything left when that byte is 255.
    mutating func chunk() -> [UInt8] {
        let n = Int(u8())
        return n == 255 ? rest() : bytes(n)
    }
}
