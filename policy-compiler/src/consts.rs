//! Named constants usable in `when` expressions, taken from the `libc` crate
//! (which mirrors the kernel's UAPI headers) rather than typed by hand.

/// Widening to the 64-bit register value: 32-bit C types are zero-extended
/// (flag words such as `CLONE_IO` = 0x80000000 must not become
/// 0xffffffff80000000); compare `int` arguments with `u32(argN)`.
trait Widen {
    fn widen(self) -> u64;
}
impl Widen for i32 {
    fn widen(self) -> u64 {
        u64::from(self as u32)
    }
}
impl Widen for u32 {
    fn widen(self) -> u64 {
        u64::from(self)
    }
}
impl Widen for u64 {
    fn widen(self) -> u64 {
        self
    }
}
impl Widen for i64 {
    fn widen(self) -> u64 {
        self as u64
    }
}

macro_rules! consts {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), Widen::widen(libc::$name))),*]
    };
}

/// Every named constant, by family.
static CONSTANTS: std::sync::LazyLock<Vec<(&str, u64)>> = std::sync::LazyLock::new(|| {
    let mut v = consts![
        // clone(2) flags.
        CLONE_VM,
        CLONE_FS,
        CLONE_FILES,
        CLONE_SIGHAND,
        CLONE_PIDFD,
        CLONE_PTRACE,
        CLONE_VFORK,
        CLONE_PARENT,
        CLONE_THREAD,
        CLONE_NEWNS,
        CLONE_SYSVSEM,
        CLONE_SETTLS,
        CLONE_PARENT_SETTID,
        CLONE_CHILD_CLEARTID,
        CLONE_DETACHED,
        CLONE_UNTRACED,
        CLONE_CHILD_SETTID,
        CLONE_NEWCGROUP,
        CLONE_NEWUTS,
        CLONE_NEWIPC,
        CLONE_NEWUSER,
        CLONE_NEWPID,
        CLONE_NEWNET,
        CLONE_IO,
        CLONE_NEWTIME,
        // Address families.
        AF_UNSPEC,
        AF_UNIX,
        AF_LOCAL,
        AF_INET,
        AF_AX25,
        AF_IPX,
        AF_APPLETALK,
        AF_NETROM,
        AF_BRIDGE,
        AF_ATMPVC,
        AF_X25,
        AF_INET6,
        AF_ROSE,
        AF_DECnet,
        AF_NETBEUI,
        AF_SECURITY,
        AF_KEY,
        AF_NETLINK,
        AF_ROUTE,
        AF_PACKET,
        AF_ASH,
        AF_ECONET,
        AF_ATMSVC,
        AF_RDS,
        AF_SNA,
        AF_IRDA,
        AF_PPPOX,
        AF_WANPIPE,
        AF_LLC,
        AF_IB,
        AF_MPLS,
        AF_CAN,
        AF_TIPC,
        AF_BLUETOOTH,
        AF_IUCV,
        AF_RXRPC,
        AF_ISDN,
        AF_PHONET,
        AF_IEEE802154,
        AF_CAIF,
        AF_ALG,
        AF_NFC,
        AF_VSOCK,
        AF_XDP,
        // Socket types and protocols.
        SOCK_STREAM,
        SOCK_DGRAM,
        SOCK_RAW,
        SOCK_RDM,
        SOCK_SEQPACKET,
        SOCK_NONBLOCK,
        SOCK_CLOEXEC,
        IPPROTO_IP,
        IPPROTO_ICMP,
        IPPROTO_TCP,
        IPPROTO_UDP,
        IPPROTO_IPV6,
        IPPROTO_ICMPV6,
        IPPROTO_RAW,
        IPPROTO_SCTP,
        // Terminal ioctls.
        TIOCSTI,
        TIOCLINUX,
        TIOCGWINSZ,
        TIOCSWINSZ,
        TIOCSCTTY,
        TIOCNOTTY,
        TIOCGPGRP,
        TIOCSPGRP,
        TIOCCONS,
        TIOCEXCL,
        TIOCNXCL,
        TIOCMGET,
        TIOCMSET,
        TIOCGSID,
        TIOCSETD,
        TIOCGETD,
        TIOCOUTQ,
        TIOCINQ,
        TCGETS,
        TCSETS,
        TCSETSW,
        TCSETSF,
        FIONREAD,
        FIONBIO,
        FIOCLEX,
        FIONCLEX,
        // personality(2) (and UNAME26, FDPIC_FUNCPTRS below).
        ADDR_NO_RANDOMIZE,
        MMAP_PAGE_ZERO,
        ADDR_COMPAT_LAYOUT,
        READ_IMPLIES_EXEC,
        ADDR_LIMIT_32BIT,
        SHORT_INODE,
        WHOLE_SECONDS,
        STICKY_TIMEOUTS,
        ADDR_LIMIT_3GB,
        // open(2) flags.
        O_RDONLY,
        O_WRONLY,
        O_RDWR,
        O_ACCMODE,
        O_CREAT,
        O_EXCL,
        O_NOCTTY,
        O_TRUNC,
        O_APPEND,
        O_NONBLOCK,
        O_DSYNC,
        O_SYNC,
        O_RSYNC,
        O_DIRECTORY,
        O_NOFOLLOW,
        O_CLOEXEC,
        O_ASYNC,
        O_DIRECT,
        O_LARGEFILE,
        O_NOATIME,
        O_PATH,
        O_TMPFILE,
        // mmap(2) / mprotect(2).
        PROT_NONE,
        PROT_READ,
        PROT_WRITE,
        PROT_EXEC,
        PROT_GROWSDOWN,
        PROT_GROWSUP,
        MAP_SHARED,
        MAP_PRIVATE,
        MAP_SHARED_VALIDATE,
        MAP_FIXED,
        MAP_ANONYMOUS,
        MAP_GROWSDOWN,
        MAP_DENYWRITE,
        MAP_EXECUTABLE,
        MAP_LOCKED,
        MAP_NORESERVE,
        MAP_POPULATE,
        MAP_NONBLOCK,
        MAP_STACK,
        MAP_HUGETLB,
        MAP_FIXED_NOREPLACE,
        // prctl(2) options.
        PR_SET_PDEATHSIG,
        PR_GET_PDEATHSIG,
        PR_GET_DUMPABLE,
        PR_SET_DUMPABLE,
        PR_SET_KEEPCAPS,
        PR_GET_KEEPCAPS,
        PR_SET_NAME,
        PR_GET_NAME,
        PR_GET_SECCOMP,
        PR_SET_SECCOMP,
        PR_CAPBSET_READ,
        PR_CAPBSET_DROP,
        PR_SET_SECUREBITS,
        PR_GET_SECUREBITS,
        PR_SET_NO_NEW_PRIVS,
        PR_GET_NO_NEW_PRIVS,
        PR_SET_CHILD_SUBREAPER,
        PR_CAP_AMBIENT,
        PR_SET_MM,
        PR_SET_PTRACER,
        PR_SET_THP_DISABLE,
        PR_SET_TIMERSLACK,
        // fcntl(2) commands.
        F_DUPFD,
        F_GETFD,
        F_SETFD,
        F_GETFL,
        F_SETFL,
        F_GETLK,
        F_SETLK,
        F_SETLKW,
        F_DUPFD_CLOEXEC,
        F_SETOWN,
        F_GETOWN,
        F_SETLEASE,
        F_GETLEASE,
        F_NOTIFY,
        F_SETPIPE_SZ,
        F_GETPIPE_SZ,
        F_ADD_SEALS,
        F_GET_SEALS,
        // Signals.
        SIGHUP,
        SIGINT,
        SIGQUIT,
        SIGILL,
        SIGTRAP,
        SIGABRT,
        SIGBUS,
        SIGFPE,
        SIGKILL,
        SIGUSR1,
        SIGSEGV,
        SIGUSR2,
        SIGPIPE,
        SIGALRM,
        SIGTERM,
        SIGCHLD,
        SIGCONT,
        SIGSTOP,
        SIGTSTP,
        SIGSYS,
        // Misc.
        AT_FDCWD,
        AT_SYMLINK_NOFOLLOW,
        AT_REMOVEDIR,
        AT_SYMLINK_FOLLOW,
        AT_EMPTY_PATH,
        MSG_OOB,
        MSG_PEEK,
        MSG_DONTWAIT,
        MSG_NOSIGNAL,
        MSG_ZEROCOPY,
        FUTEX_WAIT,
        FUTEX_WAKE,
        FUTEX_PRIVATE_FLAG,
        MADV_NORMAL,
        MADV_DONTNEED,
        MADV_FREE,
        MADV_DONTFORK,
        MADV_HUGEPAGE,
        SECCOMP_SET_MODE_STRICT,
        SECCOMP_SET_MODE_FILTER,
        SECCOMP_GET_ACTION_AVAIL,
        SECCOMP_GET_NOTIF_SIZES,
    ];
    // The libc crate has these for glibc targets only; the values are the
    // kernel's (include/uapi/linux/personality.h), the same for every libc.
    v.extend([("UNAME26", 0x0020000), ("FDPIC_FUNCPTRS", 0x0080000)]);
    v
});

/// `enum personality` values from linux/personality.h, which `libc` does not
/// export: the execution domain is the low byte, combined with libc's flag bits.
static PERSONALITIES: &[(&str, u64)] = &[
    ("PER_LINUX", 0x0000),
    ("PER_LINUX_32BIT", libc::ADDR_LIMIT_32BIT as u64),
    ("PER_LINUX32", 0x0008),
    ("PER_LINUX32_3GB", 0x0008 | libc::ADDR_LIMIT_3GB as u64),
    ("PER_BSD", 0x0006),
    (
        "PER_SVR4",
        0x0001 | libc::STICKY_TIMEOUTS as u64 | libc::MMAP_PAGE_ZERO as u64,
    ),
    ("PER_MASK", 0x00ff),
];

/// The value of a named constant.
pub fn lookup(name: &str) -> Option<u64> {
    CONSTANTS
        .iter()
        .chain(PERSONALITIES.iter())
        .find(|(n, _)| *n == name)
        .map(|c| c.1)
}

/// Every constant name (for did-you-mean suggestions and the docs).
pub fn names() -> impl Iterator<Item = &'static str> {
    CONSTANTS.iter().chain(PERSONALITIES.iter()).map(|c| c.0)
}

static ERRNOS: std::sync::LazyLock<Vec<(&str, u64)>> = std::sync::LazyLock::new(|| {
    consts![
        EPERM,
        ENOENT,
        ESRCH,
        EINTR,
        EIO,
        ENXIO,
        E2BIG,
        ENOEXEC,
        EBADF,
        ECHILD,
        EAGAIN,
        ENOMEM,
        EACCES,
        EFAULT,
        ENOTBLK,
        EBUSY,
        EEXIST,
        EXDEV,
        ENODEV,
        ENOTDIR,
        EISDIR,
        EINVAL,
        ENFILE,
        EMFILE,
        ENOTTY,
        ETXTBSY,
        EFBIG,
        ENOSPC,
        ESPIPE,
        EROFS,
        EMLINK,
        EPIPE,
        EDOM,
        ERANGE,
        EDEADLK,
        ENAMETOOLONG,
        ENOLCK,
        ENOSYS,
        ENOTEMPTY,
        ELOOP,
        ENOMSG,
        EIDRM,
        ENOSTR,
        ENODATA,
        ETIME,
        ENOSR,
        EREMOTE,
        ENOLINK,
        EPROTO,
        EBADMSG,
        EOVERFLOW,
        EILSEQ,
        EUSERS,
        ENOTSOCK,
        EDESTADDRREQ,
        EMSGSIZE,
        EPROTOTYPE,
        ENOPROTOOPT,
        EPROTONOSUPPORT,
        ESOCKTNOSUPPORT,
        EOPNOTSUPP,
        EPFNOSUPPORT,
        EAFNOSUPPORT,
        EADDRINUSE,
        EADDRNOTAVAIL,
        ENETDOWN,
        ENETUNREACH,
        ENETRESET,
        ECONNABORTED,
        ECONNRESET,
        ENOBUFS,
        EISCONN,
        ENOTCONN,
        ESHUTDOWN,
        ETOOMANYREFS,
        ETIMEDOUT,
        ECONNREFUSED,
        EHOSTDOWN,
        EHOSTUNREACH,
        EALREADY,
        EINPROGRESS,
        ESTALE,
        EDQUOT,
        ECANCELED,
        EOWNERDEAD,
        ENOTRECOVERABLE,
        ERFKILL,
        EHWPOISON,
        ENOTSUP,
        EMULTIHOP,
        ENOKEY,
        EKEYEXPIRED,
        EKEYREVOKED,
        EKEYREJECTED,
    ]
});

/// The number of an errno name (`EPERM` → 1).
pub fn errno(name: &str) -> Option<u16> {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|c| u16::try_from(c.1).ok())
}

/// The conventional name of an errno number (`1` → `EPERM`), for output.
pub fn errno_name(n: u16) -> Option<&'static str> {
    // ENOTSUP aliases EOPNOTSUPP and EAGAIN's alias is not listed: the first wins.
    ERRNOS.iter().find(|(_, v)| *v == u64::from(n)).map(|c| c.0)
}

/// Every errno name, for suggestions.
pub fn errno_names() -> impl Iterator<Item = &'static str> {
    ERRNOS.iter().map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_libc() {
        assert_eq!(lookup("CLONE_NEWUSER"), Some(0x1000_0000));
        assert_eq!(lookup("AF_VSOCK"), Some(40));
        assert_eq!(lookup("TIOCSTI"), Some(0x5412));
        assert_eq!(lookup("PER_LINUX32"), Some(8));
        assert_eq!(lookup("AT_FDCWD"), Some(0xffff_ff9c));
        assert_eq!(lookup("CLONE_IO"), Some(0x8000_0000));
        assert_eq!(lookup("NOPE"), None);
        assert_eq!(errno("ENOSYS"), Some(38));
        assert_eq!(errno_name(1), Some("EPERM"));
        assert_eq!(errno_name(95), Some("EOPNOTSUPP"));
    }
}
