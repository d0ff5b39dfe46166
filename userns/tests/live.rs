//! Live tests against the kernel: a real `unshare --user` child whose maps
//! we write. They need root (the machine's test setup); as another user they
//! print "skipped" and pass.
//!
//! The unprivileged flow re-executes this binary as the user `rampart-test`
//! (created here if missing) with `RAMPART_USERNS_WORKER=unpriv`, running
//! only `worker_entry`, which does the whole parent side as that user.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{NsChild, WORKER_ENV, is_root, worker_command};
use rampart_userns::procfs::Credentials;
use rampart_userns::write::write_once;
use rampart_userns::{
    AutoAllocator, AutoConfig, IdMap, IdMaps, IdPool, MapWriter, WriteError, WriteOptions,
    write_maps, write_maps_with,
};

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

fn errno(e: &WriteError) -> Option<i32> {
    match e {
        WriteError::Write { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

#[test]
fn direct_as_root_maps_the_allocated_range() {
    require_root!();
    let state = tempfile::tempdir().unwrap();
    let alloc = AutoAllocator::new(state.path(), IdPool::range(0x1_0000, 1 << 32), 65536).unwrap();
    let mut c = NsChild::spawn(None);
    let lease = alloc.allocate(c.pid).unwrap();
    let ids = lease.ids();
    write_maps(
        c.pid,
        &lease.uid_maps(),
        &lease.gid_maps(),
        MapWriter::Direct,
        Path::new("/proc"),
    )
    .unwrap();
    let r = c.run_to_mapped();
    assert_eq!(
        IdMaps::from_proc_format(&r.uid_map).unwrap(),
        lease.uid_maps(),
        "{r:?}"
    );
    assert_eq!(
        IdMaps::from_proc_format(&r.gid_map).unwrap(),
        lease.gid_maps(),
        "{r:?}"
    );
    assert_eq!(r.setgroups, "allow", "root leaves setgroups allowed");
    // Before setresuid inside, the child's (unmapped) uid 0 shows as overflow.
    assert_eq!(r.uid_before, "65534");
    assert_eq!((r.uid_after.as_str(), r.gid_after.as_str()), ("0", "0"));
    assert!(r.mapped);
    // Seen from the host, uid 0 inside is the first id of the lease.
    let host = Credentials::of(Path::new("/proc"), c.pid).unwrap();
    assert_eq!((host.uid, host.gid), (ids.uid_start, ids.gid_start));
    assert!(c.finish());
    // The pod is gone: its block is reclaimed and handed out again.
    let again = alloc.allocate(std::process::id()).unwrap();
    assert_eq!(again.ids().uid_start, ids.uid_start);
    assert_eq!(alloc.records().unwrap().len(), 1);
}

#[test]
fn kernel_second_uid_map_write_is_eperm() {
    require_root!();
    let c = NsChild::spawn(None);
    let m = IdMaps::single(0, 0x5_0000, 65536).unwrap();
    write_maps(c.pid, &m, &m, MapWriter::Direct, Path::new("/proc")).unwrap();
    assert_eq!(
        std::fs::read_to_string(c.proc_file("uid_map"))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "327680", "65536"]
    );
    let e = write_once(&c.proc_file("uid_map"), "0 393216 65536\n").unwrap_err();
    assert_eq!(errno(&e), Some(libc::EPERM), "{e}");
    // Through the API: the error names EPERM.
    let e = write_maps(c.pid, &m, &m, MapWriter::Direct, Path::new("/proc")).unwrap_err();
    assert_eq!(errno(&e), Some(libc::EPERM), "{e}");
    assert!(e.to_string().contains("EPERM"), "{e}");
}

#[test]
fn kernel_setgroups_deny_after_gid_map_is_eperm() {
    require_root!();
    // Control: before gid_map, deny is accepted.
    let c1 = NsChild::spawn(None);
    write_once(&c1.proc_file("setgroups"), "deny").unwrap();
    write_once(&c1.proc_file("gid_map"), "0 0 1\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(c1.proc_file("setgroups")).unwrap(),
        "deny\n"
    );
    // After gid_map: EPERM.
    let c2 = NsChild::spawn(None);
    write_once(&c2.proc_file("uid_map"), "0 0 1\n").unwrap();
    write_once(&c2.proc_file("gid_map"), "0 0 1\n").unwrap();
    let e = write_once(&c2.proc_file("setgroups"), "deny").unwrap_err();
    assert_eq!(errno(&e), Some(libc::EPERM), "{e}");
}

fn lines(n: u32) -> String {
    (0..n).map(|i| format!("{i} {i} 1\n")).collect()
}

#[test]
fn kernel_341_lines_is_einval_340_is_fine() {
    require_root!();
    // Both texts are far below a page, so only the extent count differs.
    assert!(lines(341).len() < 4096);
    let c = NsChild::spawn(None);
    let e = write_once(&c.proc_file("uid_map"), &lines(341)).unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "{e}");
    let ok = NsChild::spawn(None);
    write_once(&ok.proc_file("uid_map"), &lines(340)).unwrap();
    // IdMaps agrees with the kernel on both.
    let v = |n: u32| -> Vec<IdMap> { (0..n).map(|i| IdMap::new(i, i, 1).unwrap()).collect() };
    assert!(IdMaps::new(v(341)).is_err());
    assert_eq!(IdMaps::new(v(340)).unwrap().to_proc_format(), lines(340));
}

#[test]
fn kernel_rejects_extent_ending_at_2_pow_32() {
    require_root!();
    // Why IdMap refuses `outside + count == 2^32`: the kernel does too.
    let c = NsChild::spawn(None);
    let e = write_once(&c.proc_file("uid_map"), "0 4294901760 65536\n").unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "{e}");
    assert!(IdMap::new(0, 4294901760, 65536).is_err());
    let c2 = NsChild::spawn(None);
    write_once(&c2.proc_file("uid_map"), "0 4294901759 65536\n").unwrap();
    assert!(IdMap::new(0, 4294901759, 65536).is_ok());
    let c3 = NsChild::spawn(None);
    let e = write_once(&c3.proc_file("uid_map"), "4294901760 0 65536\n").unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "{e}");
}

#[test]
fn failing_newuidmap_fails_the_call_with_its_status() {
    require_root!();
    let c = NsChild::spawn(None);
    // root has no /etc/subuid entry for this range: newuidmap refuses.
    let m = IdMaps::single(0, 0x7F00_0000, 65536).unwrap();
    let e = write_maps(c.pid, &m, &m, MapWriter::Helpers, Path::new("/proc")).unwrap_err();
    match &e {
        WriteError::Helper {
            program,
            status,
            stderr,
            ..
        } => {
            assert_eq!(program, Path::new("newuidmap"));
            assert!(!status.success());
            assert!(status.code().is_some_and(|c| c != 0), "{status}");
            assert!(stderr.contains("newuidmap"), "stderr: {stderr}");
        }
        other => panic!("expected a helper failure, got {other:?}"),
    }
    assert!(e.to_string().contains("exit status"), "{e}");
    // Nothing was mapped.
    assert_eq!(std::fs::read_to_string(c.proc_file("uid_map")).unwrap(), "");
}

const TEST_USER: &str = "rampart-test";
/// rampart-test's aligned subordinate range (above shadow's SUB_UID_MAX so
/// useradd never hands it to anyone else): 16 blocks of 65536.
const TEST_SUB_START: u32 = 0x4000_0000;
const TEST_SUB_COUNT: u32 = 0x10_0000;

fn ensure_line(path: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if text.lines().any(|l| l.trim() == line) {
        return;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    writeln!(f, "{sep}{line}").unwrap();
}

/// Creates `rampart-test` (idempotently) with subuid/subgid entries.
fn ensure_test_user() -> (u32, u32) {
    let lookup = || {
        rampart_userns::User::lookup(
            "/etc/passwd",
            &rampart_userns::UserSpec::Name(TEST_USER.into()),
        )
        .unwrap()
    };
    if lookup().is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                TEST_USER,
            ])
            .output()
            .unwrap();
        // 9: already exists (a concurrent creator won).
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let u = lookup().expect("rampart-test exists");
    let line = format!("{TEST_USER}:{TEST_SUB_START}:{TEST_SUB_COUNT}");
    ensure_line("/etc/subuid", &line);
    ensure_line("/etc/subgid", &line);
    (u.uid, u.gid)
}

#[test]
fn unprivileged_user_maps_through_newuidmap() {
    require_root!();
    let (uid, gid) = ensure_test_user();
    let state = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(state.path(), Some(uid), Some(gid)).unwrap();
    let out = worker_command("unpriv", "worker_entry")
        .env("RAMPART_STATE_DIR", state.path())
        .uid(uid)
        .gid(gid)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("WORKER OK"),
        "worker failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The worker's lease is in the state, with a 65536-aligned block from
    // rampart-test's subordinate range.
    let lease_line = stdout
        .lines()
        .find(|l| l.starts_with("LEASE "))
        .expect("LEASE line");
    let f: Vec<u32> = lease_line[6..]
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(f, vec![TEST_SUB_START, TEST_SUB_START, 65536]);
}

/// Worker body for `unprivileged_user_maps_through_newuidmap`; does nothing
/// unless `RAMPART_USERNS_WORKER=unpriv`.
#[test]
fn worker_entry() {
    if std::env::var(WORKER_ENV).as_deref() != Ok("unpriv") {
        return;
    }
    let me = Credentials::current().unwrap();
    assert_ne!(me.euid, 0, "the worker must not run as root");
    assert!(!me.can_map_any_ids());

    // 1. A 65536-id block from our /etc/subuid entry, through the helpers.
    let state = std::env::var("RAMPART_STATE_DIR").unwrap();
    let alloc = AutoAllocator::for_invoking_user(&state, &AutoConfig::default()).unwrap();
    let mut c = NsChild::spawn(None);
    let lease = alloc.allocate(c.pid).unwrap();
    let ids = lease.ids();
    println!("LEASE {} {} {}", ids.uid_start, ids.gid_start, ids.count);
    let applied = write_maps_with(
        c.pid,
        &lease.uid_maps(),
        &lease.gid_maps(),
        &WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(applied.method, MapWriter::Helpers);
    let r = c.run_to_mapped();
    println!("CHILD1 {r:?}");
    assert_eq!(
        IdMaps::from_proc_format(&r.uid_map).unwrap(),
        lease.uid_maps()
    );
    assert_eq!(
        IdMaps::from_proc_format(&r.gid_map).unwrap(),
        lease.gid_maps()
    );
    assert_eq!(r.uid_before, "65534");
    assert_eq!((r.uid_after.as_str(), r.gid_after.as_str()), ("0", "0"));
    let host = Credentials::of(Path::new("/proc"), c.pid).unwrap();
    assert_eq!((host.uid, host.gid), (ids.uid_start, ids.gid_start));
    assert!(c.finish());

    // 2. Our own single id, written directly (setgroups deny first).
    let mut c = NsChild::spawn(None);
    let u = IdMaps::single(0, me.euid, 1).unwrap();
    let g = IdMaps::single(0, me.egid, 1).unwrap();
    let applied = write_maps_with(c.pid, &u, &g, &WriteOptions::default()).unwrap();
    assert_eq!(applied.method, MapWriter::Direct);
    assert!(applied.setgroups_denied);
    let r = c.run_to_mapped();
    println!("CHILD2 {r:?}");
    assert_eq!(r.setgroups, "deny");
    assert_eq!(IdMaps::from_proc_format(&r.uid_map).unwrap(), u);
    assert_eq!(r.uid_before, "0", "our own uid is mapped to 0");
    assert!(r.mapped);
    assert!(c.finish());

    // 3. Unprivileged direct write of a range we do not own: EPERM.
    let c = NsChild::spawn(None);
    let e = write_maps(
        c.pid,
        &lease.uid_maps(),
        &lease.gid_maps(),
        MapWriter::Direct,
        Path::new("/proc"),
    )
    .unwrap_err();
    assert_eq!(errno(&e), Some(libc::EPERM), "{e}");
    // 4. Outside our subordinate range: newuidmap fails, and so do we.
    let bad = IdMaps::single(0, TEST_SUB_START + TEST_SUB_COUNT, 65536).unwrap();
    let e = write_maps(c.pid, &bad, &bad, MapWriter::Helpers, Path::new("/proc")).unwrap_err();
    assert!(matches!(e, WriteError::Helper { .. }), "{e:?}");
    println!("HELPER-ERROR {e}");
    drop(c);
    println!("WORKER OK");
}
