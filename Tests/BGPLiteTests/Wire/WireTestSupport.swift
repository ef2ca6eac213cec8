import XCTest
@testable import BGPLite

/// Bytes from a hex string; whitespace and newlines are ignored.
func hex(_ s: String) -> [UInt8] {
    let digits = s.unicodeScalars.filter { !$0.properties.isWhitespace }
    var out: [UInt8] = []
    var it = digits.makeIterator()
    while let a = it.next(), let b = it.next() {
        out.append(UInt8(String(a) + String(b), radix: 16)!)
    }
    return out
}

func hexString(_ b: [UInt8]) -> String {
    b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

let marker = [UInt8](repeating: 0xFF, count: 16)

/// Header + body.
func bgpMessage(type: UInt8, body: [UInt8]) -> [UInt8] {
    let len = 19 + body.count
    return marker + [UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF), type] + body
}

/// One path attribute, extended length when needed (or forced).
func attr(_ flags: UInt8, _ type: UInt8, _ value: [UInt8], extended: Bool = false) -> [UInt8] {
    if extended || value.count > 255 {
        return [flags | 0x10, type, UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
    }
    return [flags & ~0x10, type, UInt8(value.count)] + value
}

func updateBody(withdrawn: [UInt8] = [], attrs: [UInt8], nlri: [UInt8] = []) -> [UInt8] {
    [UInt8(withdrawn.count >> 8), UInt8(withdrawn.count & 0xFF)] + withdrawn
        + [UInt8(attrs.count >> 8), UInt8(attrs.count & 0xFF)] + attrs + nlri
}

func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }

// Common attributes (4-byte AS session).
let aOriginIGP = attr(0x40, 1, [0])
let aASPath65001 = attr(0x40, 2, [2, 1] + be32(65001))
let aNextHop = attr(0x40, 3, [192, 0, 2, 1])
let mandatory4 = aOriginIGP + aASPath65001 + aNextHop
/// 10.0.1.0/24, 10.0.2.0/24, 10.0.3.0/24
let threeSlash24 = hex("180a0001 180a0002 180a0003")

let opts4 = CodecOptions(fourOctetAS: true, extendedMessages: false)
let opts2 = CodecOptions(fourOctetAS: false, extendedMessages: false)

func decodeUpdate(_ body: [UInt8], _ options: CodecOptions = opts4) -> DecodedUpdate {
    body.withUnsafeBytes { UpdateMessage.decode(body: $0, options: options) }
}

func decodeMessage(_ bytes: [UInt8], _ options: CodecOptions = opts4) -> Result<BGPMessage, BGPError> {
    bytes.withUnsafeBytes { raw in
        do throws(BGPError) { return .success(try BGPMessage.decode(raw, options: options)) } catch { return .failure(error) }
    }
}

func frame(_ bytes: [UInt8], _ options: CodecOptions = opts4) -> Result<Int?, BGPError> {
    bytes.withUnsafeBytes { raw in
        do throws(BGPError) { return .success(try BGPFraming.messageLength(raw, options: options)) } catch { return .failure(error) }
    }
}

func p4(_ s: String) -> IPPrefix { IPPrefix(s)! }

extension Result {
    var error: Failure? { if case .failure(let e) = self { return e } else { return nil } }
    var value: Success? { if case .success(let v) = self { return v } else { return nil } }
}

func XCTAssertNotification(_ e: BGPError?, _ code: UInt8, _ subcode: UInt8, data: [UInt8]? = nil,
                           file: StaticString = #filePath, line: UInt = #line) {
    guard let e = e else { return XCTFail("expected NOTIFICATION \(code)/\(subcode), got success", file: file, line: line) }
    XCTAssertEqual(e.notification.code, code, "\(e)", file: file, line: line)
    XCTAssertEqual(e.notification.subcode, subcode, "\(e)", file: file, line: line)
    if let d = data { XCTAssertEqual(e.notification.data, d, "\(e)", file: file, line: line) }
}

func XCTAssertReset(_ d: DecodedUpdate, _ code: UInt8, _ subcode: UInt8, file: StaticString = #filePath, line: UInt = #line) {
    guard case .sessionReset(let n) = d.action else {
        return XCTFail("expected session reset \(code)/\(subcode), got \(d.action)", file: file, line: line)
    }
    XCTAssertEqual(n.code, code, file: file, line: line)
    XCTAssertEqual(n.subcode, subcode, "\(d.reasons)", file: file, line: line)
}

func XCTAssertWithdraw(_ d: DecodedUpdate, file: StaticString = #filePath, line: UInt = #line) {
    guard case .treatAsWithdraw = d.action else {
        return XCTFail("expected treat-as-withdraw, got \(d.action)", file: file, line: line)
    }
}

func XCTAssertDiscard(_ d: DecodedUpdate, file: StaticString = #filePath, line: UInt = #line) {
    guard case .attributeDiscard = d.action else {
        return XCTFail("expected attribute discard, got \(d.action)", file: file, line: line)
    }
}

