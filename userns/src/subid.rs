//! `/etc/subuid` and `/etc/subgid` (subid(5)) and the `/etc/passwd` lookups
//! needed to match their entries.
//!
//! Each line is `owner:start:count`; `owner` is a user name or a numeric uid.
//! Lines starting with `#` (after optional blanks) and blank lines are
//! skipped. Like shadow-utils, an entry applies to a user when its owner
//! equals the user's name, or when it is numeric and equals the user's uid.

use std::fmt;
use std::path::{Path, PathBuf};

/// Default location of the subordinate uid file.
pub const SUBUID_PATH: &str = "/etc/subuid";
/// Default location of the subordinate gid file.
pub const SUBGID_PATH: &str = "/etc/subgid";
/// Default location of the user database.
pub const PASSWD_PATH: &str = "/etc/passwd";

/// The owner field of a subid entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubIdOwner {
    /// A user name.
    Name(String),
    /// A numeric uid.
    Uid(u32),
}

impl fmt::Display for SubIdOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubIdOwner::Name(n) => f.write_str(n),
            SubIdOwner::Uid(u) => write!(f, "{u}"),
        }
    }
}

/// One valid subid entry: ids `start..start+count` belong to `owner`.
/// Invariants: `count >= 1` and `start + count <= 2^32`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubIdRange {
    owner: SubIdOwner,
    start: u32,
    count: u32,
    line: usize,
}

impl SubIdRange {
    /// Who owns the range.
    pub fn owner(&self) -> &SubIdOwner {
        &self.owner
    }
    /// First subordinate id.
    pub fn start(&self) -> u32 {
        self.start
    }
    /// Number of ids.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Exclusive end.
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.count)
    }
    /// 1-based line number in the file it was read from.
    pub fn line(&self) -> usize {
        self.line
    }
    /// Whether this entry applies to the user `name` with uid `uid`.
    pub fn applies_to(&self, name: Option<&str>, uid: Option<u32>) -> bool {
        match &self.owner {
            SubIdOwner::Name(n) => Some(n.as_str()) == name,
            SubIdOwner::Uid(u) => Some(*u) == uid,
        }
    }
}

/// One malformed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why it is malformed.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Errors reading a subid file.
#[derive(Debug, thiserror::Error)]
pub enum SubIdError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One or more lines are malformed; all of them are listed.
    #[error("{}{}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default(), errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Malformed {
        /// The file, when read from disk.
        path: Option<PathBuf>,
        /// Every malformed line, in file order.
        errors: Vec<LineError>,
    },
}

/// A parsed subid file: every entry, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubIdFile {
    ranges: Vec<SubIdRange>,
}

fn is_valid_user_name(s: &str) -> bool {
    // Permissive (shadow accepts much, and names come from NSS too), but no
    // characters that would break the format or be blank.
    !s.is_empty()
        && s.len() <= 256
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != ':' && c != '#')
}

fn parse_line(line: &str) -> Result<Option<(SubIdOwner, u32, u32)>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = t.split(':').collect();
    if fields.len() != 3 {
        return Err(format!(
            "expected `name:start:count` (3 fields separated by `:`), found {} field(s)",
            fields.len()
        ));
    }
    let (name, start, count) = (fields[0], fields[1], fields[2]);
    let owner = if name.is_empty() {
        return Err("empty owner (user name or uid)".into());
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        SubIdOwner::Uid(
            name.parse()
                .map_err(|_| format!("uid `{name}` is out of range (0..=4294967295)"))?,
        )
    } else if is_valid_user_name(name) {
        SubIdOwner::Name(name.to_owned())
    } else {
        return Err(format!("invalid user name `{name}`"));
    };
    let num = |s: &str, what: &str| -> Result<u32, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} `{s}` is not a decimal number"));
        }
        s.parse()
            .map_err(|_| format!("{what} `{s}` is out of range (0..=4294967295)"))
    };
    let start = num(start, "start")?;
    let count = num(count, "count")?;
    if count == 0 {
        return Err("count is 0: an entry must grant at least one id".into());
    }
    if u64::from(start) + u64::from(count) > 1 << 32 {
        return Err(format!(
            "start {start} + count {count} goes past 4294967296"
        ));
    }
    Ok(Some((owner, start, count)))
}

impl SubIdFile {
    /// Parses subid text. Every malformed line is reported (1-based line
    /// numbers) in one error.
    pub fn parse(text: &str) -> Result<Self, SubIdError> {
        let mut ranges = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some((owner, start, count))) => ranges.push(SubIdRange {
                    owner,
                    start,
                    count,
                    line: i + 1,
                }),
                Ok(None) => {}
                Err(reason) => errors.push(LineError {
                    line: i + 1,
                    reason,
                }),
            }
        }
        if errors.is_empty() {
            Ok(SubIdFile { ranges })
        } else {
            Err(SubIdError::Malformed { path: None, errors })
        }
    }

    /// Reads and parses a file. A missing file is an empty file (no ranges).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SubIdError> {
        let path = path.as_ref();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(SubIdError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        SubIdFile::parse(&text).map_err(|e| match e {
            SubIdError::Malformed { errors, .. } => SubIdError::Malformed {
                path: Some(path.to_owned()),
                errors,
            },
            other => other,
        })
    }

    /// All entries in file order.
    pub fn ranges(&self) -> &[SubIdRange] {
        &self.ranges
    }

    /// The entries of `user`, in file order.
    pub fn ranges_for(&self, user: &User) -> Vec<SubIdRange> {
        self.lookup(Some(&user.name), Some(user.uid))
    }

    /// The entries matching a user name and/or uid (either may be unknown).
    pub fn lookup(&self, name: Option<&str>, uid: Option<u32>) -> Vec<SubIdRange> {
        self.ranges
            .iter()
            .filter(|r| r.applies_to(name, uid))
            .cloned()
            .collect()
    }
}

/// A user from the passwd database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// How a user is named: by login name or by uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// A login name.
    Name(String),
    /// A numeric uid.
    Uid(u32),
}

impl UserSpec {
    /// A string that is all digits is a uid, anything else a name.
    pub fn parse(s: &str) -> UserSpec {
        match s.parse::<u32>() {
            Ok(u) if s.bytes().all(|b| b.is_ascii_digit()) => UserSpec::Uid(u),
            _ => UserSpec::Name(s.to_owned()),
        }
    }
}

impl User {
    /// Finds a user in passwd(5) text. Returns `None` when absent.
    pub fn from_passwd_text(text: &str, spec: &UserSpec) -> Option<User> {
        text.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || line.trim_start().starts_with('#') {
                return None;
            }
            let (uid, gid) = (f[2].parse().ok()?, f[3].parse().ok()?);
            let hit = match spec {
                UserSpec::Name(n) => f[0] == n,
                UserSpec::Uid(u) => uid == *u,
            };
            hit.then(|| User {
                name: f[0].to_owned(),
                uid,
                gid,
            })
        })
    }

    /// Finds a user in a passwd file (usually [`PASSWD_PATH`]).
    pub fn lookup(passwd: impl AsRef<Path>, spec: &UserSpec) -> std::io::Result<Option<User>> {
        let text = std::fs::read_to_string(passwd)?;
        Ok(User::from_passwd_text(&text, spec))
    }
}

/// The subordinate ranges of a user given by name or uid, matching entries
/// keyed by either the name or the uid. When the user is not in the passwd
/// file, only entries keyed exactly as given can match.
pub fn lookup_user_ranges(
    subid: &SubIdFile,
    passwd_text: &str,
    spec: &UserSpec,
) -> Vec<SubIdRange> {
    match User::from_passwd_text(passwd_text, spec) {
        Some(u) => subid.ranges_for(&u),
        None => match spec {
            UserSpec::Name(n) => subid.lookup(Some(n), None),
            UserSpec::Uid(u) => subid.lookup(None, Some(*u)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          alice:x:1000:1000::/home/alice:/bin/sh\n\
                          bob:x:1001:1001::/home/bob:/bin/sh\n";

    #[test]
    fn parses_comments_blanks_names_and_uids() {
        let f = SubIdFile::parse(
            "# comment\n\nalice:100000:65536\n  # indented comment\n1001:165536:65536\nalice:300000:10\n",
        )
        .unwrap();
        assert_eq!(f.ranges().len(), 3);
        let r = &f.ranges()[0];
        assert_eq!(
            (r.owner(), r.start(), r.count(), r.line()),
            (&SubIdOwner::Name("alice".into()), 100000, 65536, 3)
        );
        assert_eq!(f.ranges()[1].owner(), &SubIdOwner::Uid(1001));
        assert_eq!(f.ranges()[1].line(), 5);
    }

    fn errors(text: &str) -> Vec<LineError> {
        match SubIdFile::parse(text).unwrap_err() {
            SubIdError::Malformed { errors, .. } => errors,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn malformed_lines_reported_with_line_numbers() {
        let text = "alice:100000:65536\n\
                    # fine\n\
                    bob:100000\n\
                    carol:abc:10\n\
                    dave:10:0\n\
                    :1:1\n\
                    erin:4294967295:2\n\
                    frank:1:99999999999\n\
                    99999999999:1:1\n\
                    gina:-1:5\n\
                    a b:1:1\n\
                    h:1:1:1\n";
        let errs = errors(text);
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(errs[0].reason.contains("found 2 field(s)"), "{}", errs[0]);
        assert!(
            errs[1].reason.contains("start `abc` is not a decimal"),
            "{}",
            errs[1]
        );
        assert!(errs[2].reason.contains("count is 0"), "{}", errs[2]);
        assert!(errs[3].reason.contains("empty owner"), "{}", errs[3]);
        assert!(errs[4].reason.contains("goes past"), "{}", errs[4]);
        assert!(
            errs[5]
                .reason
                .contains("count `99999999999` is out of range"),
            "{}",
            errs[5]
        );
        assert!(
            errs[6].reason.contains("uid `99999999999` is out of range"),
            "{}",
            errs[6]
        );
        assert!(errs[7].reason.contains("start `-1`"), "{}", errs[7]);
        assert!(errs[8].reason.contains("invalid user name"), "{}", errs[8]);
        assert!(errs[9].reason.contains("found 4 field(s)"), "{}", errs[9]);
        // Display names the lines.
        let e = SubIdFile::parse(text).unwrap_err().to_string();
        assert!(e.starts_with("line 3: expected"), "{e}");
    }

    #[test]
    fn load_reports_path_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subuid");
        std::fs::write(&p, "ok:1:1\nbad\n").unwrap();
        let e = SubIdFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("subuid: line 2:"), "{e}");
        let missing = SubIdFile::load(dir.path().join("nope")).unwrap();
        assert!(missing.ranges().is_empty());
    }

    #[test]
    fn lookup_by_name_or_uid() {
        let f = SubIdFile::parse(
            "alice:100000:65536\n1000:200000:65536\nbob:300000:65536\n1002:400000:1\n",
        )
        .unwrap();
        let by_name = lookup_user_ranges(&f, PASSWD, &UserSpec::parse("alice"));
        assert_eq!(
            by_name.iter().map(|r| r.start()).collect::<Vec<_>>(),
            vec![100000, 200000]
        );
        let by_uid = lookup_user_ranges(&f, PASSWD, &UserSpec::parse("1000"));
        assert_eq!(by_name, by_uid);
        let bob = lookup_user_ranges(&f, PASSWD, &UserSpec::Uid(1001));
        assert_eq!(
            bob.iter().map(|r| r.start()).collect::<Vec<_>>(),
            vec![300000]
        );
        // Unknown in passwd: only the literal key matches.
        let ghost = lookup_user_ranges(&f, PASSWD, &UserSpec::Uid(1002));
        assert_eq!(ghost.len(), 1);
        assert!(lookup_user_ranges(&f, PASSWD, &UserSpec::parse("nobody")).is_empty());
    }

    #[test]
    fn passwd_lookup() {
        let u = User::from_passwd_text(PASSWD, &UserSpec::Name("bob".into())).unwrap();
        assert_eq!((u.uid, u.gid), (1001, 1001));
        let r = User::from_passwd_text(PASSWD, &UserSpec::Uid(0)).unwrap();
        assert_eq!(r.name, "root");
        assert!(User::from_passwd_text(PASSWD, &UserSpec::Uid(5)).is_none());
    }
}
