/* exec_only PROGRAM [ARGS...]: exec PROGRAM. The cost of one more exec. */
#include "nolibc.h"

__attribute__((noreturn, used)) void start_c(long *sp)
{
	char **argv = (char **)(sp + 1), **envp = argv + sp[0] + 1;
	sys(SYS_execve, (long)argv[1], (long)(argv + 1), (long)envp);
	sys(SYS_exit, 127, 0, 0);
	__builtin_unreachable();
}
