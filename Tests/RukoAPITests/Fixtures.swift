import Foundation

@testable import RukoAPI

/// Public keys generated with `ssh-keygen` and the fingerprints `ssh-keygen -lf` printed for them.
enum Fixture {
    static let ed25519 =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIwgP+Sx5fbzIsWWwZIWNIw2mK21L52KBnnNKKJovf67 alice@x"
    static let ed25519Fingerprint = "SHA256:jyXS1LS2oPsvsi+3kULoLF+n+cAovamSYhOJ4y5/HCU"
    static let rsa =
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDb+BphuMhtZV7dGjS+ad5qvPI1wvhrjbdJtpRgppQqSfj/xegOXqHUoWcGnzYxWI4DmvgjVlMQZ/E2sLQMzC6cgLOmcyBou+Bz3k1AzzhkPMKOjWUhMvJf52jhi+J/qcBy2/97ivn2DqTI5aIaDR+P4+ksB78HfUCDiAQ6EnjfXos1TG9Os8TBbmzwkcpfzWFUGj6tqor5/DDJtrxabNOgxp5yjz4nBr6V1C95Inos+NynkDyF1w7OQLXvfZa3Df/vdwQipCGdN4ErmObEdmUiuFbe6oPaBfC6MTSasJf9x7By/InHgQkIyqbXhe3i1CXIlY3QSPwzlHVMfLQDKtJZ bob"
    static let rsaFingerprint = "SHA256:1E3Xgi1/cTqAlNGiIYNDPVem8+Ra/1UIm4wohIVkcyY"
    static let ecdsa =
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFIB2AtrSVPV3BgSxHSBpBrVow32CISKx2GPT0H11Qv/6hzQEQ7Bpv1D8uANVEmyTSWc/M6IorrX/DCq/1ZdguA= carol"
    static let ecdsaFingerprint = "SHA256:LRn9sCRpneNuZO7gRZG+ziJ5A1UYeqJFw3FKNVC1Kpc"

    static let sha = String(repeating: "ab", count: 32)
    static let commit = "0123456789abcdef0123456789abcdef01234567"

    static func newRelease(_ slugID: String, description: String? = nil) -> NewRelease {
        NewRelease(
            slugID: slugID, processTypes: ["web": "bin/web"], commit: commit, sha256: sha, size: 1234,
            buildpack: "procfile", stack: "ruko-1", description: description)
    }
}

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/ruko-api-test-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let created else { throw RukoAPIError.posix("mkdtemp", NSTemporaryDirectory()) }
        path = created
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
