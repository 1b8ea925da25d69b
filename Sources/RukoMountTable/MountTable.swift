import CMount
import RukoSystem

/// One line of a mount table.
public struct MountInfo: Sendable, Equatable {
    /// Where it is mounted.
    public var target: String
    /// The filesystem type.
    public var fstype: String
    /// The per-mount options (`ro,nosuid,...`).
    public var options: String
}

/// Reads mount tables with libmount (`/proc/self/mountinfo`, or another process's), for checks
/// that nothing leaked to the host and for diagnostics.
public enum MountTable {
    /// The mounts in `path` (default: this process's mountinfo).
    public static func read(_ path: String = "/proc/self/mountinfo") throws(SystemError) -> [MountInfo] {
        guard let table = mnt_new_table() else { throw SystemError("mnt_new_table", errno: 12) }
        defer { mnt_unref_table(table) }
        let rc = mnt_table_parse_file(table, path)
        guard rc == 0 else { throw SystemError("parse mount table", path: path, errno: -rc) }
        guard let iter = mnt_new_iter(Int32(MNT_ITER_FORWARD)) else { throw SystemError("mnt_new_iter", errno: 12) }
        defer { mnt_free_iter(iter) }
        var result: [MountInfo] = []
        var fs: OpaquePointer?
        while mnt_table_next_fs(table, iter, &fs) == 0, let fs {
            let target = mnt_fs_get_target(fs).map { String(cString: $0) } ?? ""
            let fstype = mnt_fs_get_fstype(fs).map { String(cString: $0) } ?? ""
            let options = mnt_fs_get_vfs_options(fs).map { String(cString: $0) } ?? ""
            result.append(MountInfo(target: target, fstype: fstype, options: options))
        }
        return result
    }
}
