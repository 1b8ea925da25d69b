import Foundation
import Testing

@testable import RukoShim

@Suite("daemon transport and requests")
struct DaemonTests {
    @Test("descriptors passed with SCM_RIGHTS work on the other side; SO_PEERCRED names the peer")
    func descriptorPassing() throws {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer {
            close(pair[0])
            close(pair[1])
        }
        var pipeFDs: [Int32] = [-1, -1]
        #expect(pipe(&pipeFDs) == 0)
        try UnixSocket.send(pair[0], payload: Array("hello".utf8), fds: [pipeFDs[1], pipeFDs[1], pipeFDs[1]])
        close(pipeFDs[1])
        let message = try UnixSocket.receive(pair[1])
        #expect(message.payload == Array("hello".utf8))
        #expect(message.fds.count == 3)
        // Writing through a received descriptor reaches the original pipe.
        _ = "via fd\n".withCString { write(message.fds[2], $0, strlen($0)) }
        for fd in message.fds { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = read(pipeFDs[0], &buffer, buffer.count)
        close(pipeFDs[0])
        #expect(String(decoding: buffer[0..<max(0, count)], as: UTF8.self) == "via fd\n")
        let peer = try UnixSocket.peerCredentials(pair[1])
        #expect(peer.uid == getuid())
        #expect(peer.pid == getpid())
    }

    @Test("more descriptors than allowed are closed, not kept")
    func tooManyDescriptors() throws {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer {
            close(pair[0])
            close(pair[1])
        }
        try UnixSocket.send(pair[0], payload: [1], fds: [0, 0, 0, 0, 0])
        let message = try UnixSocket.receive(pair[1], maxFDs: 3)
        #expect(message.fds.count == 3)
        for fd in message.fds { close(fd) }
    }

    @Test("the daemon answers key lookups from the API, caches them, and refuses bad requests")
    func daemonRequests() throws {
        let server = try FakeHTTPServer { request in
            let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: String] ?? [:]
            return body["key"] == "AAAAknown"
                ? .json(200, #"{"user":"alice","fingerprint":"SHA256:x"}"#) : .json(404, #"{"error":"unknown key"}"#)
        }
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        var config = ShimConfig()
        config.apiURL = server.url
        config.apiToken = "t"
        config.socketPath = directory.path + "/shim.sock"
        let daemon = ShimDaemon(
            config: config, configPath: nil, allowedUIDs: [getuid()], workerExecutable: "/bin/false")
        Thread { _ = try? daemon.run { _ in } }.start()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: config.socketPath) { usleep(10_000) }

        let known = try DaemonClient.call(
            socketPath: config.socketPath, DaemonRequest(op: .lookupKey, keyType: "ssh-ed25519", key: "AAAAknown"))
        #expect(known == DaemonReply(user: "alice"))
        _ = try DaemonClient.call(
            socketPath: config.socketPath, DaemonRequest(op: .lookupKey, keyType: "ssh-ed25519", key: "AAAAknown"))
        #expect(server.requests.count == 1)  // the second answer came from the cache
        let unknown = try DaemonClient.call(
            socketPath: config.socketPath, DaemonRequest(op: .lookupKey, keyType: "ssh-ed25519", key: "AAAAother"))
        #expect(unknown == DaemonReply())
        let malformed = try DaemonClient.call(
            socketPath: config.socketPath, DaemonRequest(op: .lookupKey, keyType: "ssh-ed25519", key: "a b"))
        #expect(malformed.error == "malformed key")

        // A session request is parsed again by the daemon; hostile input never reaches a worker.
        let injected = try DaemonClient.call(
            socketPath: config.socketPath,
            DaemonRequest(op: .session, user: "alice", command: "git-receive-pack 'a.git'; rm -rf /"), fds: [0, 1, 2])
        #expect(injected.error == "the repository path must be a single quoted argument")
        let badUser = try DaemonClient.call(
            socketPath: config.socketPath,
            DaemonRequest(op: .session, user: "alice\" rm", command: "git-receive-pack 'a.git'"), fds: [0, 1, 2])
        #expect(badUser.error == "not an authorized user")
        let noFDs = try DaemonClient.call(
            socketPath: config.socketPath,
            DaemonRequest(op: .session, user: "alice", command: "git-receive-pack 'a.git'"))
        #expect(noFDs.error == "the session needs stdin, stdout and stderr")
    }

    @Test("a daemon that is not running gets a clear message")
    func notRunning() throws {
        let directory = try TemporaryDirectory()
        do {
            _ = try DaemonClient.call(socketPath: directory.path + "/none.sock", DaemonRequest(op: .lookupKey))
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .daemon)
            #expect(error.message.contains("is `ruko-shim daemon` running?"))
        }
    }

    @Test("authorized_keys lines pin the key to the forced command; unsafe parts are refused")
    func authorizedKeys() throws {
        let line = try AuthorizedKeys.line(
            executable: "/usr/local/bin/ruko-shim", socket: "/run/ruko/shim.sock", user: "alice", type: "ssh-ed25519",
            key: "AAAAC3Nz+/=")
        #expect(
            line
                == "restrict,command=\"/usr/local/bin/ruko-shim serve --socket /run/ruko/shim.sock --user alice\" ssh-ed25519 AAAAC3Nz+/="
        )
        #expect(throws: ShimError.self) {
            try AuthorizedKeys.line(executable: "/bin/x", socket: nil, user: "a\" b", type: "ssh-ed25519", key: "AAAA")
        }
        #expect(throws: ShimError.self) {
            try AuthorizedKeys.line(executable: "/my dir/x", socket: nil, user: "a", type: "ssh-ed25519", key: "AAAA")
        }
        #expect(throws: ShimError.self) {
            try AuthorizedKeys.line(executable: "/bin/x", socket: nil, user: "a", type: "ssh-ed25519", key: "AA AA")
        }
    }
}
