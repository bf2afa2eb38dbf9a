/// The absolute path of a file under the repository's `Fixtures/` folder, found from this
/// source file's own path (SwiftPM resources cannot point outside a target's folder).
public func fixturePath(_ relative: String) -> String {
    // This file is Tests/TestSupport/FixturePaths.swift: three components below the root.
    let here = "\(#filePath)"
    let root = here.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
    return root + "/Fixtures/" + relative
}
