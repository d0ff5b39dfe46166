//! SELinux process labels: parsing, validation and `level: auto`.
//!
//! A label is `user:role:type[:level]` (the level is absent only on policies
//! without MLS; container policies always have one), or the component form
//! `{user, role, type, level}` of rkt's `os/linux/selinux-context`, OCI and
//! Kubernetes' `seLinuxOptions`.
//!
//! * `user`, `role`, `type` follow checkpolicy's identifier syntax
//!   (`{letter}({alnum}|[_-])*([.]?({alnum}|[_-]))*`): a letter first, then
//!   letters, digits, `_`, `-`, and single dots between them.
//! * A level is `sN` or `sN:CATS`, `N` in 0..=15; `CATS` is a comma list of
//!   `cM` and `cM.cK` (0 <= M < K <= 1023), in strictly ascending,
//!   non-overlapping order (the canonical form libselinux prints). A range
//!   is `LOW-HIGH` where HIGH dominates LOW (sensitivity >= and categories a
//!   superset). Numbers have no leading zeros (`s01` names no sensitivity).
//!
//! [`Label`] can only be built by parsing, so a `Label` is always valid.
//! [`LabelError`] names the component and the byte offset of the problem:
//! within the whole string for [`Label::parse`], within the component's own
//! string for [`Label::from_components`].
//!
//! `level: auto` allocates an MCS pair `s0:cX,cY` (X < Y < 1024), unique
//! among live pods, like container-selinux/go-selinux do, through
//! [`rampart_userns::lease::Allocator`]: the lease records the pod's process
//! and is reclaimed once that process is gone.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rampart_userns::lease::{Allocator, Lease, LeaseError, LeaseKey};
use serde::{Deserialize, Serialize};

/// Highest sensitivity (`s15`).
pub const MAX_SENSITIVITY: u16 = 15;
/// Highest category (`c1023`).
pub const MAX_CATEGORY: u16 = 1023;
/// Number of categories.
pub const CATEGORIES: u16 = MAX_CATEGORY + 1;

/// Which part of a label an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The SELinux user.
    User,
    /// The role.
    Role,
    /// The type (domain).
    Type,
    /// The MLS/MCS level or range.
    Level,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::User => "user",
            Component::Role => "role",
            Component::Type => "type",
            Component::Level => "level",
        })
    }
}

/// An invalid label: which component, the byte offset, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SELinux {component} at byte {offset}: {message}")]
pub struct LabelError {
    /// The component at fault.
    pub component: Component,
    /// Byte offset (in the string given to the parser that failed).
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn err(component: Component, offset: usize, message: impl Into<String>) -> LabelError {
    LabelError {
        component,
        offset,
        message: message.into(),
    }
}

/// A user, role or type name in checkpolicy identifier syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// Validates `s` as component `c`; offsets are relative to `s` plus
    /// `base`.
    fn parse_at(s: &str, c: Component, base: usize) -> Result<Identifier, LabelError> {
        let b = s.as_bytes();
        let Some(&first) = b.first() else {
            return Err(err(c, base, format!("empty {c}")));
        };
        if !first.is_ascii_alphabetic() {
            return Err(err(
                c,
                base,
                format!(
                    "{c} must start with a letter, found {:?}",
                    s.chars().next().unwrap()
                ),
            ));
        }
        for (i, &ch) in b.iter().enumerate().skip(1) {
            if ch == b'.' {
                if b[i - 1] == b'.' {
                    return Err(err(c, base + i, "two dots in a row"));
                }
                if i + 1 == b.len() {
                    return Err(err(c, base + i, format!("{c} cannot end with a dot")));
                }
            } else if !(ch.is_ascii_alphanumeric() || ch == b'_' || ch == b'-') {
                let bad = s[i..].chars().next().unwrap();
                return Err(err(
                    c,
                    base + i,
                    format!(
                        "character {bad:?} is not allowed (letters, digits, `_`, `-` and single `.`)"
                    ),
                ));
            }
        }
        Ok(Identifier(s.to_owned()))
    }

    /// Validates an identifier for component `c`.
    pub fn parse(s: &str, c: Component) -> Result<Identifier, LabelError> {
        Identifier::parse_at(s, c, 0)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One element of a category list: `cN` or `cN.cM` (N < M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CategoryItem {
    /// A single category.
    Single(u16),
    /// An inclusive range, first < last.
    Range(u16, u16),
}

impl CategoryItem {
    fn first(&self) -> u16 {
        match *self {
            CategoryItem::Single(a) | CategoryItem::Range(a, _) => a,
        }
    }
    fn last(&self) -> u16 {
        match *self {
            CategoryItem::Single(a) | CategoryItem::Range(_, a) => a,
        }
    }
}

/// A set of categories as written: ascending, non-overlapping items.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategorySet {
    items: Vec<CategoryItem>,
    /// Membership bitmap (boxed: keeps levels and labels small).
    bits: Box<[u64; 16]>,
}

impl CategorySet {
    fn empty() -> CategorySet {
        CategorySet {
            items: Vec::new(),
            bits: Box::new([0; 16]),
        }
    }

    /// The items as written.
    pub fn items(&self) -> &[CategoryItem] {
        &self.items
    }

    /// Whether category `c` is in the set.
    pub fn contains(&self, c: u16) -> bool {
        c < CATEGORIES && self.bits[usize::from(c / 64)] & (1u64 << (c % 64)) != 0
    }

    /// Whether every category of `other` is in `self`.
    pub fn is_superset(&self, other: &CategorySet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .all(|(a, b)| a & b == *b)
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether there are no categories.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn push(&mut self, item: CategoryItem) {
        for c in item.first()..=item.last() {
            self.bits[usize::from(c / 64)] |= 1u64 << (c % 64);
        }
        self.items.push(item);
    }
}

impl fmt::Display for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, it) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match it {
                CategoryItem::Single(a) => write!(f, "c{a}")?,
                CategoryItem::Range(a, b) => write!(f, "c{a}.c{b}")?,
            }
        }
        Ok(())
    }
}

/// An MLS level: a sensitivity and a (possibly empty) category set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MlsLevel {
    sensitivity: u16,
    categories: CategorySet,
}

impl MlsLevel {
    /// The sensitivity number (`sN`).
    pub fn sensitivity(&self) -> u16 {
        self.sensitivity
    }
    /// The categories.
    pub fn categories(&self) -> &CategorySet {
        &self.categories
    }
    /// `self` dominates `other`: higher or equal sensitivity and a superset
    /// of its categories.
    pub fn dominates(&self, other: &MlsLevel) -> bool {
        self.sensitivity >= other.sensitivity && self.categories.is_superset(&other.categories)
    }
}

impl fmt::Display for MlsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.sensitivity)?;
        if !self.categories.is_empty() {
            write!(f, ":{}", self.categories)?;
        }
        Ok(())
    }
}

/// An MLS range `low[-high]`; without `-high` the range is the single level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MlsRange {
    low: MlsLevel,
    high: Option<MlsLevel>,
}

impl MlsRange {
    /// The low (current) level.
    pub fn low(&self) -> &MlsLevel {
        &self.low
    }
    /// The high (clearance) level; equals `low` when not written.
    pub fn high(&self) -> &MlsLevel {
        self.high.as_ref().unwrap_or(&self.low)
    }

    /// Parses a level or range; error offsets are relative to `s`.
    pub fn parse(s: &str) -> Result<MlsRange, LabelError> {
        MlsRange::parse_at(s, 0)
    }

    fn parse_at(s: &str, base: usize) -> Result<MlsRange, LabelError> {
        if s.is_empty() {
            return Err(err(Component::Level, base, "empty level"));
        }
        let (low_s, high_s) = match s.find('-') {
            Some(i) => (&s[..i], Some((&s[i + 1..], i + 1))),
            None => (s, None),
        };
        let low = parse_level(low_s, base)?;
        let high = match high_s {
            None => None,
            Some((h, off)) => {
                let high = parse_level(h, base + off)?;
                if !high.dominates(&low) {
                    let why = if high.sensitivity < low.sensitivity {
                        format!(
                            "s{} is below the low level's s{}",
                            high.sensitivity, low.sensitivity
                        )
                    } else {
                        let missing = (0..CATEGORIES)
                            .find(|&c| low.categories.contains(c) && !high.categories.contains(c))
                            .unwrap_or_default();
                        format!("it lacks category c{missing} of the low level")
                    };
                    return Err(err(
                        Component::Level,
                        base + off,
                        format!("high level {h} does not dominate low level {low_s}: {why}"),
                    ));
                }
                Some(high)
            }
        };
        Ok(MlsRange { low, high })
    }
}

impl fmt::Display for MlsRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.low)?;
        if let Some(h) = &self.high {
            write!(f, "-{h}")?;
        }
        Ok(())
    }
}

impl FromStr for MlsRange {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, LabelError> {
        MlsRange::parse(s)
    }
}

/// Parses a decimal number after a one-letter prefix (`s`, `c`): digits
/// only, no leading zero, at most `max`.
fn prefixed_number(
    tok: &str,
    prefix: char,
    what: &str,
    max: u16,
    at: usize,
) -> Result<u16, LabelError> {
    let Some(digits) = tok.strip_prefix(prefix) else {
        return Err(err(
            Component::Level,
            at,
            format!("expected a {what} `{prefix}N`, found {tok:?}"),
        ));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(
            Component::Level,
            at,
            format!("expected a {what} `{prefix}N`, found {tok:?}"),
        ));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(err(
            Component::Level,
            at,
            format!(
                "{what} {tok} has a leading zero (write {prefix}{})",
                digits.trim_start_matches('0').parse::<u32>().unwrap_or(0)
            ),
        ));
    }
    match digits.parse::<u32>() {
        Ok(n) if n <= u32::from(max) => Ok(n as u16),
        _ => Err(err(
            Component::Level,
            at,
            format!("{what} {tok} is out of range ({prefix}0..{prefix}{max})"),
        )),
    }
}

fn parse_level(s: &str, base: usize) -> Result<MlsLevel, LabelError> {
    let (sens_s, cats_s) = match s.find(':') {
        Some(i) => (&s[..i], Some((&s[i + 1..], i + 1))),
        None => (s, None),
    };
    if sens_s.is_empty() {
        return Err(err(
            Component::Level,
            base,
            "missing sensitivity (`s0`..`s15`)",
        ));
    }
    let sensitivity = prefixed_number(sens_s, 's', "sensitivity", MAX_SENSITIVITY, base)?;
    let mut categories = CategorySet::empty();
    if let Some((cats, off)) = cats_s {
        let mut pos = base + off;
        if cats.is_empty() {
            return Err(err(Component::Level, pos, "empty category list after `:`"));
        }
        let mut prev: Option<(u16, &str)> = None;
        for item in cats.split(',') {
            if item.is_empty() {
                return Err(err(Component::Level, pos, "empty category in list"));
            }
            let parsed = match item.split_once('.') {
                None => {
                    CategoryItem::Single(prefixed_number(item, 'c', "category", MAX_CATEGORY, pos)?)
                }
                Some((a, b)) => {
                    let lo = prefixed_number(a, 'c', "category", MAX_CATEGORY, pos)?;
                    let hi = prefixed_number(b, 'c', "category", MAX_CATEGORY, pos + a.len() + 1)?;
                    if lo >= hi {
                        return Err(err(
                            Component::Level,
                            pos,
                            format!(
                                "category range {item} must go from a lower to a higher category"
                            ),
                        ));
                    }
                    CategoryItem::Range(lo, hi)
                }
            };
            if let Some((last, last_s)) = prev
                && parsed.first() <= last
            {
                return Err(err(
                    Component::Level,
                    pos,
                    format!(
                        "categories must be in ascending order without repeats: {item} after {last_s}"
                    ),
                ));
            }
            categories.push(parsed);
            prev = Some((parsed.last(), item));
            pos += item.len() + 1;
        }
    }
    Ok(MlsLevel {
        sensitivity,
        categories,
    })
}

/// A complete, valid SELinux label. Built only by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    user: Identifier,
    role: Identifier,
    type_: Identifier,
    level: Option<MlsRange>,
}

impl Label {
    /// Parses `user:role:type[:level]`. Errors carry the byte offset in `s`.
    pub fn parse(s: &str) -> Result<Label, LabelError> {
        let mut rest = s;
        let mut base = 0;
        let mut parts = Vec::with_capacity(3);
        for c in [Component::User, Component::Role, Component::Type] {
            match rest.find(':') {
                Some(i) => {
                    parts.push(Identifier::parse_at(&rest[..i], c, base)?);
                    base += i + 1;
                    rest = &rest[i + 1..];
                }
                None if c == Component::Type => {
                    parts.push(Identifier::parse_at(rest, c, base)?);
                    base += rest.len();
                    rest = "";
                    break;
                }
                None => {
                    // Validate what is there first for a precise message.
                    Identifier::parse_at(rest, c, base)?;
                    let next = if c == Component::User {
                        Component::Role
                    } else {
                        Component::Type
                    };
                    return Err(err(
                        next,
                        s.len(),
                        format!("missing {next}: a label is user:role:type[:level]"),
                    ));
                }
            }
        }
        let level = if base == s.len() && !s.ends_with(':') {
            None
        } else {
            Some(MlsRange::parse_at(rest, base)?)
        };
        let mut p = parts.into_iter();
        Ok(Label {
            user: p.next().unwrap(),
            role: p.next().unwrap(),
            type_: p.next().unwrap(),
            level,
        })
    }

    /// Builds a label from the component form; each component is validated
    /// on its own and error offsets are relative to that component.
    pub fn from_components(
        user: &str,
        role: &str,
        type_: &str,
        level: Option<&str>,
    ) -> Result<Label, LabelError> {
        Ok(Label {
            user: Identifier::parse(user, Component::User)?,
            role: Identifier::parse(role, Component::Role)?,
            type_: Identifier::parse(type_, Component::Type)?,
            level: level.map(MlsRange::parse).transpose()?,
        })
    }

    /// The SELinux user.
    pub fn user(&self) -> &Identifier {
        &self.user
    }
    /// The role.
    pub fn role(&self) -> &Identifier {
        &self.role
    }
    /// The type.
    pub fn type_(&self) -> &Identifier {
        &self.type_
    }
    /// The level, if any.
    pub fn level(&self) -> Option<&MlsRange> {
        self.level.as_ref()
    }

    /// The same label with another level.
    pub fn with_level(&self, level: MlsRange) -> Label {
        Label {
            level: Some(level),
            ..self.clone()
        }
    }
}

impl fmt::Display for Label {
    /// The label text, as written to `/proc/thread-self/attr/exec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.user, self.role, self.type_)?;
        if let Some(l) = &self.level {
            write!(f, ":{l}")?;
        }
        Ok(())
    }
}

impl FromStr for Label {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, LabelError> {
        Label::parse(s)
    }
}

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Label::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A level as configured: fixed, or `auto` (allocate an MCS pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSpec {
    /// A given level or range.
    Fixed(MlsRange),
    /// `auto`: a unique `s0:cX,cY` per pod.
    Auto,
}

/// Checks one part of a context named as in a profile's `selinux:` section
/// (`user`, `role`, `type` or `level`), as `rampart lint` does. The importers
/// and the pod resolver check each part they copy with it, so that a bad one is
/// reported where the user wrote it, not in the generated profile.
pub fn check_part(key: &str, value: &str) -> Result<(), LabelError> {
    match key {
        "user" => Identifier::parse(value, Component::User).map(drop),
        "role" => Identifier::parse(value, Component::Role).map(drop),
        "type" => Identifier::parse(value, Component::Type).map(drop),
        "level" => LevelSpec::parse(value).map(drop),
        _ => unreachable!("check_part: `{key}` is not a part of an SELinux context"),
    }
}

impl LevelSpec {
    /// `auto` or a level/range.
    pub fn parse(s: &str) -> Result<LevelSpec, LabelError> {
        if s == "auto" {
            Ok(LevelSpec::Auto)
        } else {
            MlsRange::parse(s).map(LevelSpec::Fixed)
        }
    }
}

/// A label whose level may still be `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    user: Identifier,
    role: Identifier,
    type_: Identifier,
    level: Option<LevelSpec>,
}

impl LabelSpec {
    /// The component form `{user, role, type, level}`; `level` may be
    /// `auto`. Error offsets are relative to the component.
    pub fn from_components(
        user: &str,
        role: &str,
        type_: &str,
        level: Option<&str>,
    ) -> Result<LabelSpec, LabelError> {
        Ok(LabelSpec {
            user: Identifier::parse(user, Component::User)?,
            role: Identifier::parse(role, Component::Role)?,
            type_: Identifier::parse(type_, Component::Type)?,
            level: level.map(LevelSpec::parse).transpose()?,
        })
    }

    /// The level as configured.
    pub fn level(&self) -> Option<&LevelSpec> {
        self.level.as_ref()
    }

    /// The label, when it needs no allocation.
    pub fn fixed(&self) -> Option<Label> {
        match &self.level {
            Some(LevelSpec::Auto) => None,
            other => Some(Label {
                user: self.user.clone(),
                role: self.role.clone(),
                type_: self.type_.clone(),
                level: match other {
                    Some(LevelSpec::Fixed(l)) => Some(l.clone()),
                    _ => None,
                },
            }),
        }
    }

    /// The final label for the pod whose process is `owner_pid`: `auto`
    /// leases an MCS pair from `mcs` (returned with the label so the caller
    /// can release it; otherwise it is reclaimed when the process is gone).
    pub fn resolve(
        &self,
        mcs: &McsAllocator,
        owner_pid: u32,
    ) -> Result<(Label, Option<McsLease>), McsError> {
        if let Some(l) = self.fixed() {
            return Ok((l, None));
        }
        let lease = mcs.allocate(owner_pid)?;
        let label = Label {
            user: self.user.clone(),
            role: self.role.clone(),
            type_: self.type_.clone(),
            level: Some(lease.pair().level()),
        };
        Ok((label, Some(lease)))
    }
}

/// An MCS category pair `cX,cY` with X < Y <= 1023.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "(u16, u16)", into = "(u16, u16)")]
pub struct McsPair {
    low: u16,
    high: u16,
}

impl TryFrom<(u16, u16)> for McsPair {
    type Error = String;
    fn try_from((a, b): (u16, u16)) -> Result<Self, String> {
        McsPair::new(a, b).ok_or_else(|| format!("invalid MCS pair c{a},c{b}"))
    }
}

impl From<McsPair> for (u16, u16) {
    fn from(p: McsPair) -> Self {
        (p.low, p.high)
    }
}

impl LeaseKey for McsPair {}

impl McsPair {
    /// `Some` when `low < high <= 1023`.
    pub fn new(low: u16, high: u16) -> Option<McsPair> {
        (low < high && high <= MAX_CATEGORY).then_some(McsPair { low, high })
    }
    /// The lower category.
    pub fn low(&self) -> u16 {
        self.low
    }
    /// The higher category.
    pub fn high(&self) -> u16 {
        self.high
    }
    /// `s0:cLOW,cHIGH`.
    pub fn level(&self) -> MlsRange {
        let mut categories = CategorySet::empty();
        categories.push(CategoryItem::Single(self.low));
        categories.push(CategoryItem::Single(self.high));
        MlsRange {
            low: MlsLevel {
                sensitivity: 0,
                categories,
            },
            high: None,
        }
    }

    /// All pairs in order: (0,1), (0,2), …, (1022,1023).
    pub fn all() -> impl Iterator<Item = McsPair> {
        (0..MAX_CATEGORY)
            .flat_map(|a| (a + 1..=MAX_CATEGORY).map(move |b| McsPair { low: a, high: b }))
    }
}

/// Errors of MCS allocation.
#[derive(Debug, thiserror::Error)]
pub enum McsError {
    /// The lease allocator failed.
    #[error("MCS category allocation: {0}")]
    Lease(#[from] LeaseError),
    /// Bad configuration.
    #[error("MCS category allocation: {0}")]
    Config(String),
}

/// A leased MCS pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McsLease {
    /// The underlying lease (pass to [`McsAllocator::release`]).
    pub lease: Lease<McsPair>,
}

impl McsLease {
    /// The pair.
    pub fn pair(&self) -> McsPair {
        self.lease.key
    }
}

/// Name of the MCS lease allocator in its state directory.
pub const MCS_ALLOCATOR_NAME: &str = "selinux-mcs";

/// Random tries before the exhaustive scan.
const RANDOM_TRIES: usize = 4096;

/// Hands out MCS pairs unique among live pods.
#[derive(Debug)]
pub struct McsAllocator {
    leases: Allocator<McsPair>,
    categories: u16,
}

/// xorshift64*, seeded from `/dev/urandom` (or the clock and pid).
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let mut seed = [0u8; 8];
        let from_urandom = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
            .is_ok();
        let mut s = u64::from_le_bytes(seed);
        if !from_urandom || s == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            s = t ^ (u64::from(std::process::id()) << 32) | 1;
        }
        Rng(s)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl McsAllocator {
    /// Opens (creating) the MCS allocator in `state_dir`.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<McsAllocator, McsError> {
        McsAllocator::open_with_categories(state_dir, CATEGORIES)
    }

    /// Like [`McsAllocator::open`], drawing only from categories
    /// `c0..c{categories-1}` (2..=1024), e.g. to keep some for other uses.
    /// All users of one state directory should use the same value.
    pub fn open_with_categories(
        state_dir: impl AsRef<Path>,
        categories: u16,
    ) -> Result<McsAllocator, McsError> {
        if !(2..=CATEGORIES).contains(&categories) {
            return Err(McsError::Config(format!(
                "category count {categories} must be between 2 and {CATEGORIES}"
            )));
        }
        Ok(McsAllocator {
            leases: Allocator::open(state_dir, MCS_ALLOCATOR_NAME)?,
            categories,
        })
    }

    /// Leases a pair for the pod whose process is `owner_pid`: random pairs
    /// first (as container-selinux), then every pair in order, so it fails
    /// only when all pairs (523776 with 1024 categories) are held by live
    /// pods. Cost: each candidate is checked against every live lease.
    pub fn allocate(&self, owner_pid: u32) -> Result<McsLease, McsError> {
        let n = self.categories;
        let mut rng = Rng::seeded();
        let random = std::iter::from_fn(move || {
            let a = (rng.next() % u64::from(n)) as u16;
            let b = (rng.next() % u64::from(n - 1)) as u16;
            // b in 0..1023 skipping a: a uniform second category != a.
            let b = if b >= a { b + 1 } else { b };
            McsPair::new(a.min(b), a.max(b))
        })
        .take(RANDOM_TRIES);
        let all = McsPair::all().filter(move |p| p.high() < n);
        let lease = self.leases.allocate(owner_pid, random.chain(all))?;
        Ok(McsLease { lease })
    }

    /// Releases a pair. `Ok(false)` when it was already gone.
    pub fn release(&self, lease: &McsLease) -> Result<bool, McsError> {
        Ok(self.leases.release(&lease.lease)?)
    }

    /// The underlying lease allocator.
    pub fn leases(&self) -> &Allocator<McsPair> {
        &self.leases
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bad(s: &str) -> LabelError {
        Label::parse(s).expect_err(s)
    }

    #[test]
    fn valid_labels() {
        for s in [
            "system_u:system_r:container_t:s0:c1,c2",
            "system_u:system_r:container_t:s0-s0:c0.c1023",
            "system_u:object_r:container_file_t:s0:c0.c5,c9",
            "unconfined_u:unconfined_r:unconfined_t:s0-s15:c0.c1023",
            "user_u:user_r:foo.bar-baz_t:s3",
            "u:r:t:s15:c1023",
            "u:r:t:s0:c0,c1,c2",
            "u:r:t:s0:c0.c1,c3.c7",
            "u:r:t:s1:c2-s2:c0.c5",
            "u:r:t",
        ] {
            let l = Label::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(l.to_string(), s, "round trip");
        }
        let l = Label::parse("system_u:system_r:container_t:s0-s0:c0.c1023").unwrap();
        assert_eq!(l.user().as_str(), "system_u");
        assert_eq!(l.role().as_str(), "system_r");
        assert_eq!(l.type_().as_str(), "container_t");
        let lvl = l.level().unwrap();
        assert_eq!(lvl.low().categories().len(), 0);
        assert_eq!(lvl.high().categories().len(), 1024);
        assert!(lvl.high().dominates(lvl.low()));
        let l = Label::parse("u:r:t:s0:c0.c5,c9").unwrap();
        let c = l.level().unwrap().low().categories();
        assert!(c.contains(5) && c.contains(9) && !c.contains(6));
        assert_eq!(
            c.items(),
            &[CategoryItem::Range(0, 5), CategoryItem::Single(9)]
        );
    }

    #[test]
    fn invalid_labels_name_component_and_offset() {
        let cases: &[(&str, Component, usize, &str)] = &[
            ("", Component::User, 0, "empty user"),
            ("1u:r:t:s0", Component::User, 0, "start with a letter"),
            ("us er:r:t:s0", Component::User, 2, "not allowed"),
            ("u:r", Component::Type, 3, "missing type"),
            ("u", Component::Role, 1, "missing role"),
            ("u::t:s0", Component::Role, 2, "empty role"),
            ("u:r_:t..x:s0", Component::Type, 7, "two dots"),
            ("u:r:t.:s0", Component::Type, 5, "end with a dot"),
            ("u:r:t:", Component::Level, 6, "empty level"),
            ("u:r:t:s16", Component::Level, 6, "out of range"),
            ("u:r:t:s01", Component::Level, 6, "leading zero"),
            ("u:r:t:x0", Component::Level, 6, "expected a sensitivity"),
            ("u:r:t:s0:", Component::Level, 9, "empty category list"),
            ("u:r:t:s0:c1024", Component::Level, 9, "out of range"),
            ("u:r:t:s0:c1,c1024", Component::Level, 12, "out of range"),
            ("u:r:t:s0:c1,", Component::Level, 12, "empty category"),
            ("u:r:t:s0:c5.c3", Component::Level, 9, "lower to a higher"),
            ("u:r:t:s0:c5.c5", Component::Level, 9, "lower to a higher"),
            ("u:r:t:s0:c1.c1024", Component::Level, 12, "out of range"),
            (
                "u:r:t:s0:c1..c2",
                Component::Level,
                12,
                "expected a category",
            ),
            ("u:r:t:s0:c5,c3", Component::Level, 12, "ascending"),
            ("u:r:t:s0:c1,c1", Component::Level, 12, "ascending"),
            ("u:r:t:s0:c0.c5,c4", Component::Level, 15, "ascending"),
            ("u:r:t:s1-s0", Component::Level, 9, "does not dominate"),
            ("u:r:t:s0:c1-s0", Component::Level, 12, "lacks category c1"),
            ("u:r:t:s0-", Component::Level, 9, "missing sensitivity"),
            ("u:r:t:s0 ", Component::Level, 6, "expected a sensitivity"),
            ("u:r:t:s0:c1:c2", Component::Level, 9, "expected a category"),
            (
                "u:r:t:s0-s1-s2",
                Component::Level,
                9,
                "expected a sensitivity",
            ),
        ];
        for (s, comp, off, msg) in cases {
            let e = bad(s);
            assert_eq!((e.component, e.offset), (*comp, *off), "{s:?}: {e}");
            assert!(e.message.contains(msg), "{s:?}: {e}");
        }
        let e = bad("u:r:t:s16");
        assert_eq!(
            e.to_string(),
            "invalid SELinux level at byte 6: sensitivity s16 is out of range (s0..s15)"
        );
    }

    #[test]
    fn component_form() {
        let l = Label::from_components("system_u", "system_r", "container_t", Some("s0:c1,c2"))
            .unwrap();
        assert_eq!(l.to_string(), "system_u:system_r:container_t:s0:c1,c2");
        let e = Label::from_components("system_u", "system_r", "container_t", Some("s0:c3,c2"))
            .unwrap_err();
        assert_eq!((e.component, e.offset), (Component::Level, 6));
        let e = Label::from_components("system_u", "sys tem_r", "t", None).unwrap_err();
        assert_eq!((e.component, e.offset), (Component::Role, 3));
        let e = Label::from_components("u", "r", "", None).unwrap_err();
        assert_eq!(e.component, Component::Type);
        // auto only in LabelSpec.
        assert!(Label::from_components("u", "r", "t", Some("auto")).is_err());
        let spec = LabelSpec::from_components("u", "r", "t", Some("auto")).unwrap();
        assert_eq!(spec.level(), Some(&LevelSpec::Auto));
        assert!(spec.fixed().is_none());
        let spec = LabelSpec::from_components("u", "r", "t", Some("s0")).unwrap();
        assert_eq!(spec.fixed().unwrap().to_string(), "u:r:t:s0");
    }

    #[test]
    fn serde_label_is_validated() {
        let l: Label = serde_json::from_str("\"u:r:t:s0:c1,c2\"").unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"u:r:t:s0:c1,c2\"");
        let e = serde_json::from_str::<Label>("\"u:r:t:s0:c2,c1\"").unwrap_err();
        assert!(e.to_string().contains("ascending"), "{e}");
        assert!(serde_json::from_str::<McsPair>("[3,2]").is_err());
        assert_eq!(
            serde_json::from_str::<McsPair>("[2,3]").unwrap(),
            McsPair::new(2, 3).unwrap()
        );
    }

    #[test]
    fn mcs_pairs_unique_across_200_allocations_and_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let mcs = McsAllocator::open(dir.path()).unwrap();
        let me = std::process::id();
        let mut seen = std::collections::HashSet::new();
        let mut leases = Vec::new();
        for _ in 0..200 {
            let l = mcs.allocate(me).unwrap();
            let p = l.pair();
            assert!(p.low() < p.high() && p.high() <= MAX_CATEGORY);
            assert!(seen.insert(p), "duplicate pair {p:?}");
            // The level is a valid label level in canonical form.
            let lvl = p.level().to_string();
            assert_eq!(lvl, format!("s0:c{},c{}", p.low(), p.high()));
            assert_eq!(MlsRange::parse(&lvl).unwrap(), p.level());
            leases.push(l);
        }
        assert_eq!(mcs.leases().leases().unwrap().len(), 200);
        // A second allocator on the same state sees them all.
        let other = McsAllocator::open(dir.path()).unwrap();
        let l = other.allocate(me).unwrap();
        assert!(!seen.contains(&l.pair()));
        assert!(mcs.release(&leases[0]).unwrap());
        assert!(!mcs.release(&leases[0]).unwrap());

        // A pod's pair is reclaimed when its process is gone.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let spec = LabelSpec::from_components("system_u", "system_r", "container_t", Some("auto"))
            .unwrap();
        let (label, lease) = spec.resolve(&mcs, child.id()).unwrap();
        let lease = lease.unwrap();
        assert_eq!(
            label.to_string(),
            format!("system_u:system_r:container_t:{}", lease.pair().level())
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let dead = mcs.leases().reclaim().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, lease.pair());
        assert_eq!(mcs.leases().leases().unwrap().len(), 200);
    }

    #[test]
    fn mcs_small_category_range_hands_out_every_pair_then_exhausts() {
        let dir = tempfile::tempdir().unwrap();
        let mcs = McsAllocator::open_with_categories(dir.path(), 8).unwrap();
        let me = std::process::id();
        let mut pairs: Vec<McsPair> = (0..28).map(|_| mcs.allocate(me).unwrap().pair()).collect();
        pairs.sort_by_key(|p| (p.low(), p.high()));
        pairs.dedup();
        assert_eq!(pairs.len(), 28, "8 categories give 28 distinct pairs");
        assert!(pairs.iter().all(|p| p.high() < 8));
        assert!(matches!(
            mcs.allocate(me),
            Err(McsError::Lease(LeaseError::Exhausted { live: 28, .. }))
        ));
        assert!(McsAllocator::open_with_categories(dir.path(), 1).is_err());
        assert!(McsAllocator::open_with_categories(dir.path(), 1025).is_err());
    }

    // ---- property tests ----

    fn ident() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}(\\.[a-zA-Z0-9_-]{1,4}){0,2}"
    }

    /// A category set rendered in a valid (ascending) form, plus its members.
    fn cats(extra: std::collections::BTreeSet<u16>) -> impl Strategy<Value = (String, Vec<u16>)> {
        (
            proptest::collection::btree_set(0u16..1024, 0..12),
            proptest::collection::vec(any::<bool>(), 12),
        )
            .prop_map(move |(mut set, ranges)| {
                set.extend(extra.iter().copied());
                let v: Vec<u16> = set.into_iter().collect();
                // Group consecutive runs; render a run as a range or a list.
                let mut out = Vec::new();
                let mut i = 0;
                let mut k = 0;
                while i < v.len() {
                    let mut j = i;
                    while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
                        j += 1;
                    }
                    if j > i && ranges[k % ranges.len()] {
                        out.push(format!("c{}.c{}", v[i], v[j]));
                    } else {
                        out.extend(v[i..=j].iter().map(|c| format!("c{c}")));
                    }
                    k += 1;
                    i = j + 1;
                }
                (out.join(","), v)
            })
    }

    fn level_str(s: u16, c: &str) -> String {
        if c.is_empty() {
            format!("s{s}")
        } else {
            format!("s{s}:{c}")
        }
    }

    fn valid_level() -> impl Strategy<Value = String> {
        (0u16..=15, cats(Default::default()), any::<bool>())
            .prop_flat_map(|(s, (low_c, members), ranged)| {
                let low = level_str(s, &low_c);
                let extra: std::collections::BTreeSet<u16> = members.into_iter().collect();
                (Just(low), s..=15, cats(extra), Just(ranged))
            })
            .prop_map(|(low, hs, (high_c, _), ranged)| {
                if ranged {
                    format!("{low}-{}", level_str(hs, &high_c))
                } else {
                    low
                }
            })
    }

    fn valid_label() -> impl Strategy<Value = String> {
        (
            ident(),
            ident(),
            ident(),
            proptest::option::weighted(0.9, valid_level()),
        )
            .prop_map(|(u, r, t, l)| match l {
                Some(l) => format!("{u}:{r}:{t}:{l}"),
                None => format!("{u}:{r}:{t}"),
            })
    }

    /// A valid label with one defect, and the component it lands in.
    fn invalid_label() -> impl Strategy<Value = (String, Component)> {
        let with = |f: fn(&str) -> (String, Component)| {
            (ident(), valid_level()).prop_map(move |(id, lvl)| {
                let (bad, comp) = f(&id);
                let label = match comp {
                    Component::User => format!("{bad}:r:t:{lvl}"),
                    Component::Role => format!("u:{bad}:t:{lvl}"),
                    Component::Type => format!("u:r:{bad}:{lvl}"),
                    Component::Level => format!("{id}:r:t:{bad}"),
                };
                (label, comp)
            })
        };
        prop_oneof![
            with(|id| (format!("9{id}"), Component::User)),
            with(|id| (format!("{id}..x"), Component::Role)),
            with(|id| (format!("{id}."), Component::Type)),
            with(|id| (format!("{id} x"), Component::Type)),
            with(|_| (String::new(), Component::Role)),
            (16u32..1000).prop_map(|s| (format!("u:r:t:s{s}"), Component::Level)),
            (1024u32..100_000).prop_map(|c| (format!("u:r:t:s0:c{c}"), Component::Level)),
            (0u16..1023, 0u16..1024).prop_filter_map("need a >= b", |(a, b)| {
                (a >= b).then(|| (format!("u:r:t:s0:c{a}.c{b}"), Component::Level))
            }),
            (0u16..1024, 0u16..1024).prop_filter_map("need a >= b", |(a, b)| {
                (a >= b).then(|| (format!("u:r:t:s0:c{a},c{b}"), Component::Level))
            }),
            (1u16..=15, 0u16..15).prop_filter_map("need high < low", |(lo, hi)| {
                (hi < lo).then(|| (format!("u:r:t:s{lo}-s{hi}"), Component::Level))
            }),
            (0u16..1024, 0u16..=15)
                .prop_map(|(c, s)| { (format!("u:r:t:s0:c{c}-s{s}"), Component::Level) }),
            valid_level().prop_map(|l| (format!("u:r:t:{l}:"), Component::Level)),
            valid_level().prop_map(|l| (format!("u:r:t:{l},"), Component::Level)),
        ]
    }

    proptest! {
        #[test]
        fn generated_valid_labels_are_accepted(s in valid_label()) {
            let l = Label::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            prop_assert_eq!(l.to_string(), s.clone());
            if let Some(r) = l.level() {
                prop_assert!(r.high().dominates(r.low()));
            }
        }

        #[test]
        fn generated_invalid_labels_are_rejected((s, comp) in invalid_label()) {
            match Label::parse(&s) {
                Ok(l) => prop_assert!(false, "accepted {s:?} as {l}"),
                Err(e) => {
                    prop_assert_eq!(e.component, comp, "{:?}: {}", s, e);
                    prop_assert!(e.offset <= s.len());
                }
            }
        }
    }
}
