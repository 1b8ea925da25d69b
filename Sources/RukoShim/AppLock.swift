import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A per-app deploy lock: `flock(2)` on `STATE/locks/APP.lock`.
///
/// The kernel drops the lock when the descriptor is closed or the process dies, so it is never
/// stale. The descriptor is close-on-exec, so no child (git, a buildpack) keeps it alive.
public final class AppLock: Sendable {
    /// The lock file.
    public let path: String
    private let fd: Mutex<Int32>

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = Mutex(fd)
    }

    deinit { release() }

    /// Takes the lock of `app`, waiting up to `timeout` seconds for another deploy to finish.
    ///
    /// `onWait` is called once, when the lock is busy, so the user can be told why nothing happens.
    public static func acquire(
        app: String, stateDirectory: String, timeout: Double, onWait: (() -> Void)? = nil
    ) throws(ShimError) -> AppLock {
        let directory = stateDirectory + "/locks"
        try makeDirectory(directory)
        let path = "\(directory)/\(app).lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ShimError.system("open lock file", path) }
        let deadline = Date().addingTimeInterval(timeout)
        var told = false
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return AppLock(path: path, fd: fd) }
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw ShimError.system("flock", path, errno: code)
            }
            if Date() >= deadline {
                close(fd)
                throw ShimError("another deploy of \(app) is in progress; try again shortly", code: .locked)
            }
            if !told {
                told = true
                onWait?()
            }
            usleep(50_000)
        }
    }

    /// Releases the lock now (also done on deinit and process exit).
    public func release() {
        fd.withLock { fd in
            if fd >= 0 {
                close(fd)
                fd = -1
            }
        }
    }
}

/// mkdir -p with mode 0700 for new directories.
func makeDirectory(_ path: String, mode: Int = 0o700) throws(ShimError) {
    do {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
    } catch {
        throw ShimError("cannot create directory \(path): \(error.localizedDescription)", code: .system)
    }
}
