import Channels
import Testing

@Suite("Coded errors: one description for every error type")
struct CodedErrorTests {
    @Test("the description is the code and the message, with the cause in parentheses")
    func descriptionWithCause() {
        let cause = ChannelError(.readTimeout, "nothing for 5 s")
        let error = ChannelError(.connectFailed, "no address of db connected", cause: cause)
        #expect(error.description == "connect failed: no address of db connected (read timeout: nothing for 5 s)")
        #expect(ChannelError(.connectFailed, "refused").description == "connect failed: refused")
    }

    @Test("a cause of the same kind as the error above it is not named again, at any depth")
    func repeatedCodeNamedOnce() {
        let refused = ChannelError(.connectFailed, "Connection refused (errno 111)")
        let pooled = ChannelError(.connectFailed, "cannot connect", cause: refused)
        let error = ChannelError(.connectFailed, "the server cannot be reached", cause: pooled)
        #expect(
            error.description
                == "connect failed: the server cannot be reached (cannot connect (Connection refused (errno 111)))")
        // Another kind below is named, and what is below it is described as it describes itself.
        let timedOut = ChannelError(
            .connectFailed, "no address connected",
            cause: ChannelError(.readTimeout, "late", cause: ChannelError(.readTimeout, "nothing for 5 s")))
        #expect(timedOut.description == "connect failed: no address connected (read timeout: late (nothing for 5 s))")
        // Codes of different areas that read the same are one kind to a reader (a pool's
        // connect failure over the channel's).
        let layered = LayerError(
            code: ErrorCode("connect failed"), message: "the server cannot be reached",
            cause: ChannelError(.connectFailed, "Connection refused (errno 111)"))
        #expect(layered.description == "connect failed: the server cannot be reached (Connection refused (errno 111))")
        // A cause that only says the same words again (a layer's own kind of shutdown) is left
        // out; what is under it is not.
        let shutDown = LayerError(
            code: ErrorCode("shut down"), message: "the pool is shut down",
            cause: ChannelError(.eventLoopShutdown, "the pool is shut down"))
        #expect(shutDown.description == "shut down: the pool is shut down")
        let deeper = LayerError(
            code: ErrorCode("shut down"), message: "the pool is shut down",
            cause: ChannelError(
                .eventLoopShutdown, "the pool is shut down", cause: ChannelError(.cancelled, "by its task")))
        #expect(deeper.description == "shut down: the pool is shut down (cancelled: by its task)")
    }

    @Test("a type that never wraps an error has no cause, and its description none")
    func typeWithoutCause() {
        let error = PipelineError(.notFound, "no handler named decoder")
        #expect(error.description == "handler not found: no handler named decoder")
        #expect(error.cause == nil)
    }

    @Test("the cause reads through the protocol, for code that handles any library error")
    func causeThroughTheProtocol() {
        func cause(of error: some CodedError) -> (any Error)? { error.cause }
        let underlying = ChannelError(.readTimeout, "late")
        let wrapped = cause(of: ChannelError(.connectFailed, "x", cause: underlying))
        #expect((wrapped as? ChannelError)?.code == .readTimeout)
        #expect(cause(of: PipelineError(.notFound, "y")) == nil)
    }
}

/// An error type of another area, as a layer above the channels defines one.
private struct LayerError: CodedError {
    let code: ErrorCode<LayerError>
    let message: String
    let cause: (any Error)?
}
