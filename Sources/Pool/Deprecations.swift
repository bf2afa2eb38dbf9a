// Renamed API, kept compiling for a while.

extension ConnectionPoolConfiguration {
    /// The old name of `minConnectionsPerLoop`, which says what it always meant: connections
    /// kept open, leased or idle (not a minimum of idle ones).
    @available(*, deprecated, renamed: "minConnectionsPerLoop")
    public var minIdleConnectionsPerLoop: Int {
        get { self.minConnectionsPerLoop }
        set { self.minConnectionsPerLoop = newValue }
    }
}
