//! Live cost per syscall of Docker's default profile as a seccomp filter, side
//! by side in one run: no filter, rampart, libseccomp (optimisation levels 1 —
//! its default — and 2, the binary tree) and seccompiler 0.5.
//!
//! Run: `cargo bench -p rampart --bench seccomp_live`
//! (as any user: no_new_privs is set first, so no privilege is needed).
//!
//! A filter installed without TSYNC applies to the calling thread only (and to
//! threads it creates later), so each variant gets its own worker thread,
//! spawned from the unfiltered main thread, which installs its filter once and
//! then times syscall loops on request (`iter_custom`: the iteration count goes
//! to the worker, the elapsed time comes back). no_new_privs is process-wide;
//! harmless for a benchmark process.
//!
//! Calls timed:
//! - `getppid()`: allowed unconditionally, so constant-ALLOW for the kernel's
//!   action cache in every filter here: the filter does not run at all, and
//!   this row shows the cost of the cache lookup (the same for all compilers).
//! - `personality(0xffffffff)`: Docker allows personality only for five
//!   argument values, so the filter runs to the argument checks on every call
//!   (never cacheable) and allows it (the call only queries the persona).
//! - syscall 400: no syscall on x86_64, not in the profile, below its highest
//!   number: the filter runs and returns ERRNO(EPERM) (without a filter the
//!   kernel returns ENOSYS).
//!
//! rampart and libseccomp get the profile for x86_64 + x86 + x32 (what runc
//! loads on amd64); seccompiler only builds single-arch filters, so it gets the
//! x86_64 part (one arch check fewer; it also cannot express clone3 → ENOSYS).
//! Before timing, each worker checks that its filter decides the three calls as
//! expected and prints whether the kernel's action cache covers them.

#![allow(unsafe_code)]

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rampart::arch::Arch;
use rampart::seccomp::{ir, simulate::action_cache_allows};
use rampart_enforce::bpf::SockFilter;

#[path = "support/docker.rs"]
mod docker;

#[path = "support/baselines.rs"]
mod baselines;

/// The calls timed: name, number, first argument.
const CALLS: [(&str, libc::c_long, libc::c_ulong); 3] = [
    ("getppid_allowed_cached", libc::SYS_getppid, 0),
    (
        "personality_ffffffff_arg_rules",
        libc::SYS_personality,
        0xffff_ffff,
    ),
    ("nr400_denied_eperm", 400, 0),
];

/// One syscall with one argument; returns the raw result and errno.
fn call(nr: libc::c_long, arg: libc::c_ulong) -> (libc::c_long, i32) {
    // SAFETY: the calls timed here (getppid, personality with the query value
    // 0xffffffff, an unassigned number) take no pointers and change nothing.
    let r = unsafe { libc::syscall(nr, arg) };
    let errno = if r < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    (r, errno)
}

/// Sets no_new_privs and attaches `prog` to the calling thread only.
fn install(prog: &[SockFilter]) -> std::io::Result<()> {
    let mut filters: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(filters.len()).map_err(std::io::Error::other)?,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `filters`, both alive for the call; the kernel
    // copies the program. No flags: no TSYNC, so only this thread is filtered.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A thread with (or without) a filter that times syscall loops on request.
struct Worker {
    requests: mpsc::Sender<(usize, u64)>,
    results: mpsc::Receiver<Duration>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Worker {
    fn spawn(name: &str, prog: Option<Vec<SockFilter>>) -> Worker {
        let (req_tx, req_rx) = mpsc::channel::<(usize, u64)>();
        let (res_tx, res_rx) = mpsc::channel::<Duration>();
        let label = name.to_string();
        let handle = thread::Builder::new()
            .name(label.clone())
            .spawn(move || {
                if let Some(p) = &prog {
                    install(p).expect("install the seccomp filter");
                }
                let filtered = prog.is_some();
                let (r, _) = call(libc::SYS_getppid, 0);
                assert!(r > 0, "{label}: getppid must be allowed");
                let (r, e) = call(libc::SYS_personality, 0xffff_ffff);
                assert!(
                    r >= 0,
                    "{label}: personality(0xffffffff) allowed, got errno {e}"
                );
                let (r, e) = call(400, 0);
                let want = if filtered { libc::EPERM } else { libc::ENOSYS };
                assert!(
                    r == -1 && e == want,
                    "{label}: nr 400 gave {r}/{e}, want -1/{want}"
                );
                while let Ok((which, iters)) = req_rx.recv() {
                    let (_, nr, arg) = CALLS[which];
                    let start = Instant::now();
                    for _ in 0..iters {
                        // SAFETY: as in `call`: no pointers, no side effects.
                        black_box(unsafe { libc::syscall(black_box(nr), black_box(arg)) });
                    }
                    if res_tx.send(start.elapsed()).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn worker");
        Worker {
            requests: req_tx,
            results: res_rx,
            handle: Some(handle),
        }
    }

    fn time(&self, which: usize, iters: u64) -> Duration {
        self.requests.send((which, iters)).expect("worker alive");
        self.results.recv().expect("worker result")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the request channel ends the worker's loop.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.requests, tx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn bench(c: &mut Criterion) {
    let three = docker::load_default(&[Arch::X86_64, Arch::X86, Arch::X32], false);
    let x86_64 = docker::load_default(&[Arch::X86_64], false);
    let ir = three.to_ir();
    let rampart = rampart::seccomp::compile(&ir)
        .expect("compiles")
        .program
        .instructions()
        .to_vec();
    let variants: Vec<(&str, Option<Vec<SockFilter>>)> = vec![
        ("no_filter", None),
        ("rampart", Some(rampart)),
        (
            "libseccomp_level1",
            Some(baselines::libseccomp_program(&three, 1)),
        ),
        (
            "libseccomp_level2",
            Some(baselines::libseccomp_program(&three, 2)),
        ),
        ("seccompiler", baselines::seccompiler_program(&x86_64)),
    ];
    let token = Arch::X86_64.audit_arch();
    for (name, prog) in &variants {
        if let Some(p) = prog {
            let cached: Vec<&str> = CALLS
                .iter()
                .filter(|(_, nr, _)| action_cache_allows(p, token, *nr as u32))
                .map(|(n, _, _)| *n)
                .collect();
            eprintln!(
                "{name}: {} instructions; constant-ALLOW (action cache) for: {cached:?}",
                p.len()
            );
        }
    }
    let workers: Vec<(&str, Worker)> = variants
        .into_iter()
        .map(|(name, prog)| (name, Worker::spawn(name, prog)))
        .collect();
    for (which, (call_name, _, _)) in CALLS.iter().enumerate() {
        let mut g = c.benchmark_group(*call_name);
        for (name, w) in &workers {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| w.time(which, iters))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
