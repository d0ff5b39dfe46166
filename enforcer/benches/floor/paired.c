/* paired RUNS CMD [ARGS...] :: CMD [ARGS...] ...: runs the commands in turn,
 * RUNS rounds (after 50 warm-up rounds), rotating which goes first, and times
 * each from posix_spawn to waitpid. Prints each command's median and the median
 * (and quartiles) of its per-round difference from the first command: adjacent
 * runs share the machine's state, so slow drifts that move a whole hyperfine
 * batch cancel out. Exits non-zero if a command fails. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "timing.h"

extern char **environ;

int main(int argc, char **argv)
{
	enum { MAX_CMDS = 16, WARMUP = 50 };
	char **cmds[MAX_CMDS];
	int runs = argc > 2 ? atoi(argv[1]) : 0, n = 0;
	if (runs < 1) {
		fprintf(stderr, "usage: paired RUNS CMD [ARGS...] [:: CMD [ARGS...]]...\n");
		return 2;
	}
	cmds[n++] = &argv[2];
	for (int i = 2; i < argc && n < MAX_CMDS; i++)
		if (!strcmp(argv[i], "::")) {
			argv[i] = NULL;
			cmds[n++] = &argv[i + 1];
		}
	double *t[MAX_CMDS], *d = malloc(sizeof(double) * runs);
	for (int c = 0; c < n; c++)
		t[c] = malloc(sizeof(double) * runs);
	for (int r = -WARMUP; r < runs; r++)
		for (int k = 0; k < n; k++) {
			int c = (k + (r > 0 ? r : 0)) % n, status;
			pid_t pid;
			double t0 = now_us();
			if (posix_spawn(&pid, cmds[c][0], NULL, NULL, cmds[c], environ) ||
			    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "paired: %s failed\n", cmds[c][0]);
				return 1;
			}
			if (r >= 0)
				t[c][r] = now_us() - t0;
		}
	for (int c = 0; c < n; c++) {
		for (int r = 0; r < runs; r++)
			d[r] = t[c][r] - t[0][r];
		qsort(d, runs, sizeof d[0], by_value);
		qsort(t[c], runs, sizeof t[c][0], by_value);
		printf("median %7.1f us, over the first %+7.1f us (quartiles %+.1f, %+.1f) ",
		       t[c][runs / 2], d[runs / 2], d[runs / 4], d[3 * runs / 4]);
		for (char **a = cmds[c]; *a; a++)
			printf(" %s", *a);
		printf("\n");
	}
	return 0;
}
