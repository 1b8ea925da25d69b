/// authorized_keys lines that pin a key to `ruko-shim serve --user ID`.
public enum AuthorizedKeys {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `sk-ssh-ed25519@openssh.com`, …
    public static func isValidKeyType(_ type: String) -> Bool {
        !type.isEmpty && type.count <= 64
            && type.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e || $0 == 0x40
            }
    }

    /// Base64 only.
    public static func isValidKeyBlob(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 16384
            && key.utf8.allSatisfy {
                ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2b
                    || $0 == 0x2f || $0 == 0x3d
            }
    }

    /// A path safe to put unquoted in the forced command (sshd runs it with the login shell).
    public static func isPlainPath(_ path: String) -> Bool {
        path.hasPrefix("/")
            && path.utf8.allSatisfy {
                ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2f
                    || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d
            }
    }

    /// The forced command for `user`: `EXE serve [--socket SOCK] --user USER`.
    public static func forcedCommand(executable: String, socket: String?, user: String) throws(ShimError) -> String {
        guard isPlainPath(executable) else {
            throw ShimError(
                "the shim path \(executable) cannot go in a forced command (use [A-Za-z0-9/._-])", code: .configuration)
        }
        guard SSHCommand.isValidUserID(user) else {
            throw ShimError("user id `\(user)` is not safe in a forced command", code: .badUser)
        }
        var command = executable + " serve"
        if let socket {
            guard isPlainPath(socket) else {
                throw ShimError("the socket path \(socket) cannot go in a forced command", code: .configuration)
            }
            command += " --socket " + socket
        }
        return command + " --user " + user
    }

    /// `restrict,command="…" TYPE KEY` (restrict: no pty, no forwarding of any kind, no ~/.ssh/rc).
    public static func line(executable: String, socket: String?, user: String, type: String, key: String)
        throws(ShimError) -> String
    {
        guard isValidKeyType(type), isValidKeyBlob(key) else {
            throw ShimError("malformed public key for \(user)", code: .badUser)
        }
        let command = try forcedCommand(executable: executable, socket: socket, user: user)
        return "restrict,command=\"\(command)\" \(type) \(key)"
    }
}
