import Foundation
import TestSupport
import Testing

/// The Swift code blocks of the DocC articles (and the README blocks that ask for it) are kept
/// compiling: each block follows a marker `<!-- snippet: NAME -->`, and a test source file
/// holds the same lines between `// snippet: NAME` and `// end snippet`, where the compiler
/// checks them (and usually a test runs them).
@Suite("Documentation snippets")
struct DocumentationSnippetTests {
    static let root: String = {
        let here = "\(#filePath)" // Tests/ChannelsTests/Docs/DocumentationSnippetTests.swift
        return here.split(separator: "/", omittingEmptySubsequences: false).dropLast(4).joined(separator: "/")
    }()

    struct Block {
        let file: String
        let line: Int
        let snippet: String?
        let code: [String]
    }

    /// Every ```swift block of a Markdown file, with the snippet marker right before it.
    static func blocks(in path: String) throws -> [Block] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            guard lines[index].trimmingCharacters(in: .whitespaces) == "```swift" else {
                index += 1
                continue
            }
            var marker: String?
            if index > 0,
                let range = lines[index - 1].range(
                    of: #"<!-- snippet: ([A-Za-z0-9_-]+) -->"#, options: .regularExpression)
            {
                marker = String(lines[index - 1][range].dropFirst("<!-- snippet: ".count).dropLast(" -->".count))
            }
            let start = index + 1
            var end = start
            while end < lines.count, lines[end].trimmingCharacters(in: .whitespaces) != "```" { end += 1 }
            blocks.append(Block(file: path, line: index + 1, snippet: marker, code: Array(lines[start..<end])))
            index = end + 1
        }
        return blocks
    }

    /// Every `// snippet: NAME` region of the Swift files under Tests/, de-indented.
    static func regions() throws -> [String: [String]] {
        var regions: [String: [String]] = [:]
        let tests = root + "/Tests"
        guard let files = FileManager.default.enumerator(atPath: tests) else { return [:] }
        for case let file as String in files where file.hasSuffix(".swift") {
            let lines = try String(contentsOfFile: tests + "/" + file, encoding: .utf8).components(separatedBy: "\n")
            var current: (name: String, lines: [String])?
            for line in lines {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("// snippet: ") {
                    current = (String(trimmed.dropFirst("// snippet: ".count)), [])
                } else if trimmed == "// end snippet", let region = current {
                    regions[region.name] = dedent(region.lines)
                    current = nil
                } else if current != nil {
                    current?.lines.append(line)
                }
            }
        }
        return regions
    }

    static func dedent(_ lines: [String]) -> [String] {
        let indents = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map {
            $0.prefix { $0 == " " }.count
        }
        let common = indents.min() ?? 0
        return lines.map { $0.count >= common ? String($0.dropFirst(common)) : $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test("every Swift block of the DocC articles, and every marked README block, is a compiled snippet")
    func snippetsCompile() throws {
        let regions = try Self.regions()
        var articles = ["README.md"]
        let sources = Self.root + "/Sources"
        if let files = FileManager.default.enumerator(atPath: sources) {
            for case let file as String in files where file.contains(".docc/") && file.hasSuffix(".md") {
                articles.append("Sources/" + file)
            }
        }
        var checked = 0
        for article in articles {
            for block in try Self.blocks(in: Self.root + "/" + article) {
                let place = "\(article):\(block.line)"
                guard let name = block.snippet else {
                    #expect(article == "README.md", "\(place): a Swift block without a `<!-- snippet: NAME -->` marker")
                    continue
                }
                guard let region = regions[name] else {
                    Issue.record("\(place): no test file has `// snippet: \(name)`")
                    continue
                }
                #expect(block.code == region, "\(place): the block differs from snippet \(name)")
                checked += 1
            }
        }
        #expect(checked >= 10)
    }
}
