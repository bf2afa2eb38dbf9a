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
