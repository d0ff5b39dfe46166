//! Errors of the apply sequence: one enum per concern, each naming the step, the
//! errno (in `source`) and how to fix it, rolled up in [`ApplyError`].

use std::io;

use crate::report::Step;
use crate::sys::errno_of;

/// `rampart-enforce` exit codes. The program was never executed for any of them.
pub mod exit {
    /// Bad command line (unknown flag, missing `--`, fd not open).
    pub const USAGE: i32 = 2;
    /// The policy blob could not be read or failed verification.
    pub const POLICY: i32 = 123;
    /// The policy requires a mechanism this host does not have (fail closed).
    pub const UNAVAILABLE: i32 = 124;
    /// A hardening step failed.
    pub const STEP: i32 = 125;
    /// PROGRAM was found but could not be executed.
    pub const CANNOT_EXEC: i32 = 126;
    /// PROGRAM was not found.
    pub const NOT_FOUND: i32 = 127;
}

/// Process hygiene: threads, dumpable, inherited fds and signals, procfs, preflight.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    #[error("step `{step}`: the enforcer has {count} threads but must be single-threaded (credentials, LSM labels and seccomp apply per thread); {}", step.hint())]
    MultiThreaded { step: Step, count: usize },
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// A mechanism the policy marks required is missing: fail closed before any change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnavailableError {
    #[error("step `{step}`: the policy requires {mechanism} but {reason}; {}", step.hint())]
    Missing {
        step: Step,
        mechanism: &'static str,
        reason: String,
    },
}

/// The user-namespace handshake (child side).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsernsError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// personality and the SELinux exec label.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// no_new_privs, bounding set, ids, capset, ambient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// Landlock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
    #[error("step `{step}`: the policy requires Landlock but the kernel enforced it only as {status}; {}", step.hint())]
    NotFullyEnforced { step: Step, status: &'static str },
}

/// seccomp.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// cwd / program path checks and `execve`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error("step `{step}` failed: {source}; {}", step.hint())]
    Sys { step: Step, source: io::Error },
}

/// Any failure of the apply sequence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Unavailable(#[from] UnavailableError),
    #[error(transparent)]
    Userns(#[from] UsernsError),
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error(transparent)]
    Cred(#[from] CredError),
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl ApplyError {
    /// The step that failed.
    pub fn step(&self) -> Step {
        match self {
            ApplyError::Process(ProcessError::MultiThreaded { step, .. })
            | ApplyError::Process(ProcessError::Sys { step, .. })
            | ApplyError::Unavailable(UnavailableError::Missing { step, .. })
            | ApplyError::Userns(UsernsError::Sys { step, .. })
            | ApplyError::Label(LabelError::Sys { step, .. })
            | ApplyError::Cred(CredError::Sys { step, .. })
            | ApplyError::Landlock(LandlockError::Sys { step, .. })
            | ApplyError::Landlock(LandlockError::NotFullyEnforced { step, .. })
            | ApplyError::Seccomp(SeccompError::Sys { step, .. })
            | ApplyError::Exec(ExecError::Sys { step, .. }) => *step,
        }
    }

    fn io(&self) -> Option<&io::Error> {
        match self {
            ApplyError::Process(ProcessError::Sys { source, .. })
            | ApplyError::Userns(UsernsError::Sys { source, .. })
            | ApplyError::Label(LabelError::Sys { source, .. })
            | ApplyError::Cred(CredError::Sys { source, .. })
            | ApplyError::Landlock(LandlockError::Sys { source, .. })
            | ApplyError::Seccomp(SeccompError::Sys { source, .. })
            | ApplyError::Exec(ExecError::Sys { source, .. }) => Some(source),
            _ => None,
        }
    }

    /// The errno behind the failure, when a syscall failed.
    pub fn errno(&self) -> Option<i32> {
        self.io().and_then(errno_of)
    }

    /// The documented exit code for this failure (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            ApplyError::Unavailable(_) => exit::UNAVAILABLE,
            ApplyError::Exec(ExecError::Sys {
                step: Step::Execve,
                source,
            }) => {
                if errno_of(source) == Some(libc::ENOENT) {
                    exit::NOT_FOUND
                } else {
                    exit::CANNOT_EXEC
                }
            }
            _ => exit::STEP,
        }
    }
}
