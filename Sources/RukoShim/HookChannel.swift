import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One ref update as git hands it to pre-receive: `old new ref`.
public struct RefUpdate: Sendable, Equatable {
    public var old: String
    public var new: String
    public var ref: String

    public init(old: String, new: String, ref: String) {
        self.old = old
        self.new = new
        self.ref = ref
    }

    /// The ref is being deleted (new is all zeros).
    public var isDelete: Bool { new.allSatisfy { $0 == "0" } }

    /// Parses one line strictly: two 40- or 64-digit lowercase hex ids and a `refs/` name without
    /// spaces or control characters.
    public static func parse(_ line: Substring) -> RefUpdate? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        func isObjectID(_ text: Substring) -> Bool {
            (text.count == 40 || text.count == 64)
                && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        }
        let ref = parts[2]
        guard isObjectID(parts[0]), isObjectID(parts[1]), ref.hasPrefix("refs/"), ref.count <= 1024,
            ref.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), !ref.contains("..")
        else { return nil }
        return RefUpdate(old: String(parts[0]), new: String(parts[1]), ref: String(ref))
    }
}

/// The hook phases the shim answers.
public enum HookPhase: String, Sendable, Equatable {
    case preReceive = "pre-receive"
    case postReceive = "post-receive"
}

/// The shim's end of the hook protocol (see `hooks/pre-receive` and docs/shim.md).
///
/// A directory shared with the sandbox holds three FIFOs: the hook writes one line naming its
/// phase to `request`, copies `output` to its stderr until the shim closes it, then reads one
/// line from `verdict` (`ok` accepts). Nothing but these fixed names crosses the boundary; what
/// the hook wrote (`refs`, `src/`) is validated before use.
public final class HookChannel: Sendable {
    /// The channel directory on the host.
    public let directory: String
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopped = Atomic<Bool>(false)

    /// Creates the directory (mode 0700) and its FIFOs (0600), owned by `uid:gid`, the sandbox user.
    public init(directory: String, uid: UInt32, gid: UInt32) throws(ShimError) {
        self.directory = directory
        guard mkdir(directory, 0o700) == 0 else { throw ShimError.system("mkdir", directory) }
        for name in ["request", "output", "verdict"] {
            let path = "\(directory)/\(name)"
            guard mkfifo(path, 0o600) == 0 else { throw ShimError.system("mkfifo", path) }
            guard chown(path, uid, gid) == 0 else { throw ShimError.system("chown", path) }
        }
        guard chown(directory, uid, gid) == 0 else { throw ShimError.system("chown", directory) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ShimError.system("pipe") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Where the hook checked out the deploy revision.
    public var sourceDirectory: String { directory + "/src" }

    /// Makes `next()` return nil (git is done; no hook will come).
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Waits for the next hook to ask; nil once `stop()` was called.
    public func next() throws(ShimError) -> HookPhase? {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            if let phase = try readRequest() { return phase }
        }
        return nil
    }

    /// One open of the request FIFO: a phase, or nil when stopped or the writer left early.
    private func readRequest() throws(ShimError) -> HookPhase? {
        let path = directory + "/request"
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ShimError.system("open", path) }
        defer { close(fd) }
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while !stopped.load(ordering: .sequentiallyConsistent) {
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw ShimError.system("poll", path)
            }
            if fds[1].revents != 0 { return nil }
            if fds[0].revents == 0 { continue }
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                line.append(contentsOf: buffer[0..<count])
                guard line.count <= 64 else { throw ShimError("the hook sent an oversized request", code: .system) }
                if let newline = line.firstIndex(of: 0x0a) {
                    let text = String(decoding: line[..<newline], as: UTF8.self)
                    guard let phase = HookPhase(rawValue: text) else {
                        throw ShimError("the hook sent an unknown request `\(text)`", code: .system)
                    }
                    return phase
                }
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                return nil  // the writer went away without a full line: reopen and wait again
            }
        }
        return nil
    }

    /// The ref updates the hook recorded, validated line by line (at most 10 000).
    public func refUpdates() throws(ShimError) -> [RefUpdate] {
        let path = directory + "/refs"
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        guard data.count <= 2_000_000 else { throw ShimError("too many ref updates in one push", code: .badCommand) }
        var updates: [RefUpdate] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let update = RefUpdate.parse(line) else {
                throw ShimError("the hook sent an invalid ref update line", code: .system)
            }
            updates.append(update)
        }
        return updates
    }

    /// Answers the waiting hook: `body` streams output lines to it (shown to the client as
    /// `remote:` lines as they come), then the verdict is sent. Returns the verdict.
    @discardableResult
    public func answer(timeout: Double = 30, _ body: (HookOutput) -> Bool) -> Bool {
        let output = HookOutput(fd: openWriter("output", timeout: timeout))
        let accepted = body(output)
        output.close()
        let verdict = openWriter("verdict", timeout: timeout)
        if verdict >= 0 {
            let text = accepted ? "ok\n" : "fail\n"
            _ = text.withCString { write(verdict, $0, strlen($0)) }
            close(verdict)
        }
        return accepted
    }

    /// Opens a FIFO for writing once the hook has opened it for reading (-1 if it never does).
    private func openWriter(_ name: String, timeout: Double) -> Int32 {
        let path = "\(directory)/\(name)"
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && !stopped.load(ordering: .sequentiallyConsistent) {
            let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 {
                let flags = fcntl(fd, F_GETFL)
                _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
                return fd
            }
            guard errno == ENXIO || errno == EINTR else { return -1 }
            usleep(2_000)
        }
        return -1
    }
}

/// Lines streamed to the client through a hook's stderr.
public final class HookOutput: @unchecked Sendable {
    private let lock = Mutex<Int32>(-1)

    init(fd: Int32) { lock.withLock { $0 = fd } }

    /// Writes one line (a newline is added). Errors (the client hung up) are ignored.
    public func line(_ text: String) {
        lock.withLock { fd in
            guard fd >= 0 else { return }
            let bytes = Array((text + "\n").utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    func close() {
        lock.withLock { fd in
            if fd >= 0 { _ = Glibc.close(fd) }
            fd = -1
        }
    }
}
