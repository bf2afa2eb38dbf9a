// The hello-world HTTP/1.1 server: http-server [PORT] [LOOPS] (port 0: a free one, printed).
import Channels
import MiniHTTP

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 8080 : 8080
let loops = arguments.count > 2 ? Int(arguments[2]) ?? 2 : 2
let group = try EventLoopGroup(loopCount: loops)
let server = try await HelloServer.start(group: group, host: "127.0.0.1", port: port)
print("http-server on \(server.localAddress) with \(loops) loops")
try await server.serve()
