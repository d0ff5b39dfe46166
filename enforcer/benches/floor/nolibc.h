/* The smallest possible launcher programs, without a C library, so that their
 * startup costs nothing: they measure the floor under rampart-enforce
 * (scripts/bench-launch). x86_64 only. */
#include <sys/syscall.h>

/* A syscall with four arguments; the fifth is zero (prctl checks it). */
static long sys4(long n, long a, long b, long c, long d)
{
	long r;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = 0;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return r;
}

/* A syscall with three arguments; the fourth and fifth are zero. */
static long sys(long n, long a, long b, long c)
{
	return sys4(n, a, b, c, 0);
}

/* The kernel's initial stack: argc, argv..., NULL, envp..., NULL. */
__attribute__((naked, noreturn)) void _start(void)
{
	__asm__("mov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c");
}
