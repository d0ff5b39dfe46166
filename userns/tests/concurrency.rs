//! Multi-process tests of the lease allocator through `mode: auto`: many
//! processes allocating at once, and processes SIGKILLed at random points.
//! Workers are this test binary re-executed with `RAMPART_USERNS_WORKER`
//! set, running only `worker_entry`. No root needed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use common::{Rng, WORKER_ENV, read_until, worker_command};
use rampart_userns::lease::LeaseState;
use rampart_userns::{AutoAllocator, AutoError, IdPool, LeaseKey, PodIds};

const SIZE: u32 = 65536;

fn wide_pool() -> IdPool {
    IdPool::range(0x1_0000, 1 << 32)
}

/// 64 blocks: small enough that leaking dead leases would exhaust it.
fn small_pool() -> IdPool {
    IdPool::range(0x1_0000, 0x1_0000 + 64 * 0x1_0000)
}

fn assert_disjoint(all: &[PodIds]) {
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert!(!a.conflicts_with(b), "overlap: {a:?} and {b:?}");
        }
    }
}

struct Worker {
    child: Child,
    out: BufReader<ChildStdout>,
}

fn spawn_worker(kind: &str, state: &std::path::Path, count: usize) -> Worker {
    let mut child = worker_command(kind, "worker_entry")
        .env("RAMPART_STATE_DIR", state)
        .env("RAMPART_COUNT", count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    Worker { child, out }
}

#[test]
fn two_hundred_concurrent_allocations_in_eight_processes_never_overlap() {
    const WORKERS: usize = 8;
    const PER: usize = 25;
    let state = tempfile::tempdir().unwrap();
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|_| spawn_worker("alloc", state.path(), PER))
        .collect();
    for w in &mut workers {
        read_until(&mut w.out, "READY", Duration::from_secs(60)).expect("worker ready");
    }
    // Release them together.
    for w in &mut workers {
        w.child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let mut all = Vec::new();
    let mut pids = Vec::new();
    for w in &mut workers {
        pids.push(w.child.id());
        let mut n = 0;
        loop {
            let mut line = String::new();
            assert!(w.out.read_line(&mut line).unwrap() > 0, "worker died early");
            if line.starts_with("DONE") {
                break;
            }
            if let Some(rest) = line.strip_prefix("LEASE ") {
                let f: Vec<u32> = rest
                    .split_whitespace()
                    .map(|x| x.parse().unwrap())
                    .collect();
                all.push(PodIds {
                    uid_start: f[0],
                    gid_start: f[1],
                    count: f[2],
                });
                n += 1;
            }
        }
        assert_eq!(n, PER);
    }
    assert_eq!(all.len(), WORKERS * PER);
    assert_disjoint(&all);
    assert!(
        all.iter()
            .all(|p| p.uid_start % 65536 == 0 && p.count == SIZE)
    );

    // The state file holds exactly these 200 live leases.
    let alloc = AutoAllocator::new(state.path(), wide_pool(), SIZE).unwrap();
    let recs = alloc.records().unwrap();
    assert_eq!(recs.len(), 200);
    let mut from_state: Vec<PodIds> = recs.iter().map(|r| r.key).collect();
    from_state.sort_by_key(|p| p.uid_start);
    all.sort_by_key(|p| p.uid_start);
    assert_eq!(from_state, all);
    assert!(recs.iter().all(|r| pids.contains(&r.owner.pid)));
    assert_eq!(alloc.leases().live_leases().unwrap().len(), 200);

    // Workers exit: all 200 leases are reclaimed.
    for mut w in workers {
        drop(w.child.stdin.take());
        assert!(w.child.wait().unwrap().success());
    }
    assert_eq!(alloc.leases().reclaim().unwrap().len(), 200);
    assert!(alloc.records().unwrap().is_empty());
    assert_eq!(
        alloc.allocate(std::process::id()).unwrap().ids().uid_start,
        0x1_0000
    );
}

#[test]
fn sigkill_at_random_points_leaves_a_consistent_state() {
    const ROUNDS: usize = 40;
    const WORKERS: usize = 3;
    let state = tempfile::tempdir().unwrap();
    let alloc = AutoAllocator::new(state.path(), small_pool(), SIZE).unwrap();
    let state_path = alloc.leases().state_path();
    let mut rng = Rng::new();
    let mut rounds_with_leases = 0;
    let mut max_records = 0;
    for round in 0..ROUNDS {
        let mut workers: Vec<Worker> = (0..WORKERS)
            .map(|_| spawn_worker("churn", state.path(), 0))
            .collect();
        for w in &mut workers {
            read_until(&mut w.out, "STARTED", Duration::from_secs(60)).expect("worker started");
        }
        std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        for w in &mut workers {
            // std's Child::kill sends SIGKILL.
            w.child.kill().unwrap();
        }
        for w in &mut workers {
            w.child.wait().unwrap();
            let mut rest = String::new();
            w.out.read_to_string(&mut rest).unwrap();
            let mut err = String::new();
            w.child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(
                !rest.contains("ERR") && !err.contains("panicked"),
                "round {round}: worker reported an error:\n{rest}\n{err}"
            );
        }
        // The file (if any) always parses and never holds overlapping leases.
        if let Ok(bytes) = std::fs::read(&state_path) {
            let st: LeaseState<PodIds> = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "round {round}: state does not parse: {e}\n{}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            let keys: Vec<PodIds> = st.leases.iter().map(|r| r.key).collect();
            assert_disjoint(&keys);
            if !keys.is_empty() {
                rounds_with_leases += 1;
            }
            max_records = max_records.max(keys.len());
        }
        // Same through the API, under the lock; every owner is dead now.
        let recs = alloc.records().unwrap();
        assert!(alloc.leases().live_leases().unwrap().is_empty());
        // Each worker holds at most 4 leases, and each new worker reclaims
        // the dead ones on its first allocation: without reclaim the 64-block
        // pool would run out within a few rounds.
        assert!(
            recs.len() <= 2 * WORKERS * 4,
            "round {round}: {} records",
            recs.len()
        );
    }
    assert!(
        rounds_with_leases > ROUNDS / 2,
        "kills should mostly land while leases are held ({rounds_with_leases}/{ROUNDS})"
    );
    eprintln!("max records after a kill: {max_records}");
    // Dead owners' leases are reclaimed; the first block is free again.
    alloc.leases().reclaim().unwrap();
    assert!(alloc.records().unwrap().is_empty());
    assert_eq!(
        alloc.allocate(std::process::id()).unwrap().ids().uid_start,
        0x1_0000
    );
}

/// Worker body; does nothing unless `RAMPART_USERNS_WORKER` is set.
#[test]
fn worker_entry() {
    let Ok(kind) = std::env::var(WORKER_ENV) else {
        return;
    };
    let state = std::env::var("RAMPART_STATE_DIR").unwrap();
    let me = std::process::id();
    let mut stdin = std::io::stdin().lock();
    let out = std::io::stdout();
    match kind.as_str() {
        "alloc" => {
            let count: usize = std::env::var("RAMPART_COUNT").unwrap().parse().unwrap();
            let a = AutoAllocator::new(&state, wide_pool(), SIZE).unwrap();
            println!("READY");
            let mut go = String::new();
            stdin.read_line(&mut go).unwrap();
            for _ in 0..count {
                let l = a.allocate(me).unwrap();
                let p = l.ids();
                println!("LEASE {} {} {}", p.uid_start, p.gid_start, p.count);
            }
            println!("DONE");
            out.lock().flush().unwrap();
            // Stay alive (holding the leases) until the parent closes stdin.
            let mut rest = Vec::new();
            let _ = stdin.read_to_end(&mut rest);
        }
        "churn" => {
            let a = AutoAllocator::new(&state, small_pool(), SIZE).unwrap();
            let mut rng = Rng::new();
            let mut held = Vec::new();
            println!("STARTED");
            loop {
                match a.allocate(me) {
                    Ok(l) => held.push(l),
                    Err(AutoError::Exhausted { .. }) => {}
                    Err(e) => {
                        println!("ERR allocate: {e}");
                        return;
                    }
                }
                if held.len() >= 4 || (!held.is_empty() && rng.below(3) == 0) {
                    let i = rng.below(held.len() as u64) as usize;
                    let l = held.swap_remove(i);
                    match a.release(&l) {
                        Ok(true) => {}
                        Ok(false) => {
                            println!("ERR release: a live lease vanished: {l:?}");
                            return;
                        }
                        Err(e) => {
                            println!("ERR release: {e}");
                            return;
                        }
                    }
                }
            }
        }
        other => panic!("unknown worker kind {other}"),
    }
}
