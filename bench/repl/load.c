/* Event load for the REPL benchmark: once a line arrives on stdin (so that a probe can be
 * filtered to this pid first), getppid() at a steady rate, in 1 ms slices (RATE/1000 calls,
 * then an absolute sleep to the next slice), for SECONDS; then prints "CALLS ELAPSED_NS" so
 * the caller knows the rate it really got.
 *   load RATE SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: load RATE SECONDS\n");
    return 2;
  }
  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  long rate = atol(argv[1]);
  double seconds = atof(argv[2]);
  long per_slice = rate / 1000;
  long long start = now_ns(), end = start + (long long)(seconds * 1e9);
  long long calls = 0;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (now_ns() < end) {
    for (long i = 0; i < per_slice; i++) getppid();
    calls += per_slice;
    next.tv_nsec += 1000000;
    if (next.tv_nsec >= 1000000000) {
      next.tv_sec++;
      next.tv_nsec -= 1000000000;
    }
    /* Behind schedule (a busy CPU), the next slice starts at once: the average rate holds. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  printf("%lld %lld\n", calls, now_ns() - start);
  return 0;
}
