/*
 * cframe: the save-side framing loop in C, shaped like QEMU's vfio_save_block, for the
 * write-path experiment: read(0, aligned 1 MiB buffer) until full, then
 * writev(1, [be64 DEV_DATA_STATE, be64 n], block); END_OF_STATE at the end.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#define BLOCK (1u << 20)
int main(void) {
  unsigned char *buf;
  if (posix_memalign((void **)&buf, 4096, BLOCK)) return 2;
  for (;;) {
    size_t n = 0;
    while (n < BLOCK) { ssize_t r = read(0, buf + n, BLOCK - n); if (r < 0) return 1; if (r == 0) break; n += (size_t)r; }
    if (n == 0) break;
    uint64_t h[2] = { __builtin_bswap64(0xffffffffef100004ull), __builtin_bswap64((uint64_t)n) };
    struct iovec iov[2] = { { h, 16 }, { buf, n } };
    size_t want = 16 + n, done = 0;
    while (done < want) {  /* partial writev is not expected on files or /dev/null */
      ssize_t w = writev(1, iov, 2); if (w < 0) return 1; done += (size_t)w; if (done < want) return 1;
    }
    if (n < BLOCK) break;
  }
  uint64_t end = __builtin_bswap64(0xffffffffef100001ull);
  return write(1, &end, 8) == 8 ? 0 : 1;
}
