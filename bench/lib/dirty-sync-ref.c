/* dirty-sync-ref: the reference for bench/ram-dirty-sync.mjs — QEMU's bitmap sync and scan
 * in C, on the same data: N pages, a source bitmap (the dirty log) with the given pages set.
 * One round = move the log into the migration bitmap (atomic exchange per word, OR, count
 * the new bits: cpu_physical_memory_sync_dirty_bitmap's fast path) and then find every set
 * bit and clear it (find_next_bit + test_and_clear, as the page scan does). Prints the
 * median round time in ms over ROUNDS rounds, after re-marking the same pages each round.
 * Usage: dirty-sync-ref PAGES ROUNDS < page-list (one page number per line) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long pages = atol(argv[1]), rounds = atol(argv[2]);
  long words = (pages + 63) / 64;
  uint64_t *log = calloc(words, 8), *bmap = calloc(words, 8);
  long *list = malloc(sizeof(long) * pages), n = 0;
  while (n < pages && scanf("%ld", &list[n]) == 1) n++;
  double *times = malloc(sizeof(double) * rounds);
  volatile long sink = 0;
  for (long r = 0; r < rounds; r++) {
    for (long i = 0; i < n; i++) log[list[i] / 64] |= 1ULL << (list[i] % 64);
    double t0 = now_ms();
    long added = 0;
    for (long w = 0; w < words; w++) {
      if (log[w] == 0) continue;
      uint64_t v = __atomic_exchange_n(&log[w], 0, __ATOMIC_SEQ_CST);
      uint64_t fresh = v & ~bmap[w];
      bmap[w] |= v;
      added += __builtin_popcountll(fresh);
    }
    long found = 0;
    for (long w = 0; w < words; w++) {
      uint64_t v = bmap[w];
      while (v) {
        int b = __builtin_ctzll(v);
        v &= v - 1;
        bmap[w] &= ~(1ULL << b);
        found += w * 64 + b;
      }
    }
    times[r] = now_ms() - t0;
    sink += added + found;
  }
  qsort(times, rounds, sizeof(double), cmp);
  printf("%.6f\n", times[rounds / 2]);
  return sink == -1;
}
