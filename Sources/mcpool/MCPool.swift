import ArgumentParser

@main
struct MCPool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcpool",
        abstract: "A memcache server, load tool and client built on swift-channels (no SwiftNIO).",
        subcommands: [
            Bench.self, Serve.self, Soak.self, Plot.self, GetCommand.self, SetCommand.self, DeleteCommand.self,
            StatsCommand.self, EchoBench.self, EchoServe.self,
        ]
    )
}
