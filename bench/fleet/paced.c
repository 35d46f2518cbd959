/* Paced workload of the fleet benchmark: RATE getppid() calls a second for SECONDS, in
 * bursts every 10 ms, and one getpgid() every 250 ms (the marker whose event time the
 * benchmark follows to the merged view).
 *   paced RATE SECONDS
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long rate = atol(argv[1]);
  long ticks = atol(argv[2]) * 100;
  long per_tick = rate / 100;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long tick = 0; tick < ticks; tick++) {
    for (long i = 0; i < per_tick; i++) getppid();
    if (tick % 25 == 0) getpgid(0);
    next.tv_nsec += 10 * 1000 * 1000;
    if (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      next.tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  return 0;
}
