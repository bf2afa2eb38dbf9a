/// A datagram with its peer: where it came from (inbound) or where it goes (outbound).
///
/// Thread-safe when `DataType` is (a value). A `DatagramBootstrap` channel reads
/// `AddressedEnvelope<ByteBuffer>` and writes it; a connected one also writes bare
/// `ByteBuffer`s, to the peer it is connected to.
///
/// ```swift
/// // An echo handler: every datagram goes back to its sender.
/// func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
///     let datagram = self.unwrapInboundIn(data)
///     context.writeAndFlush(self.wrapOutboundOut(datagram), promise: nil)
/// }
/// ```
public struct AddressedEnvelope<DataType> {
    /// The sender of an inbound datagram, the destination of an outbound one.
    public var remoteAddress: SocketAddress
    /// The datagram's payload.
    public var data: DataType
    /// The datagram was longer than the channel's receive size and the kernel cut it
    /// (`MSG_TRUNC`): `data` holds its first bytes only. Always false on outbound datagrams.
    /// Raise `ChannelOption.datagramReceiveSize` to receive such datagrams whole.
    public var isTruncated: Bool

    public init(remoteAddress: SocketAddress, data: DataType, isTruncated: Bool = false) {
        self.remoteAddress = remoteAddress
        self.data = data
        self.isTruncated = isTruncated
    }
}

extension AddressedEnvelope: Sendable where DataType: Sendable {}
extension AddressedEnvelope: Equatable where DataType: Equatable {}
extension AddressedEnvelope: Hashable where DataType: Hashable {}

extension AddressedEnvelope: CustomStringConvertible {
    public var description: String {
        "AddressedEnvelope(\(self.remoteAddress), \(self.data)\(self.isTruncated ? ", truncated" : ""))"
    }
}
