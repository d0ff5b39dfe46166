/* seccomp_exec FILTER.bpf PROGRAM [ARGS...]: read a raw sock_filter array, set
 * no_new_privs, install it, exec PROGRAM. What any enforcer must do at least. */
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include "nolibc.h"

static struct sock_filter filter[4096];

__attribute__((noreturn, used)) void start_c(long *sp)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1;
	long fd = sys(SYS_open, (long)argv[1], 0, 0), n = 0, k;
	while (fd >= 0 && (k = sys(SYS_read, fd, (long)((char *)filter + n), sizeof filter - n)) > 0)
		n += k;
	struct sock_fprog prog = { .len = n / 8, .filter = filter };
	if (fd < 0 || sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) ||
	    sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog))
		sys(SYS_exit, 125, 0, 0);
	sys(SYS_execve, (long)argv[2], (long)(argv + 2), (long)envp);
	sys(SYS_exit, 127, 0, 0);
	__builtin_unreachable();
}
