/* faults RUNS CMD [ARGS...]: runs CMD RUNS times (posix_spawn, wait4) and prints
 * the mean number of minor page faults per run (ru_minflt: the command and
 * whatever it execs). Page faults cost microseconds on the VMs rampart is
 * measured on, and their count is exact where timing is noisy. Compare binaries
 * copied to one directory: a freshly linked file can sit in other page-cache
 * folios, and fault-around maps a different number of pages from it. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: faults RUNS CMD [ARGS...]\n");
		return 2;
	}
	long runs = atol(argv[1]), total = 0;
	for (long i = 0; i < runs; i++) {
		pid_t pid;
		int status;
		struct rusage ru;
		if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0 ||
		    wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "faults: %s did not run and exit 0\n", argv[2]);
			return 1;
		}
		total += ru.ru_minflt;
	}
	printf("%.2f faults per run  %s\n", (double)total / (double)runs, argv[2]);
	return 0;
}
