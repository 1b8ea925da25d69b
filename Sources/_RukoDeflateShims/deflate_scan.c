// Walks raw DEFLATE streams (RFC 1951) block by block without producing output, to find where the
// final block starts and where the stream ends. See include/ruko_deflate_shims.h.
#include "ruko_deflate_shims.h"

#include <string.h>

// Bit reader: LSB-first, refilled eight bytes at a time from a bounded buffer.
struct reader {
    const uint8_t *data;
    size_t length;
    size_t next_byte;  // next byte to load into `bits`
    uint64_t bits;     // buffered bits, LSB = next bit of the stream
    unsigned count;    // number of valid bits in `bits`
    int overrun;       // set when a read went past the end of the input
};

static inline void refill(struct reader *r) {
    if (r->next_byte + 8 <= r->length) {
        // Fast path: one unaligned little-endian load, keep whole bytes only.
        uint64_t word;
        memcpy(&word, r->data + r->next_byte, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        r->bits |= word << r->count;
        r->next_byte += (63 - r->count) >> 3;
        r->count |= 56;
        return;
    }
    while (r->count <= 56) {
        if (r->next_byte < r->length) {
            r->bits |= (uint64_t)r->data[r->next_byte] << r->count;
        }
        // Past the end: zeros are fed, but `next_byte` still counts them, so a stream that
        // needed them is detected as truncated.
        r->next_byte++;
        r->count += 8;
    }
}

/// Bit offset of the next unread bit.
static inline uint64_t position(const struct reader *r) {
    return (uint64_t)r->next_byte * 8 - r->count;
}

static inline uint32_t peek(struct reader *r, unsigned n) {
    if (r->count < n) refill(r);
    return (uint32_t)(r->bits & ((1ull << n) - 1));
}

/// Like `peek`/`take` without the refill check: the caller refilled (>= 56 bits available).
static inline uint32_t bits_unchecked(struct reader *r, unsigned n) {
    uint32_t v = (uint32_t)(r->bits & ((1ull << n) - 1));
    r->bits >>= n;
    r->count -= n;
    return v;
}

static inline void consume(struct reader *r, unsigned n) {
    r->bits >>= n;
    r->count -= n;
}

static inline uint32_t take(struct reader *r, unsigned n) {
    if (n == 0) return 0;
    uint32_t v = peek(r, n);
    consume(r, n);
    return v;
}

enum { MAX_BITS = 15, FAST_BITS = 11, MAX_LITLEN = 288, MAX_DIST = 32 };

// A canonical Huffman code: a FAST_BITS lookup table for short codes, and per-length counts plus
// symbols in canonical order for the (rare) longer ones.
struct huffman {
    // fast[i] = symbol << 4 | length, or 0 when the code starting with bits i is longer than FAST_BITS.
    uint16_t fast[1u << FAST_BITS];
    uint16_t count[MAX_BITS + 1];
    uint16_t symbol[MAX_LITLEN];
};

static inline uint32_t reverse_bits(uint32_t code, unsigned length) {
    uint32_t r = 0;
    for (unsigned i = 0; i < length; i++) {
        r = (r << 1) | (code & 1);
        code >>= 1;
    }
    return r;
}

/// Builds the decoding structures for `n` code lengths. Returns -1 for an over-subscribed code.
/// Incomplete codes are accepted (a single-distance-code block is legal).
static int build(struct huffman *h, const uint8_t *lengths, unsigned n) {
    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0, sizeof h->fast);
    for (unsigned s = 0; s < n; s++) h->count[lengths[s]]++;
    h->count[0] = 0;
    int left = 1;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        left <<= 1;
        left -= h->count[len];
        if (left < 0) return -1;
    }
    uint16_t offsets[MAX_BITS + 2];
    offsets[1] = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) offsets[len + 1] = offsets[len] + h->count[len];
    for (unsigned s = 0; s < n; s++) {
        if (lengths[s] != 0) h->symbol[offsets[lengths[s]]++] = (uint16_t)s;
    }
    // Canonical codes, assigned in order of (length, symbol); fill the fast table for short ones.
    uint32_t code = 0;
    unsigned index = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        for (unsigned i = 0; i < h->count[len]; i++, index++, code++) {
            if (len > FAST_BITS) continue;
            uint32_t reversed = reverse_bits(code, len);
            uint16_t entry = (uint16_t)(h->symbol[index] << 4 | len);
            for (uint32_t fill = reversed; fill < (1u << FAST_BITS); fill += 1u << len) h->fast[fill] = entry;
        }
        code <<= 1;
    }
    return 0;
}

/// Decodes one symbol from `bits` (the next MAX_BITS buffered bits) and consumes its length;
/// -1 when the bits match no code. `decode` refills first.
static inline int decode_bits(struct reader *r, const struct huffman *h, uint32_t bits);

static inline int decode(struct reader *r, const struct huffman *h) { return decode_bits(r, h, peek(r, MAX_BITS)); }

static inline int decode_bits(struct reader *r, const struct huffman *h, uint32_t bits) {
    uint16_t entry = h->fast[bits & ((1u << FAST_BITS) - 1)];
    if (entry != 0) {
        consume(r, entry & 15);
        return entry >> 4;
    }
    // Slow path: walk the canonical code one bit at a time.
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAX_BITS; len++) {
        code |= (int)((bits >> (len - 1)) & 1);
        int count = h->count[len];
        if (code - count < first) {
            consume(r, len);
            return h->symbol[index + (code - first)];
        }
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -1;
}

static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t code_length_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/// Walks the symbols of one Huffman-coded block up to its end-of-block code.
static int walk_codes(struct reader *r, const struct huffman *litlen, const struct huffman *dist,
                      uint64_t *decoded) {
    uint64_t produced = 0;
    for (;;) {
        // One refill covers a whole length/distance pair: 15 + 5 + 15 + 13 = 48 <= 56 bits.
        refill(r);
        if (r->next_byte > r->length + 8) return -1;  // ran far past the end: garbage
        int sym = decode_bits(r, litlen, (uint32_t)(r->bits & ((1u << MAX_BITS) - 1)));
        if (sym < 256) {
            if (sym < 0) return -1;
            produced++;
            continue;
        }
        if (sym == 256) break;
        sym -= 257;
        if (sym >= 29) return -1;
        produced += length_base[sym] + bits_unchecked(r, length_extra[sym]);
        int d = decode_bits(r, dist, (uint32_t)(r->bits & ((1u << MAX_BITS) - 1)));
        if (d < 0 || d >= 30) return -1;
        bits_unchecked(r, dist_extra[d]);
    }
    *decoded += produced;
    return 0;
}

static int walk_dynamic(struct reader *r, struct huffman *litlen, struct huffman *dist, uint64_t *decoded) {
    unsigned nlen = take(r, 5) + 257, ndist = take(r, 5) + 1, ncode = take(r, 4) + 4;
    if (nlen > 286 || ndist > 30) return -1;
    uint8_t lengths[MAX_LITLEN + MAX_DIST];
    memset(lengths, 0, sizeof lengths);
    for (unsigned i = 0; i < ncode; i++) lengths[code_length_order[i]] = (uint8_t)take(r, 3);
    struct huffman lencode;
    if (build(&lencode, lengths, 19) != 0) return -1;
    unsigned index = 0;
    while (index < nlen + ndist) {
        int sym = decode(r, &lencode);
        if (sym < 0) return -1;
        if (sym < 16) {
            lengths[index++] = (uint8_t)sym;
            continue;
        }
        uint8_t value = 0;
        unsigned repeat;
        if (sym == 16) {
            if (index == 0) return -1;
            value = lengths[index - 1];
            repeat = 3 + take(r, 2);
        } else if (sym == 17) {
            repeat = 3 + take(r, 3);
        } else {
            repeat = 11 + take(r, 7);
        }
        if (index + repeat > nlen + ndist) return -1;
        while (repeat--) lengths[index++] = value;
    }
    if (lengths[256] == 0) return -1;  // no end-of-block code
    if (build(litlen, lengths, nlen) != 0 || build(dist, lengths + nlen, ndist) != 0) return -1;
    return walk_codes(r, litlen, dist, decoded);
}

int rukodeflate_scan(const uint8_t *data, size_t length, struct rukodeflate_scan *result) {
    struct reader r = {.data = data, .length = length};
    // Tables are rebuilt per block; keep them off the (small, on worker threads) stack.
    static _Thread_local struct huffman litlen, dist, fixed_litlen, fixed_dist;
    static _Thread_local int fixed_ready;
    if (!fixed_ready) {
        uint8_t lengths[MAX_LITLEN];
        for (unsigned i = 0; i < 144; i++) lengths[i] = 8;
        for (unsigned i = 144; i < 256; i++) lengths[i] = 9;
        for (unsigned i = 256; i < 280; i++) lengths[i] = 7;
        for (unsigned i = 280; i < 288; i++) lengths[i] = 8;
        build(&fixed_litlen, lengths, 288);
        for (unsigned i = 0; i < 30; i++) lengths[i] = 5;
        build(&fixed_dist, lengths, 30);
        fixed_ready = 1;
    }
    uint64_t decoded = 0, blocks = 0;
    for (;;) {
        uint64_t header = position(&r);
        unsigned final = take(&r, 1);
        unsigned type = take(&r, 2);
        blocks++;
        if (type == 0) {
            consume(&r, r.count % 8);  // to the byte boundary
            unsigned len = take(&r, 16), nlen = take(&r, 16);
            if ((len ^ 0xffff) != nlen) return -1;
            // Everything buffered is whole bytes now; skip `len` bytes of stored data.
            uint64_t after = position(&r) / 8 + len;
            if (after > length) return -1;
            r.next_byte = (size_t)after;
            r.bits = 0;
            r.count = 0;
            decoded += len;
        } else if (type == 1) {
            if (walk_codes(&r, &fixed_litlen, &fixed_dist, &decoded) != 0) return -1;
        } else if (type == 2) {
            if (walk_dynamic(&r, &litlen, &dist, &decoded) != 0) return -1;
        } else {
            return -1;
        }
        if (position(&r) > (uint64_t)length * 8) return -1;  // truncated
        if (final) {
            result->final_block_bit = header;
            result->end_bit = position(&r);
            result->decoded_bytes = decoded;
            result->blocks = blocks;
            return 0;
        }
    }
}

int rukodeflate_make_nonfinal(uint8_t *data, size_t *length, size_t capacity, uint64_t expected_decoded) {
    struct rukodeflate_scan scan;
    if (rukodeflate_scan(data, *length, &scan) != 0) return -1;
    if (scan.decoded_bytes != expected_decoded) return -1;
    data[scan.final_block_bit / 8] &= (uint8_t) ~(1u << (scan.final_block_bit % 8));
    size_t used = (size_t)((scan.end_bit + 7) / 8);
    unsigned tail = (unsigned)(scan.end_bit % 8);
    if (tail == 0) {
        *length = used;
        return 0;
    }
    // Zero the padding bits, then an empty stored block: BFINAL=0 BTYPE=00 (three zero bits, in
    // this byte if they fit, else in one more zero byte), alignment, LEN=0000 NLEN=FFFF.
    data[used - 1] &= (uint8_t)((1u << tail) - 1);
    size_t out = used;
    if (tail + 3 > 8) {
        if (out + 1 > capacity) return -1;
        data[out++] = 0;
    }
    if (out + 4 > capacity) return -1;
    data[out++] = 0x00;
    data[out++] = 0x00;
    data[out++] = 0xff;
    data[out++] = 0xff;
    *length = out;
    return 0;
}

// CRC-32 combination: crc(A‖B) = crc(A)·x^(8·len(B)) mod P  ⊕  crc(B), in the bit-reflected
// representation the gzip CRC uses (x^0 is the top bit).
static uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t mask = 1u << 31; mask != 0; mask >>= 1) {
        if (a & mask) product ^= b;
        b = (b & 1) ? (b >> 1) ^ 0xedb88320u : b >> 1;
    }
    return product;
}

uint32_t rukodeflate_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
    // x^(8·len) by square-and-multiply over x^(2^k).
    uint32_t power = 1u << 30;  // x^1
    for (int k = 0; k < 3; k++) power = multiply_mod_p(power, power);  // x^8
    uint32_t result = 1u << 31;  // x^0
    for (uint64_t n = length_b; n != 0; n >>= 1) {
        if (n & 1) result = multiply_mod_p(power, result);
        power = multiply_mod_p(power, power);
    }
    return multiply_mod_p(result, crc_a) ^ crc_b;
}
