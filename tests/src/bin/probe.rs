//! Test fixture: the program `rampart-enforce` executes in the live tests, and a
//! few launchers that set up hostile or unusual starting conditions before
//! exec'ing the next command. It issues raw syscalls, so it has its own `unsafe`,
//! each with a SAFETY comment; nothing here ships.
//!
//! Observers (print one result, exit 0 unless noted):
//!   status                 Cap*/NoNewPrivs/Seccomp/Uid/Gid/Groups/SigIgn lines + UidMap
//!   syscall NR [ARGS…]     raw syscall, prints `ret=R errno=E`
//!   syscalls NR[,ARG…]…    each in order, one `ret=R errno=E` line per call
//!   thread-syscall NR      the same on a spawned thread, then `survived`
//!   mkdir PATH             prints `ok` or `errno=E`
//!   write PATH             create/truncate and write, prints `ok` or `errno=E`
//!   read PATH              prints the file
//!   fds                    open fds among 0..4096, space-separated
//!   uname-machine          `uname -m`
//!   bind-tcp PORT          bind 0.0.0.0:PORT, prints `ok` or `errno=E`
//!   cwd                    the working directory
//!   exit N                 exit with N without writing anything
//!   fork                   fork() (glibc: clone with SIGCHLD), the child
//!                          exits 0; prints `ok` or `errno=E`
//!   int80 NR               i386 syscall NR (no arguments) through `int $0x80`
//!                          (x86_64 only), prints `ret=R errno=E`
//!   mount-tmpfs DIR        new mount namespace, make `/` private, mount a
//!                          tmpfs on DIR; prints `unshare=… private=… tmpfs=…`
//!                          (`ok` or `errno=E`), stopping at the first failure
//!   seccomp-attach FILE    for each program in FILE (a u16 count of
//!                          instructions, then raw `struct sock_filter`s, host
//!                          order; repeated), whether the kernel attaches it as a
//!                          seccomp filter: one line each, `ok` or `errno=E`
//!   seccomp-filter PID     the first seccomp filter attached to process PID
//!                          (ptrace attach, PTRACE_SECCOMP_GET_FILTER, detach):
//!                          one `code jt jf k` line per instruction, in hex
//! Launchers (exec the command after `--`):
//!   leak-fd N PATH -- CMD…       open PATH (a dir read-only, a file read-write,
//!                                created) as fd N without close-on-exec
//!   raise-inh MASK -- CMD…       add MASK to the inheritable capability set
//!   bind-over SRC DST -- CMD…    new mount namespace, bind-mount SRC over DST
//!   deny-enosys NR,NR… -- CMD…   seccomp filter: those syscalls fail with ENOSYS
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io::Write;
use std::os::unix::process::CommandExt;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn num(s: &str) -> u64 {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn exec_rest(rest: &[String]) -> ! {
    let sep = rest
        .iter()
        .position(|a| a == "--")
        .expect("launcher needs `-- CMD`");
    let cmd = &rest[sep + 1..];
    let err = std::process::Command::new(&cmd[0]).args(&cmd[1..]).exec();
    eprintln!("probe: exec {}: {err}", cmd[0]);
    std::process::exit(99);
}

/// The oldest filter of `pid`, read as its tracer. Panics on any failure.
fn attached_filter(pid: libc::pid_t) -> Vec<libc::sock_filter> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // SAFETY: PTRACE_ATTACH takes no pointers.
    let r = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    assert_eq!(r, 0, "ptrace attach {pid}: errno {}", errno());
    let mut st = 0;
    // SAFETY: waitpid writes the status into the live `st`.
    let w = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
    assert_eq!(w, pid, "waitpid: errno {}", errno());
    let mut buf = vec![
        libc::sock_filter {
            code: 0,
            jt: 0,
            jf: 0,
            k: 0
        };
        4096
    ];
    // SAFETY: the tracee is stopped; the kernel writes at most the filter's
    // length (≤ 4096 instructions, BPF_MAXINSNS) into `buf`, which holds 4096.
    let n = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, buf.as_mut_ptr()) };
    let e = errno();
    // SAFETY: PTRACE_DETACH with signal 0 takes no pointers.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
    assert!(n > 0, "PTRACE_SECCOMP_GET_FILTER: errno {e}");
    buf.truncate(n as usize);
    buf
}

fn raw_syscall(nr: i64, a: &[u64]) -> (i64, i32) {
    let g = |i: usize| a.get(i).copied().unwrap_or(0);
    // SAFETY: a test probe deliberately issues arbitrary syscalls with integer
    // arguments chosen by the test; none of them is passed a pointer we own.
    let r = unsafe { libc::syscall(nr, g(0), g(1), g(2), g(3), g(4), g(5)) };
    (r, if r < 0 { errno() } else { 0 })
}

/// An i386 syscall without arguments through the 32-bit `int $0x80` gate: the
/// kernel runs it as a compat call (seccomp sees `AUDIT_ARCH_I386`).
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32) -> (i64, i32) {
    let mut rax = u64::from(nr);
    // SAFETY: a test probe deliberately issues the syscall the test names,
    // with the number in eax and the result in eax; the tests name only
    // argument-less calls (getpid, getppid), which touch no memory of ours.
    // The other registers are declared clobbered in case a kernel does not
    // preserve them on this path.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inout("rax") rax,
            out("rcx") _, out("rdx") _, out("r8") _, out("r9") _,
            out("r10") _, out("r11") _,
            options(nostack),
        );
    }
    // eax holds the 32-bit result: -4095..-1 is -errno.
    let r = i64::from(rax as u32 as i32);
    if (-4095..0).contains(&r) {
        (-1, -r as i32)
    } else {
        (r, 0)
    }
}

/// Each step of `mount-tmpfs`, stopping at the first failure so a mount is
/// never attempted on a `/` that might still propagate to the host.
fn mount_tmpfs(dir: &str) -> Vec<String> {
    let d = CString::new(dir).unwrap();
    let res = |r: i32| {
        if r == 0 {
            "ok".to_string()
        } else {
            format!("errno={}", errno())
        }
    };
    let mut out = Vec::new();
    // SAFETY: integer flags only.
    let u = res(unsafe { libc::unshare(libc::CLONE_NEWNS) });
    out.push(format!("unshare={u}"));
    if u != "ok" {
        return out;
    }
    // SAFETY: NUL-terminated literals and null pointers the kernel accepts.
    let p = res(unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    });
    out.push(format!("private={p}"));
    if p != "ok" {
        return out;
    }
    // SAFETY: as above; `d` outlives the call.
    let t = res(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            d.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    });
    out.push(format!("tmpfs={t}"));
    out
}

/// Whether the kernel attaches `program` as a seccomp filter (Ok) or its errno.
/// A forked child sets no_new_privs, calls seccomp(2) and stores the result in
/// memory shared with this process: once a random filter is attached, the child
/// may be unable to make any system call, so it is killed here, not awaited.
fn seccomp_attach(program: &mut [libc::sock_filter]) -> Result<(), i32> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: a new anonymous shared page, unmapped below; only the two
    // volatile accesses through `state` touch it.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(shared, libc::MAP_FAILED, "mmap: errno {}", errno());
    let state = shared.cast::<i64>();
    // SAFETY: this process is single-threaded; the child makes raw system calls
    // and one volatile store, and never returns.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork: errno {}", errno());
    if child == 0 {
        // SAFETY: valid arguments; `prog` points at `program`, which the kernel
        // copies; `state` is the shared page.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let r = libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const libc::sock_fprog);
            let outcome = if r == 0 { 1 } else { 2 + i64::from(errno()) };
            std::ptr::write_volatile(state, outcome);
            libc::syscall(libc::SYS_exit_group, 0);
        }
        loop {
            std::hint::spin_loop(); // exit_group denied by the filter: wait to be killed
        }
    }
    // SAFETY (both reads): the shared page stays mapped until the end.
    let read = || unsafe { std::ptr::read_volatile(state) };
    let mut reaped = false;
    while read() == 0 && !reaped {
        // SAFETY: polls (and at most reaps) our own child.
        reaped = unsafe { libc::waitpid(child, std::ptr::null_mut(), libc::WNOHANG) } == child;
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    let outcome = read();
    // SAFETY: `child` is this process's child, not yet reaped unless `reaped`;
    // the page is not used after.
    unsafe {
        if !reaped {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        libc::munmap(shared, 4096);
    }
    assert_ne!(outcome, 0, "the attaching child ended without a result");
    if outcome == 1 {
        Ok(())
    } else {
        Err((outcome - 2) as i32)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match a(0) {
        "status" => {
            let s = std::fs::read_to_string("/proc/self/status").unwrap();
            for l in s.lines() {
                let keep = [
                    "Cap",
                    "NoNewPrivs",
                    "Seccomp:",
                    "Uid",
                    "Gid",
                    "Groups",
                    "SigIgn",
                    "SigBlk",
                ];
                if keep.iter().any(|k| l.starts_with(k)) {
                    println!("{l}");
                }
            }
            let m = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
            println!(
                "UidMap:\t{}",
                m.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        "syscall" => {
            let v: Vec<u64> = args[2..].iter().map(|s| num(s)).collect();
            let (r, e) = raw_syscall(num(a(1)) as i64, &v);
            println!("ret={r} errno={e}");
        }
        "syscalls" => {
            // One `NR[,ARG…]` per argument, in order; one result line each
            // (stdout is line-buffered, so a kill leaves the earlier lines).
            for call in &args[1..] {
                let mut it = call.split(',').map(num);
                let nr = it.next().expect("syscalls: empty call") as i64;
                let v: Vec<u64> = it.collect();
                let (r, e) = raw_syscall(nr, &v);
                println!("ret={r} errno={e}");
            }
        }
        "thread-syscall" => {
            let nr = num(a(1)) as i64;
            let (r, e) = std::thread::spawn(move || raw_syscall(nr, &[]))
                .join()
                .unwrap();
            println!("ret={r} errno={e}");
            println!("survived");
        }
        "mkdir" => {
            let p = CString::new(a(1)).unwrap();
            // SAFETY: `p` is a NUL-terminated path that outlives the call.
            let r = unsafe { libc::mkdir(p.as_ptr(), 0o755) };
            if r == 0 {
                println!("ok")
            } else {
                println!("errno={}", errno())
            }
        }
        "write" => match std::fs::File::create(a(1)).and_then(|mut f| f.write_all(b"x")) {
            Ok(()) => println!("ok"),
            Err(e) => println!("errno={}", e.raw_os_error().unwrap_or(-1)),
        },
        "read" => print!("{}", std::fs::read_to_string(a(1)).unwrap()),
        "fds" => {
            // SAFETY: F_GETFD only reads descriptor flags; no memory is passed.
            let open: Vec<String> = (0..4096)
                .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
                .map(|fd| fd.to_string())
                .collect();
            println!("{}", open.join(" "));
        }
        "uname-machine" => {
            // SAFETY: utsname is plain data; uname fills the zeroed struct we own.
            let mut u: libc::utsname = unsafe { std::mem::zeroed() };
            // SAFETY: `u` is a valid, writable utsname.
            assert_eq!(unsafe { libc::uname(&mut u) }, 0);
            // SAFETY: the kernel NUL-terminates `machine`.
            let m = unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) };
            println!("{}", m.to_string_lossy());
        }
        "bind-tcp" => match std::net::TcpListener::bind(("0.0.0.0", num(a(1)) as u16)) {
            Ok(_) => println!("ok"),
            Err(e) => println!("errno={}", e.raw_os_error().unwrap_or(-1)),
        },
        "cwd" => println!(
            "{}",
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| format!("error {e}"))
        ),
        "exit" => std::process::exit(num(a(1)) as i32),
        "fork" => {
            // SAFETY: single-threaded here; the child only calls _exit.
            match unsafe { libc::fork() } {
                -1 => println!("errno={}", errno()),
                // SAFETY: _exit takes an integer and does not return.
                0 => unsafe { libc::_exit(0) },
                pid => {
                    let mut st = 0;
                    // SAFETY: `st` is a live, writable int.
                    unsafe { libc::waitpid(pid, &mut st, 0) };
                    println!("ok");
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        "int80" => {
            let (r, e) = int80(num(a(1)) as u32);
            println!("ret={r} errno={e}");
        }
        "mount-tmpfs" => println!("{}", mount_tmpfs(a(1)).join(" ")),
        "leak-fd" => {
            let n = num(a(1)) as i32;
            let p = CString::new(a(2)).unwrap();
            let is_dir = std::path::Path::new(a(2)).is_dir();
            let flags = if is_dir {
                libc::O_RDONLY | libc::O_DIRECTORY
            } else {
                libc::O_RDWR | libc::O_CREAT
            };
            // SAFETY: `p` is NUL-terminated; open/dup2/close take integers otherwise.
            unsafe {
                let fd = libc::open(p.as_ptr(), flags, 0o600);
                assert!(fd >= 0, "open {}: errno {}", a(2), errno());
                if fd != n {
                    assert!(libc::dup2(fd, n) == n, "dup2: errno {}", errno());
                    libc::close(fd);
                }
            }
            exec_rest(&args[3..]);
        }
        "chroot-away" => {
            // A root that does not contain the working directory, as a leaked
            // directory fd or a pivot_root leaves it: in a private mount namespace,
            // "/" bound recursively onto DIR (same files, another mount), then
            // chroot(DIR) without chdir.
            let dir = CString::new(a(1)).unwrap();
            let none = std::ptr::null();
            // SAFETY: unshare and chroot take a flags integer and a live C string;
            // mount reads only the live C strings given, or null where allowed.
            unsafe {
                assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare: {}", errno());
                let private = libc::MS_REC | libc::MS_PRIVATE;
                assert_eq!(
                    libc::mount(none, c"/".as_ptr(), none, private, none.cast()),
                    0
                );
                let bind = libc::MS_BIND | libc::MS_REC;
                assert_eq!(
                    libc::mount(c"/".as_ptr(), dir.as_ptr(), none, bind, none.cast()),
                    0,
                    "bind: {}",
                    errno()
                );
                assert_eq!(libc::chroot(dir.as_ptr()), 0, "chroot: {}", errno());
            }
            exec_rest(&args[2..]);
        }
        "broken-pipe-fd" => {
            // fd N: the write end of a pipe whose read end is already closed.
            let n = num(a(1)) as i32;
            let mut p = [0i32; 2];
            // SAFETY: pipe writes two fds into the live array; close and dup2 take
            // fds we own.
            unsafe {
                assert_eq!(libc::pipe(p.as_mut_ptr()), 0, "pipe: {}", errno());
                libc::close(p[0]);
                if p[1] != n {
                    assert_eq!(libc::dup2(p[1], n), n, "dup2: {}", errno());
                    libc::close(p[1]);
                }
            }
            exec_rest(&args[2..]);
        }
        "drop-bound" => {
            // SAFETY: PR_CAPBSET_DROP takes integers only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, num(a(1)), 0, 0, 0) };
            assert_eq!(r, 0, "PR_CAPBSET_DROP: errno {}", errno());
            exec_rest(&args[2..]);
        }
        "raise-inh" => {
            let mask = num(a(1));
            #[repr(C)]
            struct Hdr {
                version: u32,
                pid: i32,
            }
            #[repr(C)]
            #[derive(Clone, Copy, Default)]
            struct Data {
                eff: u32,
                perm: u32,
                inh: u32,
            }
            let mut h = Hdr {
                version: 0x2008_0522,
                pid: 0,
            };
            let mut d = [Data::default(); 2];
            // SAFETY: header and a 2-element data array in the v3 layout, both live.
            assert_eq!(
                unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Hdr, d.as_mut_ptr()) },
                0
            );
            d[0].inh |= mask as u32;
            d[1].inh |= (mask >> 32) as u32;
            // SAFETY: as above; capset only reads them.
            let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Hdr, d.as_ptr()) };
            assert_eq!(r, 0, "capset: errno {}", errno());
            exec_rest(&args[2..]);
        }
        "bind-over" => {
            let src = CString::new(a(1)).unwrap();
            let dst = CString::new(a(2)).unwrap();
            // SAFETY: integer flags and NUL-terminated paths that outlive the calls.
            unsafe {
                assert_eq!(
                    libc::unshare(libc::CLONE_NEWNS),
                    0,
                    "unshare: errno {}",
                    errno()
                );
                let none = c"none";
                let root = c"/";
                assert_eq!(
                    libc::mount(
                        none.as_ptr(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null()
                    ),
                    0
                );
                let r = libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                );
                assert_eq!(r, 0, "bind {} over {}: errno {}", a(1), a(2), errno());
            }
            exec_rest(&args[3..]);
        }
        "deny-enosys" => {
            let nrs: Vec<u32> = a(1).split(',').map(|s| num(s) as u32).collect();
            let mut f: Vec<libc::sock_filter> = vec![libc::sock_filter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            }];
            for nr in &nrs {
                f.push(libc::sock_filter {
                    code: 0x15,
                    jt: 0,
                    jf: 1,
                    k: *nr,
                });
                f.push(libc::sock_filter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x0005_0000 | libc::ENOSYS as u32,
                });
            }
            f.push(libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0x7fff_0000,
            });
            let prog = libc::sock_fprog {
                len: f.len() as u16,
                filter: f.as_mut_ptr(),
            };
            // SAFETY: `prog` points at `f`, which outlives the call; the kernel copies it.
            let r =
                unsafe { libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const libc::sock_fprog) };
            assert_eq!(r, 0, "seccomp: errno {}", errno());
            exec_rest(&args[2..]);
        }
        "seccomp-attach" => {
            let bytes = std::fs::read(a(1)).unwrap();
            let mut rest = &bytes[..];
            while let [lo, hi, tail @ ..] = rest {
                let n = usize::from(u16::from_ne_bytes([*lo, *hi]));
                let (raw, next) = tail.split_at(8 * n);
                let mut program: Vec<libc::sock_filter> = raw
                    .chunks_exact(8)
                    .map(|c| libc::sock_filter {
                        code: u16::from_ne_bytes([c[0], c[1]]),
                        jt: c[2],
                        jf: c[3],
                        k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                    })
                    .collect();
                match seccomp_attach(&mut program) {
                    Ok(()) => println!("ok"),
                    Err(e) => println!("errno={e}"),
                }
                rest = next;
            }
        }
        "seccomp-filter" => {
            for i in attached_filter(num(a(1)) as libc::pid_t) {
                println!("{:04x} {:02x} {:02x} {:08x}", i.code, i.jt, i.jf, i.k);
            }
        }
        other => {
            eprintln!("probe: unknown subcommand `{other}`");
            std::process::exit(98);
        }
    }
}
