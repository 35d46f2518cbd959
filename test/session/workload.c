/* Test workload for the tracing tests: makes an exact number of system calls.
 *   workload getppid N         N getppid() calls
 *   workload write N M         N write(1, …) and M write(2, …) of one byte each
 *   workload wait-getppid N    waits for a line on stdin, then N getppid() calls
 *   workload spin MS           burns MS milliseconds of its own CPU time in spin_hot() (not
 *                              wall time: on a busy machine it runs longer, sampled as often)
 *   workload open MS PATH...   opens each PATH (argv strings: still in memory for
 *                              user_string), then stays alive MS milliseconds
 *   workload read-sizes SIZE...
 *                              read(42, …, SIZE) from /dev/zero (dup'ed to fd 42) per SIZE
 *   workload read N            N read(0, …) calls of one byte
 *   workload fds               prints its open file descriptors, e.g. "0 1 2"
 *   workload syscall NR N      N calls of system call number NR without arguments
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static void calls(long count) {
  for (long i = 0; i < count; i++) getppid();
}

__attribute__((noinline)) static volatile unsigned long spin_hot(unsigned long n) {
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < n; i++) x += i;
  return x;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "getppid") == 0) {
    calls(atol(argv[2]));
  } else if (argc >= 4 && strcmp(argv[1], "write") == 0) {
    for (long i = atol(argv[2]); i > 0; i--) write(1, "o", 1);
    for (long i = atol(argv[3]); i > 0; i--) write(2, "e", 1);
  } else if (argc >= 3 && strcmp(argv[1], "wait-getppid") == 0) {
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) return 1;
    calls(atol(argv[2]));
  } else if (argc >= 3 && strcmp(argv[1], "spin") == 0) {
    struct timespec start, now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    do {
      spin_hot(100000);
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < atol(argv[2]));
  } else if (argc >= 3 && strcmp(argv[1], "open") == 0) {
    for (int i = 3; i < argc; i++) {
      int fd = open(argv[i], O_RDONLY);
      if (fd >= 0) close(fd);
    }
    usleep(atol(argv[2]) * 1000);
  } else if (argc >= 2 && strcmp(argv[1], "read-sizes") == 0) {
    static char buffer[1 << 20];
    if (dup2(open("/dev/zero", O_RDONLY), 42) != 42) return 1;
    for (int i = 2; i < argc; i++) {
      long size = atol(argv[i]);
      if (size > (long)sizeof buffer || read(42, buffer, size) != size) return 1;
    }
  } else if (argc >= 3 && strcmp(argv[1], "read") == 0) {
    char byte;
    for (long i = atol(argv[2]); i > 0; i--) (void)!read(0, &byte, 1);
  } else if (argc >= 4 && strcmp(argv[1], "syscall") == 0) {
    for (long i = atol(argv[3]); i > 0; i--) syscall(atol(argv[2]));
  } else if (argc >= 2 && strcmp(argv[1], "fds") == 0) {
    DIR *directory = opendir("/proc/self/fd");
    if (directory == NULL) return 1;
    const char *separator = "";
    for (struct dirent *entry; (entry = readdir(directory)) != NULL;) {
      if (entry->d_name[0] == '.' || atoi(entry->d_name) == dirfd(directory)) continue;
      printf("%s%s", separator, entry->d_name);
      separator = " ";
    }
    printf("\n");
    closedir(directory);
  } else {
    fprintf(stderr, "usage: workload getppid N | write N M | wait-getppid N | spin MS | read N | fds | open MS PATH... | read-sizes SIZE... | syscall NR N\n");
    return 2;
  }
  return 0;
}
