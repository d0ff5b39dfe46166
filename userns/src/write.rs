//! The parent side of the user-namespace handshake: writing a waiting
//! child's `setgroups`, `uid_map` and `gid_map`.
//!
//! Protocol (see docs/enforcer-order.md step 2): the child unshares
//! `CLONE_NEWUSER` alone, tells the parent over a pipe, and waits; the parent
//! calls [`write_maps`] with the child's pid; then acks the child, which
//! switches to uid/gid 0 inside and goes on.
//!
//! Kernel rules this code follows: each file is written once, in one
//! `write()` (a short write is an error, never retried: a second write is
//! `EPERM`); an unprivileged writer writes `deny` to `setgroups` before
//! `gid_map`; `newuidmap`/`newgidmap` are used when the writer lacks
//! `CAP_SETUID`/`CAP_SETGID` and the maps are more than its own id, and their
//! exit status is checked.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::map::IdMaps;
use crate::procfs::Credentials;

/// How to write the maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapWriter {
    /// Write `<proc_root>/<pid>/{setgroups,uid_map,gid_map}` ourselves.
    /// `setgroups` gets `deny` first when we are not privileged.
    Direct,
    /// Run `newuidmap PID inside outside count ...` then `newgidmap ...`
    /// (always against the real `/proc`: the helpers know no other).
    Helpers,
    /// `Direct` when we hold `CAP_SETUID` and `CAP_SETGID`, or when each map
    /// is the single id we run as (`0 <euid> 1`, `0 <egid> 1`); otherwise
    /// `Helpers`.
    Auto,
}

/// What [`write_maps_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// `Direct` or `Helpers` (never `Auto`).
    pub method: MapWriter,
    /// Whether `deny` was written to `setgroups`.
    pub setgroups_denied: bool,
}

/// Full options for [`write_maps_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// How to write.
    pub method: MapWriter,
    /// Where the child's `<pid>/` directory is (`/proc`; a temp dir in tests).
    pub proc_root: PathBuf,
    /// The `newuidmap` program (default: found in `PATH`).
    pub newuidmap: PathBuf,
    /// The `newgidmap` program (default: found in `PATH`).
    pub newgidmap: PathBuf,
    /// Whether we may write any map directly; `None` = decide from our
    /// effective capabilities (`CAP_SETUID` and `CAP_SETGID`).
    pub privileged: Option<bool>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            method: MapWriter::Auto,
            proc_root: "/proc".into(),
            newuidmap: "newuidmap".into(),
            newgidmap: "newgidmap".into(),
            privileged: None,
        }
    }
}

/// Why writing the maps failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A procfs write failed; the message carries the errno.
    #[error("writing {content:?} to {} failed: {source}{}", path.display(), hint(source))]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        content: String,
        /// The OS error (`EPERM`, `EINVAL`, …).
        source: io::Error,
    },
    /// The kernel took only part of the text.
    #[error("short write to {}: {written} of {len} bytes (maps must be written in one write())", path.display())]
    ShortWrite {
        /// The file.
        path: PathBuf,
        /// Bytes accepted.
        written: usize,
        /// Bytes offered.
        len: usize,
    },
    /// The child still shares our user namespace: writing now would target
    /// the wrong namespace.
    #[error(
        "process {pid} has not unshared its user namespace yet (its ns/user is ours: {ns}); wait for its signal before writing maps"
    )]
    NotUnshared {
        /// The child.
        pid: u32,
        /// The shared namespace link.
        ns: String,
    },
    /// A helper could not be started.
    #[error("cannot run {}: {source}", program.display())]
    HelperSpawn {
        /// The helper.
        program: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A helper exited unsuccessfully.
    #[error("{} {args} failed with {status}: {}", program.display(), stderr.trim())]
    Helper {
        /// The helper.
        program: PathBuf,
        /// Its arguments.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Reading our own credentials failed.
    #[error("cannot read /proc/self/status: {0}")]
    Credentials(io::Error),
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            " (EPERM: the map was already written, setgroups was written after gid_map, or the writer lacks CAP_SETUID/CAP_SETGID over the namespace or the ids)"
        }
        Some(libc::EINVAL) => {
            " (EINVAL: malformed map, overlapping extents, more than 340 lines, or ids that cannot be mapped)"
        }
        _ => "",
    }
}

/// Writes `text` to `path` with exactly one `write()`.
pub fn write_once(path: &Path, text: &str) -> Result<(), WriteError> {
    let wrap = |source| WriteError::Write {
        path: path.to_owned(),
        content: text.to_owned(),
        source,
    };
    // No O_CREAT: procfs files exist; a missing one is an error.
    let mut f = OpenOptions::new().write(true).open(path).map_err(wrap)?;
    let n = f.write(text.as_bytes()).map_err(wrap)?;
    if n != text.len() {
        return Err(WriteError::ShortWrite {
            path: path.to_owned(),
            written: n,
            len: text.len(),
        });
    }
    Ok(())
}

/// Writes the child's maps with the chosen method and proc root; see
/// [`write_maps_with`].
pub fn write_maps(
    pid: u32,
    uid_maps: &IdMaps,
    gid_maps: &IdMaps,
    method: MapWriter,
    proc_root: &Path,
) -> Result<(), WriteError> {
    write_maps_with(
        pid,
        uid_maps,
        gid_maps,
        &WriteOptions {
            method,
            proc_root: proc_root.to_owned(),
            ..WriteOptions::default()
        },
    )
    .map(|_| ())
}

fn is_own_id(maps: &IdMaps, id: u32) -> bool {
    matches!(maps.extents(), [m] if m.count() == 1 && m.outside() == id)
}

/// Writes the maps of the child `pid`, which must have unshared its user
/// namespace and be waiting.
///
/// `Direct`: `deny` → `setgroups` when unprivileged, then `uid_map`, then
/// `gid_map`, each one `write()`. `Helpers`: `newuidmap` then `newgidmap`;
/// a non-zero exit is an error carrying their stderr. Before writing,
/// checks (when `<proc_root>/<pid>/ns/user` and `<proc_root>/self/ns/user`
/// exist) that the child is no longer in our user namespace.
pub fn write_maps_with(
    pid: u32,
    uid_maps: &IdMaps,
    gid_maps: &IdMaps,
    opts: &WriteOptions,
) -> Result<Applied, WriteError> {
    let creds = || Credentials::current().map_err(WriteError::Credentials);
    let privileged = match opts.privileged {
        Some(p) => p,
        None => creds()?.can_map_any_ids(),
    };
    let method = match opts.method {
        MapWriter::Auto if privileged => MapWriter::Direct,
        MapWriter::Auto => {
            let c = creds()?;
            if is_own_id(uid_maps, c.euid) && is_own_id(gid_maps, c.egid) {
                MapWriter::Direct
            } else {
                MapWriter::Helpers
            }
        }
        m => m,
    };
    let child = opts.proc_root.join(pid.to_string());
    match method {
        MapWriter::Helpers => {
            // The helpers always act on the real /proc.
            check_unshared(Path::new("/proc"), pid)?;
            run_helper(&opts.newuidmap, pid, uid_maps)?;
            run_helper(&opts.newgidmap, pid, gid_maps)?;
            Ok(Applied {
                method,
                setgroups_denied: false,
            })
        }
        _ => {
            check_unshared(&opts.proc_root, pid)?;
            if !privileged {
                write_once(&child.join("setgroups"), "deny")?;
            }
            write_once(&child.join("uid_map"), &uid_maps.to_proc_format())?;
            write_once(&child.join("gid_map"), &gid_maps.to_proc_format())?;
            Ok(Applied {
                method: MapWriter::Direct,
                setgroups_denied: !privileged,
            })
        }
    }
}

fn check_unshared(proc_root: &Path, pid: u32) -> Result<(), WriteError> {
    let theirs = std::fs::read_link(proc_root.join(pid.to_string()).join("ns/user"));
    let ours = std::fs::read_link(proc_root.join("self/ns/user"));
    if let (Ok(t), Ok(o)) = (theirs, ours)
        && t == o
    {
        return Err(WriteError::NotUnshared {
            pid,
            ns: t.display().to_string(),
        });
    }
    Ok(())
}

fn run_helper(program: &Path, pid: u32, maps: &IdMaps) -> Result<(), WriteError> {
    let mut args = vec![pid.to_string()];
    args.extend(maps.helper_args());
    let out = Command::new(program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| WriteError::HelperSpawn {
            program: program.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(WriteError::Helper {
            program: program.to_owned(),
            args: args.join(" "),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake_proc(pid: u32) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(pid.to_string());
        std::fs::create_dir(&p).unwrap();
        for f in ["setgroups", "uid_map", "gid_map"] {
            std::fs::write(p.join(f), "").unwrap();
        }
        d
    }

    fn read(d: &Path, pid: u32, f: &str) -> String {
        std::fs::read_to_string(d.join(pid.to_string()).join(f)).unwrap()
    }

    #[test]
    fn direct_unprivileged_writes_setgroups_deny_then_maps() {
        let d = fake_proc(42);
        let u = IdMaps::single(0, 1000, 1).unwrap();
        let g = IdMaps::single(0, 1001, 1).unwrap();
        let applied = write_maps_with(
            42,
            &u,
            &g,
            &WriteOptions {
                method: MapWriter::Direct,
                proc_root: d.path().into(),
                privileged: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            applied,
            Applied {
                method: MapWriter::Direct,
                setgroups_denied: true
            }
        );
        assert_eq!(read(d.path(), 42, "setgroups"), "deny");
        assert_eq!(read(d.path(), 42, "uid_map"), "0 1000 1\n");
        assert_eq!(read(d.path(), 42, "gid_map"), "0 1001 1\n");
    }

    #[test]
    fn direct_privileged_leaves_setgroups_alone() {
        let d = fake_proc(7);
        let u = IdMaps::single(0, 100000, 65536).unwrap();
        let applied = write_maps_with(
            7,
            &u,
            &u,
            &WriteOptions {
                method: MapWriter::Auto,
                proc_root: d.path().into(),
                privileged: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(applied.method, MapWriter::Direct);
        assert!(!applied.setgroups_denied);
        assert_eq!(read(d.path(), 7, "setgroups"), "");
        assert_eq!(read(d.path(), 7, "uid_map"), "0 100000 65536\n");
        assert_eq!(read(d.path(), 7, "gid_map"), "0 100000 65536\n");
    }

    #[test]
    fn missing_proc_files_are_errors_not_created() {
        let d = tempfile::tempdir().unwrap();
        let u = IdMaps::single(0, 1, 1).unwrap();
        let e = write_maps(9, &u, &u, MapWriter::Direct, d.path()).unwrap_err();
        assert!(matches!(e, WriteError::Write { .. }), "{e:?}");
        assert!(!d.path().join("9").exists());
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn helpers_get_pid_and_triples_and_failures_carry_stderr() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let ok = script(
            d.path(),
            "ok",
            &format!("echo \"$(basename $0) $*\" >> {}", log.display()),
        );
        let bad = script(d.path(), "bad", "echo 'range not allowed' >&2; exit 3");
        let u = IdMaps::new(vec![
            crate::IdMap::new(0, 1000, 1).unwrap(),
            crate::IdMap::new(1, 100000, 65535).unwrap(),
        ])
        .unwrap();
        let opts = WriteOptions {
            method: MapWriter::Auto,
            newuidmap: ok.clone(),
            newgidmap: ok.clone(),
            privileged: Some(false),
            ..Default::default()
        };
        let applied = write_maps_with(4242, &u, &u, &opts).unwrap();
        assert_eq!(applied.method, MapWriter::Helpers);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "ok 4242 0 1000 1 1 100000 65535\nok 4242 0 1000 1 1 100000 65535\n"
        );
        let e = write_maps_with(
            4242,
            &u,
            &u,
            &WriteOptions {
                newgidmap: bad.clone(),
                ..opts.clone()
            },
        )
        .unwrap_err();
        match &e {
            WriteError::Helper { status, stderr, .. } => {
                assert_eq!(status.code(), Some(3));
                assert!(stderr.contains("range not allowed"));
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("range not allowed"), "{msg}");
        let e = write_maps_with(
            1,
            &u,
            &u,
            &WriteOptions {
                newuidmap: d.path().join("missing"),
                ..opts
            },
        )
        .unwrap_err();
        assert!(matches!(e, WriteError::HelperSpawn { .. }), "{e:?}");
    }

    #[test]
    fn writing_to_a_process_that_shares_our_namespace_is_refused() {
        // Our own pid: its ns/user is ours, as for a child that has not
        // unshared yet.
        let u = IdMaps::single(0, 0, 1).unwrap();
        let e = write_maps(
            std::process::id(),
            &u,
            &u,
            MapWriter::Direct,
            Path::new("/proc"),
        )
        .unwrap_err();
        assert!(matches!(e, WriteError::NotUnshared { .. }), "{e:?}");
    }
}
