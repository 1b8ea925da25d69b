import RukoArchive

/// The archiver the executable uses: RukoArchive's packer and safe extractor.
public typealias DefaultArchiver = SafeArchiver

/// The builder the executable uses: RukoBuild's Builder, as a library call.
public typealias DefaultBuilder = RukoBuilder

/// Repository and cache tarballs through RukoArchive: deterministic `./…` tarballs, and an
/// extractor that never writes through a symlink nor outside the destination.
public struct SafeArchiver: TreeArchiver {
    public init() {}

    public func pack(directory: String, to archive: String) throws(ShimError) {
        do {
            _ = try SlugPacker.pack(
                directory: directory, to: archive, options: PackOptions(prefix: "./", compression: .fast))
        } catch {
            throw ShimError("cannot pack \(directory): \(error.description)", code: .system)
        }
    }

    public func unpack(archive: String, to directory: String, uid: UInt32, gid: UInt32) throws(ShimError) {
        do {
            try SafeExtractor.extract(archive: archive, to: directory, owner: (uid: uid, gid: gid))
        } catch {
            throw ShimError("cannot unpack \(archive): \(error.description)", code: .storage)
        }
        try chownTree(directory, uid: uid, gid: gid)
    }
}
