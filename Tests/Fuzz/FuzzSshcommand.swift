// libFuzzer target: the SSH_ORIGINAL_COMMAND parser (`SSHCommand.parse`, Sources/RukoShim).
//
// Invariants, from the parser's documented contract (the forced command is the only thing
// between an SSH key and the server):
// - refusals are `.badCommand` ShimErrors;
// - an accepted command is byte for byte one of the 16 documented forms:
//   {git-receive-pack, git receive-pack, git-upload-pack, git upload-pack} + " '" + {"", "/"} +
//   APP + {"", ".git"} + "'", where APP matches [a-z][a-z0-9-]{0,62} (checked independently here)
//   and the service matches the spelling (`exact-form`, `app-name`);
// - the canonical form parses back to the same command (`canonical`); deterministic.
@testable import RukoShim

private let spellings: [(String, GitService)] = [
    ("git-receive-pack", .receivePack), ("git receive-pack", .receivePack),
    ("git-upload-pack", .uploadPack), ("git upload-pack", .uploadPack),
]

private func isAppNameBytes(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count <= 63, first >= 0x61, first <= 0x7a else { return false }
    return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
}

private func check(_ raw: String) {
    let result: Result<SSHCommand, ShimError>
    do throws(ShimError) { result = .success(try SSHCommand.parse(raw)) } catch { result = .failure(error) }
    let again: Result<SSHCommand, ShimError>
    do throws(ShimError) { again = .success(try SSHCommand.parse(raw)) } catch { again = .failure(error) }
    require(result == again, "deterministic", escaped(raw))

    switch result {
    case .failure(let error):
        require(error.code == .badCommand, "error-code", "\(error.code) for \(escaped(raw))")
        require(!error.message.isEmpty, "error-message", escaped(raw))
    case .success(let command):
        require(isAppNameBytes(command.app), "app-name", "\(escaped(command.app)) from \(escaped(raw))")
        var forms: [[UInt8]] = []
        for (spelling, service) in spellings where service == command.service {
            for prefix in ["", "/"] {
                for suffix in ["", ".git"] {
                    forms.append(Array("\(spelling) '\(prefix)\(command.app)\(suffix)'".utf8))
                }
            }
        }
        require(forms.contains(Array(raw.utf8)), "exact-form", "accepted \(escaped(raw)) as \(command)")
        do throws(ShimError) {
            let canonical = try SSHCommand.parse(command.canonical)
            require(canonical == command, "canonical", "\(command.canonical) → \(canonical)")
        } catch {
            require(false, "canonical", "\(command.canonical) is refused: \(error)")
        }
        require(command.access == (command.service == .receivePack ? .write : .read), "access", "\(command)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSHCommand(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    check(fuzzString(data, size))
    // The same input as a prefix a client could prepend to a valid command.
    check("git-receive-pack '" + fuzzString(data, size) + "'")
    return 0
}
