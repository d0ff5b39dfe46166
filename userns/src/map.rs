//! Validated user-namespace ID maps.
//!
//! [`IdMap`] is one extent (`inside outside count`), [`IdMaps`] a whole
//! `/proc/PID/uid_map` (or `gid_map`) content. Both can only be built through
//! constructors that enforce the kernel's rules (`kernel/user_namespace.c`,
//! `map_write()`), so a value of these types is always accepted by the kernel
//! as far as its shape goes (privilege checks are another matter):
//!
//! * `count >= 1`;
//! * an extent may not wrap: `inside + count` and `outside + count` must not
//!   exceed 2^32. The kernel is one id stricter than that: it computes
//!   `first + count` in 32 bits and rejects the extent when the sum wraps to
//!   a value `<= first`, and it rejects `first == (u32)-1`. So the id
//!   `4294967295` (`(uid_t)-1`, "no id") can never be mapped and
//!   `inside + count <= 2^32 - 1` (same for `outside`). We enforce the
//!   kernel's rule; the live test `kernel_rejects_extent_ending_at_2_pow_32`
//!   pins it;
//! * no two extents overlap, neither on the inside nor on the outside;
//! * between 1 and [`MAX_EXTENTS`] (340) extents;
//! * the text written to procfs ([`IdMaps::to_proc_format`]) must fit in one
//!   `write()` shorter than a page (the kernel returns `EINVAL` for
//!   `count >= PAGE_SIZE`); we check against 4096 bytes, the smallest page
//!   size Linux supports.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Maximum number of extents the kernel accepts in one map
/// (`UID_GID_MAP_MAX_EXTENTS`).
pub const MAX_EXTENTS: usize = 340;

/// One more than the highest id that may appear in an extent: the kernel
/// refuses to map `(u32)-1`, so an extent ends at most here (exclusive).
pub const ID_LIMIT: u64 = u32::MAX as u64; // 2^32 - 1

/// The procfs map text must be shorter than this (one `write()` < PAGE_SIZE).
pub const MAX_PROC_TEXT: usize = 4096;

/// Why a map was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// An extent with `count == 0`.
    #[error("extent {inside} {outside} 0: count must be at least 1")]
    ZeroCount {
        /// First inside id.
        inside: u32,
        /// First outside id.
        outside: u32,
    },
    /// `start + count` goes past the last mappable id.
    #[error(
        "extent {inside} {outside} {count}: {side} range {start}..{end} goes past the last mappable id 4294967294 ((uid_t)-1 = 4294967295 can never be mapped)"
    )]
    Wraps {
        /// First inside id.
        inside: u32,
        /// First outside id.
        outside: u32,
        /// Extent length.
        count: u32,
        /// `"inside"` or `"outside"`.
        side: &'static str,
        /// Start of the offending range.
        start: u32,
        /// Exclusive end of the offending range (may be > u32::MAX).
        end: u64,
    },
    /// Two extents share ids on one side.
    #[error(
        "extents {first} and {second} overlap on the {side} side (ids {overlap_start}..{overlap_end})"
    )]
    Overlap {
        /// The earlier extent (in the order given).
        first: IdMap,
        /// The later extent.
        second: IdMap,
        /// `"inside"` or `"outside"`.
        side: &'static str,
        /// First shared id.
        overlap_start: u64,
        /// Exclusive end of the shared ids.
        overlap_end: u64,
    },
    /// A map without extents (the kernel rejects an empty write).
    #[error("a map needs at least one extent")]
    Empty,
    /// More than [`MAX_EXTENTS`] extents.
    #[error("{count} extents: the kernel accepts at most {MAX_EXTENTS}")]
    TooManyExtents {
        /// Number of extents given.
        count: usize,
    },
    /// The procfs text would not fit in one write shorter than a page.
    #[error(
        "the map text is {bytes} bytes: it must be shorter than {MAX_PROC_TEXT} bytes to be written in one write()"
    )]
    TooLong {
        /// Length of the text.
        bytes: usize,
    },
    /// A line of map text that is not `inside outside count`.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One extent of an ID map: ids `inside..inside+count` in the namespace are
/// ids `outside..outside+count` in the parent namespace.
///
/// Invariants: `count >= 1`, neither side wraps (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawIdMap")]
pub struct IdMap {
    inside: u32,
    outside: u32,
    count: u32,
}

#[derive(Deserialize)]
struct RawIdMap {
    inside: u32,
    outside: u32,
    count: u32,
}

impl TryFrom<RawIdMap> for IdMap {
    type Error = MapError;
    fn try_from(r: RawIdMap) -> Result<Self, MapError> {
        IdMap::new(r.inside, r.outside, r.count)
    }
}

impl IdMap {
    /// Builds an extent, checking `count >= 1` and that neither side wraps.
    pub fn new(inside: u32, outside: u32, count: u32) -> Result<Self, MapError> {
        if count == 0 {
            return Err(MapError::ZeroCount { inside, outside });
        }
        for (side, start) in [("inside", inside), ("outside", outside)] {
            let end = u64::from(start) + u64::from(count);
            if end > ID_LIMIT {
                return Err(MapError::Wraps {
                    inside,
                    outside,
                    count,
                    side,
                    start,
                    end,
                });
            }
        }
        Ok(IdMap {
            inside,
            outside,
            count,
        })
    }

    /// First id inside the namespace.
    pub fn inside(&self) -> u32 {
        self.inside
    }
    /// First id in the parent namespace.
    pub fn outside(&self) -> u32 {
        self.outside
    }
    /// Number of ids.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Exclusive end of the inside range.
    pub fn inside_end(&self) -> u64 {
        u64::from(self.inside) + u64::from(self.count)
    }
    /// Exclusive end of the outside range.
    pub fn outside_end(&self) -> u64 {
        u64::from(self.outside) + u64::from(self.count)
    }
    /// The parent-namespace id of `inside_id`, if this extent maps it.
    pub fn to_outside(&self, inside_id: u32) -> Option<u32> {
        (inside_id >= self.inside && u64::from(inside_id) < self.inside_end())
            .then(|| self.outside + (inside_id - self.inside))
    }
}

impl fmt::Display for IdMap {
    /// The procfs line without its newline: `inside outside count`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// A whole uid or gid map: 1..=340 non-overlapping extents whose procfs text
/// fits in one write. Extents keep the order they were given in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<IdMap>", into = "Vec<IdMap>")]
pub struct IdMaps {
    extents: Vec<IdMap>,
}

impl From<IdMaps> for Vec<IdMap> {
    fn from(m: IdMaps) -> Self {
        m.extents
    }
}

impl TryFrom<Vec<IdMap>> for IdMaps {
    type Error = MapError;
    fn try_from(v: Vec<IdMap>) -> Result<Self, MapError> {
        IdMaps::new(v)
    }
}

fn check_overlaps(
    extents: &[IdMap],
    side: &'static str,
    range: impl Fn(&IdMap) -> (u64, u64),
) -> Result<(), MapError> {
    // Sort indices by start; any overlap shows up between neighbours.
    let mut idx: Vec<usize> = (0..extents.len()).collect();
    idx.sort_by_key(|&i| range(&extents[i]).0);
    for w in idx.windows(2) {
        let (a, b) = (range(&extents[w[0]]), range(&extents[w[1]]));
        if b.0 < a.1 {
            let (first, second) = if w[0] < w[1] {
                (extents[w[0]], extents[w[1]])
            } else {
                (extents[w[1]], extents[w[0]])
            };
            return Err(MapError::Overlap {
                first,
                second,
                side,
                overlap_start: b.0,
                overlap_end: a.1.min(b.1),
            });
        }
    }
    Ok(())
}

impl IdMaps {
    /// Validates a list of extents (see the module docs for the rules).
    pub fn new(extents: Vec<IdMap>) -> Result<Self, MapError> {
        if extents.is_empty() {
            return Err(MapError::Empty);
        }
        if extents.len() > MAX_EXTENTS {
            return Err(MapError::TooManyExtents {
                count: extents.len(),
            });
        }
        check_overlaps(&extents, "inside", |m| {
            (u64::from(m.inside), m.inside_end())
        })?;
        check_overlaps(&extents, "outside", |m| {
            (u64::from(m.outside), m.outside_end())
        })?;
        let maps = IdMaps { extents };
        let bytes = maps.to_proc_format().len();
        if bytes >= MAX_PROC_TEXT {
            return Err(MapError::TooLong { bytes });
        }
        Ok(maps)
    }

    /// A map with one extent.
    pub fn single(inside: u32, outside: u32, count: u32) -> Result<Self, MapError> {
        IdMaps::new(vec![IdMap::new(inside, outside, count)?])
    }

    /// Parses procfs map text (`inside outside count` per line, any amount of
    /// blank space between fields, as the kernel prints and accepts it) and
    /// validates it.
    pub fn from_proc_format(text: &str) -> Result<Self, MapError> {
        let mut extents = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != 3 {
                return Err(MapError::Syntax {
                    line: line_no,
                    reason: format!(
                        "expected `inside outside count`, found {} field(s)",
                        fields.len()
                    ),
                });
            }
            let mut nums = [0u32; 3];
            for (n, (f, what)) in nums
                .iter_mut()
                .zip(fields.iter().zip(["inside", "outside", "count"]))
            {
                *n = f.parse().map_err(|_| MapError::Syntax {
                    line: line_no,
                    reason: format!("{what} `{f}` is not an id (0..=4294967295)"),
                })?;
            }
            extents.push(IdMap::new(nums[0], nums[1], nums[2])?);
        }
        IdMaps::new(extents)
    }

    /// The extents, in the order given.
    pub fn extents(&self) -> &[IdMap] {
        &self.extents
    }

    /// Number of extents (always >= 1).
    pub fn len(&self) -> usize {
        self.extents.len()
    }

    /// Always false: an `IdMaps` has at least one extent.
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }

    /// Total number of ids mapped.
    pub fn total_ids(&self) -> u64 {
        self.extents.iter().map(|m| u64::from(m.count)).sum()
    }

    /// The parent-namespace id for `inside_id`, if mapped.
    pub fn to_outside(&self, inside_id: u32) -> Option<u32> {
        self.extents.iter().find_map(|m| m.to_outside(inside_id))
    }

    /// The exact text for one `write()` to `/proc/PID/uid_map` or `gid_map`:
    /// one `inside outside count\n` line per extent.
    pub fn to_proc_format(&self) -> String {
        let mut s = String::with_capacity(self.extents.len() * 24);
        for m in &self.extents {
            s.push_str(&m.to_string());
            s.push('\n');
        }
        s
    }

    /// The arguments after the pid for `newuidmap`/`newgidmap`:
    /// `inside outside count` repeated per extent.
    pub fn helper_args(&self) -> Vec<String> {
        self.extents
            .iter()
            .flat_map(|m| [m.inside, m.outside, m.count])
            .map(|n| n.to_string())
            .collect()
    }
}

impl fmt::Display for IdMaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.extents.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_count_rejected() {
        let e = IdMap::new(0, 100000, 0).unwrap_err();
        assert_eq!(
            e,
            MapError::ZeroCount {
                inside: 0,
                outside: 100000
            }
        );
        assert!(e.to_string().contains("count must be at least 1"), "{e}");
    }

    #[test]
    fn wrap_inside_rejected() {
        // inside + count == 2^32: allowed by naive arithmetic, wraps in the kernel.
        let e = IdMap::new(u32::MAX - 9, 0, 10).unwrap_err();
        assert!(matches!(e, MapError::Wraps { side: "inside", .. }), "{e:?}");
        // One fewer fits.
        IdMap::new(u32::MAX - 10, 0, 10).unwrap();
        // (uid_t)-1 itself can never be mapped.
        assert!(IdMap::new(u32::MAX, 0, 1).is_err());
    }

    #[test]
    fn wrap_outside_rejected() {
        let e = IdMap::new(0, 0xFFFF_0000, 0x1_0000).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::Wraps {
                    side: "outside",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("outside range"), "{e}");
        IdMap::new(0, 0xFFFF_0000, 0xFFFF).unwrap();
    }

    #[test]
    fn max_count_extent() {
        let m = IdMap::new(0, 0, u32::MAX).unwrap();
        assert_eq!(m.inside_end(), ID_LIMIT);
        assert!(IdMap::new(1, 0, u32::MAX).is_err());
    }

    #[test]
    fn empty_rejected() {
        assert_eq!(IdMaps::new(vec![]).unwrap_err(), MapError::Empty);
    }

    #[test]
    fn inside_overlap_rejected() {
        let a = IdMap::new(0, 100000, 10).unwrap();
        let b = IdMap::new(9, 200000, 10).unwrap();
        let e = IdMaps::new(vec![a, b]).unwrap_err();
        match &e {
            MapError::Overlap {
                side,
                overlap_start,
                overlap_end,
                first,
                second,
            } => {
                assert_eq!(*side, "inside");
                assert_eq!((*overlap_start, *overlap_end), (9, 10));
                assert_eq!((*first, *second), (a, b));
            }
            other => panic!("{other:?}"),
        }
        // Order given does not matter for detection.
        assert!(IdMaps::new(vec![b, a]).is_err());
        // Adjacent is fine.
        IdMaps::new(vec![a, IdMap::new(10, 200000, 10).unwrap()]).unwrap();
    }

    #[test]
    fn outside_overlap_rejected() {
        let a = IdMap::new(0, 100000, 10).unwrap();
        let b = IdMap::new(1000, 100005, 1).unwrap();
        let e = IdMaps::new(vec![a, b]).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::Overlap {
                    side: "outside",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("overlap on the outside side"), "{e}");
    }

    #[test]
    fn contained_overlap_rejected_non_neighbour() {
        // A big extent containing two later small ones: sorted neighbours
        // still catch it.
        let big = IdMap::new(0, 0, 1000).unwrap();
        let s1 = IdMap::new(2000, 10, 1).unwrap();
        let s2 = IdMap::new(3000, 20, 1).unwrap();
        assert!(IdMaps::new(vec![s1, s2, big]).is_err());
    }

    #[test]
    fn extent_count_limit() {
        let mk = |n: u32| -> Vec<IdMap> {
            (0..n)
                .map(|i| IdMap::new(i, 1000 + i, 1).unwrap())
                .collect()
        };
        IdMaps::new(mk(340)).unwrap();
        assert_eq!(
            IdMaps::new(mk(341)).unwrap_err(),
            MapError::TooManyExtents { count: 341 }
        );
    }

    #[test]
    fn proc_text_length_limit() {
        // 200 extents of big numbers: > 4096 bytes.
        let v: Vec<IdMap> = (0..200u32)
            .map(|i| IdMap::new(1_000_000_000 + i, 2_000_000_000 + i, 1).unwrap())
            .collect();
        let e = IdMaps::new(v).unwrap_err();
        assert!(
            matches!(e, MapError::TooLong { bytes } if bytes >= 4096),
            "{e:?}"
        );
    }

    #[test]
    fn proc_format_exact() {
        let m = IdMaps::new(vec![
            IdMap::new(0, 1000, 1).unwrap(),
            IdMap::new(1, 100000, 65535).unwrap(),
        ])
        .unwrap();
        assert_eq!(m.to_proc_format(), "0 1000 1\n1 100000 65535\n");
        assert_eq!(m.helper_args(), ["0", "1000", "1", "1", "100000", "65535"]);
        assert_eq!(m.to_outside(0), Some(1000));
        assert_eq!(m.to_outside(5), Some(100004));
        assert_eq!(m.to_outside(65536), None);
        assert_eq!(m.total_ids(), 65536);
    }

    #[test]
    fn parse_proc_format_roundtrip_and_errors() {
        let text = "         0     100000      65536\n";
        let m = IdMaps::from_proc_format(text).unwrap();
        assert_eq!(m.to_proc_format(), "0 100000 65536\n");
        let e = IdMaps::from_proc_format("0 1 1\n0 x 1\n").unwrap_err();
        assert!(matches!(e, MapError::Syntax { line: 2, .. }), "{e:?}");
        let e = IdMaps::from_proc_format("0 1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1:"), "{e}");
        assert!(IdMaps::from_proc_format("").is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: IdMaps =
            serde_json::from_str(r#"[{"inside":0,"outside":100000,"count":65536}]"#).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"[{"inside":0,"outside":100000,"count":65536}]"#
        );
        assert!(serde_json::from_str::<IdMap>(r#"{"inside":0,"outside":1,"count":0}"#).is_err());
        assert!(
            serde_json::from_str::<IdMaps>(
                r#"[{"inside":0,"outside":1,"count":5},{"inside":2,"outside":100,"count":1}]"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<IdMaps>("[]").is_err());
    }
}
