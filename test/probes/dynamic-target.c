/* Test target for dynamic probes: known calls of traceable functions and an SDT marker
 * (noipa keeps GCC from dropping calls of these side-effect-free functions).
 *   dynamic-target calls N        N calls of scale(i, 3), then greet("world")
 *   dynamic-target malloc N       N malloc(64)/free pairs
 *   dynamic-target marker N       N hits of the SDT marker ktaptest:tick(i, "marker"), printing
 *                                 how many found the marker's semaphore set
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

unsigned short ktaptest_tick_semaphore __attribute__((section(".probes"))) = 0;

__attribute__((noinline, noipa)) long scale(long value, long factor) { return value * factor; }
__attribute__((noinline, noipa)) int greet(const char *name) { return (int)strlen(name); }

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long count = atol(argv[2]);
  long total = 0;
  if (strcmp(argv[1], "calls") == 0) {
    for (long i = 0; i < count; i++) total += scale(i, 3);
    total += greet("world");
  } else if (strcmp(argv[1], "malloc") == 0) {
    for (long i = 0; i < count; i++) {
      void *volatile block = malloc(64);
      free(block);
    }
  } else if (strcmp(argv[1], "marker") == 0) {
    long enabled = 0;
    for (long i = 0; i < count; i++) {
      if (ktaptest_tick_semaphore) enabled++;
      STAP_PROBE2(ktaptest, tick, i, "marker");
    }
    printf("semaphore set %ld times\n", enabled);
  }
  return (int)(total & 1) * 0;
}
