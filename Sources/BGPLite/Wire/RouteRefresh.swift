// ROUTE-REFRESH message (RFC 2918) with the RFC 7313 message subtype.

public struct RouteRefreshMessage: Equatable, Sendable {
    public var afiSafi: AFISAFI
    /// 0 = normal route refresh, 1 = BoRR, 2 = EoRR (RFC 7313); others are reserved
    /// and must be ignored by the receiver.
    public var subtype: UInt8

    public static let normal: UInt8 = 0
    public static let beginningOfRouteRefresh: UInt8 = 1
    public static let endOfRouteRefresh: UInt8 = 2

    public init(afiSafi: AFISAFI, subtype: UInt8 = 0) {
        self.afiSafi = afiSafi
        self.subtype = subtype
    }

    public static func request(_ f: AFISAFI) -> RouteRefreshMessage { RouteRefreshMessage(afiSafi: f, subtype: normal) }
    public static func borr(_ f: AFISAFI) -> RouteRefreshMessage { RouteRefreshMessage(afiSafi: f, subtype: beginningOfRouteRefresh) }
    public static func eorr(_ f: AFISAFI) -> RouteRefreshMessage { RouteRefreshMessage(afiSafi: f, subtype: endOfRouteRefresh) }

    static func decode(body: UnsafeRawBufferPointer) -> RouteRefreshMessage {
        // body.count == 4 checked by the caller.
        RouteRefreshMessage(afiSafi: AFISAFI(afi: UInt16(body.wireU16(at: 0)), safi: body[3]), subtype: body[2])
    }

    func encodeBody(into w: inout WireWriter) {
        w.u16(afiSafi.afi)
        w.u8(subtype)
        w.u8(afiSafi.safi)
    }
}
