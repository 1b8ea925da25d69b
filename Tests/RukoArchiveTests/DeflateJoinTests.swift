import CDeflate
import Foundation
import Testing
import _RukoDeflateShims

@testable import RukoArchive

/// The chunk-joining trick on its own: compress pieces independently, make all but the last
/// non-final, concatenate, and inflate the result as one stream.
@Suite struct DeflateJoinTests {
    func pieces() -> [[UInt8]] {
        var rng = SystemRandomNumberGenerator()
        let text = Array(
            String(repeating: "the quick brown fox jumps over the lazy dog 0123456789\n", count: 4000).utf8)
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let lowEntropy = (0..<250_000).map { _ in UInt8.random(in: 97...100, using: &rng) }
        let zeros = [UInt8](repeating: 0, count: 200_000)
        let mixed = text.prefix(50_000) + random.prefix(40_000) + zeros.prefix(60_000) + text.suffix(30_000)
        return [text, random, [], lowEntropy, zeros, Array(mixed), [42], Array(text.prefix(7))]
    }

    @Test(arguments: [1, 3, 6, 9, 12])
    func joinedChunksInflateToTheInput(level: Int32) throws {
        let compressor = try #require(libdeflate_alloc_compressor(level))
        defer { libdeflate_free_compressor(compressor) }
        let inputs = pieces()
        var joined: [UInt8] = []
        for (index, piece) in inputs.enumerated() {
            let capacity = libdeflate_deflate_compress_bound(compressor, piece.count) + 16
            var out = [UInt8](repeating: 0, count: capacity)
            var length = piece.withUnsafeBytes { input in
                out.withUnsafeMutableBytes { output in
                    libdeflate_deflate_compress(
                        compressor, input.baseAddress, piece.count, output.baseAddress, capacity - 8)
                }
            }
            #expect(length > 0)
            if index != inputs.count - 1 {
                let status = out.withUnsafeMutableBufferPointer { buffer in
                    rukodeflate_make_nonfinal(buffer.baseAddress!, &length, capacity, UInt64(piece.count))
                }
                #expect(status == 0)
            }
            joined += out.prefix(length)
        }
        let expected = inputs.flatMap { $0 }
        let decompressor = try #require(libdeflate_alloc_decompressor())
        defer { libdeflate_free_decompressor(decompressor) }
        var result = [UInt8](repeating: 0, count: expected.count)
        var actualIn = 0
        var actualOut = 0
        let status = joined.withUnsafeBytes { input in
            result.withUnsafeMutableBytes { output in
                libdeflate_deflate_decompress_ex(
                    decompressor, input.baseAddress, joined.count, output.baseAddress, expected.count, &actualIn,
                    &actualOut)
            }
        }
        #expect(status == LIBDEFLATE_SUCCESS)
        #expect(actualIn == joined.count)
        #expect(actualOut == expected.count)
        #expect(result == expected)
    }

    @Test func scanRejectsGarbageAndWrongSizes() throws {
        var garbage: [UInt8] = [0xff, 0xff, 0xff, 0xff]  // BTYPE=11 is reserved
        var length = garbage.count
        #expect(rukodeflate_make_nonfinal(&garbage, &length, garbage.count + 8, 0) == -1)
        let compressor = try #require(libdeflate_alloc_compressor(6))
        defer { libdeflate_free_compressor(compressor) }
        let input = Array("hello hello hello hello".utf8)
        var out = [UInt8](repeating: 0, count: 128)
        length = libdeflate_deflate_compress(compressor, input, input.count, &out, 120)
        let truncated = length - 1
        var scan = rukodeflate_scan()
        #expect(rukodeflate_scan(out, truncated, &scan) == -1)
        #expect(rukodeflate_make_nonfinal(&out, &length, 128, UInt64(input.count + 1)) == -1)
    }

    /// The walker reads only inside its buffer and ends on any input: random bytes and damaged
    /// streams are rejected or walked, never crash or hang.
    @Test func scanSurvivesDamagedStreams() throws {
        let compressor = try #require(libdeflate_alloc_compressor(6))
        defer { libdeflate_free_compressor(compressor) }
        let input = pieces().flatMap { $0 }.prefix(200_000)
        var valid = [UInt8](repeating: 0, count: 300_000)
        let length = Array(input).withUnsafeBytes { raw in
            libdeflate_deflate_compress(compressor, raw.baseAddress, raw.count, &valid, valid.count)
        }
        valid = Array(valid.prefix(length))
        var scan = rukodeflate_scan()
        #expect(rukodeflate_scan(valid, valid.count, &scan) == 0)
        #expect(scan.decoded_bytes == UInt64(input.count))
        #expect(scan.end_bit <= UInt64(valid.count) * 8)
        var rng = SystemRandomNumberGenerator()
        for round in 0..<500 {
            var damaged = valid
            if round % 2 == 0 {
                for _ in 0..<(1 + round % 7) {
                    let bit = Int.random(in: 0..<(damaged.count * 8), using: &rng)
                    damaged[bit / 8] ^= UInt8(1 << (bit % 8))
                }
            } else {
                damaged = (0..<Int.random(in: 0..<4096, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng)
                }
            }
            let cut = Int.random(in: 0...damaged.count, using: &rng)
            if rukodeflate_scan(damaged, cut, &scan) == 0 {
                #expect(scan.end_bit <= UInt64(cut) * 8)
            }
        }
    }

    @Test func crcCombineMatchesWholeCRC() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for split in [0, 1, 7, 4096, 65_537, 99_999, 100_000] {
            let a = libdeflate_crc32(0, data, split)
            let b = data.withUnsafeBufferPointer { libdeflate_crc32(0, $0.baseAddress! + split, data.count - split) }
            #expect(
                rukodeflate_crc32_combine(a, b, UInt64(data.count - split)) == libdeflate_crc32(0, data, data.count))
        }
    }

    /// The writer on its own, with a small chunk so there are many pieces.
    @Test(arguments: [1, 2, 8])
    func gzipWriterMatchesAcrossThreads(threads: Int) throws {
        let scratch = try Scratch()
        let input = pieces().flatMap { $0 }
        func compress(threads: Int, to path: String) throws -> ParallelGzipWriter.Summary {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            defer { close(fd) }
            let writer = ParallelGzipWriter(fd: fd, path: path, level: .default, threads: threads, chunkSize: 64 * 1024)
            for start in stride(from: 0, to: input.count, by: 10_000) {
                try input[start..<min(start + 10_000, input.count)].withUnsafeBytes { try writer.write($0) }
            }
            return try writer.finish()
        }
        let one = try compress(threads: 1, to: scratch.sub("one.gz"))
        let many = try compress(threads: threads, to: scratch.sub("many.gz"))
        #expect(one.sha256 == many.sha256)
        #expect(one.uncompressedBytes == UInt64(input.count))
        #expect(try run(["gzip", "-t", scratch.sub("many.gz")]).status == 0)
        let data = try #require(FileManager.default.contents(atPath: scratch.sub("many.gz")))
        #expect(UInt64(data.count) == many.compressedBytes)
        let roundTrip = try (data as NSData).decompressedGzip()
        #expect(roundTrip == Data(input))
    }
}

extension NSData {
    /// gunzip through the gzip binary (Foundation has no gzip on Linux).
    func decompressedGzip() throws -> Data {
        let path = NSTemporaryDirectory() + "ruko-gunzip-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gz"
        try (self as Data).write(to: URL(fileURLWithPath: path))
        defer { unlink(path); unlink(path + ".out") }
        _ = try run(["sh", "-c", "gzip -dc '\(path)' > '\(path).out'"])
        return FileManager.default.contents(atPath: path + ".out") ?? Data()
    }
}
