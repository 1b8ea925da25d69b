// TEMPORARY: stands in for RukoArchive (branch `archive`, not merged yet) with its announced API,
// implemented with bsdtar + pigz. Deleted when the archive module is merged.
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum CompressionLevel: String, Sendable, CaseIterable { case fast, `default`, best }

public struct PackOptions: Sendable {
    public var prefix: String
    public var compression: CompressionLevel
    public var threads: Int?
    public var sourceDateEpoch: Int64?
    public var exclude: (@Sendable (_ relativePath: String, _ isDirectory: Bool) -> Bool)?
    public var maxOutputBytes: UInt64?
    public init(
        prefix: String = "./app/", compression: CompressionLevel = .default, threads: Int? = nil,
        sourceDateEpoch: Int64? = nil, exclude: (@Sendable (_ relativePath: String, _ isDirectory: Bool) -> Bool)? = nil,
        maxOutputBytes: UInt64? = nil
    ) {
        self.prefix = prefix
        self.compression = compression
        self.threads = threads
        self.sourceDateEpoch = sourceDateEpoch
        self.exclude = exclude
        self.maxOutputBytes = maxOutputBytes
    }
}

public struct PackResult: Sendable {
    public var bytes: UInt64
    public var sha256: String
    public var entries: Int
}

public struct ArchiveError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case tooLarge(actual: UInt64, limit: UInt64)
        case specialFile(path: String, kind: String)
        case format(path: String, message: String)
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public var description: String { "\(kind)" }
}

public enum SlugPacker {
    public static func pack(directory: String, to outputPath: String, options: PackOptions) throws(ArchiveError)
        -> PackResult
    {
        var names: [String] = []
        func walk(_ relative: String) throws(ArchiveError) {
            let entries = (try? FileTree.entries(of: relative.isEmpty ? directory : directory + "/" + relative)) ?? []
            for name in entries {
                let path = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                lstat(directory + "/" + path, &info)
                let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
                if name == ".git" || options.exclude?(path, isDirectory) == true { continue }
                if let kind = FileTree.specialKind(info.st_mode) {
                    throw ArchiveError(.specialFile(path: path, kind: kind))
                }
                names.append("./" + path)
                if isDirectory { try walk(path) }
            }
        }
        try walk("")
        let list = outputPath + ".list"
        _ = FileManager.default.createFile(atPath: list, contents: Data((["."] + names).joined(separator: "\n").utf8))
        defer { unlink(list) }
        let temporary = outputPath + ".tmp"
        let prefix = options.prefix == "./app/" ? "-s ',^\\.,./app,S'" : ""
        let level = options.compression == .fast ? "-1" : options.compression == .best ? "-9" : "-6"
        let script = "bsdtar -c -f - -n --uid 0 --gid 0 --uname '' --gname '' \(prefix) -C \"$1\" -T \"$2\" | pigz -n \(level) > \"$3\""
        let result = HostCommand.run(["bash", "-o", "pipefail", "-c", script, "pack", directory, list, temporary])
        guard result.status == 0 else {
            unlink(temporary)
            throw ArchiveError(.format(path: directory, message: result.output))
        }
        let data = (try? Data(contentsOf: URL(fileURLWithPath: temporary))) ?? Data()
        if let limit = options.maxOutputBytes, UInt64(data.count) > limit {
            unlink(temporary)
            throw ArchiveError(.tooLarge(actual: UInt64(data.count), limit: limit))
        }
        rename(temporary, outputPath)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return PackResult(bytes: UInt64(data.count), sha256: digest, entries: names.count + 1)
    }
}

public enum SafeExtractor {
    public static func extract(archive path: String, to destination: String) throws(ArchiveError) {
        let result = HostCommand.run(["bsdtar", "-x", "-f", path, "-C", destination, "--no-same-owner"])
        guard result.status == 0 else { throw ArchiveError(.format(path: path, message: result.output)) }
    }
}
