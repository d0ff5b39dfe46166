//! `rampart-enforce`: apply a compiled policy to this process, then exec PROGRAM.
//!
//! ```text
//! rampart-enforce (--policy FILE | --policy-fd N) [--report-fd N]
//!                 [--userns-sync-fd N] [--cwd DIR] -- PROGRAM [ARGS…]
//! ```
//!
//! Exit codes: `HELP` below (what `--help` prints). The arguments are parsed by
//! hand to keep this binary small. `--proc-root DIR` (hidden, for tests) changes where the private
//! procfs handle is opened; it must still be a real procfs.
//!
//! The binary has no Rust `main`: [`c_main!`](rampart_enforce::c_main) defines
//! the C one, which skips Rust's runtime start-up (see there).
#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rampart_enforce::blob;
use rampart_enforce::error::exit;
use rampart_enforce::launch::{Launch, enforce_and_exec, fail};
use rampart_enforce::report::{Report, Step};
use rampart_enforce::sys::{LaunchArena, adopt_fd, open_cloexec};

#[global_allocator]
static ALLOC: LaunchArena = LaunchArena::new();

/// What failure messages begin with.
const COMMAND: &str = "rampart-enforce";

const USAGE: &str = "usage: rampart-enforce (--policy FILE | --policy-fd N) [--report-fd N] \
                     [--userns-sync-fd N] [--cwd DIR] -- PROGRAM [ARGS...]";

const HELP: &str = "Applies a policy compiled by `rampart compile PROFILE --format blob` to this \
process, then execs PROGRAM in place (no fork).

Exit codes (PROGRAM never ran): 2 usage, 123 bad policy, 124 a required mechanism is \
unavailable, 125 a hardening step failed, 126 PROGRAM cannot be executed, 127 PROGRAM \
not found.";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    policy_file: Option<PathBuf>,
    policy_fd: Option<i32>,
    report_fd: Option<i32>,
    userns_sync_fd: Option<i32>,
    cwd: Option<PathBuf>,
    proc_root: Option<PathBuf>,
    program: OsString,
    args: Vec<OsString>,
}

fn parse_args(mut it: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let mut a = Args::default();
    fn fd(v: Option<OsString>, flag: &str) -> Result<i32, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.to_str()
            .and_then(|s| s.parse::<i32>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{flag}: `{}` is not an fd number", v.to_string_lossy()))
    }
    fn set<T>(slot: &mut Option<T>, v: T, flag: &str) -> Result<(), String> {
        if slot.replace(v).is_some() {
            return Err(format!("{flag} given twice"));
        }
        Ok(())
    }
    loop {
        let Some(flag) = it.next() else {
            return Err("missing `-- PROGRAM`".into());
        };
        match flag.as_bytes() {
            b"--" => break,
            b"--policy" => {
                let v = it.next().ok_or("--policy needs a file")?;
                set(&mut a.policy_file, PathBuf::from(v), "--policy")?
            }
            b"--policy-fd" => set(
                &mut a.policy_fd,
                fd(it.next(), "--policy-fd")?,
                "--policy-fd",
            )?,
            b"--report-fd" => set(
                &mut a.report_fd,
                fd(it.next(), "--report-fd")?,
                "--report-fd",
            )?,
            b"--userns-sync-fd" => set(
                &mut a.userns_sync_fd,
                fd(it.next(), "--userns-sync-fd")?,
                "--userns-sync-fd",
            )?,
            b"--cwd" => {
                let v = it.next().ok_or("--cwd needs a directory")?;
                set(&mut a.cwd, PathBuf::from(v), "--cwd")?
            }
            b"--proc-root" => {
                let v = it.next().ok_or("--proc-root needs a directory")?;
                set(&mut a.proc_root, PathBuf::from(v), "--proc-root")?
            }
            _ => return Err(format!("unknown argument `{}`", flag.to_string_lossy())),
        }
    }
    a.program = it.next().ok_or("missing PROGRAM after `--`")?;
    if a.program.is_empty() {
        return Err("PROGRAM is empty".into());
    }
    a.args = it.collect();
    match (&a.policy_file, a.policy_fd) {
        (Some(_), Some(_)) => return Err("give either --policy or --policy-fd, not both".into()),
        (None, None) => return Err("missing --policy FILE or --policy-fd N".into()),
        _ => {}
    }
    let fds: Vec<i32> = [a.policy_fd, a.report_fd, a.userns_sync_fd]
        .into_iter()
        .flatten()
        .collect();
    if fds.iter().enumerate().any(|(i, f)| fds[..i].contains(f)) {
        return Err("--policy-fd, --report-fd and --userns-sync-fd must be different fds".into());
    }
    Ok(a)
}

/// Where the policy comes from, for messages only: formatting a path on every
/// launch ran code (and faulted in text) that a launch otherwise never needs.
enum Source<'a> {
    File(&'a std::path::Path),
    Fd(i32),
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Fd(n) => write!(f, "fd {n}"),
        }
    }
}

fn read_policy(a: &Args) -> Result<Vec<u8>, String> {
    let (mut f, name) = match (&a.policy_file, a.policy_fd) {
        (Some(p), _) => (
            File::from(
                open_cloexec(p, libc::O_RDONLY)
                    .map_err(|e| format!("cannot open policy {}: {e}", p.display()))?,
            ),
            Source::File(p),
        ),
        (None, Some(n)) => (
            File::from(adopt_fd(n).map_err(|e| format!("--policy-fd {n}: {e}"))?),
            Source::Fd(n),
        ),
        (None, None) => unreachable!("parse_args requires a policy source"),
    };
    let read_err = |e: std::io::Error| format!("cannot read policy {name}: {e}");
    let limit = blob::MAX_BLOB_LEN as u64 + 1;
    // fstat gives a regular file's size, so that the usual policy is read in one call.
    let size = f
        .metadata()
        .map_or(0, |m| if m.is_file() { m.len() } else { 0 })
        .min(limit);
    let mut buf;
    if size > 0 {
        buf = vec![0; size as usize + 1];
        let n = match f.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(read_err(e)),
        };
        buf.truncate(n);
        // A regular file that returned the size fstat gave, one byte short of what
        // was asked, is at its end: the read that would return 0 to say so is a
        // syscall the launch does without. Anything else (a file that grew or shrank
        // meanwhile, an interrupted read) is read on to end of file, as before.
        if n as u64 == size {
            return check_len(buf, &name);
        }
    } else {
        // A pipe (`--policy <(rampart compile …)`, `--policy-fd`) has no size. Room
        // for a full pipe up front: growing from nothing took 9 reads for a 2 KiB
        // policy, this takes 2 (the data, then end of file). The unused room goes
        // back to the arena below; untouched, it never cost a page.
        buf = Vec::with_capacity(PIPE_CAPACITY);
    }
    let read = buf.len() as u64;
    (&mut f)
        .take(limit.saturating_sub(read))
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    buf.shrink_to_fit();
    check_len(buf, &name)
}

/// Linux's default pipe capacity (pipe(7)).
const PIPE_CAPACITY: usize = 64 * 1024;

fn check_len(buf: Vec<u8>, name: &Source) -> Result<Vec<u8>, String> {
    if buf.len() > blob::MAX_BLOB_LEN {
        return Err(format!(
            "policy {name} is larger than {} bytes",
            blob::MAX_BLOB_LEN
        ));
    }
    Ok(buf)
}

#[cfg(not(test))]
rampart_enforce::c_main!(run);

#[cfg_attr(test, allow(dead_code))]
fn run(args: Vec<OsString>) -> ! {
    if matches!(args.get(1).map(|a| a.as_bytes()), Some(b"--help" | b"-h")) {
        println!("{USAGE}\n\n{HELP}");
        std::process::exit(0);
    }
    let a = match parse_args(args.into_iter().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{COMMAND}: {e}\n{USAGE}");
            std::process::exit(exit::USAGE);
        }
    };
    let report_file = match a.report_fd.map(adopt_fd).transpose() {
        Ok(f) => f.map(File::from),
        Err(e) => {
            eprintln!("{COMMAND}: --report-fd: {e}\n{USAGE}");
            std::process::exit(exit::USAGE);
        }
    };
    let mut report = Report::new(report_file);
    // Held open until exec; sanitize_inherited marks it close-on-exec.
    let sync: Option<OwnedFd> = match a.userns_sync_fd.map(adopt_fd).transpose() {
        Ok(s) => s,
        Err(e) => fail(
            COMMAND,
            &mut report,
            Step::UsernsSync,
            exit::USAGE,
            e.raw_os_error(),
            format!("--userns-sync-fd: {e}"),
        ),
    };

    let bytes = read_policy(&a)
        .unwrap_or_else(|m| fail(COMMAND, &mut report, Step::Policy, exit::POLICY, None, m));
    let policy = blob::decode(&bytes).unwrap_or_else(|e| {
        fail(
            COMMAND,
            &mut report,
            Step::Policy,
            exit::POLICY,
            None,
            format!("invalid policy: {e}"),
        )
    });
    if let Some(fd) = a.report_fd
        && policy.keep_fds().contains(&fd)
    {
        let m = format!("fd {fd} is both an enforcer fd and in the policy's keep_fds");
        fail(COMMAND, &mut report, Step::Policy, exit::USAGE, None, m);
    }
    let proc_root = a
        .proc_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc"));
    let launch = Launch {
        program: &a.program,
        args: &a.args,
        userns_sync_fd: sync.as_ref().map(|s| s.as_raw_fd()),
        cwd: a.cwd.as_deref(),
        proc_root: &proc_root,
        command: COMMAND,
    };
    enforce_and_exec(policy, &launch, &mut report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<Args, String> {
        parse_args(s.iter().map(OsString::from))
    }

    fn read_file(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.blob");
        std::fs::write(&path, bytes).unwrap();
        read_policy(&Args {
            policy_file: Some(path),
            ..Args::default()
        })
    }

    /// Every byte arrives whatever the size: empty, one, the usual, a page and more.
    #[test]
    fn policy_files_are_read_whole() {
        for len in [0, 1, 2124, 4096, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(read_file(&bytes).unwrap(), bytes, "{len} bytes");
        }
    }

    #[test]
    fn an_oversized_policy_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.blob");
        let f = File::create(&path).unwrap();
        f.set_len(blob::MAX_BLOB_LEN as u64 + 7).unwrap();
        let e = read_policy(&Args {
            policy_file: Some(path),
            ..Args::default()
        })
        .unwrap_err();
        assert!(e.contains("is larger than"), "{e}");
    }

    /// A pipe has no size to go by: it is read to end of file, past the room
    /// reserved for it too.
    #[test]
    fn a_policy_pipe_is_read_to_its_end() {
        use std::io::Write;
        use std::os::fd::IntoRawFd;
        for len in [0, 2124, PIPE_CAPACITY + 5000] {
            let (r, mut w) = std::io::pipe().unwrap();
            let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let writer = {
                let bytes = bytes.clone();
                std::thread::spawn(move || w.write_all(&bytes).unwrap())
            };
            let got = read_policy(&Args {
                policy_fd: Some(r.into_raw_fd()),
                ..Args::default()
            });
            writer.join().unwrap();
            assert_eq!(got.unwrap(), bytes, "{len} bytes");
        }
    }

    #[test]
    fn parses_and_rejects() {
        let a = args(&[
            "--policy",
            "p.bin",
            "--report-fd",
            "3",
            "--",
            "ls",
            "-l",
            "--",
        ])
        .unwrap();
        assert_eq!(a.policy_file, Some(PathBuf::from("p.bin")));
        assert_eq!(a.report_fd, Some(3));
        assert_eq!(a.program, "ls");
        assert_eq!(a.args, vec![OsString::from("-l"), OsString::from("--")]);
        assert!(
            args(&["--policy", "p", "ls"])
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(
            args(&["--policy", "p"])
                .unwrap_err()
                .contains("missing `-- PROGRAM`")
        );
        assert!(
            args(&["--policy", "p", "--"])
                .unwrap_err()
                .contains("missing PROGRAM")
        );
        assert!(
            args(&["--", "ls"])
                .unwrap_err()
                .contains("missing --policy")
        );
        assert!(args(&["--policy", "p", "--policy-fd", "3", "--", "x"]).is_err());
        assert!(args(&["--policy-fd", "3", "--report-fd", "3", "--", "x"]).is_err());
        assert!(args(&["--policy-fd", "-1", "--", "x"]).is_err());
        assert!(
            args(&["--policy", "a", "--policy", "b", "--", "x"])
                .unwrap_err()
                .contains("twice")
        );
    }
}
