/* attach RUNS FILTER.bpf...: for each raw sock_filter file, RUNS times fork a
 * child that sets no_new_privs and times seccomp(SECCOMP_SET_MODE_FILTER) alone,
 * then prints the median and mean in microseconds. The kernel's attach cost:
 * checking, converting to eBPF, JIT-compiling, and emulating the filter for
 * every native and compat syscall number to fill the action cache. */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

int main(int argc, char **argv)
{
	static struct sock_filter insns[4096];
	int runs = argc > 1 ? atoi(argv[1]) : 0;
	if (runs < 1 || argc < 3) {
		fprintf(stderr, "usage: attach RUNS FILTER.bpf...\n");
		return 2;
	}
	double *us = malloc(sizeof(double) * runs);
	for (int f = 2; f < argc; f++) {
		FILE *in = fopen(argv[f], "rb");
		if (!in) {
			perror(argv[f]);
			return 1;
		}
		struct sock_fprog prog = { .len = fread(insns, 8, 4096, in), .filter = insns };
		fclose(in);
		int pipefd[2];
		if (pipe(pipefd))
			return 1;
		double sum = 0;
		for (int i = 0; i < runs; i++) {
			pid_t child = fork();
			if (child == 0) {
				prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
				double t0 = now_us();
				if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
					_exit(1);
				double d = now_us() - t0;
				_exit(write(pipefd[1], &d, sizeof d) == sizeof d ? 0 : 1);
			}
			int status;
			waitpid(child, &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) ||
			    read(pipefd[0], &us[i], sizeof us[i]) != sizeof us[i]) {
				fprintf(stderr, "%s: the kernel refused the filter\n", argv[f]);
				return 1;
			}
			sum += us[i];
		}
		close(pipefd[0]);
		close(pipefd[1]);
		qsort(us, runs, sizeof us[0], by_value);
		printf("attach %4u insns: median %6.1f us, mean %6.1f us  %s\n", prog.len,
		       us[runs / 2], sum / runs, argv[f]);
	}
	return 0;
}
