//! Capability names and sets.
//!
//! Names are accepted with or without `CAP_` and in any case; the list of
//! capabilities comes from the `caps` crate.

use std::fmt;

pub use caps::Capability;

/// Parses `NET_BIND_SERVICE`, `cap_net_bind_service`, `CAP_NET_BIND_SERVICE`.
pub fn parse(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse().ok()
}

/// Every capability's short name (without `CAP_`), for suggestions.
pub fn names() -> Vec<String> {
    let mut v: Vec<_> = caps::all()
        .into_iter()
        .map(|c| short(c).to_string())
        .collect();
    v.sort();
    v
}

/// `NET_BIND_SERVICE` for `CAP_NET_BIND_SERVICE`.
pub fn short(c: Capability) -> String {
    c.to_string().trim_start_matches("CAP_").to_string()
}

/// A set of capabilities as the kernel's 64-bit mask.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapSet(pub u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    /// Every capability this build knows.
    pub fn all() -> CapSet {
        CapSet(caps::all().iter().fold(0, |m, c| m | c.bitmask()))
    }

    pub fn of(caps: impl IntoIterator<Item = Capability>) -> CapSet {
        CapSet(caps.into_iter().fold(0, |m, c| m | c.bitmask()))
    }

    pub fn contains(self, c: Capability) -> bool {
        self.0 & c.bitmask() != 0
    }

    pub fn insert(&mut self, c: Capability) {
        self.0 |= c.bitmask();
    }

    pub fn remove(&mut self, c: Capability) {
        self.0 &= !c.bitmask();
    }

    pub fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    pub fn intersect(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    pub fn minus(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// Members in index order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        let mut all: Vec<_> = caps::all()
            .into_iter()
            .filter(move |c| self.contains(*c))
            .collect();
        all.sort_by_key(|c| c.index());
        all.into_iter()
    }

    /// Short names in index order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(short).collect()
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapSet(0x{:016x} {:?})", self.0, self.names())
    }
}

/// The runtime default set (Docker, containerd, CRI-O and rkt agree on these 14).
pub fn runtime_default() -> CapSet {
    use Capability::*;
    CapSet::of([
        CAP_AUDIT_WRITE,
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FSETID,
        CAP_FOWNER,
        CAP_KILL,
        CAP_MKNOD,
        CAP_NET_RAW,
        CAP_NET_BIND_SERVICE,
        CAP_SETUID,
        CAP_SETGID,
        CAP_SETPCAP,
        CAP_SETFCAP,
        CAP_SYS_CHROOT,
    ])
}

/// The five sets a process carries, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CapSets {
    pub bounding: CapSet,
    pub permitted: CapSet,
    pub effective: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
}

impl CapSets {
    /// The runtime default: the 14 in bounding, permitted and effective; nothing
    /// inheritable or ambient (CVE-2022-29162).
    pub fn runtime_default() -> Self {
        let d = runtime_default();
        CapSets {
            bounding: d,
            permitted: d,
            effective: d,
            inheritable: CapSet::EMPTY,
            ambient: CapSet::EMPTY,
        }
    }

    /// The rules explicit sets must keep, and what breaks each: (the set, the set
    /// or sets it must lie within, the capabilities outside them). Effective ⊆
    /// permitted ⊆ bounding, inheritable ⊆ bounding, ambient ⊆ permitted ∩
    /// inheritable: the kernel refuses some breaks (an inheritable capability
    /// outside the bounding set fails `capset`) and silently drops the others at
    /// `execve`, so sets that break them do not do what they say.
    pub fn broken_invariants(&self) -> Vec<(&'static str, &'static str, CapSet)> {
        [
            (self.effective, self.permitted, "effective", "permitted"),
            (self.permitted, self.bounding, "permitted", "bounding"),
            (self.inheritable, self.bounding, "inheritable", "bounding"),
            (
                self.ambient,
                self.permitted.intersect(self.inheritable),
                "ambient",
                "permitted and inheritable",
            ),
        ]
        .into_iter()
        .map(|(sub, sup, a, b)| (a, b, sub.minus(sup)))
        .filter(|&(_, _, extra)| extra != CapSet::EMPTY)
        .collect()
    }

    pub fn all() -> Self {
        let a = CapSet::all();
        CapSets {
            bounding: a,
            permitted: a,
            effective: a,
            inheritable: CapSet::EMPTY,
            ambient: CapSet::EMPTY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_form() {
        assert_eq!(
            parse("net_bind_service"),
            Some(Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(parse("CAP_SYS_ADMIN"), Some(Capability::CAP_SYS_ADMIN));
        assert_eq!(parse("Cap_Chown"), Some(Capability::CAP_CHOWN));
        assert_eq!(parse("NET_BIND"), None);
        assert_eq!(runtime_default().names().len(), 14);
        assert_eq!(CapSet::of([Capability::CAP_NET_BIND_SERVICE]).0, 0x400);
    }

    #[test]
    fn broken_invariants_name_the_set_and_what_it_lacks() {
        assert!(CapSets::runtime_default().broken_invariants().is_empty());
        assert!(CapSets::all().broken_invariants().is_empty());
        let kill = CapSet::of([Capability::CAP_KILL]);
        let mut s = CapSets::runtime_default();
        s.ambient = kill; // permitted, not inheritable
        s.effective = s.effective.union(CapSet::of([Capability::CAP_SYS_ADMIN]));
        assert_eq!(
            s.broken_invariants(),
            [
                (
                    "effective",
                    "permitted",
                    CapSet::of([Capability::CAP_SYS_ADMIN])
                ),
                ("ambient", "permitted and inheritable", kill),
            ]
        );
    }
}
