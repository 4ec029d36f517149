/*
 * datagen: the benchmark's stand-in for a kernel data_fd, and its checker.
 *
 *   datagen gen N      writes N bytes of the test pattern to stdout in 1 MiB write()s
 *                      from a page-aligned buffer (like a device's data_fd being read)
 *   datagen verify N   reads stdin and exits 0 iff it is exactly the N-byte pattern
 *
 * The pattern is a fixed pseudo-random 1 MiB block whose first 8 bytes and bytes
 * 4096..4103 are overwritten with the block index (little-endian), so lost, duplicated
 * or reordered blocks are detected while the producer stays almost free of CPU cost
 * (it shares one CPU with the code being measured).
 *
 * Built by bench/lib/native.mjs into bench/.build/ (gcc -O2); never committed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1u << 20)

static void fill(unsigned char *b) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < BLOCK; i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    memcpy(b + i, &x, 8);
  }
}

static void stamp(unsigned char *b, uint64_t idx) {
  memcpy(b, &idx, 8);
  memcpy(b + 4096, &idx, 8);
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: datagen gen|verify N\n"); return 2; }
  unsigned long long total = strtoull(argv[2], NULL, 10);
  unsigned char *buf, *got;
  if (posix_memalign((void **)&buf, 4096, BLOCK) || posix_memalign((void **)&got, 4096, BLOCK)) return 2;
  fill(buf);
  if (strcmp(argv[1], "gen") == 0) {
    unsigned long long done = 0;
    for (uint64_t idx = 0; done < total; idx++) {
      size_t n = total - done < BLOCK ? (size_t)(total - done) : BLOCK;
      stamp(buf, idx);
      size_t off = 0;
      while (off < n) {
        ssize_t w = write(1, buf + off, n - off);
        if (w < 0) { if (errno == EINTR) continue; perror("datagen gen: write"); return 1; }
        off += (size_t)w;
      }
      done += n;
    }
    return 0;
  }
  if (strcmp(argv[1], "verify") == 0) {
    unsigned long long done = 0;
    for (uint64_t idx = 0;; idx++) {
      size_t want = total - done < BLOCK ? (size_t)(total - done) : BLOCK;
      size_t have = 0;
      /* read one extra byte at the end to detect trailing garbage */
      size_t cap = want == 0 ? 1 : want;
      while (have < cap) {
        ssize_t r = read(0, got + have, cap - have);
        if (r < 0) { if (errno == EINTR) continue; perror("datagen verify: read"); return 1; }
        if (r == 0) break;
        have += (size_t)r;
      }
      if (want == 0) {
        if (have != 0) { fprintf(stderr, "datagen verify: extra bytes after %llu\n", total); return 1; }
        return 0;
      }
      if (have != want) { fprintf(stderr, "datagen verify: short stream: %llu bytes\n", done + have); return 1; }
      stamp(buf, idx);
      if (memcmp(buf, got, want) != 0) { fprintf(stderr, "datagen verify: mismatch in block %llu\n", (unsigned long long)idx); return 1; }
      done += want;
    }
  }
  fprintf(stderr, "datagen: unknown mode %s\n", argv[1]);
  return 2;
}
