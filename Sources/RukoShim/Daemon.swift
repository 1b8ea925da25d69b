import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A request from `ruko-shim serve` / `ruko-shim keys` to the root daemon.
public struct DaemonRequest: Codable, Sendable, Equatable {
    public enum Operation: String, Codable, Sendable {
        /// Serve one git session on the passed stdin/stdout/stderr.
        case session
        /// Which user owns this public key.
        case lookupKey = "lookup-key"
    }
    public var op: Operation
    public var user: String?
    public var command: String?
    public var keyType: String?
    public var key: String?

    public init(op: Operation, user: String? = nil, command: String? = nil, keyType: String? = nil, key: String? = nil)
    {
        self.op = op
        self.user = user
        self.command = command
        self.keyType = keyType
        self.key = key
    }

    enum CodingKeys: String, CodingKey {
        case op, user, command, key
        case keyType = "key_type"
    }
}

/// The daemon's answer.
public struct DaemonReply: Codable, Sendable, Equatable {
    public var exit: Int32?
    public var user: String?
    public var error: String?

    public init(exit: Int32? = nil, user: String? = nil, error: String? = nil) {
        self.exit = exit
        self.user = user
        self.error = error
    }
}

/// The unprivileged side: hands the SSH channel to the daemon and waits for the exit status.
public enum DaemonClient {
    /// Sends `request` with `fds` attached and waits for the reply.
    public static func call(socketPath: String, _ request: DaemonRequest, fds: [Int32] = []) throws(ShimError)
        -> DaemonReply
    {
        let fd = try UnixSocket.connect(socketPath)
        defer { close(fd) }
        let payload: [UInt8]
        do { payload = Array(try JSONEncoder().encode(request)) } catch {
            throw ShimError("cannot encode the daemon request: \(error)", code: .daemon)
        }
        try UnixSocket.send(fd, payload: payload, fds: fds)
        shutdown(fd, Int32(SHUT_WR))
        if let watched = fds.dropFirst().first {
            // While the daemon works, notice when sshd closes the channel (the client went away):
            // exiting closes this connection, and the daemon stops the session.
            while true {
                var polled = [
                    pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: watched, events: 0, revents: 0),
                ]
                if poll(&polled, 2, -1) < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if polled[0].revents != 0 { break }
                if (polled[1].revents & (Int16(POLLERR) | Int16(POLLHUP))) != 0 {
                    throw ShimError("the client went away", code: .daemon)
                }
            }
        }
        let answer = UnixSocket.readAll(fd)
        guard !answer.isEmpty else {
            throw ShimError("the ruko shim daemon closed the connection without an answer; see its log", code: .daemon)
        }
        do { return try JSONDecoder().decode(DaemonReply.self, from: Data(answer)) } catch {
            throw ShimError("the ruko shim daemon sent an unreadable answer", code: .daemon)
        }
    }
}

/// The root daemon: accepts connections from the git login user only (SO_PEERCRED), validates
/// the request again (user id, command), and runs the fixed session flow in a fresh worker
/// process (`ruko-shim session`) whose stdin/stdout/stderr are the descriptors the client sent.
public final class ShimDaemon: Sendable {
    public let config: ShimConfig
    public let configPath: String?
    public let allowedUIDs: Set<UInt32>
    public let workerExecutable: String
    /// How long a key → user answer is reused. sshd asks twice per login (the key offer, then
    /// the signature); a removed key stops working at most this long after its removal.
    public let keyCacheSeconds: Double = 10
    private let keyCache = Mutex<[String: (user: String, expires: Date)]>([:])
    private let api: APIClient?

    public init(config: ShimConfig, configPath: String?, allowedUIDs: Set<UInt32>, workerExecutable: String) {
        self.config = config
        self.configPath = configPath
        self.allowedUIDs = allowedUIDs
        self.workerExecutable = workerExecutable
        self.api = try? APIClient(config: config)
    }

    /// Listens on the configured socket forever.
    public func run(log: @escaping @Sendable (String) -> Void) throws(ShimError) -> Never {
        let directory = (config.socketPath as NSString).deletingLastPathComponent
        try makeDirectory(directory, mode: 0o755)
        // The socket is world-connectable; who may use it is decided by SO_PEERCRED below.
        let listener = try UnixSocket.listen(config.socketPath, mode: 0o666)
        log("ruko-shim daemon listening on \(config.socketPath) for uids \(allowedUIDs.sorted())")
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                throw ShimError.system("accept", config.socketPath)
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            let daemon = self
            Thread { daemon.handle(connection, log: log) }.start()
        }
    }

    func handle(_ connection: Int32, log: @Sendable (String) -> Void) {
        defer { close(connection) }
        var passed: [Int32] = []
        defer { for fd in passed { close(fd) } }
        func reply(_ answer: DaemonReply) {
            if let data = try? JSONEncoder().encode(answer) { UnixSocket.writeAll(connection, Array(data)) }
        }
        do {
            let peer = try UnixSocket.peerCredentials(connection)
            guard peer.uid == 0 || allowedUIDs.contains(peer.uid) else {
                log("refused a connection from uid \(peer.uid) (pid \(peer.pid))")
                reply(DaemonReply(error: "uid \(peer.uid) may not use the ruko shim daemon"))
                return
            }
            let message = try UnixSocket.receive(connection)
            passed = message.fds
            let request: DaemonRequest
            do { request = try JSONDecoder().decode(DaemonRequest.self, from: Data(message.payload)) } catch {
                reply(DaemonReply(error: "malformed request"))
                return
            }
            switch request.op {
            case .lookupKey:
                reply(try lookupKey(request))
            case .session:
                guard let user = request.user, SSHCommand.isValidUserID(user) else {
                    reply(DaemonReply(error: "not an authorized user"))
                    return
                }
                // Parse again here: the daemon trusts nothing the client process says.
                let command = try SSHCommand.parse(request.command)
                guard passed.count == 3 else {
                    reply(DaemonReply(error: "the session needs stdin, stdout and stderr"))
                    return
                }
                log("session: uid \(peer.uid) pid \(peer.pid) user \(user) \(command.canonical)")
                let status = try runWorker(user: user, command: command, fds: passed, connection: connection)
                reply(DaemonReply(exit: status))
            }
        } catch {
            reply(DaemonReply(error: error.message))
        }
    }

    private func lookupKey(_ request: DaemonRequest) throws(ShimError) -> DaemonReply {
        guard let type = request.keyType, let key = request.key, AuthorizedKeys.isValidKeyType(type),
            AuthorizedKeys.isValidKeyBlob(key)
        else { return DaemonReply(error: "malformed key") }
        let cacheKey = type + " " + key
        let now = Date()
        if let hit = keyCache.withLock({ $0[cacheKey] }), hit.expires > now { return DaemonReply(user: hit.user) }
        guard let api else { return DaemonReply(error: "the daemon has no API configured") }
        let owner = try api.lookupKey(type: type, key: key)
        keyCache.withLock { cache in
            cache = cache.filter { $0.value.expires > now }
            if let user = owner?.user { cache[cacheKey] = (user, now.addingTimeInterval(keyCacheSeconds)) }
        }
        return DaemonReply(user: owner?.user)
    }

    /// Runs `ruko-shim session` with the client's descriptors as stdio; kills it if the client
    /// goes away (the SSH connection dropped).
    private func runWorker(user: String, command: SSHCommand, fds: [Int32], connection: Int32) throws(ShimError)
        -> Int32
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: workerExecutable)
        var arguments = ["session", "--user", user]
        if let configPath { arguments += ["--config", configPath] }
        process.arguments = arguments
        var environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SSH_ORIGINAL_COMMAND": command.canonical]
        if configPath == nil {
            // No file: hand the worker the configuration this daemon runs with.
            if let url = config.apiURL { environment["RUKO_API_URL"] = url }
            if let token = config.apiToken { environment["RUKO_API_TOKEN"] = token }
        }
        process.environment = environment
        process.standardInput = FileHandle(fileDescriptor: fds[0], closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: fds[1], closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: fds[2], closeOnDealloc: false)
        do { try process.run() } catch {
            throw ShimError("cannot start the session worker \(workerExecutable): \(error)", code: .daemon)
        }
        // Watch the client: EOF/hang-up on the connection means the SSH session is gone.
        while process.isRunning {
            // events 0: only POLLHUP/POLLERR, i.e. the client closed its end completely.
            var watch = pollfd(fd: connection, events: 0, revents: 0)
            if poll(&watch, 1, 200) > 0 && (watch.revents & (Int16(POLLHUP) | Int16(POLLERR))) != 0 {
                kill(process.processIdentifier, SIGTERM)
                break
            }
        }
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }
}
