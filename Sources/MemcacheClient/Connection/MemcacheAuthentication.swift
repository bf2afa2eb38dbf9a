import Channels
import Codecs

extension MemcacheClientHandler {
    /// Authenticates this handler's new connection (memcached's ASCII authentication): sends
    /// `credentials` and succeeds when the server says `STORED`. Any other reply fails with
    /// `MemcacheError.authenticationFailed` (the server's words in its message); a broken
    /// connection or a timeout fails as it would for any request.
    func authenticate(_ credentials: MemcacheCredentials, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            self.send(credentials.authenticationRequest) { result in
                promise.completeWith(result.flatMap { Self.authenticationOutcome($0, credentials) })
            }
        }
        return promise.futureResult
    }

    private static func authenticationOutcome(_ response: MemcacheResponse, _ credentials: MemcacheCredentials)
        -> Result<Void, any Error>
    {
        switch response {
        case .stored:
            return .success(())
        case .error(let error) where error.code == .authenticationFailed:
            return .failure(
                MemcacheError(
                    .authenticationFailed,
                    "the server refused user '\(credentials.username)': CLIENT_ERROR \(error.message)"))
        default:
            return .failure(
                MemcacheError(
                    .authenticationFailed,
                    "the server answered the authentication of '\(credentials.username)' with \(response)"))
        }
    }

    /// Whether `error`, from `authenticate`, is the server's answer (a configuration error)
    /// rather than a broken connection.
    static func isRefusal(_ error: any Error) -> Bool {
        (error as? MemcacheError)?.code == .authenticationFailed
    }
}
