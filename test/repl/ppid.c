/* Workload for the REPL tests: one long-lived process (so its pid can be named in a
 * handler) that makes exactly the getppid() calls it is asked for.
 *   ppid             for each line N on stdin: N getppid() calls, then "ok N" on stdout
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  char line[64];
  setvbuf(stdout, NULL, _IONBF, 0);
  while (fgets(line, sizeof line, stdin) != NULL) {
    long count = atol(line);
    for (long i = 0; i < count; i++) getppid();
    printf("ok %ld\n", count);
  }
  return 0;
}
