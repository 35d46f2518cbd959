/* A minimal native reader of an instance's ring buffers, for the overhead benchmark
 * (bench/e2e/live.mjs): reads per_cpu/cpuN/trace_pipe_raw the way ktap's RingReader does —
 * non-blocking; a CPU's pages only as far as the kernel has filled them (the `bytes:` line of
 * per_cpu/cpuN/stats), the page being filled when the CPU was caught up or nothing was read
 * for 10 ms; the next pump
 * 1 ms later when it read something, 10 ms when not — and throws the pages away. What the
 * workload loses with it running is the kernel's share of reading; ktap's JavaScript comes on
 * top. Usage: raw-reader INSTANCE_DIR NCPUS; ends on SIGINT/SIGTERM, prints "pages N". */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096
#define PAGE_CAPACITY (PAGE_SIZE - 16)
#define FLUSH_MS 10
#define MAX_CPUS 256

static volatile sig_atomic_t stopping;
static void on_signal(int signal) { (void)signal; stopping = 1; }

static double now_ms(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

/* Unread bytes of one CPU's buffer: the `bytes:` line of its stats file. */
static long unread_bytes(int stats_fd) {
	char text[1024];
	ssize_t length = pread(stats_fd, text, sizeof text - 1, 0);
	if (length <= 0) return 0;
	text[length] = 0;
	const char *line = strstr(text, "\nbytes: ");
	return line ? atol(line + 8) : 0;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: raw-reader INSTANCE_DIR NCPUS\n");
		return 2;
	}
	int cpus = atoi(argv[2]);
	if (cpus < 1 || cpus > MAX_CPUS) return 2;
	static int fds[MAX_CPUS], stats_fds[MAX_CPUS];
	static double read_at[MAX_CPUS];
	static int behind[MAX_CPUS];
	static char page[PAGE_SIZE];
	for (int cpu = 0; cpu < cpus; cpu++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/per_cpu/cpu%d/trace_pipe_raw", argv[1], cpu);
		fds[cpu] = open(path, O_RDONLY | O_NONBLOCK);
		snprintf(path, sizeof path, "%s/per_cpu/cpu%d/stats", argv[1], cpu);
		stats_fds[cpu] = open(path, O_RDONLY);
		if (fds[cpu] < 0 || stats_fds[cpu] < 0) {
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
		double now = now_ms();
		for (int cpu = 0; cpu < cpus; cpu++) {
			long unread = unread_bytes(stats_fds[cpu]);
			long filled = unread / PAGE_CAPACITY, count = 0;
			while (count < filled && read(fds[cpu], page, PAGE_SIZE) > 0) count++;
			if (count > 0) {
				behind[cpu] = 1;
			} else if (unread > 0 && (!behind[cpu] || now - read_at[cpu] >= FLUSH_MS)) {
				/* the page being filled, once: reading on would chase the writer through it */
				if (read(fds[cpu], page, PAGE_SIZE) > 0) count++;
				behind[cpu] = 0;
			}
			if (count > 0) read_at[cpu] = now;
			pumped += count;
		}
		pages += pumped;
		usleep(pumped > 0 ? 1000 : 10000);
	}
	for (int cpu = 0; cpu < cpus; cpu++) {
		close(fds[cpu]);
		close(stats_fds[cpu]);
	}
	printf("pages %ld\n", pages);
	return 0;
}
