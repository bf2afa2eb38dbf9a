/// A socket channel whose options live on its loop: `setOption` and `getOption` hop there,
/// and `getOption` checks the value's type, the same for a TCP and a UDP channel. Each kind
/// says which options it has and what they do (`readOption`, `applyOption`).
protocol LoopOptionChannel: AnyObject, Sendable {
    var loop: SelectableEventLoop { get }
    /// The option's value: the channel's own setting, or the kernel's. Loop only.
    func readOption(_ key: ChannelOptionKey) throws -> any Sendable
    /// Applies an option (also used by the bootstraps before activation). Loop only.
    func applyOption(_ key: ChannelOptionKey, _ value: Any) throws
}

extension LoopOptionChannel {
    func setOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> EventLoopFuture<Void> {
        self.loop.submit { try self.applyOption(option.key, value) }
    }

    func getOption<Value: Sendable>(_ option: ChannelOption<Value>) -> EventLoopFuture<Value> {
        self.loop.submit {
            guard let typed = try self.readOption(option.key) as? Value else {
                throw ChannelError(.unsupportedOperation, "option \(option.key) has another type")
            }
            return typed
        }
    }
}

extension SocketChannel: LoopOptionChannel {}
extension DatagramChannel: LoopOptionChannel {}
