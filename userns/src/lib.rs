//! User-namespace ID maps for rampart.
//!
//! * [`map`]: [`IdMap`]/[`IdMaps`], maps that can only hold what the kernel
//!   accepts, and their exact `/proc/PID/uid_map` text;
//! * [`subid`]: `/etc/subuid` / `/etc/subgid` parsing and per-user lookup;
//! * [`lease`]: a generic, crash-safe, multi-process lease allocator (flock +
//!   atomic rename, owners identified by pid and start time, dead owners
//!   reclaimed), also used for SELinux MCS pairs;
//! * [`auto`]: `mode: auto`, a 65536-aligned, non-overlapping id block per pod;
//! * [`write`]: the parent side of the spawn handshake ([`write_maps`]);
//! * [`procfs`]: the small `/proc` readers the above rely on.

pub mod auto;
pub mod lease;
pub mod map;
pub mod procfs;
pub mod subid;
pub mod write;

pub use auto::{AutoAllocator, AutoConfig, AutoError, IdPool, PodIdLease, PodIds};
pub use lease::{Allocator, Lease, LeaseError, LeaseKey, LeaseRecord, Owner};
pub use map::{IdMap, IdMaps, MapError};
pub use subid::{SubIdError, SubIdFile, SubIdRange, User, UserSpec};
pub use write::{Applied, MapWriter, WriteError, WriteOptions, write_maps, write_maps_with};
