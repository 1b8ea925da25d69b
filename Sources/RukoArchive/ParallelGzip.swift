import CDeflate
import Crypto
import Foundation
import _RukoDeflateShims

#if canImport(Glibc)
    import Glibc
#endif

/// Compression level names mapped onto libdeflate levels.
public enum CompressionLevel: String, Sendable, CaseIterable {
    /// libdeflate level 1: about pigz -1 size, several times faster.
    case fast
    /// libdeflate level 6: the size of `gzip -6` or a little smaller.
    case `default`
    /// libdeflate level 9: a few percent smaller than `gzip -9`, slower.
    case best

    /// The libdeflate compression level.
    var libdeflateLevel: Int32 {
        switch self {
        case .fast: return 1
        case .default: return 6
        case .best: return 9
        }
    }

    /// The gzip header's XFL byte (2 = maximum compression, 4 = fastest), as gzip writes it.
    var extraFlags: UInt8 {
        switch self {
        case .fast: return 4
        case .default: return 0
        case .best: return 2
        }
    }
}

/// Writes ONE gzip member to a file descriptor, compressing fixed-size chunks of the input on
/// several threads.
///
/// The input is cut into `chunkSize` pieces by byte offset (never by timing). Each piece is
/// compressed by libdeflate into a complete raw deflate stream; every piece but the last is then
/// made non-final and byte-aligned (`rukodeflate_make_nonfinal`), so the pieces concatenate into a
/// single deflate stream. CRC-32s of the pieces are combined for the trailer. The output therefore
/// depends only on the input bytes, the level and the chunk size: the same bytes for any thread
/// count. Memory is bounded by `slots` buffers of (chunk + compress bound) bytes: the producer waits
/// for a free slot, workers take full slots in order, and a writer thread writes results in order.
final class ParallelGzipWriter: @unchecked Sendable {
    /// The input bytes per independently compressed piece.
    static let defaultChunkSize = 1 << 20
    /// The most compressor threads, and the most chunks in memory at once.
    static let maxWorkers = 12
    static let maxSlots = 12

    private final class Slot {
        let input: UnsafeMutableRawPointer
        let output: UnsafeMutableRawPointer
        let outputCapacity: Int
        var inputCount = 0
        var outputCount = 0
        var index = 0
        var isLast = false
        var crc: UInt32 = 0

        init(chunkSize: Int, outputCapacity: Int) {
            input = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
            output = UnsafeMutableRawPointer.allocate(byteCount: outputCapacity, alignment: 64)
            self.outputCapacity = outputCapacity
        }

        deinit {
            input.deallocate()
            output.deallocate()
        }
    }

    private let fd: Int32
    private let path: String
    private let level: CompressionLevel
    private let chunkSize: Int
    private let maxOutputBytes: UInt64?

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var free: [Slot]
    private var pending: [Slot] = []
    private var pendingHead = 0
    private var done: [Int: Slot] = [:]
    private var failure: ArchiveError?
    private var inputClosed = false
    private var runningThreads = 0

    // Producer-side state (only the producing thread touches these).
    private var current: Slot?
    private var nextIndex = 0

    // Writer-thread state, read by `finish` after the writer has finished.
    private var hasher = SHA256()
    private var written: UInt64 = 0
    private var crc: UInt32 = 0
    private var inputBytes: UInt64 = 0
    private var discarding = false

    /// - Parameters:
    ///   - fd: where the gzip stream goes; the caller owns and closes it.
    ///   - path: the output path, for error messages.
    ///   - threads: compressor threads (at least 1).
    ///   - maxOutputBytes: past this many output bytes, stop writing (keep counting) and report.
    init(
        fd: Int32, path: String, level: CompressionLevel, threads: Int,
        chunkSize: Int = ParallelGzipWriter.defaultChunkSize, maxOutputBytes: UInt64? = nil
    ) {
        self.fd = fd
        self.path = path
        self.level = level
        self.chunkSize = chunkSize
        self.maxOutputBytes = maxOutputBytes
        // Two slots per worker keep every core busy while the producer fills the next one. The caps
        // keep peak RSS under 64 MB on machines with many cores: at most 12 slots of ~2 MiB and 12
        // compressors (~0.4 MB each), whatever the thread count asked for.
        let workers = min(max(1, threads), ParallelGzipWriter.maxWorkers)
        let slotCount = min(2 * workers + 2, ParallelGzipWriter.maxSlots)
        let bound = Int(libdeflate_deflate_compress_bound(nil, chunkSize)) + 16
        free = (0..<slotCount).map { _ in Slot(chunkSize: chunkSize, outputCapacity: bound) }
        writeHeader()
        runningThreads = workers + 1
        for _ in 0..<workers {
            let thread = Thread { [self] in compressLoop() }
            thread.name = "ruko-gzip"
            thread.start()
        }
        let writer = Thread { [self] in writeLoop() }
        writer.name = "ruko-gzip-writer"
        writer.start()
    }

    /// Appends uncompressed bytes. Blocks while every slot is in flight.
    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        guard var source = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let slot: Slot
            if let existing = current {
                slot = existing
            } else {
                slot = try takeFreeSlot()
                current = slot
            }
            let n = min(remaining, chunkSize - slot.inputCount)
            (slot.input + slot.inputCount).copyMemory(from: source, byteCount: n)
            slot.inputCount += n
            source += n
            remaining -= n
            if slot.inputCount == chunkSize {
                submit(slot, isLast: false)
                current = nil
            }
        }
    }

    /// The result of a finished stream.
    struct Summary {
        var compressedBytes: UInt64
        var uncompressedBytes: UInt64
        var sha256: String
        /// True when `maxOutputBytes` was passed: the output file is incomplete (truncated).
        var overLimit: Bool
    }

    /// Compresses what is left, writes the trailer and waits for every thread to end.
    func finish() throws(ArchiveError) -> Summary {
        let slot: Slot
        if let existing = current {
            slot = existing
        } else {
            slot = try takeFreeSlot()
        }
        current = nil
        submit(slot, isLast: true)
        condition.lock()
        inputClosed = true
        condition.broadcast()
        while runningThreads > 0 { condition.wait() }
        let error = failure
        condition.unlock()
        if let error { throw error }
        // Trailer: CRC-32 and ISIZE (input size mod 2^32), little-endian.
        var trailer = [UInt8](repeating: 0, count: 8)
        for i in 0..<4 {
            trailer[i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))
            trailer[4 + i] = UInt8(truncatingIfNeeded: inputBytes >> (8 * UInt64(i)))
        }
        let trailerError = trailer.withUnsafeBytes { emit($0) }
        if let trailerError { throw trailerError }
        let digest = hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        return Summary(
            compressedBytes: written, uncompressedBytes: inputBytes, sha256: digest, overLimit: discarding)
    }

    /// Stops every thread without writing a trailer (after a producer-side error).
    func abandon() {
        condition.lock()
        if failure == nil { failure = ArchiveError(.compression("abandoned")) }
        inputClosed = true
        condition.broadcast()
        while runningThreads > 0 { condition.wait() }
        condition.unlock()
    }

    // MARK: - Producer side

    private func takeFreeSlot() throws(ArchiveError) -> Slot {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty && failure == nil { condition.wait() }
        if let failure { throw failure }
        let slot = free.removeLast()
        slot.inputCount = 0
        return slot
    }

    private func submit(_ slot: Slot, isLast: Bool) {
        slot.index = nextIndex
        slot.isLast = isLast
        nextIndex += 1
        condition.lock()
        pending.append(slot)
        condition.broadcast()
        condition.unlock()
    }

    // MARK: - Workers

    private func compressLoop() {
        guard let compressor = libdeflate_alloc_compressor(level.libdeflateLevel) else {
            fail(
                ArchiveError(
                    .compression("libdeflate_alloc_compressor(\(level.libdeflateLevel)) failed: out of memory")))
            threadEnded()
            return
        }
        defer { libdeflate_free_compressor(compressor) }
        while let slot = nextPending() {
            slot.crc = libdeflate_crc32(0, slot.input, slot.inputCount)
            var length = libdeflate_deflate_compress(
                compressor, slot.input, slot.inputCount, slot.output, slot.outputCapacity - 8)
            if length == 0 {
                fail(ArchiveError(.compression("chunk \(slot.index) did not fit its compress bound")))
                break
            }
            if !slot.isLast {
                let status = rukodeflate_make_nonfinal(
                    slot.output.assumingMemoryBound(to: UInt8.self), &length, slot.outputCapacity,
                    UInt64(slot.inputCount))
                if status != 0 {
                    fail(ArchiveError(.compression("could not join chunk \(slot.index): malformed deflate output")))
                    break
                }
            }
            slot.outputCount = length
            condition.lock()
            done[slot.index] = slot
            condition.broadcast()
            condition.unlock()
        }
        threadEnded()
    }

    private func nextPending() -> Slot? {
        condition.lock()
        defer { condition.unlock() }
        while pendingHead == pending.count && !inputClosed && failure == nil { condition.wait() }
        if failure != nil || pendingHead == pending.count { return nil }
        let slot = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        return slot
    }

    // MARK: - Writer

    private func writeLoop() {
        var index = 0
        while true {
            condition.lock()
            while done[index] == nil && failure == nil { condition.wait() }
            guard failure == nil, let slot = done.removeValue(forKey: index) else {
                condition.unlock()
                break
            }
            condition.unlock()
            let error = emit(UnsafeRawBufferPointer(start: slot.output, count: slot.outputCount))
            crc = rukodeflate_crc32_combine(crc, slot.crc, UInt64(slot.inputCount))
            inputBytes += UInt64(slot.inputCount)
            let last = slot.isLast
            condition.lock()
            free.append(slot)
            condition.broadcast()
            condition.unlock()
            if let error {
                fail(error)
                break
            }
            if last { break }
            index += 1
        }
        threadEnded()
    }

    private func writeHeader() {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 (deterministic) XFL OS=3 (Unix).
        let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level.extraFlags, 3]
        if let error = header.withUnsafeBytes({ emit($0) }) { fail(error) }
    }

    /// Hashes and writes compressed bytes; past `maxOutputBytes`, only counts them.
    private func emit(_ bytes: UnsafeRawBufferPointer) -> ArchiveError? {
        hasher.update(bufferPointer: bytes)
        written += UInt64(bytes.count)
        if let limit = maxOutputBytes, written > limit, !discarding {
            discarding = true
            _ = ftruncate(fd, 0)  // give the space back now; the caller removes the file
        }
        if discarding { return nil }
        guard var pointer = bytes.baseAddress else { return nil }
        var remaining = bytes.count
        while remaining > 0 {
            let n = Glibc.write(fd, pointer, remaining)
            if n < 0 {
                if errno == EINTR { continue }
                return ArchiveError(.system(operation: "write", path: path, errno: errno))
            }
            pointer += n
            remaining -= n
        }
        return nil
    }

    private func fail(_ error: ArchiveError) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    private func threadEnded() {
        condition.lock()
        runningThreads -= 1
        condition.broadcast()
        condition.unlock()
    }
}

/// The number of CPUs this process may run on.
func availableCores() -> Int {
    let count = Int(rukoarchive_available_cpus())
    return count > 0 ? count : max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
