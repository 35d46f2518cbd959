/* Load for the dashboard benchmark: getppid() at a steady rate.
 *   paced RATE SECONDS    RATE calls per second (in batches every millisecond) for SECONDS
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  double rate = atof(argv[1]), seconds = atof(argv[2]);
  double start = now();
  long done = 0;
  for (;;) {
    double elapsed = now() - start;
    if (elapsed >= seconds) break;
    long due = (long)(elapsed * rate);
    for (; done < due; done++) getppid();
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  return 0;
}
