//! Renders an imported profile ([`Gen`]) as readable rampart YAML.
//!
//! Readability rules:
//! - every rule carries a `# from FILE WHERE` comment naming its source;
//! - rules keep the source's order (after the importer's semantic reordering);
//! - **group matching**: in a rule without a `when`, a built-in syscall group
//!   replaces its members when *every* syscall of the group (nested groups
//!   expanded) is among the rule's names and it covers at least
//!   [`MIN_GROUP_COVER`] names not yet covered by a chosen group. Groups are
//!   tried largest first (ties by name), so a set equal to `@default-allow`
//!   becomes exactly `["@default-allow"]`. Replacing names by a group whose
//!   members are all listed never changes what the rule matches;
//! - names the rule still lists come in source order, wrapped at 100 columns.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::arch::Arch;
use crate::groups::GroupSet;
use crate::resolve::action_text;

use super::{Gen, GenCaps, GenRule};

/// The fewest newly covered names for which a group is used.
pub const MIN_GROUP_COVER: usize = 4;

/// A YAML double-quoted string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar, quoted only when plain style would change its meaning.
pub fn scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !s.starts_with(['-', '.'])
        && crate::yaml::parse_int(s).is_none()
        && !matches!(
            s,
            "true" | "false" | "null" | "Null" | "NULL" | "~" | "yes" | "no" | "on" | "off"
        )
        && s.parse::<f64>().is_err();
    if plain_ok { s.to_string() } else { quote(s) }
}

/// A comment line (never breaks out of the comment).
fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{indent}# {}", line.trim_end());
    }
}

/// A flow list, wrapped at 100 columns with continuation lines at `cont`.
fn flow_list(items: &[String], first_col: usize, cont: usize) -> String {
    let mut out = String::from("[");
    let mut col = first_col + 1;
    for (i, it) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{it},")
        } else {
            it.clone()
        };
        if i > 0 {
            if col + 1 + piece.len() > 100 {
                out.push('\n');
                out.push_str(&" ".repeat(cont));
                col = cont;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(&piece);
        col += piece.len();
    }
    out.push(']');
    out
}

/// Replaces names with groups per the module's matching rule.
pub fn match_groups(names: &[String], groups: &GroupSet) -> Vec<String> {
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut candidates: Vec<(String, BTreeSet<String>)> = groups
        .groups()
        .iter()
        .filter_map(|g| {
            let members: BTreeSet<String> = groups
                .expand(&g.name.value)
                .ok()?
                .into_iter()
                .map(|s| s.value)
                .collect();
            members
                .iter()
                .all(|m| set.contains(m.as_str()))
                .then(|| (g.name.value.clone(), members))
        })
        .collect();
    candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut chosen = Vec::new();
    for (name, members) in candidates {
        let new = members.iter().filter(|m| !covered.contains(*m)).count();
        if new >= MIN_GROUP_COVER {
            covered.extend(members);
            chosen.push(format!("@{name}"));
        }
    }
    let mut out = chosen;
    out.extend(names.iter().filter(|n| !covered.contains(*n)).cloned());
    out
}

fn arch_list(arches: &[Arch]) -> Vec<String> {
    arches.iter().map(|a| a.name().to_string()).collect()
}

fn rule(out: &mut String, source: &str, r: &GenRule, groups: &GroupSet, profile_arches: &[Arch]) {
    let _ = writeln!(out, "    # from {source} {}", r.from);
    let names = if r.when.is_none() {
        match_groups(&r.names, groups)
    } else {
        r.names.clone()
    };
    let names: Vec<String> = names.iter().map(|n| scalar(n)).collect();
    let _ = writeln!(out, "    - names: {}", flow_list(&names, 13, 14));
    let action = r.action.map_or_else(|| "allow".to_string(), action_text);
    let _ = writeln!(out, "      action: {}", scalar(&action));
    if let Some(w) = &r.when {
        let _ = writeln!(out, "      when: {}", quote(w));
    }
    if !r.if_caps.is_empty() {
        let _ = writeln!(out, "      ifCapability: [{}]", r.if_caps.join(", "));
    }
    if !r.unless_caps.is_empty() {
        let _ = writeln!(
            out,
            "      unlessCapability: [{}]",
            r.unless_caps.join(", ")
        );
    }
    if !r.arches.is_empty() {
        let _ = writeln!(out, "      arches: [{}]", arch_list(&r.arches).join(", "));
    }
    if let Some(k) = &r.min_kernel {
        let _ = writeln!(out, "      minKernel: {}", quote(k));
    }
    // Imported lists are written for many kernels and architectures: a name
    // missing on one of them is expected, not a mistake to warn about.
    let missing_somewhere = r.names.iter().any(|n| {
        !n.starts_with('@')
            && (if r.arches.is_empty() {
                profile_arches
            } else {
                &r.arches[..]
            })
            .iter()
            .any(|a| a.table().nr(n).is_none())
    });
    if missing_somewhere {
        let _ = writeln!(out, "      acknowledge: [syscall-not-on-arch]");
    }
    if let Some(c) = r
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let _ = writeln!(out, "      comment: {}", quote(c));
    }
}

/// The profile as YAML text.
pub(crate) fn render(g: &Gen, groups: &GroupSet) -> String {
    let mut out = String::new();
    for h in &g.header {
        comment(&mut out, "", h);
    }
    out.push_str("apiVersion: rampart.dev/v1\nkind: SecurityProfile\n");
    if g.name.is_some() || g.description.is_some() {
        out.push_str("metadata:\n");
        if let Some(n) = &g.name {
            let _ = writeln!(out, "  name: {}", quote(n));
        }
        if let Some(d) = &g.description {
            let _ = writeln!(out, "  description: {}", quote(d));
        }
    }
    if let Some(n) = g.no_new_privileges {
        let _ = writeln!(out, "noNewPrivileges: {n}");
    }
    match &g.capabilities {
        Some(GenCaps::Drop(d)) => {
            let _ = writeln!(out, "capabilities:\n  drop: [{}]", d.join(", "));
        }
        Some(GenCaps::Only(set)) => {
            let list = format!("[{}]", set.join(", "));
            let _ = writeln!(
                out,
                "capabilities:\n  bounding: {list}\n  permitted: {list}\n  effective: {list}\n  inheritable: []"
            );
        }
        Some(GenCaps::Sets(sets)) => {
            out.push_str("capabilities:\n");
            for (key, set) in super::CAP_SET_KEYS.iter().zip(sets) {
                let _ = writeln!(out, "  {key}: [{}]", set.join(", "));
            }
        }
        None => {}
    }
    if let Some((uid, gid, groups)) = &g.user {
        let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "user: {{uid: {uid}, gid: {gid}, groups: [{}]}}",
            groups.join(", ")
        );
    }
    if !g.selinux.is_empty() || g.selinux_label.is_some() || g.mount_label.is_some() {
        out.push_str("selinux:\n");
        for (k, v) in &g.selinux {
            let _ = writeln!(out, "  {k}: {}", quote(v));
        }
        if let Some(l) = &g.selinux_label {
            let _ = writeln!(out, "  label: {}", quote(l));
        }
        if let Some(l) = &g.mount_label {
            let _ = writeln!(out, "  mountLabel: {}", quote(l));
        }
    }
    if let Some((uid_maps, gid_maps)) = &g.id_maps {
        out.push_str("userNamespace:\n  mode: explicit\n");
        for (key, maps) in [("uidMappings", uid_maps), ("gidMappings", gid_maps)] {
            if maps.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {key}:");
            for [c, h, n] in maps {
                let _ = writeln!(out, "    - {{containerID: {c}, hostID: {h}, size: {n}}}");
            }
        }
    }
    if g.seccomp_unconfined {
        out.push_str("seccomp:\n  mode: unconfined\n");
    }
    if let Some(s) = &g.seccomp {
        out.push_str("seccomp:\n");
        let _ = writeln!(
            out,
            "  defaultAction: {}",
            scalar(&action_text(s.default_action))
        );
        if let Some(c) = &s.arch_comment {
            comment(&mut out, "  ", c);
        }
        let _ = writeln!(out, "  architectures: [{}]", s.architectures.join(", "));
        let _ = writeln!(
            out,
            "  unknownSyscallAction: {}",
            scalar(&action_text(s.unknown_action))
        );
        if s.tsync {
            out.push_str("  tsync: true\n");
        }
        if s.log {
            out.push_str("  log: true\n");
        }
        let source = source_name(&g.header);
        // `native` stands for any host: judge names against every table.
        let explicit: Option<Vec<Arch>> =
            s.architectures.iter().map(|a| Arch::from_name(a)).collect();
        let profile_arches = explicit.unwrap_or_else(|| Arch::ALL.to_vec());
        if s.rules.is_empty() {
            out.push_str("  syscalls: []\n");
        } else {
            out.push_str("  syscalls:\n");
            for r in &s.rules {
                rule(&mut out, &source, r, groups, &profile_arches);
            }
        }
        for n in &s.notes {
            comment(&mut out, "  ", n);
        }
    }
    out
}

/// The source file name recorded in the first header line (`Imported from X ...`).
fn source_name(header: &[String]) -> String {
    header
        .first()
        .and_then(|h| h.strip_prefix("Imported from "))
        .and_then(|h| h.split(' ').next())
        .unwrap_or("input")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_quote_only_when_needed() {
        assert_eq!(scalar("read"), "read");
        assert_eq!(scalar("@default-allow"), "\"@default-allow\"");
        assert_eq!(scalar("errno(EPERM)"), "\"errno(EPERM)\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("4.8"), "\"4.8\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }

    #[test]
    fn a_whole_group_becomes_the_group() {
        let g = GroupSet::builtin();
        let members: Vec<String> = g
            .expand("default-allow")
            .unwrap()
            .into_iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(
            match_groups(&members, &g),
            vec!["@default-allow".to_string()]
        );
        let mut more = members.clone();
        more.push("reboot".into());
        more.remove(0);
        let out = match_groups(&more, &g);
        assert!(!out.contains(&"@default-allow".to_string()));
        assert!(out.contains(&"reboot".to_string()));
    }
}
