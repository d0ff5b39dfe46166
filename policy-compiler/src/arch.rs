//! Architectures, their `AUDIT_ARCH_*` tokens, and their syscall tables.
//!
//! Tables come from the `syscalls` crate (generated from the kernel's own
//! `syscall*.tbl` files). Two additions are made here because that crate does not
//! model them: the x32 ABI (x86_64 numbers with bit 30 set, minus the
//! `64`-only entries, plus the x32-only entries 512..=547, as in
//! `arch/x86/entry/syscalls/syscall_64.tbl`) and ARM's private syscalls
//! (`__ARM_NR_*`, `arch/arm/include/uapi/asm/unistd.h`).

use std::fmt;

/// The x32 ABI marker bit in `seccomp_data.nr` (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// An architecture (ABI) a seccomp filter can be written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
    Riscv64,
    S390x,
    Ppc64le,
    Loongarch64,
}

// linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x8000_0000) | __AUDIT_ARCH_LE (0x4000_0000).
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;
const AUDIT_ARCH_PPC64LE: u32 = 0xC000_0015;
const AUDIT_ARCH_LOONGARCH64: u32 = 0xC000_0102;

/// x86_64 entries whose ABI column is `64`: x32 does not have them at the same
/// number (it has its own compat entry at 512+ or none at all).
const X86_64_ONLY: &[u32] = &[
    13, 15, 16, 19, 20, 45, 46, 47, 54, 55, 59, 101, 127, 128, 129, 131, 134, 156, 174, 177, 178,
    180, 205, 206, 209, 211, 214, 215, 222, 236, 244, 246, 247, 273, 274, 278, 279, 295, 296, 297,
    299, 307, 310, 311, 322, 327, 328,
];

/// x32-only entries (ABI column `x32`), without the x32 bit.
const X32_ONLY: &[(&str, u32)] = &[
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

/// ARM private syscalls (`__ARM_NR_BASE` = 0x0f0000).
const ARM_PRIVATE: &[(&str, u32)] = &[
    ("breakpoint", 0x0f_0001),
    ("cacheflush", 0x0f_0002),
    ("usr26", 0x0f_0003),
    ("usr32", 0x0f_0004),
    ("set_tls", 0x0f_0005),
    ("get_tls", 0x0f_0006),
];

macro_rules! table {
    ($m:ident) => {{
        syscalls::$m::Sysno::iter()
            .map(|s| (s.name(), s.id() as u32))
            .collect::<Vec<_>>()
    }};
}

/// One architecture's syscall table: `(name, number)` sorted by number, where the
/// number is exactly what the filter sees in `seccomp_data.nr`.
#[derive(Debug)]
pub struct SyscallTable {
    entries: Vec<(&'static str, u32)>,
    by_name: std::collections::HashMap<&'static str, u32>,
    /// The highest regular syscall number (private ARM calls excluded).
    max_regular: u32,
}

impl SyscallTable {
    fn new(mut entries: Vec<(&'static str, u32)>, max_regular: u32) -> Self {
        // The generic 64-bit table calls syscall 79 `fstatat`, but the kernel
        // (and libseccomp, and Docker's profile) name it `newfstatat`.
        if !entries.iter().any(|e| e.0 == "newfstatat") {
            for e in entries.iter_mut().filter(|e| e.0 == "fstatat") {
                e.0 = "newfstatat";
            }
        }
        entries.sort_by_key(|&(n, nr)| (nr, n));
        entries.dedup_by_key(|e| e.1);
        let by_name = entries.iter().copied().collect();
        SyscallTable {
            entries,
            by_name,
            max_regular,
        }
    }

    pub fn nr(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, nr: u32) -> Option<&'static str> {
        self.entries
            .binary_search_by_key(&nr, |e| e.1)
            .ok()
            .map(|i| self.entries[i].0)
    }

    /// The highest regular syscall number this table knows. Numbers above it
    /// belong to kernels newer than the table.
    pub fn max_nr(&self) -> u32 {
        self.max_regular
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.entries.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn build_table(arch: Arch) -> SyscallTable {
    match arch {
        Arch::X86_64 => {
            let t = table!(x86_64);
            let max = t.iter().map(|e| e.1).max().unwrap_or(0);
            SyscallTable::new(t, max)
        }
        Arch::X32 => {
            let mut t: Vec<_> = table!(x86_64)
                .into_iter()
                .filter(|(_, nr)| !X86_64_ONLY.contains(nr))
                .collect();
            t.extend(X32_ONLY.iter().copied());
            let t: Vec<_> = t
                .into_iter()
                .map(|(n, nr)| (n, nr | X32_SYSCALL_BIT))
                .collect();
            let max = t.iter().map(|e| e.1).max().unwrap_or(0);
            SyscallTable::new(t, max)
        }
        Arch::X86 => {
            // `break` (17, unimplemented since 1.0) cannot be a Rust identifier,
            // so the syscalls crate leaves it out; the kernel table has it.
            let mut t = table!(x86);
            t.push(("break", 17));
            from_plain(t)
        }
        Arch::Aarch64 => from_plain(table!(aarch64)),
        Arch::Arm => {
            let t = table!(arm);
            let max = t.iter().map(|e| e.1).max().unwrap_or(0);
            let mut t = t;
            t.extend(ARM_PRIVATE.iter().copied());
            SyscallTable::new(t, max)
        }
        Arch::Riscv64 => from_plain(table!(riscv64)),
        Arch::S390x => from_plain(table!(s390x)),
        Arch::Ppc64le => from_plain(table!(powerpc64)),
        Arch::Loongarch64 => from_plain(table!(loongarch64)),
    }
}

fn from_plain(t: Vec<(&'static str, u32)>) -> SyscallTable {
    let max = t.iter().map(|e| e.1).max().unwrap_or(0);
    SyscallTable::new(t, max)
}

impl Arch {
    pub const ALL: [Arch; 9] = [
        Arch::X86_64,
        Arch::X86,
        Arch::X32,
        Arch::Aarch64,
        Arch::Arm,
        Arch::Riscv64,
        Arch::S390x,
        Arch::Ppc64le,
        Arch::Loongarch64,
    ];

    /// The canonical name used in profiles and output.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Riscv64 => "riscv64",
            Arch::S390x => "s390x",
            Arch::Ppc64le => "ppc64le",
            Arch::Loongarch64 => "loongarch64",
        }
    }

    /// Parses a canonical name, a common alias (`amd64`, `i386`, `arm64`) or a
    /// libseccomp/OCI name (`SCMP_ARCH_X86_64`).
    pub fn from_name(s: &str) -> Option<Arch> {
        let lower = s.to_ascii_lowercase();
        let n = lower.strip_prefix("scmp_arch_").unwrap_or(&lower);
        Some(match n {
            "x86_64" | "amd64" | "x86-64" => Arch::X86_64,
            "x86" | "i386" | "i686" | "ia32" => Arch::X86,
            "x32" => Arch::X32,
            "aarch64" | "arm64" => Arch::Aarch64,
            "arm" | "armhf" | "armel" => Arch::Arm,
            "riscv64" => Arch::Riscv64,
            "s390x" => Arch::S390x,
            "ppc64le" => Arch::Ppc64le,
            "loongarch64" => Arch::Loongarch64,
            _ => return None,
        })
    }

    /// libseccomp's / OCI's name for this architecture.
    pub fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
            Arch::Riscv64 => "SCMP_ARCH_RISCV64",
            Arch::S390x => "SCMP_ARCH_S390X",
            Arch::Ppc64le => "SCMP_ARCH_PPC64LE",
            Arch::Loongarch64 => "SCMP_ARCH_LOONGARCH64",
        }
    }

    /// The `seccomp_data.arch` value (`AUDIT_ARCH_*`). x32 shares x86_64's token;
    /// the two are told apart by [`X32_SYSCALL_BIT`] in the syscall number.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
            Arch::Riscv64 => AUDIT_ARCH_RISCV64,
            Arch::S390x => AUDIT_ARCH_S390X,
            Arch::Ppc64le => AUDIT_ARCH_PPC64LE,
            Arch::Loongarch64 => AUDIT_ARCH_LOONGARCH64,
        }
    }

    /// The name of an `AUDIT_ARCH_*` token, for disassembly.
    pub fn audit_arch_name(token: u32) -> Option<&'static str> {
        Some(match token {
            AUDIT_ARCH_X86_64 => "AUDIT_ARCH_X86_64",
            AUDIT_ARCH_I386 => "AUDIT_ARCH_I386",
            AUDIT_ARCH_AARCH64 => "AUDIT_ARCH_AARCH64",
            AUDIT_ARCH_ARM => "AUDIT_ARCH_ARM",
            AUDIT_ARCH_RISCV64 => "AUDIT_ARCH_RISCV64",
            AUDIT_ARCH_S390X => "AUDIT_ARCH_S390X",
            AUDIT_ARCH_PPC64LE => "AUDIT_ARCH_PPC64LE",
            AUDIT_ARCH_LOONGARCH64 => "AUDIT_ARCH_LOONGARCH64",
            _ => return None,
        })
    }

    /// Whether arguments are 32 bits wide in this ABI (the kernel zero-extends them).
    pub fn is_32bit(self) -> bool {
        matches!(self, Arch::X86 | Arch::Arm)
    }

    /// This architecture's syscall table (built once, then shared).
    pub fn table(self) -> &'static SyscallTable {
        use std::sync::OnceLock;
        static TABLES: [OnceLock<SyscallTable>; 9] = [const { OnceLock::new() }; 9];
        let i = Arch::ALL.iter().position(|&a| a == self).unwrap_or(0);
        TABLES[i].get_or_init(|| build_table(self))
    }

    /// The architecture this binary runs on.
    pub fn native() -> Arch {
        if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "x86") {
            Arch::X86
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "riscv64") {
            Arch::Riscv64
        } else if cfg!(target_arch = "s390x") {
            Arch::S390x
        } else if cfg!(target_arch = "powerpc64") {
            Arch::Ppc64le
        } else {
            Arch::Loongarch64
        }
    }

    /// The 64-bit kernel architecture whose compat ABI this is
    /// (`SECCOMP_ARCH_COMPAT`): the kernel's action cache emulates a filter for
    /// this ABI's numbers too when it runs on that kernel.
    pub fn compat_of(self) -> Option<Arch> {
        match self {
            Arch::X86 => Some(Arch::X86_64),
            Arch::Arm => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// `native` as Docker's `archMap` expands it: the host ABI and its compat ABIs.
    pub fn with_compat(self) -> Vec<Arch> {
        match self {
            Arch::X86_64 => vec![Arch::X86_64, Arch::X86, Arch::X32],
            Arch::Aarch64 => vec![Arch::Aarch64, Arch::Arm],
            other => vec![other],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_resolve_known_numbers() {
        assert_eq!(Arch::X86_64.table().nr("read"), Some(0));
        assert_eq!(Arch::X86_64.table().nr("mkdir"), Some(83));
        assert_eq!(Arch::X86.table().nr("socketcall"), Some(102));
        assert_eq!(Arch::Aarch64.table().nr("mkdir"), None);
        assert_eq!(Arch::Aarch64.table().nr("mkdirat"), Some(34));
        assert_eq!(Arch::Aarch64.table().nr("newfstatat"), Some(79));
        assert_eq!(Arch::Aarch64.table().nr("fstatat"), None);
        assert_eq!(Arch::Arm.table().nr("set_tls"), Some(0x0f_0005));
        assert!(Arch::Arm.table().max_nr() < 0x0f_0000);
    }

    #[test]
    fn x32_table_has_the_bit_and_its_own_entries() {
        let t = Arch::X32.table();
        assert_eq!(t.nr("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(t.nr("ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(t.nr("execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(t.name(X32_SYSCALL_BIT | 16), None, "16 is 64-only");
        assert_eq!(X32_ONLY.len(), 36);
        assert_eq!(t.max_nr(), X32_SYSCALL_BIT | 547);
    }

    #[test]
    fn names_and_tokens() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_name(a.name()), Some(a));
            assert_eq!(Arch::from_name(a.scmp_name()), Some(a));
            assert!(Arch::audit_arch_name(a.audit_arch()).is_some());
            assert!(!a.table().is_empty());
        }
        assert_eq!(Arch::from_name("amd64"), Some(Arch::X86_64));
        assert_eq!(Arch::from_name("sparc"), None);
    }
}
