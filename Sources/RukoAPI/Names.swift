/// Strict validation of the names ruko-api stores and puts into URLs and storage keys.
public enum Names {
    /// App names: a lowercase DNS-label-like word, `[a-z][a-z0-9-]{0,29}`, not ending with `-`.
    public static func validateApp(_ name: String) throws(RukoAPIError) {
        let rule = "app names are 1-30 characters of a-z, 0-9 and '-', start with a letter and do not end with '-'"
        guard matches(name, first: lower, rest: lower + digits + "-", maxLength: 30), name.last != "-" else {
            throw .invalidName(kind: "app name", value: name, rule: rule)
        }
    }

    /// User names: `[a-z][a-z0-9_-]{0,31}` (what `useradd` accepts by default, minus `$`).
    public static func validateUser(_ name: String) throws(RukoAPIError) {
        let rule = "user names are 1-32 characters of a-z, 0-9, '_' and '-', starting with a letter"
        guard matches(name, first: lower, rest: lower + digits + "_-", maxLength: 32) else {
            throw .invalidName(kind: "user name", value: name, rule: rule)
        }
    }

    /// Config var names: `[A-Za-z_][A-Za-z0-9_]{0,254}` — what a shell and foreman's `.env` accept.
    public static func validateConfigKey(_ name: String) throws(RukoAPIError) {
        let rule = "config var names are letters, digits and '_', not starting with a digit"
        let letters = lower + lower.uppercased() + "_"
        guard matches(name, first: letters, rest: letters + digits, maxLength: 255) else {
            throw .invalidName(kind: "config var name", value: name, rule: rule)
        }
    }

    /// Parses a release name: `v7` or `7` → 7.
    public static func parseVersion(_ text: String) throws(RukoAPIError) -> Int {
        let digitsPart = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        guard !digitsPart.isEmpty, digitsPart.count <= 9, digitsPart.allSatisfy({ $0.isASCII && $0.isNumber }),
            let version = Int(digitsPart), version > 0
        else {
            throw .invalidName(kind: "release", value: text, rule: "releases are named v1, v2, … (or just the number)")
        }
        return version
    }

    /// Storage keys: `/`-separated segments of `[A-Za-z0-9._-]`, none empty or starting with `.`.
    ///
    /// Keys never name a hidden file, so temporary upload files (`.name.tmp-…`) can never be served.
    public static func isValidStorageKey(_ key: String) -> Bool {
        guard !key.isEmpty, key.utf8.count <= 512 else { return false }
        let allowed = lower + lower.uppercased() + digits + "._-"
        return key.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty && segment.first != "." && segment.allSatisfy { allowed.contains($0) }
        }
    }

    private static let lower = "abcdefghijklmnopqrstuvwxyz"
    private static let digits = "0123456789"

    private static func matches(_ name: String, first: String, rest: String, maxLength: Int) -> Bool {
        guard let head = name.first, name.count <= maxLength, first.contains(head) else { return false }
        return name.dropFirst().allSatisfy { rest.contains($0) }
    }
}
