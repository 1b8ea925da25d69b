import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The built binaries: `RUKO_BIN_DIR`, else the directory of the running test bundle.
func shimBinDirectory() -> String {
    if let explicit = ProcessInfo.processInfo.environment["RUKO_BIN_DIR"], !explicit.isEmpty { return explicit }
    let bundle = Bundle.main.bundlePath
    for candidate in [bundle, (bundle as NSString).deletingLastPathComponent] {
        if FileManager.default.isExecutableFile(atPath: candidate + "/ruko-shim") { return candidate }
    }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    return (exe as NSString).deletingLastPathComponent
}

/// Whether this machine can run the shim integration tests.
let shimIntegrationAvailable: Bool = {
    geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
        && FileManager.default.isExecutableFile(atPath: shimBinDirectory() + "/ruko-shim")
        && FileManager.default.isExecutableFile(atPath: shimBinDirectory() + "/ruko-api")
}()

struct ProgramResult {
    var status: Int32
    var output: String
}

/// Runs a program with arguments (no shell), output and error combined.
@discardableResult
func runCommand(
    _ path: String, _ arguments: [String], cwd: String? = nil, environment: [String: String] = [:],
    input: String? = nil
) throws -> ProgramResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProgramResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func waitForPort(_ port: Int, seconds: Double = 20) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        close(fd)
        if result == 0 { return true }
        usleep(50_000)
    }
    return false
}

/// The source tree (for examples/): walk up from the binaries to Package.swift.
func sourceTree() -> String {
    var directory = shimBinDirectory()
    if !directory.hasPrefix("/") { directory = FileManager.default.currentDirectoryPath + "/" + directory }
    while directory != "/" && !directory.isEmpty {
        if FileManager.default.fileExists(atPath: directory + "/Package.swift") { return directory }
        directory = (directory as NSString).deletingLastPathComponent
    }
    return FileManager.default.currentDirectoryPath
}

/// A real ruko-api and a real sshd (`ruko-shim dev-sshd`) on 127.0.0.1, with users alice
/// (write), bob (read) and eve (no access) on app `demo`. Everything lives under one root-owned
/// directory (sshd's StrictModes refuse /tmp) and is removed at the end.
final class ShimCluster: @unchecked Sendable {
    let root: String
    let bin = shimBinDirectory()
    let apiPort = freePort()
    let sshPort = freePort()
    var api: Process?
    var sshd: Process?
    var token = ""

    var apiData: String { root + "/api" }
    var apiURL: String { "http://127.0.0.1:\(apiPort)" }
    var remote: String { "ssh://git@127.0.0.1:\(sshPort)/demo.git" }
    let loginUser = "git"

    init(lockTimeout: Double = 60) throws {
        let base = "/var/lib/ruko-shim-it"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o755)
        root = base + "/" + UUID().uuidString.lowercased().prefix(8)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o755)
        try FileManager.default.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true)
        try admin("users:add", "alice")
        try admin("users:add", "bob")
        try admin("users:add", "eve")
        try admin("apps:create", "demo")
        try admin("access:add", "demo", "alice", "--write")
        try admin("access:add", "demo", "bob", "--read")
        for user in ["alice", "bob", "eve"] {
            let key = root + "/keys/" + user
            try check(runCommand("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]))
            try admin("keys:add", user, key + ".pub")
        }
        token = try admin("token").trimmingCharacters(in: .whitespacesAndNewlines)
        try startAPI()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: bin + "/ruko-shim")
        server.arguments = [
            "dev-sshd", "--listen", "127.0.0.1:\(sshPort)", "--api", apiURL, "--token", token, "--state",
            root + "/sshd",
            "--login-user", loginUser, "--lock-timeout", String(lockTimeout),
        ]
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        FileManager.default.createFile(atPath: root + "/sshd.log", contents: nil)
        server.standardError = FileHandle(forWritingAtPath: root + "/sshd.log")
        try server.run()
        sshd = server
        guard waitForPort(sshPort) else { throw ClusterError("sshd did not come up: \(log())") }
    }

    func startAPI() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin + "/ruko-api")
        process.arguments = ["serve", "--data", apiData, "--listen", "127.0.0.1:\(apiPort)"]
        FileManager.default.createFile(atPath: root + "/api.log", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: root + "/api.log")
        process.standardError = FileHandle(forWritingAtPath: root + "/api.log")
        try process.run()
        api = process
        guard waitForPort(apiPort) else { throw ClusterError("ruko-api did not come up") }
    }

    func stopAPI() {
        if let api, api.isRunning {
            api.terminate()
            api.waitUntilExit()
        }
        api = nil
    }

    func log() -> String { (try? String(contentsOfFile: root + "/sshd.log", encoding: .utf8)) ?? "" }

    deinit {
        stopAPI()
        if let sshd, sshd.isRunning {
            sshd.terminate()
            sshd.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    @discardableResult
    func admin(_ arguments: String...) throws -> String {
        let result = try runCommand(bin + "/ruko-api", [arguments[0], "--data", apiData] + arguments.dropFirst())
        guard result.status == 0 else { throw ClusterError("ruko-api \(arguments): \(result.output)") }
        return result.output
    }

    func check(_ result: ProgramResult) throws {
        guard result.status == 0 else { throw ClusterError(result.output) }
    }

    /// The environment for git over ssh as `user`.
    func sshEnvironment(_ user: String) -> [String: String] {
        [
            "GIT_SSH_COMMAND":
                "ssh -i \(root)/keys/\(user) -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                + "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes",
            "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        ]
    }

    /// git as `user` (timeout 180 s).
    @discardableResult
    func git(_ user: String, _ arguments: [String], cwd: String? = nil) throws -> ProgramResult {
        try runCommand("/usr/bin/timeout", ["180", "git"] + arguments, cwd: cwd, environment: sshEnvironment(user))
    }

    /// ssh as `user` with a raw remote command (or none).
    func ssh(_ user: String, _ command: String?, tty: Bool = false) throws -> ProgramResult {
        var arguments = [
            "30", "ssh", "-i", "\(root)/keys/\(user)", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-p", "\(sshPort)",
        ]
        if tty { arguments.append("-tt") }
        arguments.append("git@127.0.0.1")
        if let command { arguments.append(command) }
        return try runCommand("/usr/bin/timeout", arguments, input: "")
    }

    /// A fresh work tree with the given example (or files) committed on `main`.
    func workTree(example: String? = nil, files: [String: String] = [:]) throws -> String {
        let path = root + "/src-" + UUID().uuidString.prefix(6)
        if let example {
            try check(runCommand("/bin/cp", ["-R", sourceTree() + "/examples/" + example, path]))
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        for (name, content) in files {
            try content.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        }
        try check(git("alice", ["init", "-q", "-b", "main"], cwd: path))
        try check(git("alice", ["add", "-A"], cwd: path))
        try check(git("alice", ["commit", "-q", "-m", "initial"], cwd: path))
        return path
    }

    /// `git ls-remote` of the app as alice (the refs the server has).
    func remoteRefs() throws -> String {
        let result = try git("alice", ["ls-remote", remote])
        guard result.status == 0 else { throw ClusterError("ls-remote: \(result.output)") }
        return result.output
    }

    /// The stored objects (local storage of ruko-api).
    func storedObject(_ key: String) -> Data? { FileManager.default.contents(atPath: apiData + "/storage/" + key) }

    func release(_ version: String) throws -> [String: Any] {
        let text = try admin("releases:info", "demo", version)
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
