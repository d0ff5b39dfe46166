//! `mode: auto`: a per-pod block of ids that no other live pod overlaps.
//!
//! Every pod gets `size` consecutive uids and gids starting at a multiple of
//! [`ALIGN`] (65536), mapped as `0 <start> <size>`. The blocks come from an
//! [`IdPool`]:
//!
//! * an unprivileged invoker uses its own `/etc/subuid` and `/etc/subgid`
//!   entries (a block never straddles two entries, because `newuidmap` checks
//!   each extent against a single entry);
//! * root uses a configured range, by default `0x10000..0x1_0000_0000`
//!   (ids below 65536 are the host's own users), minus every range listed in
//!   `/etc/subuid`/`/etc/subgid` so root pods never share ids with rootless
//!   ones. The top block, `0xFFFF0000..`, is never handed out: it would have
//!   to contain `(uid_t)-1`, which cannot be mapped.
//!
//! Leases go through [`crate::lease::Allocator`] (file `userns-ids` in the
//! state directory), keyed by [`PodIds`], which conflict when their uid or
//! their gid ranges overlap. Unlike rkt's `--private-users` (a random shift
//! without a lock), two live pods can never get overlapping ids.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lease::{Allocator, Lease, LeaseError, LeaseKey, LeaseRecord};
use crate::map::{ID_LIMIT, IdMaps, MapError};
use crate::procfs::Credentials;
use crate::subid::{self, SubIdError, SubIdFile, User, UserSpec};

/// Block alignment: every pod's first id is a multiple of this.
pub const ALIGN: u64 = 65536;
/// Ids per pod unless configured otherwise (Kubernetes' `hostUsers: false`).
pub const DEFAULT_SIZE: u32 = 65536;
/// Default range for root: everything above the host's first 65536 ids.
pub const DEFAULT_ROOT_RANGE: (u64, u64) = (0x1_0000, 0x1_0000_0000);
/// Name of the lease allocator in the state directory.
pub const ALLOCATOR_NAME: &str = "userns-ids";

/// The ids of one pod: uids `uid_start..+count`, gids `gid_start..+count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodIds {
    /// First host uid.
    pub uid_start: u32,
    /// First host gid.
    pub gid_start: u32,
    /// Number of uids and of gids.
    pub count: u32,
}

fn overlaps(a: u32, b: u32, n: u32, m: u32) -> bool {
    let (a, b, n, m) = (u64::from(a), u64::from(b), u64::from(n), u64::from(m));
    a < b + m && b < a + n
}

impl LeaseKey for PodIds {
    fn conflicts_with(&self, o: &Self) -> bool {
        overlaps(self.uid_start, o.uid_start, self.count, o.count)
            || overlaps(self.gid_start, o.gid_start, self.count, o.count)
    }
}

impl PodIds {
    /// `0 <uid_start> <count>`.
    pub fn uid_maps(&self) -> Result<IdMaps, MapError> {
        IdMaps::single(0, self.uid_start, self.count)
    }
    /// `0 <gid_start> <count>`.
    pub fn gid_maps(&self) -> Result<IdMaps, MapError> {
        IdMaps::single(0, self.gid_start, self.count)
    }
}

/// A half-open id interval `start..end` (`end <= 2^32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First id.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
}

impl Span {
    fn minus(self, cut: Span) -> Vec<Span> {
        if cut.end <= self.start || cut.start >= self.end {
            return vec![self];
        }
        let mut out = Vec::new();
        if cut.start > self.start {
            out.push(Span {
                start: self.start,
                end: cut.start,
            });
        }
        if cut.end < self.end {
            out.push(Span {
                start: cut.end,
                end: self.end,
            });
        }
        out
    }
}

/// Where pod ids come from: host uid spans and host gid spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPool {
    /// Host uid spans, in preference order.
    pub uids: Vec<Span>,
    /// Host gid spans, in preference order.
    pub gids: Vec<Span>,
    /// Human description for error messages.
    pub origin: String,
}

impl IdPool {
    /// The same range for uids and gids (root's configured range).
    pub fn range(start: u64, end: u64) -> IdPool {
        let s = Span {
            start,
            end: end.min(1 << 32),
        };
        IdPool {
            uids: vec![s],
            gids: vec![s],
            origin: format!("configured range {start:#x}..{end:#x}"),
        }
    }

    /// Removes uid spans `uids` and gid spans `gids` from the pool.
    pub fn excluding(mut self, uids: &[Span], gids: &[Span]) -> IdPool {
        fn cut(spans: Vec<Span>, cuts: &[Span]) -> Vec<Span> {
            cuts.iter().fold(spans, |acc, c| {
                acc.into_iter().flat_map(|s| s.minus(*c)).collect()
            })
        }
        self.uids = cut(self.uids, uids);
        self.gids = cut(self.gids, gids);
        if !uids.is_empty() || !gids.is_empty() {
            self.origin
                .push_str(" minus /etc/subuid and /etc/subgid entries");
        }
        self
    }

    /// A user's subordinate ranges.
    pub fn subordinate(user: &str, subuid: &SubIdFile, subgid: &SubIdFile, who: &User) -> IdPool {
        let spans = |f: &SubIdFile| -> Vec<Span> {
            f.ranges_for(who)
                .iter()
                .map(|r| Span {
                    start: u64::from(r.start()),
                    end: r.end(),
                })
                .collect()
        };
        IdPool {
            uids: spans(subuid),
            gids: spans(subgid),
            origin: format!("subordinate ids of user {user}"),
        }
    }

    /// Aligned block starts of `size` ids inside `spans`, in order; a block
    /// never crosses a span boundary nor reaches `(u32)-1`.
    fn blocks(spans: &[Span], size: u32) -> impl Iterator<Item = u32> + '_ {
        let size = u64::from(size);
        spans.iter().flat_map(move |s| {
            let end = s.end.min(ID_LIMIT);
            let first = s.start.div_ceil(ALIGN) * ALIGN;
            (0..)
                .map(move |k| first + k * ALIGN)
                .take_while(move |&b| b + size <= end)
                .map(|b| b as u32)
        })
    }

    /// Candidate pod blocks: the n-th uid block paired with the n-th gid
    /// block.
    pub fn candidates(&self, size: u32) -> impl Iterator<Item = PodIds> + '_ {
        IdPool::blocks(&self.uids, size)
            .zip(IdPool::blocks(&self.gids, size))
            .map(move |(u, g)| PodIds {
                uid_start: u,
                gid_start: g,
                count: size,
            })
    }
}

/// Host files consulted by [`AutoAllocator::for_invoking_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFiles {
    /// Usually `/etc/subuid`.
    pub subuid: PathBuf,
    /// Usually `/etc/subgid`.
    pub subgid: PathBuf,
    /// Usually `/etc/passwd`.
    pub passwd: PathBuf,
}

impl Default for HostFiles {
    fn default() -> Self {
        HostFiles {
            subuid: subid::SUBUID_PATH.into(),
            subgid: subid::SUBGID_PATH.into(),
            passwd: subid::PASSWD_PATH.into(),
        }
    }
}

/// Configuration of `mode: auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoConfig {
    /// Ids per pod (default 65536).
    pub size: u32,
    /// Range used when the invoker is root (default `0x10000..2^32`).
    pub root_range: (u64, u64),
    /// When root, leave out every range listed in subuid/subgid (default true).
    pub root_excludes_subordinate: bool,
    /// Where subuid/subgid/passwd are.
    pub files: HostFiles,
}

impl Default for AutoConfig {
    fn default() -> Self {
        AutoConfig {
            size: DEFAULT_SIZE,
            root_range: DEFAULT_ROOT_RANGE,
            root_excludes_subordinate: true,
            files: HostFiles::default(),
        }
    }
}

/// Errors of `mode: auto`.
#[derive(Debug, thiserror::Error)]
pub enum AutoError {
    /// Bad configuration.
    #[error("invalid auto user-namespace configuration: {0}")]
    Config(String),
    /// The invoker has no usable subordinate ids.
    #[error(
        "{origin}: no {size}-id block aligned to 65536 fits (add a `name:start:count` entry with start a multiple of 65536 and count >= {size} to /etc/subuid and /etc/subgid)"
    )]
    NoBlocks {
        /// Pool description.
        origin: String,
        /// Requested size.
        size: u32,
    },
    /// Every block is leased by a live pod.
    #[error("{origin}: every {size}-id block is in use by a live pod ({live} live)")]
    Exhausted {
        /// Pool description.
        origin: String,
        /// Requested size.
        size: u32,
        /// Live leases.
        live: usize,
    },
    /// Lease allocator failure.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// Reading subuid/subgid failed.
    #[error(transparent)]
    SubId(#[from] SubIdError),
    /// Reading credentials or passwd failed.
    #[error("{what}: {source}")]
    Io {
        /// Context.
        what: String,
        /// Error.
        source: std::io::Error,
    },
}

/// A pod's id block, leased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodIdLease {
    /// The underlying lease (pass to [`AutoAllocator::release`]).
    pub lease: Lease<PodIds>,
}

impl PodIdLease {
    /// The leased ids.
    pub fn ids(&self) -> PodIds {
        self.lease.key
    }
    /// `0 <uid_start> <count>`.
    pub fn uid_maps(&self) -> IdMaps {
        self.ids()
            .uid_maps()
            .expect("blocks are built inside 0..2^32-1")
    }
    /// `0 <gid_start> <count>`.
    pub fn gid_maps(&self) -> IdMaps {
        self.ids()
            .gid_maps()
            .expect("blocks are built inside 0..2^32-1")
    }
}

/// Allocates non-overlapping per-pod id blocks.
#[derive(Debug)]
pub struct AutoAllocator {
    leases: Allocator<PodIds>,
    pool: IdPool,
    size: u32,
}

impl AutoAllocator {
    /// An allocator over `pool` with leases in `state_dir`.
    pub fn new(state_dir: impl AsRef<Path>, pool: IdPool, size: u32) -> Result<Self, AutoError> {
        if size == 0 {
            return Err(AutoError::Config("size must be at least 1".into()));
        }
        let leases = Allocator::open(state_dir, ALLOCATOR_NAME)?;
        if pool.candidates(size).next().is_none() {
            return Err(AutoError::NoBlocks {
                origin: pool.origin,
                size,
            });
        }
        Ok(AutoAllocator { leases, pool, size })
    }

    /// Chooses the pool for the calling process: root (effective uid 0)
    /// gets `config.root_range`, anyone else their subordinate ranges.
    pub fn for_invoking_user(
        state_dir: impl AsRef<Path>,
        config: &AutoConfig,
    ) -> Result<Self, AutoError> {
        let creds = Credentials::current().map_err(|source| AutoError::Io {
            what: "read /proc/self/status".into(),
            source,
        })?;
        let subuid = SubIdFile::load(&config.files.subuid)?;
        let subgid = SubIdFile::load(&config.files.subgid)?;
        let pool = if creds.euid == 0 {
            let (s, e) = config.root_range;
            if s >= e || e > 1 << 32 {
                return Err(AutoError::Config(format!(
                    "root range {s:#x}..{e:#x} is empty or beyond 2^32"
                )));
            }
            let pool = IdPool::range(s, e);
            if config.root_excludes_subordinate {
                let spans = |f: &SubIdFile| -> Vec<Span> {
                    f.ranges()
                        .iter()
                        .map(|r| Span {
                            start: u64::from(r.start()),
                            end: r.end(),
                        })
                        .collect()
                };
                pool.excluding(&spans(&subuid), &spans(&subgid))
            } else {
                pool
            }
        } else {
            let passwd =
                std::fs::read_to_string(&config.files.passwd).map_err(|source| AutoError::Io {
                    what: format!("read {}", config.files.passwd.display()),
                    source,
                })?;
            let user =
                User::from_passwd_text(&passwd, &UserSpec::Uid(creds.euid)).unwrap_or(User {
                    name: creds.euid.to_string(),
                    uid: creds.euid,
                    gid: creds.egid,
                });
            IdPool::subordinate(&user.name, &subuid, &subgid, &user)
        };
        AutoAllocator::new(state_dir, pool, config.size)
    }

    /// The pool blocks come from.
    pub fn pool(&self) -> &IdPool {
        &self.pool
    }

    /// Ids per pod.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The underlying lease allocator (state inspection, reclaim).
    pub fn leases(&self) -> &Allocator<PodIds> {
        &self.leases
    }

    /// Leases the first free block for the pod whose process is `owner_pid`.
    /// The lease lives until released or until that process is gone.
    pub fn allocate(&self, owner_pid: u32) -> Result<PodIdLease, AutoError> {
        match self
            .leases
            .allocate(owner_pid, self.pool.candidates(self.size))
        {
            Ok(lease) => Ok(PodIdLease { lease }),
            Err(LeaseError::Exhausted { live, .. }) => Err(AutoError::Exhausted {
                origin: self.pool.origin.clone(),
                size: self.size,
                live,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Releases a pod's block. `Ok(false)` when it was already gone.
    pub fn release(&self, lease: &PodIdLease) -> Result<bool, AutoError> {
        Ok(self.leases.release(&lease.lease)?)
    }

    /// Live and not-yet-reclaimed leases.
    pub fn records(&self) -> Result<Vec<LeaseRecord<PodIds>>, AutoError> {
        Ok(self.leases.leases()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        std::process::id()
    }

    #[test]
    fn root_range_blocks_are_aligned_and_skip_the_top() {
        let pool = IdPool::range(0x1_0000, 1 << 32);
        let c: Vec<PodIds> = pool.candidates(65536).collect();
        assert_eq!(c.len(), 0xFFFF - 1, "0x10000..0xFFFF0000 in 65536 steps");
        assert_eq!(c[0].uid_start, 0x1_0000);
        assert_eq!(c.last().unwrap().uid_start, 0xFFFE_0000);
        assert!(
            c.iter()
                .all(|p| p.uid_start % 65536 == 0 && p.uid_start == p.gid_start)
        );
        assert!(c.iter().all(|p| p.uid_maps().is_ok()));
    }

    #[test]
    fn subordinate_pool_alignment() {
        let subuid =
            SubIdFile::parse("u:100000:65536\nu:131072:131072\nother:0:4294967295\n").unwrap();
        let subgid = SubIdFile::parse("1000:262144:65536\nu:393216:65536\n").unwrap();
        let user = User {
            name: "u".into(),
            uid: 1000,
            gid: 1000,
        };
        let pool = IdPool::subordinate("u", &subuid, &subgid, &user);
        let c: Vec<(u32, u32)> = pool
            .candidates(65536)
            .map(|p| (p.uid_start, p.gid_start))
            .collect();
        // 100000.. has no aligned block; 131072.. has two.
        assert_eq!(c, vec![(131072, 262144), (196608, 393216)]);
    }

    #[test]
    fn excluding_subordinate_ranges() {
        let pool = IdPool::range(0x1_0000, 0x10_0000).excluding(
            &[Span {
                start: 0x2_0000,
                end: 0x4_0000,
            }],
            &[],
        );
        let u: Vec<u32> = IdPool::blocks(&pool.uids, 65536).take(3).collect();
        assert_eq!(u, vec![0x1_0000, 0x4_0000, 0x5_0000]);
    }

    #[test]
    fn allocations_never_overlap_and_reuse_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let a = AutoAllocator::new(dir.path(), IdPool::range(0x1_0000, 0x10_0000), 65536).unwrap();
        let l: Vec<PodIdLease> = (0..15).map(|_| a.allocate(me()).unwrap()).collect();
        for (i, x) in l.iter().enumerate() {
            for y in &l[i + 1..] {
                assert!(!x.ids().conflicts_with(&y.ids()), "{x:?} {y:?}");
            }
        }
        assert!(matches!(
            a.allocate(me()),
            Err(AutoError::Exhausted { live: 15, .. })
        ));
        assert!(a.release(&l[3]).unwrap());
        assert_eq!(
            a.allocate(me()).unwrap().ids().uid_start,
            l[3].ids().uid_start
        );
        assert_eq!(
            l[0].uid_maps().to_proc_format(),
            format!("0 {} 65536\n", l[0].ids().uid_start)
        );
    }

    #[test]
    fn bigger_pods_do_not_overlap_smaller_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pool = IdPool::range(0x1_0000, 0x10_0000);
        let small = AutoAllocator::new(dir.path(), pool.clone(), 65536).unwrap();
        let big = AutoAllocator::new(dir.path(), pool, 3 * 65536).unwrap();
        let s1 = small.allocate(me()).unwrap();
        let s2 = small.allocate(me()).unwrap();
        let b = big.allocate(me()).unwrap();
        assert_eq!(
            (s1.ids().uid_start, s2.ids().uid_start, b.ids().uid_start),
            (0x1_0000, 0x2_0000, 0x3_0000)
        );
        small.release(&s1).unwrap();
        // Freed 0x10000 fits a small pod but not a big one.
        assert_eq!(big.allocate(me()).unwrap().ids().uid_start, 0x6_0000);
        assert_eq!(small.allocate(me()).unwrap().ids().uid_start, 0x1_0000);
    }

    #[test]
    fn no_blocks_error_is_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let subuid = SubIdFile::parse("u:100000:65536\n").unwrap();
        let user = User {
            name: "u".into(),
            uid: 1000,
            gid: 1000,
        };
        let pool = IdPool::subordinate("u", &subuid, &subuid, &user);
        let e = AutoAllocator::new(dir.path(), pool, 65536).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("subordinate ids of user u"), "{msg}");
        assert!(msg.contains("aligned to 65536"), "{msg}");
        assert!(AutoAllocator::new(dir.path(), IdPool::range(0x1_0000, 0x2_0000), 0).is_err());
    }

    #[test]
    fn for_invoking_user_as_root_uses_configured_range() {
        let creds = Credentials::current().unwrap();
        if creds.euid != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("subuid"), "x:65536:65536\n").unwrap();
        std::fs::write(files.path().join("subgid"), "").unwrap();
        let cfg = AutoConfig {
            files: HostFiles {
                subuid: files.path().join("subuid"),
                subgid: files.path().join("subgid"),
                passwd: "/etc/passwd".into(),
            },
            ..AutoConfig::default()
        };
        let a = AutoAllocator::for_invoking_user(dir.path(), &cfg).unwrap();
        let l = a.allocate(me()).unwrap();
        // 0x10000 is x's subordinate uid range: skipped for uids; gids start
        // there. The pairing keeps uid and gid blocks independent.
        assert_eq!(l.ids().uid_start, 0x2_0000);
        assert_eq!(l.ids().gid_start, 0x1_0000);
    }
}
