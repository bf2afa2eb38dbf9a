import ArgumentParser

@main
struct MCPool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpool",
        abstract: "Multi-loop networking on Linux without SwiftNIO: servers and load tools.",
        subcommands: [EchoBench.self, EchoServe.self]
    )
}
