import CCap
import RukoSystem
import _RukoCShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Linux capabilities: what the running kernel knows, and names for masks.
///
/// The sandboxed command loses every capability from all five sets. The drop itself happens in
/// the clone child with raw `prctl(PR_CAPBSET_DROP)`, `PR_CAP_AMBIENT_CLEAR_ALL` and `capset`
/// (libcap allocates, so it cannot run there); libcap is used here, before the clone, to learn
/// how many capabilities the kernel has and to name them.
public enum Capabilities {
    /// The highest capability number this kernel knows (`cap_max_bits() - 1`), checked against
    /// `PR_CAPBSET_READ` so a libcap older than the kernel cannot leave one behind.
    public static let lastCapability: Int32 = {
        var last = Int32(cap_max_bits()) - 1
        while ruko_capbset_read(last + 1) >= 0 { last += 1 }
        return last
    }()

    /// The capability numbers set in `mask` (as in `CapEff:` of /proc/PID/status).
    public static func numbers(in mask: UInt64) -> [Int32] {
        (0..<64).filter { mask & (UInt64(1) << UInt64($0)) != 0 }.map { Int32($0) }
    }

    /// libcap's name for a capability (`cap_sys_admin`).
    public static func name(_ cap: Int32) -> String {
        guard let cstr = cap_to_name(cap_value_t(cap)) else { return "cap_\(cap)" }
        defer { cap_free(cstr) }
        return String(cString: cstr)
    }

    /// Names of the capabilities in `mask`, e.g. for an error or a test failure.
    public static func names(in mask: UInt64) -> [String] { numbers(in: mask).map(name) }

    /// Parses the five capability lines of /proc/PID/status (`CapInh`, `CapPrm`, `CapEff`,
    /// `CapBnd`, `CapAmb`) into masks.
    public static func parseStatus(_ status: String) -> [String: UInt64] {
        var sets: [String: UInt64] = [:]
        for line in status.split(separator: "\n") where line.hasPrefix("Cap") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            sets[String(parts[0])] = UInt64(parts[1].trimmingCharacters(in: " \t"), radix: 16)
        }
        return sets
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
