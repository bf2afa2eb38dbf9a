/// What a channel implementation provides to its pipeline's head and tail.
///
/// Loop-confined: called only on the channel's loop.
protocol ChannelCore: AnyObject {
    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?)
    func flush0()
    func read0()
    /// Turns reading whenever data arrives on or off, as the `autoRead` option does, without
    /// the option's hop through a task (an async channel's inbound backpressure).
    func setAutoRead0(_ enabled: Bool)
    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?)
    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?)
    /// A message reached the tail without being consumed.
    func unhandledInbound(_ data: PipelineMessage)
    /// An error reached the tail without being handled.
    func unhandledError(_ error: any Error)
}
