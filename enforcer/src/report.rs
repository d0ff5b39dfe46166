//! The structured report written on `--report-fd`: one JSON object per line.
//!
//! Each line is an [`Event`] for one step:
//!
//! ```json
//! {"step":"selinux-label","status":"not-applied","detail":"SELinux is not enabled on this host; the policy marks the label best-effort"}
//! {"step":"landlock","status":"partially-applied","dropped":["fs:IoctlDev"]}
//! {"step":"seccomp","status":"pending"}
//! {"step":"capset","status":"failed","errno":1,"exit_code":125,"detail":"step `capset` failed: …"}
//! ```
//!
//! Statuses: `applied`, `skipped` (the policy does not ask for it), `not-applied` /
//! `partially-applied` (best-effort, with what was `dropped`), `pending` (declared
//! before seccomp, after which the enforcer writes nothing unless it fails), and
//! `failed` (always the last line; the program was not executed).
//!
//! Lines are buffered and written at two points only: right before seccomp is
//! installed (or before `execve` when there is no filter) and on failure. The fd is
//! close-on-exec, so the reader sees EOF when the program starts; EOF without a
//! `failed` line means the `execve` happened (or the process was killed, which
//! `waitpid` tells).

use std::io::Write;

use serde::Serialize;

/// The steps of the apply sequence, in the names the report and errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Read and decode the policy blob.
    Policy,
    /// Find PROGRAM in PATH.
    ResolveProgram,
    SingleThread,
    Dumpable,
    /// Mark fds close-on-exec, reset signal state.
    SanitizeInherited,
    Procfs,
    /// Probe required mechanisms before anything irreversible.
    Preflight,
    UsernsUnshare,
    UsernsSync,
    UsernsRoot,
    Personality,
    /// Open the Landlock rule paths while still privileged.
    LandlockPrepare,
    SelinuxLabel,
    NoNewPrivs,
    CapBounding,
    Keepcaps,
    Setgroups,
    Setresgid,
    Setresuid,
    Capset,
    Ambient,
    /// The credential steps as a group (announced as pending before seccomp).
    Credentials,
    Landlock,
    ExecPaths,
    Seccomp,
    Execve,
}

impl Step {
    /// The kebab-case name used in messages and the report.
    pub fn name(self) -> &'static str {
        match self {
            Step::Policy => "policy",
            Step::ResolveProgram => "resolve-program",
            Step::SingleThread => "single-thread",
            Step::Dumpable => "dumpable",
            Step::SanitizeInherited => "sanitize-inherited",
            Step::Procfs => "procfs",
            Step::Preflight => "preflight",
            Step::UsernsUnshare => "userns-unshare",
            Step::UsernsSync => "userns-sync",
            Step::UsernsRoot => "userns-root",
            Step::Personality => "personality",
            Step::LandlockPrepare => "landlock-prepare",
            Step::SelinuxLabel => "selinux-label",
            Step::NoNewPrivs => "no-new-privs",
            Step::CapBounding => "cap-bounding",
            Step::Keepcaps => "keepcaps",
            Step::Setgroups => "setgroups",
            Step::Setresgid => "setresgid",
            Step::Setresuid => "setresuid",
            Step::Capset => "capset",
            Step::Ambient => "ambient",
            Step::Credentials => "credentials",
            Step::Landlock => "landlock",
            Step::ExecPaths => "exec-paths",
            Step::Seccomp => "seccomp",
            Step::Execve => "execve",
        }
    }

    /// How to fix a failure of this step.
    pub fn hint(self) -> &'static str {
        match self {
            Step::Policy => "pass a policy written by the same rampart version (`rampart compile`)",
            Step::ResolveProgram => "check PROGRAM and PATH",
            Step::SingleThread => {
                "start rampart-enforce directly from fork+exec; never from a threaded process via a shell wrapper that spawns threads"
            }
            Step::Dumpable | Step::NoNewPrivs | Step::Keepcaps => {
                "the kernel refused a prctl; check for a seccomp filter inherited from the launcher"
            }
            Step::SanitizeInherited => "close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11 or newer",
            Step::Procfs => {
                "mount a real procfs at /proc (or at --proc-root) in the enforcer's mount namespace"
            }
            Step::Preflight => {
                "run on a host that has the mechanism, or mark it best-effort in the profile"
            }
            Step::UsernsUnshare => {
                "user namespaces may be disabled (user.max_user_namespaces, kernel.unprivileged_userns_clone) or the process is threaded"
            }
            Step::UsernsSync => {
                "the launcher must read the byte on the sync fd, write uid_map/gid_map, then write the ack byte 0x01"
            }
            Step::UsernsRoot => "the parent must map id 0 in the new user namespace",
            Step::Personality => "the persona is not supported by this kernel or architecture",
            Step::LandlockPrepare | Step::Landlock => {
                "check the Landlock rule paths exist and the kernel supports the requested rights"
            }
            Step::SelinuxLabel => {
                "make sure nothing is mounted over /proc/thread-self/attr/exec and the label is valid for the loaded SELinux policy"
            }
            Step::CapBounding | Step::Capset | Step::Ambient | Step::Credentials => {
                "the enforcer needs CAP_SETPCAP and the requested capabilities in its own permitted set; ambient caps must be permitted and inheritable"
            }
            Step::Setgroups | Step::Setresgid | Step::Setresuid => {
                "the enforcer needs CAP_SETUID/CAP_SETGID, and in a user namespace the ids must be mapped"
            }
            Step::ExecPaths => {
                "pass a real directory as --cwd and a real program path, never /proc/<pid>/fd/N"
            }
            Step::Seccomp => {
                "seccomp needs no_new_privs or CAP_SYS_ADMIN; with no_new_privs off the filter is loaded before the capability drop"
            }
            Step::Execve => {
                "check the program exists, is executable, and that Landlock allows executing it"
            }
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Applied,
    Skipped,
    NotApplied,
    PartiallyApplied,
    Pending,
    Failed,
}

/// One report line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub step: Step,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// Collects events and writes them to the report sink (if any) on [`Report::flush`].
#[derive(Debug, Default)]
pub struct Report {
    sink: Option<std::fs::File>,
    /// Whether events are kept: with a sink, or when [`Report::recording`].
    keep: bool,
    events: Vec<Event>,
    written: usize,
}

impl Report {
    /// Writes to `sink`; without one, keeps nothing: no one would read the events,
    /// and their 2 KiB would take a page more of the launch arena (a page fault).
    pub fn new(sink: Option<std::fs::File>) -> Self {
        let keep = sink.is_some();
        Report {
            sink,
            keep,
            events: Self::room(keep),
            written: 0,
        }
    }

    /// Keeps the events for [`Report::events`], with no sink (tests).
    pub fn recording() -> Self {
        Report {
            keep: true,
            events: Self::room(true),
            ..Self::default()
        }
    }

    /// Room for an event per step and a failure at once: grown by doubling among
    /// the launch's other blocks, the vector took four blocks (4.3 KiB).
    fn room(keep: bool) -> Vec<Event> {
        Vec::with_capacity(if keep { Step::Execve as usize + 2 } else { 0 })
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn push(
        &mut self,
        step: Step,
        status: Status,
        detail: Option<String>,
        dropped: Vec<String>,
    ) {
        if !self.keep {
            return;
        }
        self.events.push(Event {
            step,
            status,
            detail,
            dropped,
            errno: None,
            exit_code: None,
        });
    }

    pub fn applied(&mut self, step: Step) {
        self.push(step, Status::Applied, None, Vec::new());
    }

    pub fn skipped(&mut self, step: Step, why: &str) {
        if self.keep {
            self.push(step, Status::Skipped, Some(why.to_owned()), Vec::new());
        }
    }

    pub fn pending(&mut self, step: Step) {
        self.push(step, Status::Pending, None, Vec::new());
    }

    /// Records the failure (always the last event) and writes everything.
    pub fn fail(&mut self, step: Step, message: String, errno: Option<i32>, exit_code: i32) {
        if !self.keep {
            return;
        }
        self.events.push(Event {
            step,
            status: Status::Failed,
            detail: Some(message),
            dropped: Vec::new(),
            errno,
            exit_code: Some(exit_code),
        });
        self.flush();
    }

    /// Writes the events not yet written, one JSON object per line, in one `write`.
    /// A reader that went away is not an error worth failing the run for, nor a
    /// reason to die of SIGPIPE before the program starts: until the filter is in,
    /// SIGPIPE is held off around the write. After it, the write is the only call.
    pub fn flush(&mut self) {
        let filtered = self
            .events
            .iter()
            .any(|e| e.step == Step::Seccomp && e.status == Status::Applied);
        let Some(sink) = self.sink.as_mut() else {
            self.written = self.events.len();
            return;
        };
        let mut buf = Vec::new();
        for e in &self.events[self.written..] {
            // Serialising plain strings and integers cannot fail.
            if serde_json::to_writer(&mut buf, e).is_ok() {
                buf.push(b'\n');
            }
        }
        self.written = self.events.len();
        let _ = if filtered {
            sink.write_all(&buf)
        } else {
            crate::sys::write_all_without_sigpipe(sink, &buf)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_report_with_a_reader_keeps_events() {
        let mut none = Report::new(None);
        let mut kept = Report::recording();
        for r in [&mut none, &mut kept] {
            r.applied(Step::Dumpable);
            r.skipped(Step::Landlock, "no ruleset");
            r.fail(Step::Execve, "boom".into(), Some(2), 127);
        }
        assert!(none.events().is_empty());
        assert_eq!(none.events.capacity(), 0, "nothing allocated");
        let steps: Vec<Step> = kept.events().iter().map(|e| e.step).collect();
        assert_eq!(steps, [Step::Dumpable, Step::Landlock, Step::Execve]);
    }

    #[test]
    fn lines_are_json_with_kebab_names() {
        let f = tempfile::tempfile().unwrap();
        let mut r = Report::new(Some(f.try_clone().unwrap()));
        r.push(
            Step::Landlock,
            Status::PartiallyApplied,
            None,
            vec!["fs:IoctlDev".into()],
        );
        r.pending(Step::Seccomp);
        r.flush();
        r.fail(Step::Execve, "boom".into(), Some(2), 127);
        let text = std::fs::read_to_string(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&f)
        ))
        .unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["step"], "landlock");
        assert_eq!(lines[0]["status"], "partially-applied");
        assert_eq!(lines[0]["dropped"][0], "fs:IoctlDev");
        assert_eq!(lines[1]["status"], "pending");
        assert_eq!(lines[2]["status"], "failed");
        assert_eq!(lines[2]["errno"], 2);
        assert_eq!(lines[2]["exit_code"], 127);
    }
}
