/*
 * vfio-v2-ref: the reference for bench/vfio-v2-1gib.mjs, QEMU's VFIO v2 data loop in C.
 *
 *   vfio-v2-ref save          stdin = the device data_fd (a pipe); stdout = the stream sink.
 *                             Like vfio_save_block: read(0, buf, 1 MiB) into a page-aligned
 *                             buffer; for each n > 0: writev(1, [be64 DEV_DATA_STATE,
 *                             be64 n], buf[0..n)); at 0: be64 END_OF_STATE.
 *   vfio-v2-ref load OFFSET   stdin = the framed stream file; stdout = the device data_fd
 *                             (a pipe). From OFFSET, reads be64 tags: DEV_DATA_STATE → be64 n,
 *                             then n bytes read into the aligned buffer and write()n to stdout
 *                             (qemu_file_get_to_fd); END_OF_STATE → done.
 *
 * Built with gcc -O2 at bench time by bench/lib/native.mjs (bench/.build/, not committed).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define DEV_DATA_STATE 0xffffffffef100004ull
#define END_OF_STATE 0xffffffffef100001ull

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

static void writev_all(int fd, struct iovec *iov, int cnt) {
  for (;;) {
    ssize_t w = writev(fd, iov, cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("writev");
    }
    while (cnt > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt == 0) return;
    iov->iov_base = (char *)iov->iov_base + w;
    iov->iov_len -= (size_t)w;
  }
}

static size_t read_full(int fd, unsigned char *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = read(fd, p + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  return done;
}

int main(int argc, char **argv) {
  unsigned char *buf;
  if (argc < 2 || posix_memalign((void **)&buf, 4096, BLOCK) != 0) {
    fprintf(stderr, "usage: vfio-v2-ref save | load OFFSET\n");
    return 2;
  }
  if (strcmp(argv[1], "save") == 0) {
    for (;;) {
      ssize_t n = read(0, buf, BLOCK);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      if (n == 0) break;
      uint64_t hdr[2] = {htobe64(DEV_DATA_STATE), htobe64((uint64_t)n)};
      struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, (size_t)n}};
      writev_all(1, iov, 2);
    }
    uint64_t end = htobe64(END_OF_STATE);
    write_all(1, (unsigned char *)&end, sizeof end);
    return 0;
  }
  if (strcmp(argv[1], "load") == 0 && argc == 3) {
    if (lseek(0, strtoll(argv[2], NULL, 10), SEEK_SET) < 0) die("lseek");
    for (;;) {
      uint64_t tag;
      if (read_full(0, (unsigned char *)&tag, 8) != 8) die("truncated tag");
      tag = be64toh(tag);
      if (tag == END_OF_STATE) return 0;
      if (tag != DEV_DATA_STATE) {
        fprintf(stderr, "unexpected tag %llx\n", (unsigned long long)tag);
        return 1;
      }
      uint64_t n;
      if (read_full(0, (unsigned char *)&n, 8) != 8) die("truncated length");
      n = be64toh(n);
      while (n > 0) {
        size_t chunk = n < BLOCK ? (size_t)n : BLOCK;
        if (read_full(0, buf, chunk) != chunk) die("truncated block");
        write_all(1, buf, chunk);
        n -= chunk;
      }
    }
  }
  fprintf(stderr, "usage: vfio-v2-ref save | load OFFSET\n");
  return 2;
}
