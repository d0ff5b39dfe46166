//! Small, safe readers for `/proc`: process identity (pid + start time),
//! liveness, and the calling process's credentials.

use std::io;
use std::path::Path;

/// What `/proc/PID/stat` tells about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: state (`R`, `S`, `D`, `Z`, `X`, …).
    pub state: char,
    /// Field 22: start time in clock ticks after boot. Together with the pid
    /// this identifies a process: a reused pid has a later start time.
    pub start_time: u64,
}

impl ProcStat {
    /// A zombie (`Z`) or dead (`X`/`x`) process has released everything but
    /// its pid; it counts as gone.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')' come fields 3, 4, …; field 22 is the 20th of them.
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Reads `<proc_root>/<pid>/stat`. `Ok(None)` when the process does not
/// exist (no such directory or it vanished while reading).
pub fn read_stat(proc_root: &Path, pid: u32) -> io::Result<Option<ProcStat>> {
    match std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) {
        Ok(t) => parse_stat(&t).map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot parse {}/{pid}/stat", proc_root.display()),
            )
        }),
        // ESRCH shows up when the process exits between open and read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `CAP_SETGID` (linux/capability.h).
pub const CAP_SETGID: u32 = 6;
/// `CAP_SETUID` (linux/capability.h).
pub const CAP_SETUID: u32 = 7;

/// Real and effective ids and effective capabilities of a process, from
/// `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Effective capability mask (`CapEff`).
    pub cap_eff: u64,
}

impl Credentials {
    /// Parses `/proc/PID/status` text.
    pub fn parse_status(text: &str) -> Option<Credentials> {
        let mut uid = None;
        let mut gid = None;
        let mut cap = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("Uid:") {
                let f: Vec<u32> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                uid = Some((*f.first()?, *f.get(1)?));
            } else if let Some(v) = line.strip_prefix("Gid:") {
                let f: Vec<u32> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                gid = Some((*f.first()?, *f.get(1)?));
            } else if let Some(v) = line.strip_prefix("CapEff:") {
                cap = u64::from_str_radix(v.trim(), 16).ok();
            }
        }
        let ((uid, euid), (gid, egid)) = (uid?, gid?);
        Some(Credentials {
            uid,
            euid,
            gid,
            egid,
            cap_eff: cap?,
        })
    }

    /// The calling process's credentials (`/proc/self/status`).
    pub fn current() -> io::Result<Credentials> {
        Credentials::of_path(Path::new("/proc/self/status"))
    }

    /// Credentials of `<proc_root>/<pid>`.
    pub fn of(proc_root: &Path, pid: u32) -> io::Result<Credentials> {
        Credentials::of_path(&proc_root.join(pid.to_string()).join("status"))
    }

    fn of_path(p: &Path) -> io::Result<Credentials> {
        let text = std::fs::read_to_string(p)?;
        Credentials::parse_status(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot parse {}", p.display()),
            )
        })
    }

    /// Whether the effective set holds capability number `cap`.
    pub fn has_cap(&self, cap: u32) -> bool {
        cap < 64 && self.cap_eff & (1u64 << cap) != 0
    }

    /// `CAP_SETUID` and `CAP_SETGID` are both effective: enough to write
    /// arbitrary maps for a child user namespace created by us.
    pub fn can_map_any_ids(&self) -> bool {
        self.has_cap(CAP_SETUID) && self.has_cap(CAP_SETGID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let t = "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        let s = parse_stat(t).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.start_time, 987654);
        assert!(!s.is_gone());
        let z = parse_stat(&t.replace(" S ", " Z ")).unwrap();
        assert!(z.is_gone());
        assert!(parse_stat("1 (x) S 1 2").is_none());
    }

    #[test]
    fn own_stat_and_credentials() {
        let me = read_stat(Path::new("/proc"), std::process::id())
            .unwrap()
            .unwrap();
        assert!(me.start_time > 0);
        // Stable across reads.
        let again = read_stat(Path::new("/proc"), std::process::id())
            .unwrap()
            .unwrap();
        assert_eq!(me.start_time, again.start_time);
        assert!(
            read_stat(Path::new("/proc"), u32::MAX - 1)
                .unwrap()
                .is_none()
        );
        let c = Credentials::current().unwrap();
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata("/proc/self").unwrap();
        assert_eq!((c.euid, c.egid), (md.uid(), md.gid()));
    }

    #[test]
    fn status_parse() {
        let t =
            "Name:\tx\nUid:\t1000\t1001\t1000\t1000\nGid:\t5\t6\t5\t5\nCapEff:\t00000000000000c0\n";
        let c = Credentials::parse_status(t).unwrap();
        assert_eq!((c.uid, c.euid, c.gid, c.egid), (1000, 1001, 5, 6));
        assert!(c.can_map_any_ids());
        let c2 = Credentials::parse_status(&t.replace("c0", "80")).unwrap();
        assert!(!c2.can_map_any_ids());
    }
}
