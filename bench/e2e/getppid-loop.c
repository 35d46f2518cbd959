/* The traced workload of the overhead benchmark (bench/e2e/live.mjs): N getppid(2) calls
 * in a tight loop, timed from inside, so process start-up does not blur the figure.
 * Prints "CALLS NS_PER_CALL". Its comm is "getppid-loop", which the tracers count by. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long calls = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < calls; i++)
		getppid(); /* glibc never caches getppid: one syscall each */
	clock_gettime(CLOCK_MONOTONIC, &end);
	double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
	printf("%ld %.1f\n", calls, ns / (double)calls);
	return 0;
}
