//! From a decoded policy to the app: everything `rampart-enforce` does after
//! reading its arguments and policy. `rampart run` calls [`enforce_and_exec`] in
//! the child it forks, so a launch costs one `execve` (the app's), not two.

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::apply::{ApplyOptions, apply};
use crate::error::exit;
use crate::policy::CompiledPolicy;
use crate::report::{Report, Step};
use crate::sys::{self, LinuxKernel, PreparedExec};

/// What to run and how, besides the policy.
#[derive(Debug)]
pub struct Launch<'a> {
    /// As given: a path, or a name looked up in `PATH`.
    pub program: &'a OsStr,
    pub args: &'a [OsString],
    /// Become root in a new user namespace that the launcher maps (see
    /// [`ApplyOptions::userns_sync_fd`]).
    pub userns_sync_fd: Option<RawFd>,
    /// The program's working directory, if not inherited.
    pub cwd: Option<&'a Path>,
    /// Where the private procfs handle is opened (tests); must be a real procfs.
    pub proc_root: &'a Path,
    /// What the user ran, to begin failure messages with: `rampart-enforce`, or
    /// `rampart run` in the child it forks.
    pub command: &'a str,
}

/// Applies `policy` to this process in the order of `apply` and executes the
/// program. Returns only by exiting: the program never runs after a failed step.
pub fn enforce_and_exec(mut policy: CompiledPolicy, launch: &Launch, report: &mut Report) -> ! {
    if let Some(fd) = launch.userns_sync_fd
        && policy.keep_fds().contains(&fd)
    {
        let m = format!("fd {fd} is both an enforcer fd and in the policy's keep_fds");
        fail(launch.command, report, Step::Policy, exit::USAGE, None, m);
    }

    // PATH lookup happens now, with the launcher's view of the filesystem, so that
    // nothing needs to be searched once seccomp and Landlock are in place.
    let path_env = std::env::var_os("PATH");
    let program =
        resolve_program(launch.program, path_env.as_deref()).unwrap_or_else(|(code, m)| {
            fail(launch.command, report, Step::ResolveProgram, code, None, m)
        });
    // Absolute, because a working directory change happens before execve.
    let program = std::path::absolute(&program).unwrap_or_else(|e| {
        fail(
            launch.command,
            report,
            Step::ResolveProgram,
            exit::NOT_FOUND,
            e.raw_os_error(),
            e.to_string(),
        )
    });
    let argv: Vec<OsString> = std::iter::once(launch.program.to_os_string())
        .chain(launch.args.iter().cloned())
        .collect();
    let exec = PreparedExec::inheriting_env(&program, &argv).unwrap_or_else(|e| {
        fail(
            launch.command,
            report,
            Step::ResolveProgram,
            exit::USAGE,
            None,
            e.to_string(),
        )
    });
    // The kernel's action cache for the compat ABI (x86 on x86_64) serves only
    // 32-bit processes, and filling it is about a sixth of attaching the default
    // filter: a 64-bit app gets the filter with that ABI's gate closed (it is
    // decided the same way, without the cache). Best effort: an unreadable
    // program, a script or a 32-bit one keeps the gate open.
    if let Some(arch) = crate::policy::KERNEL_COMPAT_ARCH
        && policy.has_compat_gate(arch)
        && sys::is_elf64(exec.path())
    {
        policy.close_compat_gate(arch);
    }
    let cwd = match launch
        .cwd
        .map(|c| CString::new(c.as_os_str().as_bytes()))
        .transpose()
    {
        Ok(c) => c,
        Err(_) => fail(
            launch.command,
            report,
            Step::ExecPaths,
            exit::USAGE,
            None,
            "the working directory contains a NUL byte".into(),
        ),
    };

    let mut kernel = LinuxKernel::new(launch.proc_root);
    let opts = ApplyOptions {
        userns_sync_fd: launch.userns_sync_fd,
        cwd: cwd.as_deref(),
        exec: &exec,
    };
    let err = match apply(&mut kernel, &policy, &opts, report) {
        Err(e) => e,
        Ok(()) => unreachable!("LinuxKernel::execve returns only on failure"),
    };
    fail(
        launch.command,
        report,
        err.step(),
        err.exit_code(),
        err.errno(),
        err.to_string(),
    );
}

/// Reports a failure on stderr (after `command`, what the user ran) and on the
/// report fd, and exits with `code`; the program is never executed. Every
/// message names its step.
pub fn fail(
    command: &str,
    report: &mut Report,
    step: Step,
    code: i32,
    errno: Option<i32>,
    msg: String,
) -> ! {
    let msg = if msg.starts_with("step `") {
        msg
    } else {
        format!("step `{step}`: {msg}")
    };
    // Not eprintln!, which panics when write(2) fails (a filter may deny it).
    let _ = writeln!(std::io::stderr(), "{command}: {msg}");
    report.fail(step, msg, errno, code);
    // `_exit`: in a child forked by `rampart run`, exit handlers and buffers
    // belong to the parent. stderr is unbuffered and the report is flushed.
    sys::exit_now(code)
}

/// Where `program` is: itself if it contains a `/`, else the first executable
/// regular file named so in `PATH` (default `/usr/local/bin:/usr/bin:/bin`).
pub fn resolve_program(program: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, (i32, String)> {
    if program.as_bytes().contains(&b'/') {
        // Checked here too, so a missing program is 127 before any step runs,
        // as a shell reports it (the exec-path step then only guards /proc fds).
        let p = PathBuf::from(program);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(p),
            Ok(m) if m.is_dir() => {
                Err((exit::CANNOT_EXEC, format!("{} is a directory", p.display())))
            }
            Ok(_) => Err((
                exit::CANNOT_EXEC,
                format!("{} is not executable", p.display()),
            )),
            Err(e) => Err((exit::NOT_FOUND, format!("cannot run {}: {e}", p.display()))),
        };
    }
    let path = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut found_not_exec = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let cand = dir.join(program);
        if let Ok(m) = std::fs::metadata(&cand) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
            if m.is_file() {
                found_not_exec.get_or_insert(cand);
            }
        }
    }
    let name = program.to_string_lossy();
    Err(match found_not_exec {
        Some(p) => (
            exit::CANNOT_EXEC,
            format!("{} is not executable", p.display()),
        ),
        None => (
            exit::NOT_FOUND,
            format!("`{name}` not found in PATH ({})", path.to_string_lossy()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup() {
        let p = resolve_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))).unwrap();
        assert_eq!(p, PathBuf::from("/bin/sh"));
        let (code, _) =
            resolve_program(OsStr::new("no-such-prog-xyz"), Some(OsStr::new("/bin"))).unwrap_err();
        assert_eq!(code, exit::NOT_FOUND);
        assert_eq!(
            resolve_program(OsStr::new("/bin/sh"), None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let (code, m) = resolve_program(OsStr::new("./no-such-prog-xyz"), None).unwrap_err();
        assert_eq!(code, exit::NOT_FOUND, "{m}");
        let (code, _) = resolve_program(OsStr::new("/etc/passwd"), None).unwrap_err();
        assert_eq!(code, exit::CANNOT_EXEC);
        let (code, _) = resolve_program(OsStr::new("/etc/"), None).unwrap_err();
        assert_eq!(code, exit::CANNOT_EXEC);
    }
}
