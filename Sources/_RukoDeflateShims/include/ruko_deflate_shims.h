// ruko's deflate-stream helpers for the parallel gzip writer (RukoArchive).
//
// libdeflate compresses a whole buffer into a complete raw DEFLATE stream whose last block has
// BFINAL set. To join independently compressed chunks into ONE deflate stream, every chunk but the
// last must end with BFINAL clear and on a byte boundary. libdeflate does not say where its last
// block starts, so `rukodeflate_make_nonfinal` walks the block structure (RFC 1951: headers,
// Huffman tables, every symbol) to find it, clears the bit, and byte-aligns the end with an empty
// stored block when needed (the same marker zlib's Z_SYNC_FLUSH and pigz emit).
//
// Every function is prefixed `rukodeflate_`; every pointer parameter carries a nullability annotation.
#ifndef RUKO_DEFLATE_SHIMS_H
#define RUKO_DEFLATE_SHIMS_H

#include <stddef.h>
#include <stdint.h>

#include "ruko_archive_fileops.h"

#pragma clang assume_nonnull begin

/// What a walk over a raw deflate stream found.
struct rukodeflate_scan {
    /// Bit offset (LSB-first numbering) of the final block's header, whose first bit is BFINAL.
    uint64_t final_block_bit;
    /// Bit offset just after the final block's end-of-block code (or its stored data).
    uint64_t end_bit;
    /// Number of bytes the stream decodes to.
    uint64_t decoded_bytes;
    /// Number of blocks in the stream.
    uint64_t blocks;
};

/// Walks the raw deflate stream `data[0..<length]` up to and including its final block.
/// Returns 0 on success, -1 if the stream is malformed or truncated.
int rukodeflate_scan(const uint8_t *data, size_t length, struct rukodeflate_scan *result);

/// Turns a complete raw deflate stream in `data[0..<*length]`, which must decode to exactly
/// `expected_decoded` bytes, into a non-final, byte-aligned fragment that another deflate
/// fragment can follow: clears BFINAL of the last block, zeroes the padding bits, and appends an
/// empty stored block (3 header bits, alignment, 00 00 FF FF) unless the stream already ends on a
/// byte boundary. `capacity` must be at least `*length + 5`. On success `*length` is updated.
/// Returns 0 on success, -1 on a malformed stream, a size mismatch or too small a buffer.
int rukodeflate_make_nonfinal(uint8_t *data, size_t *length, size_t capacity, uint64_t expected_decoded);

/// CRC-32 (gzip polynomial) of A‖B from crc(A), crc(B) and len(B).
uint32_t rukodeflate_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

#pragma clang assume_nonnull end

#endif
