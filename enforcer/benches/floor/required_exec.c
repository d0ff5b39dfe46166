/* required_exec FILTER.bpf BND PRM EFF INH PROGRAM [ARGS...]: the system calls
 * rampart-enforce makes for a policy of a filter and capability sets (the masks
 * in hex, as /proc/PID/status prints them), in its order and with its
 * arguments, and nothing else: read the filter, one thread, not dumpable, fds
 * close-on-exec, signals reset, no_new_privs, the bounding set dropped one
 * capability at a time up to the kernel's last, capset, the program checked
 * with openat2, the filter attached, exec. The kernel's part of the enforcer's
 * launch; the difference from rampart-enforce is the enforcer's own work
 * (decoding, checksum, page faults of its larger binary). x86_64 only. */
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include "nolibc.h"

static struct sock_filter filter[4096];
static char scratch[4096];

static unsigned long hex(const char *s)
{
	unsigned long v = 0;
	for (; *s; s++)
		v = v * 16 + (*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
	return v;
}

static void fail(void)
{
	sys(SYS_exit, 125, 0, 0);
	__builtin_unreachable();
}

__attribute__((noreturn, used)) void start_c(long *sp)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1, *program = argv[6];
	unsigned long bnd = hex(argv[2]), prm = hex(argv[3]), eff = hex(argv[4]), inh = hex(argv[5]);
	long fd = sys(SYS_open, (long)argv[1], O_RDONLY | O_CLOEXEC, 0), n = 0, k;
	if (fd < 0 || sys(SYS_fstat, fd, (long)scratch, 0))
		fail();
	while ((k = sys(SYS_read, fd, (long)((char *)filter + n), sizeof filter - n)) > 0)
		n += k;
	sys(SYS_close, fd, 0, 0);
	if (sys(SYS_stat, (long)program, (long)scratch, 0) || sys(SYS_unshare, CLONE_THREAD, 0, 0) ||
	    sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0) ||
	    sys(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC))
		fail();
	/* SIGPIPE back to SIG_DFL (flags SA_RESTORER | SA_RESTART, as musl passes them). */
	long action[4] = { 0, 0x14000000, 0, 0 }, empty = 0;
	if (sys4(SYS_rt_sigaction, 13, (long)action, 0, 8) ||
	    sys4(SYS_rt_sigprocmask, 2, (long)&empty, 0, 8) || sys(SYS_prctl, PR_GET_SECCOMP, 0, 0) ||
	    sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0))
		fail();
	for (long cap = 0; cap < 64; cap++)
		if (!(bnd >> cap & 1) && sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0))
			break; /* EINVAL: past the kernel's last capability */
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct sets[2] = { { eff, prm, inh }, { eff >> 32, prm >> 32, inh >> 32 } };
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_PATH,
				.resolve = RESOLVE_NO_MAGICLINKS };
	struct sock_fprog prog = { .len = n / 8, .filter = filter };
	if (sys(SYS_capset, (long)&header, (long)sets, 0) ||
	    (fd = sys4(SYS_openat2, AT_FDCWD, (long)program, (long)&how, sizeof how)) < 0 ||
	    sys(SYS_close, fd, 0, 0) || sys(SYS_getcwd, (long)scratch, sizeof scratch, 0) < 0 ||
	    sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog))
		fail();
	sys(SYS_execve, (long)program, (long)(argv + 6), (long)envp);
	sys(SYS_exit, 127, 0, 0);
	__builtin_unreachable();
}
