//! A crash-safe, multi-process lease allocator.
//!
//! An [`Allocator`] owns two files in a state directory:
//!
//! * `<name>.lock`: an empty file; every operation holds an exclusive
//!   `flock` on it (`std::fs::File::lock`) for its whole read-modify-write.
//!   The kernel drops the lock when the holder dies, even by `SIGKILL`.
//! * `<name>.json`: the state ([`LeaseState`]). It is never modified in
//!   place: a new version is written to `<name>.json.tmp`, `fsync`ed, renamed
//!   over `<name>.json` and the directory is `fsync`ed. `rename` is atomic, so
//!   a reader (or a crash at any instant) sees either the old or the new
//!   complete file. A stale `.tmp` left by a killed writer is simply
//!   overwritten by the next writer.
//!
//! Each lease records its owner: a pid plus that process's start time
//! (field 22 of `/proc/PID/stat`). An owner whose `/proc/PID` is gone, is a
//! zombie, or whose start time differs (the pid was reused) is dead, and every
//! operation that takes the lock first drops ("reclaims") the leases of dead
//! owners. Owners must therefore be visible in the allocator's proc root
//! (same pid namespace, no `hidepid` hiding them).
//!
//! Keys are any serde type implementing [`LeaseKey`], which says when two keys
//! conflict (equality by default; ranges override it with overlap).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::marker::PhantomData;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::procfs;

/// A key that can be leased. Two live leases never hold conflicting keys.
pub trait LeaseKey: Serialize + DeserializeOwned + Clone + PartialEq + fmt::Debug {
    /// Whether `self` and `other` may not be leased at the same time.
    /// Must be symmetric. Defaults to equality.
    fn conflicts_with(&self, other: &Self) -> bool {
        self == other
    }
}

impl LeaseKey for u16 {}
impl LeaseKey for u32 {}
impl LeaseKey for u64 {}
impl LeaseKey for String {}
impl LeaseKey for (u16, u16) {}
impl LeaseKey for (u32, u32) {}

/// A lease owner: a process identified by pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Process id (in the allocator's proc root).
    pub pid: u32,
    /// `/proc/PID/stat` field 22, clock ticks after boot.
    pub start_time: u64,
}

impl Owner {
    /// Identifies the live process `pid` under `proc_root`.
    pub fn of(proc_root: &Path, pid: u32) -> Result<Owner, LeaseError> {
        match procfs::read_stat(proc_root, pid) {
            Ok(Some(s)) if !s.is_gone() => Ok(Owner {
                pid,
                start_time: s.start_time,
            }),
            Ok(_) => Err(LeaseError::OwnerNotAlive { pid }),
            Err(source) => Err(LeaseError::Io {
                op: "read the owner's stat in",
                path: proc_root.join(pid.to_string()).join("stat"),
                source,
            }),
        }
    }

    /// Whether the process still runs (same pid, same start time, not a
    /// zombie). Errors other than "no such process" count as alive, so an
    /// unreadable `/proc` never frees a lease that may be in use.
    pub fn is_alive(&self, proc_root: &Path) -> bool {
        match procfs::read_stat(proc_root, self.pid) {
            Ok(Some(s)) => !s.is_gone() && s.start_time == self.start_time,
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// One lease as stored in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseRecord<K> {
    /// Unique, never reused within one state file.
    pub serial: u64,
    /// The leased key.
    pub key: K,
    /// Who holds it.
    pub owner: Owner,
}

/// The content of `<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseState<K> {
    /// Format version, currently 1.
    pub version: u32,
    /// Serial number of the next lease.
    pub next_serial: u64,
    /// Current leases (live, or dead but not yet reclaimed).
    pub leases: Vec<LeaseRecord<K>>,
}

impl<K> Default for LeaseState<K> {
    fn default() -> Self {
        LeaseState {
            version: STATE_VERSION,
            next_serial: 1,
            leases: Vec::new(),
        }
    }
}

const STATE_VERSION: u32 = 1;

/// A granted lease. Keep it to [`Allocator::release`] the key; it can be
/// serialized to hand the release to another process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease<K> {
    /// The leased key.
    pub key: K,
    /// The owner recorded for it.
    pub owner: Owner,
    /// The record's serial number.
    pub serial: u64,
}

/// Lease allocator errors.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A file operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The state file exists but is not a valid state. It is left alone:
    /// guessing would risk handing out a key that is in use.
    #[error("lease state {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// The allocator name is not a plain file name.
    #[error(
        "invalid allocator name `{0}`: use 1-64 characters from [A-Za-z0-9._-], not starting with `.`"
    )]
    BadName(String),
    /// The would-be owner does not run.
    #[error("owner pid {pid} is not a running process")]
    OwnerNotAlive {
        /// The pid given.
        pid: u32,
    },
    /// Every candidate conflicts with a live lease.
    #[error(
        "no free key: all {tried} candidate(s) are leased by live owners ({live} live lease(s))"
    )]
    Exhausted {
        /// Candidates examined.
        tried: u64,
        /// Live leases in the state.
        live: usize,
    },
}

/// A lease allocator over keys of type `K`; see the module docs.
#[derive(Debug)]
pub struct Allocator<K> {
    dir: PathBuf,
    name: String,
    proc_root: PathBuf,
    _key: PhantomData<fn() -> K>,
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LeaseError {
    let path = path.to_owned();
    move |source| LeaseError::Io { op, path, source }
}

/// Holds the exclusive flock until dropped.
struct LockGuard {
    _file: File,
}

impl<K: LeaseKey> Allocator<K> {
    /// Opens (creating the directory, mode 0700, if needed) the allocator
    /// `name` in `dir`. Owners are checked in `/proc`.
    pub fn open(dir: impl AsRef<Path>, name: &str) -> Result<Self, LeaseError> {
        Allocator::open_with_proc_root(dir, name, "/proc")
    }

    /// Like [`Allocator::open`] with another proc root for owner liveness.
    pub fn open_with_proc_root(
        dir: impl AsRef<Path>,
        name: &str,
        proc_root: impl AsRef<Path>,
    ) -> Result<Self, LeaseError> {
        if !valid_name(name) {
            return Err(LeaseError::BadName(name.to_owned()));
        }
        let dir = dir.as_ref().to_owned();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create the state directory", &dir))?;
        Ok(Allocator {
            dir,
            name: name.to_owned(),
            proc_root: proc_root.as_ref().to_owned(),
            _key: PhantomData,
        })
    }

    /// Path of the state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// Path of the lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    fn tmp_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json.tmp", self.name))
    }

    fn lock(&self) -> Result<LockGuard, LeaseError> {
        let path = self.lock_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("open the lock file", &path))?;
        file.lock().map_err(io_err("flock", &path))?;
        Ok(LockGuard { _file: file })
    }

    fn read_state(&self) -> Result<LeaseState<K>, LeaseError> {
        let path = self.state_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LeaseState::default()),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let state: LeaseState<K> =
            serde_json::from_slice(&bytes).map_err(|e| LeaseError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if state.version != STATE_VERSION {
            return Err(LeaseError::Corrupt {
                path,
                reason: format!("unsupported version {}", state.version),
            });
        }
        Ok(state)
    }

    fn write_state(&self, state: &LeaseState<K>) -> Result<(), LeaseError> {
        let tmp = self.tmp_path();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| LeaseError::Io {
            op: "serialize the state for",
            path: tmp.clone(),
            source: io::Error::other(e),
        })?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        let path = self.state_path();
        std::fs::rename(&tmp, &path).map_err(io_err("rename the new state over", &path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync the state directory", &self.dir))?;
        Ok(())
    }

    /// Drops dead owners' leases from `state`; returns them.
    fn reclaim_in(&self, state: &mut LeaseState<K>) -> Vec<LeaseRecord<K>> {
        let (live, dead): (Vec<_>, Vec<_>) = std::mem::take(&mut state.leases)
            .into_iter()
            .partition(|r| r.owner.is_alive(&self.proc_root));
        state.leases = live;
        dead
    }

    /// Leases the first candidate that conflicts with no live lease, on
    /// behalf of the running process `owner_pid`. Dead owners' leases are
    /// reclaimed first.
    pub fn allocate(
        &self,
        owner_pid: u32,
        candidates: impl IntoIterator<Item = K>,
    ) -> Result<Lease<K>, LeaseError> {
        let _guard = self.lock()?;
        let mut state = self.read_state()?;
        let reclaimed = !self.reclaim_in(&mut state).is_empty();
        let owner = Owner::of(&self.proc_root, owner_pid)?;
        let mut tried = 0u64;
        let found = candidates.into_iter().find(|c| {
            tried += 1;
            !state.leases.iter().any(|r| r.key.conflicts_with(c))
        });
        let Some(key) = found else {
            if reclaimed {
                self.write_state(&state)?;
            }
            return Err(LeaseError::Exhausted {
                tried,
                live: state.leases.len(),
            });
        };
        let serial = state.next_serial;
        state.next_serial += 1;
        state.leases.push(LeaseRecord {
            serial,
            key: key.clone(),
            owner,
        });
        self.write_state(&state)?;
        Ok(Lease { key, owner, serial })
    }

    /// Releases a lease. `Ok(false)` when it was no longer recorded (already
    /// released, or reclaimed after its owner died).
    pub fn release(&self, lease: &Lease<K>) -> Result<bool, LeaseError> {
        let _guard = self.lock()?;
        let mut state = self.read_state()?;
        let before = state.leases.len();
        state.leases.retain(|r| {
            !(r.serial == lease.serial && r.owner == lease.owner && r.key == lease.key)
        });
        let removed = state.leases.len() != before;
        let reclaimed = !self.reclaim_in(&mut state).is_empty();
        if removed || reclaimed {
            self.write_state(&state)?;
        }
        Ok(removed)
    }

    /// Releases every lease held by the process `pid` (any start time).
    /// Returns how many were removed.
    pub fn release_owner(&self, pid: u32) -> Result<usize, LeaseError> {
        let _guard = self.lock()?;
        let mut state = self.read_state()?;
        let before = state.leases.len();
        state.leases.retain(|r| r.owner.pid != pid);
        let removed = before - state.leases.len();
        if removed > 0 {
            self.write_state(&state)?;
        }
        Ok(removed)
    }

    /// Drops the leases of dead owners now; returns what was dropped.
    pub fn reclaim(&self) -> Result<Vec<LeaseRecord<K>>, LeaseError> {
        let _guard = self.lock()?;
        let mut state = self.read_state()?;
        let dead = self.reclaim_in(&mut state);
        if !dead.is_empty() {
            self.write_state(&state)?;
        }
        Ok(dead)
    }

    /// The recorded leases (live or not yet reclaimed), read under the lock.
    pub fn leases(&self) -> Result<Vec<LeaseRecord<K>>, LeaseError> {
        let _guard = self.lock()?;
        Ok(self.read_state()?.leases)
    }

    /// The recorded leases whose owner is alive, read under the lock.
    pub fn live_leases(&self) -> Result<Vec<LeaseRecord<K>>, LeaseError> {
        Ok(self
            .leases()?
            .into_iter()
            .filter(|r| r.owner.is_alive(&self.proc_root))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        std::process::id()
    }

    #[test]
    fn allocate_skips_leased_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "nums").unwrap();
        let l1 = a.allocate(me(), 0..10).unwrap();
        let l2 = a.allocate(me(), 0..10).unwrap();
        assert_eq!((l1.key, l2.key), (0, 1));
        assert_ne!(l1.serial, l2.serial);
        assert!(a.release(&l1).unwrap());
        assert!(!a.release(&l1).unwrap(), "double release reports false");
        let l3 = a.allocate(me(), 0..10).unwrap();
        assert_eq!(l3.key, 0);
        assert_eq!(a.leases().unwrap().len(), 2);
        // Reopening sees the same state.
        let b: Allocator<u32> = Allocator::open(dir.path(), "nums").unwrap();
        assert_eq!(b.leases().unwrap().len(), 2);
    }

    #[test]
    fn exhausted_reports_counts() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "x").unwrap();
        a.allocate(me(), 0..2).unwrap();
        a.allocate(me(), 0..2).unwrap();
        match a.allocate(me(), 0..2) {
            Err(LeaseError::Exhausted { tried: 2, live: 2 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn custom_conflicts() {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        struct R(u32, u32);
        impl LeaseKey for R {
            fn conflicts_with(&self, o: &Self) -> bool {
                self.0 < o.1 && o.0 < self.1
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<R> = Allocator::open(dir.path(), "r").unwrap();
        a.allocate(me(), [R(0, 10)]).unwrap();
        let l = a.allocate(me(), [R(5, 15), R(9, 20), R(10, 20)]).unwrap();
        assert_eq!(l.key, R(10, 20));
    }

    #[test]
    fn dead_and_reused_pids_are_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "r").unwrap();
        // A child that exits: its lease is reclaimed once it is gone.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let l = a.allocate(child.id(), [7]).unwrap();
        assert_eq!(l.key, 7);
        assert!(matches!(
            a.allocate(me(), [7]),
            Err(LeaseError::Exhausted { .. })
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        let l2 = a.allocate(me(), [7]).unwrap();
        assert_eq!(l2.owner.pid, me());
        // The dead child's record is gone, not just skipped.
        let recs = a.leases().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].owner.pid, me());

        // Pid reuse: a record with our pid but another start time is dead.
        let mut state: LeaseState<u32> =
            serde_json::from_slice(&std::fs::read(a.state_path()).unwrap()).unwrap();
        state.leases.push(LeaseRecord {
            serial: 99,
            key: 8,
            owner: Owner {
                pid: me(),
                start_time: state.leases[0].owner.start_time + 1,
            },
        });
        state.next_serial = 100;
        std::fs::write(a.state_path(), serde_json::to_vec(&state).unwrap()).unwrap();
        let dead = a.reclaim().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, 8);
        assert_eq!(a.allocate(me(), [8]).unwrap().key, 8);
    }

    #[test]
    fn zombie_owner_counts_as_dead() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "z").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        a.allocate(child.id(), [1]).unwrap();
        child.kill().unwrap();
        // Not reaped yet: a zombie. Wait until the kernel shows it as such.
        let pid = child.id();
        for _ in 0..200 {
            match procfs::read_stat(Path::new("/proc"), pid).unwrap() {
                Some(s) if s.is_gone() => break,
                _ => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        assert_eq!(a.reclaim().unwrap().len(), 1);
        child.wait().unwrap();
    }

    #[test]
    fn owner_must_be_alive() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "o").unwrap();
        assert!(matches!(
            a.allocate(u32::MAX - 1, [1]),
            Err(LeaseError::OwnerNotAlive { .. })
        ));
    }

    #[test]
    fn corrupt_state_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "c").unwrap();
        std::fs::write(a.state_path(), b"{\"version\":1,\"next_ser").unwrap();
        let e = a.allocate(me(), [1]).unwrap_err();
        assert!(matches!(e, LeaseError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("is corrupt"), "{e}");
        assert_eq!(
            std::fs::read(a.state_path()).unwrap(),
            b"{\"version\":1,\"next_ser"
        );
    }

    #[test]
    fn stale_tmp_from_crashed_writer_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let a: Allocator<u32> = Allocator::open(dir.path(), "t").unwrap();
        a.allocate(me(), [1]).unwrap();
        // A writer killed before its rename leaves a partial temp file.
        std::fs::write(a.tmp_path(), b"{\"garbage").unwrap();
        assert_eq!(a.leases().unwrap().len(), 1);
        assert_eq!(a.allocate(me(), [1, 2]).unwrap().key, 2);
        let state: LeaseState<u32> =
            serde_json::from_slice(&std::fs::read(a.state_path()).unwrap()).unwrap();
        assert_eq!(state.leases.len(), 2);
        assert!(
            !a.tmp_path().exists(),
            "the temp file was renamed into place"
        );
    }

    #[test]
    fn release_owner_and_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Allocator::<u32>::open(dir.path(), "../x"),
            Err(LeaseError::BadName(_))
        ));
        assert!(Allocator::<u32>::open(dir.path(), ".hidden").is_err());
        assert!(Allocator::<u32>::open(dir.path(), "").is_err());
        let a: Allocator<String> = Allocator::open(dir.path(), "s").unwrap();
        a.allocate(me(), ["a".to_string()]).unwrap();
        a.allocate(me(), ["a".to_string(), "b".to_string()])
            .unwrap();
        assert_eq!(a.release_owner(me()).unwrap(), 2);
        assert!(a.leases().unwrap().is_empty());
    }

    #[test]
    fn threads_in_one_process_do_not_collide() {
        // flock locks belong to the open file description, so two threads
        // opening the lock file separately exclude each other too.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || {
                    let a: Allocator<u32> = Allocator::open(&p, "th").unwrap();
                    (0..10)
                        .map(|_| a.allocate(std::process::id(), 0..1000).unwrap().key)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40);
    }
}
