import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Unix stream sockets with SCM_RIGHTS descriptor passing and SO_PEERCRED, the transport
/// between `ruko-shim serve` (the git login user) and `ruko-shim daemon` (root).
enum UnixSocket {
    /// The peer's credentials, as the kernel recorded them at connect time.
    struct PeerCredentials: Equatable {
        var pid: Int32
        var uid: UInt32
        var gid: UInt32
    }

    static func makeAddress(_ path: String) throws(ShimError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw ShimError("socket path too long (max \(capacity - 1) bytes): \(path)", code: .configuration)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        return address
    }

    /// Connects to the socket at `path`.
    static func connect(_ path: String) throws(ShimError) -> Int32 {
        var address = try makeAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ShimError.system("socket") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw ShimError(
                "the ruko shim daemon is not reachable at \(path): \(String(cString: strerror(code))); "
                    + "is `ruko-shim daemon` running?",
                code: .daemon)
        }
        return fd
    }

    /// Binds and listens at `path` (an old socket file is replaced), mode `mode`.
    static func listen(_ path: String, mode: mode_t) throws(ShimError) -> Int32 {
        var address = try makeAddress(path)
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ShimError.system("socket") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw ShimError.system("bind", path, errno: code)
        }
        guard chmod(path, mode) == 0 else { throw ShimError.system("chmod", path) }
        guard Glibc.listen(fd, 64) == 0 else { throw ShimError.system("listen", path) }
        return fd
    }

    static func peerCredentials(_ fd: Int32) throws(ShimError) -> PeerCredentials {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE).
        var raw: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &raw, &length) == 0, length == 12 else {
            throw ShimError.system("getsockopt(SO_PEERCRED)")
        }
        return PeerCredentials(pid: raw.0, uid: raw.1, gid: raw.2)
    }

    // cmsghdr on Linux: size_t cmsg_len, int cmsg_level, int cmsg_type, then data, 8-aligned.
    private static let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
    private static func align(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }

    /// Sends `payload` with `fds` attached (SCM_RIGHTS) in one message.
    static func send(_ fd: Int32, payload: [UInt8], fds: [Int32]) throws(ShimError) {
        let dataLength = fds.count * MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: fds.isEmpty ? 0 : headerSize + align(dataLength))
        if !fds.isEmpty {
            control.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: headerSize + dataLength, toByteOffset: 0, as: Int.self)
                raw.storeBytes(of: SOL_SOCKET, toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                raw.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                for (index, descriptor) in fds.enumerated() {
                    raw.storeBytes(of: descriptor, toByteOffset: headerSize + index * 4, as: Int32.self)
                }
            }
        }
        var payload = payload
        let sent = payload.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    if !fds.isEmpty {
                        message.msg_control = controlBytes.baseAddress
                        message.msg_controllen = controlBytes.count
                    }
                    return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
                }
            }
        }
        guard sent == payload.count else { throw ShimError.system("sendmsg") }
    }

    /// Receives one message (at most `capacity` bytes) and the descriptors attached to it
    /// (close-on-exec; at most `maxFDs`, extra ones are closed).
    static func receive(_ fd: Int32, capacity: Int = 8192, maxFDs: Int = 3) throws(ShimError) -> (
        payload: [UInt8], fds: [Int32]
    ) {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var control = [UInt8](repeating: 0, count: headerSize + align(16 * 4))
        var received = 0
        var controlLength = 0
        buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    received = recvmsg(fd, &message, Int32(MSG_CMSG_CLOEXEC))
                    controlLength = Int(message.msg_controllen)
                }
            }
        }
        guard received >= 0 else { throw ShimError.system("recvmsg") }
        var fds: [Int32] = []
        var offset = 0
        while offset + headerSize <= controlLength {
            let length = control.withUnsafeBytes { $0.load(fromByteOffset: offset, as: Int.self) }
            let level = control.withUnsafeBytes {
                $0.load(fromByteOffset: offset + MemoryLayout<Int>.size, as: Int32.self)
            }
            let type = control.withUnsafeBytes {
                $0.load(fromByteOffset: offset + MemoryLayout<Int>.size + 4, as: Int32.self)
            }
            guard length >= headerSize, offset + length <= controlLength else { break }
            if level == SOL_SOCKET && type == Int32(SCM_RIGHTS) {
                let count = (length - headerSize) / 4
                for index in 0..<count {
                    let descriptor = control.withUnsafeBytes {
                        $0.load(fromByteOffset: offset + headerSize + index * 4, as: Int32.self)
                    }
                    fds.append(descriptor)
                }
            }
            offset += align(length)
        }
        if fds.count > maxFDs {
            for extra in fds[maxFDs...] { close(extra) }
            fds = Array(fds[..<maxFDs])
        }
        return (Array(buffer[0..<received]), fds)
    }

    /// Reads until EOF (at most `limit` bytes).
    static func readAll(_ fd: Int32, limit: Int = 1 << 20) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            result.append(contentsOf: buffer[0..<count])
        }
        return result
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBufferPointer {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
