/* A minimal native reader of an instance's ring buffers, for the overhead benchmark
 * (bench/e2e/live.mjs): reads per_cpu/cpuN/trace_pipe_raw the way ktap's RingReader does —
 * non-blocking, up to 256 pages per CPU per pump, another pump at once when it read
 * something, 10 ms later when the buffers were empty — and throws the pages away. What the
 * workload loses with it running is the kernel's share of reading; ktap's JavaScript comes
 * on top. Usage: raw-reader INSTANCE_DIR NCPUS; ends on SIGINT/SIGTERM, prints "pages N". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PAGES_PER_PUMP 256
#define MAX_CPUS 256

static volatile sig_atomic_t stopping;
static void on_signal(int signal) { (void)signal; stopping = 1; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: raw-reader INSTANCE_DIR NCPUS\n");
		return 2;
	}
	int cpus = atoi(argv[2]);
	if (cpus < 1 || cpus > MAX_CPUS) return 2;
	static int fds[MAX_CPUS];
	static char page[65536];
	for (int cpu = 0; cpu < cpus; cpu++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/per_cpu/cpu%d/trace_pipe_raw", argv[1], cpu);
		fds[cpu] = open(path, O_RDONLY | O_NONBLOCK);
		if (fds[cpu] < 0) {
			perror(path);
			return 1;
		}
	}
	struct sigaction action = { .sa_handler = on_signal };
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	printf("ready\n");
	fflush(stdout);
	long pages = 0;
	while (!stopping) {
		long pumped = 0;
		for (int cpu = 0; cpu < cpus; cpu++) {
			for (int count = 0; count < PAGES_PER_PUMP; count++) {
				ssize_t bytes = read(fds[cpu], page, 4096);
				if (bytes <= 0) break;
				pumped++;
			}
		}
		pages += pumped;
		if (pumped == 0) usleep(10000);
	}
	for (int cpu = 0; cpu < cpus; cpu++) close(fds[cpu]);
	printf("pages %ld\n", pages);
	return 0;
}
