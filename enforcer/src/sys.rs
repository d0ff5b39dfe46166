//! The seam between the apply sequence and the kernel.
//!
//! [`Kernel`] is the small set of operations the enforcer performs on its own
//! process; [`LinuxKernel`] implements them with real syscalls and holds every
//! `unsafe` block of the project (the workspace denies `unsafe_code`; this module
//! opts in). The recording fake used by unit tests lives in `fake.rs` and is
//! compiled only for tests.
//!
//! Conventions: each method is one kernel operation (or a tight group that only
//! makes sense together), documented with its C form. Failures are `io::Error`s
//! that keep the errno ([`errno_of`]).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use landlock::{RulesetCreatedAttr, RulesetStatus};

use crate::policy::{CAP_LAST_CAP, LandlockSpec, SeccompSpec};

/// A `prctl(2)` flag the enforcer sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrctlFlag {
    /// `PR_SET_DUMPABLE`.
    Dumpable,
    /// `PR_SET_NO_NEW_PRIVS` (can only be turned on).
    NoNewPrivs,
    /// `PR_SET_KEEPCAPS`.
    KeepCaps,
}

/// Which optional mechanisms [`Kernel::features`] looks for: only those the
/// policy uses (each probe costs the launch a syscall or two); the others read
/// as absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub selinux: bool,
    pub landlock: bool,
    pub seccomp: bool,
}

/// What the running kernel offers, probed once before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// SELinux is the active LSM (selinuxfs mounted, or listed in securityfs `lsm`).
    pub selinux: bool,
    /// Landlock ABI version, 0 when Landlock is absent or disabled.
    pub landlock_abi: i32,
    /// The kernel has seccomp filtering.
    pub seccomp: bool,
}

/// The kernel operations of the apply sequence. Callers take `&mut dyn Kernel`.
pub trait Kernel {
    /// Number of threads in this process (`/proc/self/task` entries).
    fn thread_count(&mut self) -> io::Result<usize>;
    /// `prctl(PR_SET_DUMPABLE | PR_SET_NO_NEW_PRIVS | PR_SET_KEEPCAPS, on)`.
    fn prctl_flag(&mut self, flag: PrctlFlag, on: bool) -> io::Result<()>;
    /// Stop inherited state leaking into the program: `close_range(…,
    /// CLOSE_RANGE_CLOEXEC)` on every fd ≥ 3 not in `keep` (sorted), reset SIGPIPE
    /// to `SIG_DFL` (the Rust runtime ignores it and `execve` would keep that) and
    /// unblock all signals.
    fn sanitize_inherited(&mut self, keep: &[i32]) -> io::Result<()>;
    /// Open the private procfs handle (`open(<root>, O_PATH|O_DIRECTORY)`) and check
    /// it is the root of a procfs (`fstatfs` = `PROC_SUPER_MAGIC`, inode 1).
    fn open_procfs(&mut self) -> io::Result<()>;
    /// Probe SELinux, Landlock and seccomp, each only if `probe` asks for it.
    fn features(&mut self, probe: Probe) -> io::Result<Features>;
    /// `unshare(CLONE_NEWUSER)`.
    fn unshare_userns(&mut self) -> io::Result<()>;
    /// Write one byte (`1`) to `fd`, then block until the parent answers with the
    /// ack byte `1` (it writes our uid/gid maps in between).
    fn sync_exchange(&mut self, fd: RawFd) -> io::Result<()>;
    /// `personality(persona)`, verified by reading it back.
    fn set_personality(&mut self, persona: u32) -> io::Result<()>;
    /// Open `thread-self/attr/exec` beneath the private procfs without crossing a
    /// mount or a magic link, check it is on procfs, and write `label` if given.
    /// With `None` this only proves the path is not tampered with.
    fn exec_label(&mut self, label: Option<&str>) -> io::Result<()>;
    /// Drop every bounding-set capability not in `keep` (`PR_CAPBSET_DROP`).
    fn drop_bounding(&mut self, keep: u64) -> io::Result<()>;
    /// `setgroups(groups)`.
    fn setgroups(&mut self, groups: &[u32]) -> io::Result<()>;
    /// `setresgid(gid, gid, gid)`.
    fn setresgid(&mut self, gid: u32) -> io::Result<()>;
    /// `setresuid(uid, uid, uid)`.
    fn setresuid(&mut self, uid: u32) -> io::Result<()>;
    /// One `capset` of effective, permitted and inheritable.
    fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()>;
    /// `PR_CAP_AMBIENT_CLEAR_ALL` if `clear`, then `PR_CAP_AMBIENT_RAISE` for each
    /// bit of `ambient`.
    fn set_ambient(&mut self, ambient: u64, clear: bool) -> io::Result<()>;
    /// Create the Landlock ruleset and open its rule paths (`O_PATH`), while the
    /// process still has the privilege to reach them. Kept until [`Self::landlock_restrict`].
    fn landlock_prepare(&mut self, spec: &LandlockSpec) -> io::Result<()>;
    /// `landlock_restrict_self` with the prepared ruleset (without setting NNP), then
    /// close the ruleset and rule fds.
    fn landlock_restrict(&mut self) -> io::Result<RulesetStatus>;
    /// Refuse a `cwd` or `program` path that resolves through a magic link
    /// (`/proc/<pid>/fd/N`, CVE-2024-21626), `fchdir` to `cwd` if given, and check
    /// the resulting working directory is reachable from our root.
    fn check_exec_paths(&mut self, cwd: Option<&CStr>, program: &CStr) -> io::Result<()>;
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`.
    fn install_seccomp(&mut self, spec: &SeccompSpec) -> io::Result<()>;
    /// `execve`. The Linux implementation returns only on failure; a fake returns
    /// `Ok(())` to mean "the program would now be running".
    fn execve(&mut self, exec: &PreparedExec) -> io::Result<()>;
}

/// An `io::Error` with an errno and an explanation, for failures whose bare errno
/// would not say enough (`ELOOP` for "this path goes through /proc/self/fd").
#[derive(Debug)]
pub struct SysError {
    pub errno: i32,
    pub message: String,
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for SysError {}

/// An `io::Error` carrying `errno` and `message`.
pub fn sys_error(errno: i32, message: impl Into<String>) -> io::Error {
    let kind = io::Error::from_raw_os_error(errno).kind();
    io::Error::new(
        kind,
        SysError {
            errno,
            message: message.into(),
        },
    )
}

/// The errno behind `e`, if there is one.
pub fn errno_of(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<SysError>())
            .map(|s| s.errno)
    })
}

/// `execve` arguments prepared before seccomp, so that nothing between the filter
/// and `execve` allocates or makes another syscall.
pub struct PreparedExec {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// `None`: the program gets this process's environment as it is at `execve`
    /// (as `execv(3)` does), with nothing copied.
    envp: Option<(Vec<CString>, Vec<*const libc::c_char>)>,
}

unsafe extern "C" {
    /// The C library's environment (environ(7)), which Rust's `std::env` reads and writes.
    static environ: *const *const libc::c_char;
}

impl fmt::Debug for PreparedExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedExec")
            .field("path", &self.path)
            .field("argc", &self._argv.len())
            .field("envc", &self.envp.as_ref().map(|(e, _)| e.len()))
            .finish()
    }
}

fn c_string(s: Vec<u8>, what: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| sys_error(libc::EINVAL, format!("{what} contains a NUL byte")))
}

/// The pointers of `strings` and a final null, as `execve` takes them. They stay
/// valid while `strings` lives, even if the `Vec` moves: each `CString` owns its
/// bytes in a separate allocation.
fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|c| c.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

impl PreparedExec {
    /// Fails with `EINVAL` if any string contains a NUL byte.
    pub fn new(path: &Path, argv: &[OsString], envp: &[OsString]) -> io::Result<Self> {
        let mut exec = Self::inheriting_env(path, argv)?;
        let envp: Vec<CString> = envp
            .iter()
            .map(|a| c_string(a.clone().into_vec(), "an environment entry"))
            .collect::<Result<_, _>>()?;
        let ptrs = null_terminated(&envp);
        exec.envp = Some((envp, ptrs));
        Ok(exec)
    }

    /// Like [`Self::new`], but the program inherits this process's environment at
    /// `execve` time. Copying it would cost the launch a few dozen allocations, and
    /// nothing between here and `execve` changes it.
    pub fn inheriting_env(path: &Path, argv: &[OsString]) -> io::Result<Self> {
        let path = c_string(path.as_os_str().to_owned().into_vec(), "program path")?;
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| c_string(a.clone().into_vec(), "an argument"))
            .collect::<Result<_, _>>()?;
        let argv_ptrs = null_terminated(&argv);
        Ok(PreparedExec {
            path,
            _argv: argv,
            argv_ptrs,
            envp: None,
        })
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }
}

/// The allocator of the `rampart-enforce` and `rampart` binaries: a bump arena in
/// `.bss` (one per process: every `LaunchArena` is a handle to the same memory
/// and state), with the system allocator behind it.
///
/// A launch lives for well under a millisecond before it execs, so little of what
/// it frees needs reusing, and on this kind of VM a page fault costs microseconds:
/// musl's allocator unmaps and remaps small blocks as they are freed, faulting in
/// fresh pages each time (13 of the enforcer's 30 faults, 30 of `rampart run`'s
/// 100). The arena touches each page once. Freeing or growing the newest block is
/// done in place (a `Vec` reading a file grows without copying). Requests that do
/// not fit go to the system allocator, so no size is refused and a long `rampart
/// compile` wastes at most the arena's 256 KiB.
#[derive(Debug)]
pub struct LaunchArena {
    _private: (),
}

const ARENA_BYTES: usize = 256 * 1024;

/// The arena: all zero, so it lives in `.bss` and costs neither file size nor a
/// page until touched. The state sits in the same page as the first blocks, so
/// the first allocation faults in one page, not two. Cache-line aligned, not
/// page aligned: it then starts in the page that the C library's statics at the
/// end of `.bss` have already touched, and a launch's 4.3 KiB of blocks take one
/// page of their own, not two.
#[repr(C, align(64))]
struct ArenaMemory {
    /// The offset of the first free byte (low half) and the start of the newest
    /// block, bit-inverted (high half: 0 before the first block), in one atomic so
    /// that no thread sees one without the other: freeing or growing the newest
    /// block in place is only sound if it still is the newest when they move.
    state: std::sync::atomic::AtomicU64,
    bytes: std::cell::UnsafeCell<[u8; ARENA_BYTES]>,
}

// SAFETY: the bytes are only reached through blocks handed out by
// `LaunchArena::alloc`, carved by compare-exchange on the state, so two threads
// never receive overlapping blocks.
unsafe impl Sync for ArenaMemory {}

// Its own zero-filled section, which the linkers place after `.bss`: in `.bss`,
// it split the C runtime's, libc's and std's few statics over two pages of their
// own, one of them read before it was written (two faults). After it, they share
// the page the kernel has already touched (`.data`'s tail) and one more, which
// the arena's first blocks share too (`enforcer/benches/floor/faults.c`,
// BENCHMARKS.md). `.sbss.*` is a name LLVM marks NOBITS, as for `.bss.*`.
#[unsafe(link_section = ".sbss.rampart_arena")]
static ARENA_MEMORY: ArenaMemory = ArenaMemory {
    state: std::sync::atomic::AtomicU64::new(0),
    bytes: std::cell::UnsafeCell::new([0; ARENA_BYTES]),
};

impl LaunchArena {
    pub const fn new() -> Self {
        LaunchArena { _private: () }
    }

    fn base(&self) -> usize {
        ARENA_MEMORY.bytes.get() as usize
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.base()..self.base() + ARENA_BYTES).contains(&(ptr as usize))
    }

    /// Replaces the state with `step(next, newest)` atomically; `None` from `step`
    /// leaves it unchanged and returns `None`. Returns the new newest block's start.
    fn update(&self, step: impl Fn(usize, usize) -> Option<(usize, usize)>) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let state = &ARENA_MEMORY.state;
        // Read with a compare-exchange, a write: the page's first touch is then one
        // fault, where a load maps the zero page and the write faults again (LLVM
        // turns a no-op `fetch_or` into a load).
        let mut cur = match state.compare_exchange(0, 0, Relaxed, Relaxed) {
            Ok(v) | Err(v) => v,
        };
        loop {
            let (next, newest) = ((cur & 0xffff_ffff) as usize, !(cur >> 32) as u32 as usize);
            let (next, newest) = step(next, newest)?;
            // Both fit in 32 bits: they are at most ARENA_BYTES (no block: u32::MAX).
            let new = next as u64 | u64::from(!(newest as u32)) << 32;
            match state.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => return Some(newest),
                Err(now) => cur = now,
            }
        }
    }

    /// Carves `layout` from the arena, or returns null when it does not fit.
    fn bump(&self, layout: std::alloc::Layout) -> *mut u8 {
        let base = self.base();
        self.update(|next, _| {
            let start = (base + next).next_multiple_of(layout.align()) - base;
            let end = start.checked_add(layout.size())?;
            (end <= ARENA_BYTES).then_some((end, start))
        })
        .map_or(std::ptr::null_mut(), |start| (base + start) as *mut u8)
    }

    /// Gives the newest block at `ptr` the size `new_size`, in place, if it still
    /// is the newest block and the new size fits.
    fn resize_newest(&self, ptr: *mut u8, new_size: usize) -> bool {
        let start = ptr as usize - self.base();
        self.update(|_, newest| {
            (newest == start && new_size <= ARENA_BYTES - start)
                .then_some((start + new_size, start))
        })
        .is_some()
    }
}

impl Default for LaunchArena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `alloc` returns either a block of the arena that no other live block
// overlaps, aligned as asked (the offset is rounded up to the alignment), or the
// system allocator's block; `dealloc`/`realloc` route each pointer back to where it
// came from by its address, and only the newest arena block is resized in place.
unsafe impl std::alloc::GlobalAlloc for LaunchArena {
    // Out of line, as malloc is: inlined at every allocation site of `rampart`
    // (with LTO) it added 0.7 MB of code.
    #[inline(never)]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = self.bump(layout);
        if p.is_null() {
            // SAFETY: the caller's layout has a non-zero size, as GlobalAlloc requires.
            unsafe { std::alloc::System.alloc(layout) }
        } else {
            p
        }
    }

    // Out of line, as malloc is: inlined at every allocation site of `rampart`
    // (with LTO) it added 0.7 MB of code.
    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if self.owns(ptr) {
            // Only the newest block's bytes can be given back.
            self.resize_newest(ptr, 0);
        } else {
            // SAFETY: a pointer outside the arena came from System.alloc with this layout.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    // Out of line, as malloc is: inlined at every allocation site of `rampart`
    // (with LTO) it added 0.7 MB of code.
    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if self.owns(ptr) && self.resize_newest(ptr, new_size) {
            return ptr;
        }
        if !self.owns(ptr) {
            // SAFETY: the block came from System.alloc with `layout`; the caller
            // guarantees `new_size` is non-zero and does not overflow when aligned.
            return unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout =
            unsafe { std::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for alloc: the new layout has a non-zero size.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least min(old, new) bytes long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

/// The number of threads in this process. `unshare(CLONE_THREAD)` changes nothing
/// and fails with `EINVAL` exactly when the process has other threads (unshare(2)),
/// so the common single-threaded answer costs one syscall; listing
/// `/proc/self/task` costs about 50 µs on a VM. The listing gives the count when
/// there are several, or when a filter denies `unshare`.
pub fn thread_count() -> io::Result<usize> {
    // SAFETY: unshare takes a flags integer only; for a single-threaded process
    // CLONE_THREAD is a no-op.
    if unsafe { libc::unshare(libc::CLONE_THREAD) } == 0 {
        return Ok(1);
    }
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Ends this process at once with `code`, without exit handlers or buffer
/// flushes (in a child forked by `rampart run` those belong to the parent).
/// If the seccomp filter already in place denies `exit_group` (a profile that
/// allows nothing), the process ends on `abort`'s trap instead: libc's `_exit`
/// would retry `exit` forever, spinning on a CPU.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and touches no memory of ours; when it
    // is allowed it does not return.
    unsafe { libc::syscall(libc::SYS_exit_group, libc::c_long::from(code)) };
    // Reached only when a filter denied exit_group. abort ends in a trapping
    // instruction, whose signal the kernel delivers even if blocked or ignored.
    std::process::abort()
}

/// Forks this process. The child runs `child`, which never returns (it execs or
/// exits: `Infallible` stands for `!`); the parent gets the child's pid. Refuses (`EBUSY`) unless this process
/// has a single thread, since a child forked from a multi-threaded process may
/// only make async-signal-safe calls and `child` allocates.
pub fn fork_child(child: impl FnOnce() -> std::convert::Infallible) -> io::Result<u32> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(sys_error(
            libc::EBUSY,
            format!("cannot fork a launcher with {threads} threads: the child could deadlock"),
        ));
    }
    // SAFETY: the process is single-threaded (checked above, and nothing here starts
    // a thread in between), so the child inherits no lock held by another thread and
    // may allocate; it never returns into the caller's frames (`child` cannot return).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        // `child()` diverges: the lint flags the empty match that proves it.
        #[allow(unreachable_code)]
        0 => match child() {},
        pid => Ok(pid as u32),
    }
}

/// Defines the C `main` of a `#![no_main]` binary, which calls `$run(args)`.
///
/// Rust's own start-up (`lang_start`) costs a launch 11 syscalls and 3 page
/// faults that `rampart-enforce` has no use for: a `poll` that reopens closed fds
/// 0-2 on `/dev/null` (every fd the enforcer opens is close-on-exec, so the
/// program gets exactly the 0-2 it was given), SIGPIPE ignored (the apply
/// sequence resets it to the default anyway), an alternate signal stack for the
/// stack-overflow message, and the main thread's id. The C runtime has already
/// set up `environ`, TLS and the allocator; only the arguments have to be
/// collected from `argv`.
#[macro_export]
macro_rules! c_main {
    ($run:path) => {
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        extern "C" fn main(
            argc: ::std::ffi::c_int,
            argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: the C runtime calls `main` with `argc` valid, NUL-terminated
            // strings in `argv`, which live for the whole process.
            let args = unsafe { $crate::sys::args_from_argv(argc, argv) };
            $run(args)
        }
    };
}

/// The arguments of a C `main`, program name first.
///
/// # Safety
///
/// `argv` must point to `argc` pointers to NUL-terminated strings, as the C
/// runtime passes them to `main`.
#[doc(hidden)]
pub unsafe fn args_from_argv(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: i < argc, and the caller guarantees argv[0..argc] are valid
            // C strings that outlive this call.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

/// Takes ownership of an fd number inherited from the launcher (`--report-fd`,
/// `--policy-fd`, `--userns-sync-fd`). Fails with `EBADF` if it is not open.
///
/// The caller must adopt each number at most once.
pub fn adopt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(sys_error(libc::EBADF, format!("fd {fd} is negative")));
    }
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; no memory is passed.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(sys_error(libc::EBADF, format!("fd {fd} is not open")));
    }
    // SAFETY: `fd` is open (checked above) and was inherited across execve, so no
    // Rust object in this process owns it yet; the caller adopts each number once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_i(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat(AT_FDCWD, path, flags | O_CLOEXEC)` as a bare syscall: musl's `open`
/// follows an `O_CLOEXEC` open with a redundant `fcntl(F_SETFD)` (for kernels
/// older than 2.6.23), a syscall per open on the launch path.
pub fn open_cloexec(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().to_owned().into_vec())
        .map_err(|_| sys_error(libc::EINVAL, "the path contains a NUL byte"))?;
    openat_cloexec(&path, flags)
}

/// [`open_cloexec`] of a C string.
fn openat_cloexec(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call, which only reads it.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether `program` is a 64-bit ELF file (`\x7fELF`, then `ELFCLASS64`).
/// Best effort: anything else, and any error, is `false`. Only a regular file
/// is opened, since opening a device can have side effects; the answer only
/// tunes the filter's cost (see `CompiledPolicy::close_compat_gate`).
pub fn is_elf64(program: &CStr) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `program` is NUL-terminated; fstatat writes a whole `stat` into `st`.
    let r = unsafe { libc::fstatat(libc::AT_FDCWD, program.as_ptr(), st.as_mut_ptr(), 0) };
    if r != 0 {
        return false;
    }
    // SAFETY: fstatat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return false;
    }
    let Ok(fd) = openat_cloexec(program, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY) else {
        return false;
    };
    let mut head = [0u8; 5];
    // SAFETY: read writes at most `head.len()` bytes into the live buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), head.as_mut_ptr().cast(), head.len()) };
    n == 5 && head == *b"\x7fELF\x02"
}

/// `openat2(dirfd, path, how)`; returns the new fd.
fn openat2(dirfd: RawFd, path: &CStr, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    // `open_how` is #[non_exhaustive] in libc: build it zeroed, then set fields.
    // SAFETY: open_how is a plain-old-data struct of three u64s; all zeroes is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    loop {
        // SAFETY: `path` is NUL-terminated, `how` is a valid open_how and its size is
        // passed; the kernel only reads both.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match cvt(r) {
            // SAFETY: the kernel returned a new descriptor that nothing else owns.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e)
                if e.raw_os_error() == Some(libc::EINTR)
                    || e.raw_os_error() == Some(libc::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
}

fn fstatfs_type(fd: RawFd) -> io::Result<i64> {
    // SAFETY: statfs is plain data; zeroed is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable statfs for the kernel to fill.
    cvt_i(unsafe { libc::fstatfs(fd, &mut st) })?;
    Ok(st.f_type as i64)
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SELINUX_MAGIC: i64 = 0xf97c_ff8c;
const PROC_ROOT_INO: u64 = 1;

/// [`Kernel`] on Linux.
#[derive(Debug)]
pub struct LinuxKernel {
    proc_root: PathBuf,
    /// `false` only in unit tests that point the label writer at a temp dir.
    verify_procfs: bool,
    proc: Option<OwnedFd>,
    landlock: Option<landlock::RulesetCreated>,
}

impl LinuxKernel {
    /// `proc_root` is normally `/proc`. Whatever it is, [`Kernel::open_procfs`]
    /// refuses it unless it is the root of a procfs mount.
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        LinuxKernel {
            proc_root: proc_root.into(),
            verify_procfs: true,
            proc: None,
            landlock: None,
        }
    }

    /// A kernel whose procfs handle is a plain directory laid out like procfs. Only
    /// for tests of the label writer: nothing else should ever skip the check.
    #[cfg(test)]
    pub(crate) fn with_fake_proc_dir(dir: impl Into<PathBuf>) -> Self {
        LinuxKernel {
            proc_root: dir.into(),
            verify_procfs: false,
            proc: None,
            landlock: None,
        }
    }

    fn proc_fd(&self) -> io::Result<RawFd> {
        self.proc
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| sys_error(libc::EBADF, "the private procfs handle is not open yet"))
    }
}

fn selinux_active() -> bool {
    if let Ok(lsms) = std::fs::read_to_string("/sys/kernel/security/lsm")
        && lsms.trim().split(',').any(|l| l == "selinux")
    {
        return true;
    }
    // SAFETY: statfs is plain data; all zeroes is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated literal and `st` a writable statfs.
    let r = unsafe { libc::statfs(c"/sys/fs/selinux".as_ptr(), &mut st) };
    r == 0 && st.f_type as i64 == SELINUX_MAGIC
}

/// Marks fds `first..=last` close-on-exec. Through `syscall` because musl has no
/// `close_range` wrapper (the enforcer is also built for musl, statically).
fn close_range_cloexec(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC takes integers and only sets
    // descriptor flags; no memory is passed.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::from(first),
            libc::c_uint::from(last),
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    })
    .map(drop)
}

/// `prctl(option, arg, arg3)` for the options that take integer arguments only.
fn prctl_int(option: libc::c_int, arg: libc::c_ulong, arg3: libc::c_ulong) -> io::Result<()> {
    // SAFETY: every caller passes an option whose arguments are plain integers;
    // the unused ones are zero, as the kernel requires.
    cvt_i(unsafe { libc::prctl(option, arg, arg3, 0, 0) }).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `write_all` with SIGPIPE blocked, and a SIGPIPE it raised discarded before the
/// mask is restored: a pipe whose reader has gone answers EPIPE instead of
/// killing the process. Only for use before the seccomp filter, which may deny or
/// kill on the signal calls.
pub fn write_all_without_sigpipe(file: &mut std::fs::File, buf: &[u8]) -> io::Result<()> {
    use std::io::Write;
    // SAFETY: sigset_t is plain data that sigemptyset initialises before any use.
    let mut pipe: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are live and initialised by sigemptyset/pthread_sigmask.
    unsafe {
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
    }
    let written = file.write_all(buf);
    if written
        .as_ref()
        .is_err_and(|e| e.raw_os_error() == Some(libc::EPIPE))
    {
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: the set and timespec are live; the info pointer may be null. With a
        // zero timeout this only takes the SIGPIPE the write left pending.
        unsafe { libc::sigtimedwait(&pipe, std::ptr::null_mut(), &now) };
    }
    // SAFETY: `old` holds the mask pthread_sigmask returned above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    written
}

/// Drops every capability number not in `keep` with `drop_one`, in increasing
/// order: every number the kernel knows, capabilities newer than this build
/// included (no policy can name them, so they go too). `PR_CAPBSET_DROP` answers
/// EINVAL only past the kernel's last capability (37 before Linux 5.8, 40 since
/// 5.9), and every later number is unknown too, so the first EINVAL ends the
/// loop: an older kernel is not an error. A kept capability it does not know
/// fails later, at `capset`.
fn drop_bounding_with(keep: u64, mut drop_one: impl FnMut(u8) -> io::Result<()>) -> io::Result<()> {
    for i in (0..64u8).filter(|i| keep & (1 << i) == 0) {
        match drop_one(i) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            r => r?,
        }
    }
    Ok(())
}

/// This thread's permitted capability set (`capget`).
fn permitted_now() -> io::Result<u64> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and the two-element data array match the kernel's
    // _LINUX_CAPABILITY_VERSION_3 layout; capget writes only into `data`.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    })?;
    Ok(u64::from(data[0].permitted) | u64::from(data[1].permitted) << 32)
}

impl Kernel for LinuxKernel {
    fn thread_count(&mut self) -> io::Result<usize> {
        thread_count()
    }

    fn prctl_flag(&mut self, flag: PrctlFlag, on: bool) -> io::Result<()> {
        let option = match flag {
            PrctlFlag::Dumpable => libc::PR_SET_DUMPABLE,
            PrctlFlag::NoNewPrivs => libc::PR_SET_NO_NEW_PRIVS,
            PrctlFlag::KeepCaps => libc::PR_SET_KEEPCAPS,
        };
        prctl_int(option, libc::c_ulong::from(on), 0)
    }

    fn sanitize_inherited(&mut self, keep: &[i32]) -> io::Result<()> {
        let mut first: u32 = 3;
        for &k in keep {
            let k = u32::try_from(k).unwrap_or(0);
            if k > first {
                close_range_cloexec(first, k - 1)?;
            }
            first = first.max(k.saturating_add(1));
        }
        close_range_cloexec(first, u32::MAX)?;
        // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler pointer involved.
        if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `set` is a valid sigset_t initialised by sigemptyset before use; the
        // old-set pointer may be null.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            cvt_i(libc::sigprocmask(
                libc::SIG_SETMASK,
                &set,
                std::ptr::null_mut(),
            ))?;
        }
        Ok(())
    }

    fn open_procfs(&mut self) -> io::Result<()> {
        let fd = open_cloexec(&self.proc_root, libc::O_PATH | libc::O_DIRECTORY)?;
        if self.verify_procfs {
            let ty = fstatfs_type(fd.as_raw_fd())?;
            // SAFETY: stat is plain data; all zeroes is a valid value to be overwritten.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fstat fills the writable `st`; O_PATH fds are accepted by fstat.
            cvt_i(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
            let ino = st.st_ino;
            if ty != PROC_SUPER_MAGIC || ino != PROC_ROOT_INO {
                return Err(sys_error(
                    libc::EXDEV,
                    format!(
                        "{} is not the root of a procfs mount (f_type {ty:#x}, inode {ino}); \
                         every /proc write must go through a real procfs",
                        self.proc_root.display()
                    ),
                ));
            }
        }
        self.proc = Some(fd);
        Ok(())
    }

    fn features(&mut self, probe: Probe) -> io::Result<Features> {
        let v = if probe.landlock {
            // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
            // only returns the ABI version; no memory is read or written.
            unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    std::ptr::null::<u8>(),
                    0usize,
                    1u32,
                )
            }
        } else {
            0
        };
        // PR_GET_SECCOMP fails with EINVAL on a kernel built without seccomp.
        // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
        let seccomp =
            probe.seccomp && unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
        Ok(Features {
            selinux: probe.selinux && selinux_active(),
            landlock_abi: if v < 0 { 0 } else { v as i32 },
            seccomp,
        })
    }

    fn unshare_userns(&mut self) -> io::Result<()> {
        // SAFETY: unshare takes a flags integer only.
        cvt_i(unsafe { libc::unshare(libc::CLONE_NEWUSER) }).map(drop)
    }

    fn sync_exchange(&mut self, fd: RawFd) -> io::Result<()> {
        let one = [1u8];
        loop {
            // SAFETY: writes one byte from a live stack buffer.
            let n = unsafe { libc::write(fd, one.as_ptr().cast(), 1) };
            match n {
                1 => break,
                -1 if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
                -1 => return Err(io::Error::last_os_error()),
                _ => return Err(sys_error(libc::EIO, "short write on the userns sync fd")),
            }
        }
        let mut ack = [0u8];
        loop {
            // SAFETY: reads at most one byte into a live, writable stack buffer.
            let n = unsafe { libc::read(fd, ack.as_mut_ptr().cast(), 1) };
            match n {
                1 if ack[0] == 1 => return Ok(()),
                1 => {
                    return Err(sys_error(
                        libc::EPROTO,
                        format!(
                            "the parent answered {:#04x} instead of the ack byte 0x01 (it failed to write the id maps)",
                            ack[0]
                        ),
                    ));
                }
                0 => {
                    return Err(sys_error(
                        libc::EPIPE,
                        "the parent closed the userns sync fd without acknowledging (it failed to write the id maps)",
                    ));
                }
                _ if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
                _ => return Err(io::Error::last_os_error()),
            }
        }
    }

    fn set_personality(&mut self, persona: u32) -> io::Result<()> {
        // SAFETY: personality takes an integer; 0xffffffff queries without changing.
        unsafe {
            cvt_i(libc::personality(libc::c_ulong::from(persona)))?;
            let now = cvt_i(libc::personality(0xffff_ffff))?;
            if now as u32 != persona {
                return Err(sys_error(
                    libc::EINVAL,
                    format!("personality is {now:#x} after setting {persona:#x}"),
                ));
            }
        }
        Ok(())
    }

    fn exec_label(&mut self, label: Option<&str>) -> io::Result<()> {
        let dir = self.proc_fd()?;
        let path = c"thread-self/attr/exec";
        // NO_XDEV: a bind mount over attr/exec (or any component) is a mount crossing
        // and fails with EXDEV; NO_MAGICLINKS and BENEATH keep the walk inside procfs.
        let resolve = libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_BENEATH;
        let flags = if label.is_some() {
            libc::O_WRONLY | libc::O_NOCTTY
        } else {
            libc::O_PATH
        };
        let fd = openat2(dir, path, flags, resolve).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            let why = if errno == libc::EXDEV {
                " (something is mounted over it: refusing to write the label anywhere else)"
            } else {
                ""
            };
            sys_error(
                errno,
                format!("cannot open <procfs>/thread-self/attr/exec safely{why}"),
            )
        })?;
        if self.verify_procfs {
            let ty = fstatfs_type(fd.as_raw_fd())?;
            if ty != PROC_SUPER_MAGIC {
                return Err(sys_error(
                    libc::EXDEV,
                    format!("thread-self/attr/exec is on a filesystem of type {ty:#x}, not procfs"),
                ));
            }
        }
        if let Some(label) = label {
            let b = label.as_bytes();
            // SAFETY: writes `b.len()` bytes from a live slice.
            let n = unsafe { libc::write(fd.as_raw_fd(), b.as_ptr().cast(), b.len()) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n as usize != b.len() {
                return Err(sys_error(
                    libc::EIO,
                    format!("short write of the label ({n} of {} bytes)", b.len()),
                ));
            }
        }
        Ok(())
    }

    fn drop_bounding(&mut self, keep: u64) -> io::Result<()> {
        drop_bounding_with(keep, |i| {
            prctl_int(libc::PR_CAPBSET_DROP, libc::c_ulong::from(i), 0)
        })
    }

    fn setgroups(&mut self, groups: &[u32]) -> io::Result<()> {
        // SAFETY: the kernel reads `groups.len()` gid_t values from a live slice.
        cvt_i(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }).map(drop)
    }

    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        // SAFETY: integer arguments only.
        cvt_i(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
    }

    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        // SAFETY: integer arguments only.
        cvt_i(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
    }

    fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: effective as u32,
                permitted: permitted as u32,
                inheritable: inheritable as u32,
            },
            CapData {
                effective: (effective >> 32) as u32,
                permitted: (permitted >> 32) as u32,
                inheritable: (inheritable >> 32) as u32,
            },
        ];
        // SAFETY: header and the two-element data array match the kernel's
        // _LINUX_CAPABILITY_VERSION_3 layout and outlive the call.
        let set = cvt(unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        });
        match set {
            // The usual cause: the launcher itself lacks some of them (a container
            // without CAP_SYS_RESOURCE running a profile that asks for ALL).
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let lacking = permitted & !permitted_now()?;
                if lacking == 0 {
                    return Err(e);
                }
                let it = if lacking.count_ones() == 1 {
                    "it"
                } else {
                    "them"
                };
                Err(sys_error(
                    libc::EPERM,
                    format!(
                        "the policy asks for {} in the permitted set, and this process does not hold {it}; \
                         run the enforcer with {it} or remove {it} from the profile",
                        crate::policy::cap_list(lacking),
                    ),
                ))
            }
            r => r.map(drop),
        }
    }

    fn set_ambient(&mut self, ambient: u64, clear: bool) -> io::Result<()> {
        let ambient_op = |op: libc::c_int, cap: u8| {
            prctl_int(
                libc::PR_CAP_AMBIENT,
                op as libc::c_ulong,
                libc::c_ulong::from(cap),
            )
        };
        if clear {
            ambient_op(libc::PR_CAP_AMBIENT_CLEAR_ALL, 0)?;
        }
        for i in (0..=CAP_LAST_CAP).filter(|i| ambient & (1 << i) != 0) {
            ambient_op(libc::PR_CAP_AMBIENT_RAISE, i)?;
        }
        Ok(())
    }

    fn landlock_prepare(&mut self, spec: &LandlockSpec) -> io::Result<()> {
        self.landlock = Some(landlock_prepare(spec)?);
        Ok(())
    }

    fn landlock_restrict(&mut self) -> io::Result<RulesetStatus> {
        let created = self
            .landlock
            .take()
            .ok_or_else(|| sys_error(libc::EBADF, "no Landlock ruleset was prepared"))?;
        // NNP is the apply sequence's decision (it may be off on purpose): never let
        // the crate set it behind our back.
        let status = created
            .no_new_privs(false)
            .restrict_self()
            .map_err(ll_err)?;
        Ok(status.ruleset)
    }

    fn check_exec_paths(&mut self, cwd: Option<&CStr>, program: &CStr) -> io::Result<()> {
        fn magic<'a>(what: &'a str, p: &'a CStr) -> impl FnOnce(io::Error) -> io::Error + 'a {
            move |e: io::Error| {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                if errno == libc::ELOOP || errno == libc::EXDEV {
                    sys_error(
                        errno,
                        format!(
                            "{what} {} resolves through a magic link such as /proc/self/fd/N \
                             (CVE-2024-21626); pass a real path",
                            p.to_string_lossy()
                        ),
                    )
                } else {
                    sys_error(
                        errno,
                        format!("cannot resolve {what} {}", p.to_string_lossy()),
                    )
                }
            }
        }
        openat2(
            libc::AT_FDCWD,
            program,
            libc::O_PATH,
            libc::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(magic("program", program))?;
        if let Some(cwd) = cwd {
            let fd = openat2(
                libc::AT_FDCWD,
                cwd,
                libc::O_PATH | libc::O_DIRECTORY,
                libc::RESOLVE_NO_MAGICLINKS,
            )
            .map_err(magic("cwd", cwd))?;
            // SAFETY: fchdir takes a descriptor we own.
            cvt_i(unsafe { libc::fchdir(fd.as_raw_fd()) }).map_err(|e| {
                sys_error(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    format!("cannot enter cwd {}", cwd.to_string_lossy()),
                )
            })?;
        }
        // A working directory outside our root (a leaked host fd, a pivot_root) has no
        // path from "/": the getcwd syscall fails with ENOENT (deleted) or yields
        // "(unreachable)…". The bare syscall, because glibc's getcwd answers the
        // latter by walking `..` up to the host's root and returns a clean path.
        // A short buffer on the stack first, PATH_MAX only for longer paths (ERANGE):
        // a 4 KiB array would take a stack page of its own, one page fault more per
        // launch.
        let mut short = [0u8; 256];
        let mut long = Vec::new();
        let getcwd = |buf: &mut [u8]| {
            // SAFETY: the kernel writes at most `buf.len()` bytes into the live buffer.
            cvt(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })
        };
        let mut buf = &mut short[..];
        let mut len = getcwd(buf);
        if len
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::ERANGE))
        {
            long.resize(libc::PATH_MAX as usize, 0);
            buf = &mut long[..];
            len = getcwd(buf);
        }
        match len {
            Ok(n) if n > 0 && buf[0] == b'/' => Ok(()),
            Ok(n) => {
                let shown = String::from_utf8_lossy(&buf[..(n.max(1) as usize - 1)]);
                Err(sys_error(
                    libc::ENOENT,
                    format!(
                        "the working directory {shown} is not reachable from the root (leaked directory fd?)"
                    ),
                ))
            }
            Err(e) => Err(sys_error(
                e.raw_os_error().unwrap_or(libc::ENOENT),
                "the working directory is not reachable from the root (leaked directory fd, or deleted)",
            )),
        }
    }

    fn install_seccomp(&mut self, spec: &SeccompSpec) -> io::Result<()> {
        let insns = spec.program.instructions();
        let prog = libc::sock_fprog {
            len: insns.len() as u16,
            // SockFilter is #[repr(C)] {u16, u8, u8, u32}, the layout of sock_filter; the
            // kernel only reads through this pointer.
            filter: insns.as_ptr() as *mut libc::sock_filter,
        };
        let mut flags: libc::c_ulong = 0;
        if spec.tsync {
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC;
        }
        if spec.log {
            flags |= libc::SECCOMP_FILTER_FLAG_LOG;
        }
        // SAFETY: `prog` points at `insns.len()` (≤ 4096, validated) live instructions
        // laid out as struct sock_filter; the kernel copies them before returning.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        match cvt(r)? {
            0 => Ok(()),
            tid => Err(sys_error(
                libc::EBUSY,
                format!("TSYNC failed: thread {tid} cannot take the filter"),
            )),
        }
    }

    fn execve(&mut self, exec: &PreparedExec) -> io::Result<()> {
        let envp = match &exec.envp {
            Some((_, ptrs)) => ptrs.as_ptr(),
            // SAFETY: reading the `environ` pointer; the process is single-threaded
            // here (the first step checked), so no `setenv` can race with it.
            None => unsafe { environ },
        };
        // SAFETY: path and argv are NUL-terminated strings owned by `exec` and their
        // pointer array ends with a null pointer; `envp` is either the same kind of
        // array owned by `exec` or the C library's own null-terminated environment.
        unsafe { libc::execve(exec.path.as_ptr(), exec.argv_ptrs.as_ptr(), envp) };
        Err(io::Error::last_os_error())
    }
}

fn source_errno(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(n) = c
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(n);
        }
        cur = c.source();
    }
    None
}

fn ll_err(e: landlock::RulesetError) -> io::Error {
    let errno = source_errno(&e).unwrap_or(libc::EINVAL);
    sys_error(errno, format!("landlock: {e}"))
}

fn landlock_prepare(spec: &LandlockSpec) -> io::Result<landlock::RulesetCreated> {
    use crate::policy::Compatibility;
    use landlock::{
        AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
        Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
    };
    let ll = ll_err;
    let level = match spec.compatibility() {
        Compatibility::Required => CompatLevel::HardRequirement,
        Compatibility::BestEffort => CompatLevel::BestEffort,
    };
    let mut rs = Ruleset::default().set_compatibility(level);
    let fs = BitFlags::<AccessFs>::from_bits_truncate(spec.handled_fs());
    if !fs.is_empty() {
        rs = rs.handle_access(fs).map_err(ll)?;
    }
    if spec.handle_bind_tcp() {
        rs = rs.handle_access(AccessNet::BindTcp).map_err(ll)?;
    }
    if spec.handle_connect_tcp() {
        rs = rs.handle_access(AccessNet::ConnectTcp).map_err(ll)?;
    }
    if spec.scopes().abstract_unix {
        rs = rs.scope(Scope::AbstractUnixSocket).map_err(ll)?;
    }
    if spec.scopes().signal {
        rs = rs.scope(Scope::Signal).map_err(ll)?;
    }
    let mut created = rs.create().map_err(ll)?;
    for r in spec.paths() {
        let fd = PathFd::new(r.path()).map_err(|e| {
            let errno = source_errno(&e).unwrap_or(libc::ENOENT);
            sys_error(
                errno,
                format!("landlock: cannot open rule path {}", r.path()),
            )
        })?;
        let access = BitFlags::<AccessFs>::from_bits_truncate(r.access());
        created = created.add_rule(PathBeneath::new(fd, access)).map_err(ll)?;
    }
    for &p in spec.bind_tcp() {
        created = created
            .add_rule(NetPort::new(p, AccessNet::BindTcp))
            .map_err(ll)?;
    }
    for &p in spec.connect_tcp() {
        created = created
            .add_rule(NetPort::new(p, AccessNet::ConnectTcp))
            .map_err(ll)?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn is_elf64_reads_the_class_of_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            fs::write(&p, bytes).unwrap();
            CString::new(p.into_os_string().into_vec()).unwrap()
        };
        let c = |s: &str| CString::new(s).unwrap();
        assert!(is_elf64(&file("elf64", b"\x7fELF\x02\x01\x01")));
        // This very test binary, found through /proc.
        assert!(is_elf64(
            &CString::new(std::env::current_exe().unwrap().into_os_string().into_vec()).unwrap()
        ));
        assert!(!is_elf64(&file("elf32", b"\x7fELF\x01\x01\x01")));
        assert!(!is_elf64(&file("script", b"#!/bin/sh\n")));
        assert!(!is_elf64(&file("short", b"\x7fELF")));
        assert!(!is_elf64(&file("empty", b"")));
        assert!(!is_elf64(&c("/dev/null")));
        assert!(!is_elf64(&c("/nonexistent/app")));
        assert!(!is_elf64(
            &CString::new(dir.path().as_os_str().to_owned().into_vec()).unwrap()
        ));
    }

    /// A kernel whose last capability is `last`, recording each drop.
    fn drops_on(last: u8, keep: u64, fail_at: Option<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut seen = Vec::new();
        let r = drop_bounding_with(keep, |i| {
            seen.push(i);
            match i {
                i if Some(i) == fail_at => Err(io::Error::from_raw_os_error(libc::EPERM)),
                i if i > last => Err(io::Error::from_raw_os_error(libc::EINVAL)),
                _ => Ok(()),
            }
        });
        (r, seen)
    }

    #[test]
    fn bounding_drop_stops_at_the_kernels_last_capability() {
        let keep = (1 << 0) | (1 << 21); // CHOWN, SYS_ADMIN
        let expect = |last: u8| -> Vec<u8> { (1..=last + 1).filter(|&i| i != 21).collect() };
        // Linux 6.x (40), 5.8 (39), 5.4 (37): every known number but the kept ones
        // is dropped, and the first unknown one ends the loop without an error.
        for last in [40, 39, 37] {
            let (r, seen) = drops_on(last, keep, None);
            r.unwrap();
            assert_eq!(seen, expect(last), "CAP_LAST_CAP {last}");
        }
        // Anything else is an error, and no later capability is touched.
        let (r, seen) = drops_on(40, keep, Some(5));
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EPERM));
        assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    }

    /// With other threads alive, `unshare(CLONE_THREAD)` refuses and the count
    /// comes from /proc/self/task (the single-threaded answer is what every live
    /// enforcer run relies on).
    #[test]
    fn thread_count_sees_other_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv().ok());
        // SAFETY (test): unshare with a flags integer only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_THREAD) }, -1);
        let n = thread_count().unwrap();
        // Other tests' threads come and go, so only the lower bound is exact.
        assert!(n >= 2, "{n}");
        tx.send(()).unwrap();
        t.join().unwrap();
    }

    /// Threads allocating, growing, checking and freeing blocks through one arena
    /// never see each other's bytes, in the arena or past it (the system allocator).
    #[test]
    fn launch_arena_blocks_never_overlap_across_threads() {
        use std::alloc::{GlobalAlloc, Layout};
        static ARENA: LaunchArena = LaunchArena::new();
        let worker = |id: u8| {
            let mut seed = u32::from(id) * 7919 + 1;
            let mut live: Vec<(usize, Layout, u8)> = Vec::new();
            for round in 0..3000u32 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let size = 1 + (seed >> 16) as usize % 300;
                let layout = Layout::from_size_align(size, 1 << (seed % 5)).unwrap();
                let mark = id.wrapping_mul(31).wrapping_add(round as u8);
                // SAFETY (test): non-zero size; the block is written within its size.
                let mut p = unsafe { ARENA.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % layout.align(), 0);
                unsafe { std::ptr::write_bytes(p, mark, size) };
                let mut layout = layout;
                if seed % 3 == 0 {
                    // SAFETY (test): p came from ARENA with `layout`; the new size is non-zero.
                    p = unsafe { ARENA.realloc(p, layout, size * 2) };
                    let grown = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(grown.iter().all(|b| *b == mark), "realloc lost bytes");
                    unsafe { std::ptr::write_bytes(p, mark, size * 2) };
                    layout = Layout::from_size_align(size * 2, layout.align()).unwrap();
                }
                live.push((p as usize, layout, mark));
                if seed % 2 == 0 || live.len() > 8 {
                    let (q, l, m) = live.remove((seed as usize >> 8) % live.len());
                    let bytes = unsafe { std::slice::from_raw_parts(q as *const u8, l.size()) };
                    assert!(bytes.iter().all(|b| *b == m), "a block was overwritten");
                    // SAFETY (test): q came from ARENA with layout l and is freed once.
                    unsafe { ARENA.dealloc(q as *mut u8, l) };
                }
            }
        };
        std::thread::scope(|s| {
            for id in 0..4 {
                s.spawn(move || worker(id));
            }
        });
    }

    /// A temp dir laid out like procfs (`thread-self -> 1/task/1`).
    fn fake_proc() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("1/task/1/attr")).unwrap();
        fs::write(d.path().join("1/task/1/attr/exec"), "").unwrap();
        std::os::unix::fs::symlink("1/task/1", d.path().join("thread-self")).unwrap();
        d
    }

    #[test]
    fn label_writer_writes_through_the_proc_handle() {
        let d = fake_proc();
        let mut k = LinuxKernel::with_fake_proc_dir(d.path());
        k.open_procfs().unwrap();
        k.exec_label(None).unwrap();
        k.exec_label(Some("system_u:system_r:container_t:s0"))
            .unwrap();
        let got = fs::read_to_string(d.path().join("1/task/1/attr/exec")).unwrap();
        assert_eq!(got, "system_u:system_r:container_t:s0");
    }

    #[test]
    fn label_writer_refuses_a_symlink_out_of_proc() {
        let d = fake_proc();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("attr")).unwrap();
        fs::remove_file(d.path().join("thread-self")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("thread-self")).unwrap();
        let mut k = LinuxKernel::with_fake_proc_dir(d.path());
        k.open_procfs().unwrap();
        let e = k.exec_label(Some("a:b:c")).unwrap_err();
        assert_eq!(errno_of(&e), Some(libc::EXDEV), "{e}");
        assert!(!outside.path().join("attr/exec").exists());
    }

    #[test]
    fn production_proc_root_must_be_procfs() {
        let d = fake_proc();
        let mut k = LinuxKernel::new(d.path());
        let e = k.open_procfs().unwrap_err();
        assert_eq!(errno_of(&e), Some(libc::EXDEV));
        assert!(
            e.to_string().contains("is not the root of a procfs mount"),
            "{e}"
        );
        // A procfs subdirectory is procfs, but not its root.
        let mut k = LinuxKernel::new("/proc/self");
        assert!(k.open_procfs().is_err());
        let mut k = LinuxKernel::new("/proc");
        k.open_procfs().unwrap();
        k.exec_label(None).unwrap();
    }

    #[test]
    fn magic_link_paths_are_refused() {
        let mut k = LinuxKernel::new("/proc");
        let e = k.check_exec_paths(None, c"/proc/self/exe").unwrap_err();
        assert_eq!(errno_of(&e), Some(libc::ELOOP));
        assert!(e.to_string().contains("CVE-2024-21626"));
        k.check_exec_paths(None, c"/bin/sh").unwrap();
    }

    #[test]
    fn errno_survives_wrapping() {
        let e = sys_error(libc::EPERM, "context");
        assert_eq!(errno_of(&e), Some(libc::EPERM));
        assert_eq!(
            e.to_string(),
            "context (Operation not permitted (os error 1))"
        );
    }
}
