//! `rampart run [--security-profile REF | --pod POD.yaml [--container NAME]] --
//! PROGRAM [ARGS…]`: resolve the profile (a reference, or one container of a
//! Kubernetes pod), compile it (or take it from the cache), set up the user
//! namespace when asked, start the enforcer, forward signals, and exit with
//! the app's status.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rampart::diagnostic;
use rampart::kube::{self, KubeOptions};
use rampart::lint::Pss;
use rampart::pipeline::{self, Failure};
use rampart::profile::UsernsMode;
use rampart::resolve::{self, Options};
use rampart::selinux::McsAllocator;
use rampart::source::SourceFile;
use rampart_enforce::launch::{Launch, enforce_and_exec};
use rampart_enforce::policy::CompiledPolicy;
use rampart_enforce::report::Report;
use rampart_userns::{AutoAllocator, AutoConfig, IdMap, IdMaps, MapWriter};
use sha2::{Digest, Sha256};

use super::resolve_pod::PssLevel;

/// Exit status for a failure of rampart itself (as Docker and Podman use it).
const EXIT_RAMPART: u8 = 125;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The profile: default, restricted, privileged, localhost/<path> or a .yaml
    /// path [default: default].
    #[arg(long, value_name = "REF", conflicts_with = "pod")]
    security_profile: Option<String>,
    /// Take the profile from a Kubernetes pod manifest (YAML or JSON; a workload
    /// uses its pod template), resolved as `rampart resolve --pod` does.
    #[arg(long, value_name = "POD.yaml")]
    pod: Option<PathBuf>,
    /// The pod's container to run; required when the pod has more than one
    /// (init containers included).
    #[arg(long, value_name = "NAME", requires = "pod")]
    container: Option<String>,
    /// With --pod: the node default, for a container nothing in the pod decides.
    #[arg(long, value_name = "REF", requires = "pod")]
    default_profile: Option<String>,
    /// With --pod: refuse a pod that violates this Pod Security Standards level,
    /// as the admission controller would.
    #[arg(long, value_enum, requires = "pod")]
    pss: Option<PssLevel>,
    /// Where `localhost/` references resolve (with --pod: the kubelet's seccomp
    /// directory, where Localhost profiles live).
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// Lease state (user-namespace ranges, SELinux MCS pairs).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Compiled-policy cache.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Exec this `rampart-enforce` binary in the child instead of applying the
    /// policy in the forked child directly (the same code, one more exec).
    #[arg(long, value_name = "PATH", env = "RAMPART_ENFORCE")]
    enforcer: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// The arguments of the common `rampart run` forms, parsed without clap:
/// `[--security-profile REF] [--profiles-dir DIR] [--state-dir DIR] [--cache-dir
/// DIR] [--enforcer PATH] [--] PROGRAM [ARGS…]` (each option at most once, as
/// `--opt VALUE` or `--opt=VALUE`). Anything else (`--pod`, `--help`, a repeated
/// or unknown option, a value clap would question) returns `None` and goes to clap.
///
/// Building clap's command tree for every subcommand is most of the time and page
/// faults a warm `rampart run` spends before it forks (about 0.2 ms on a VM).
/// `fast_path_agrees_with_clap` checks that every answer equals clap's.
pub fn fast_args(argv: &[OsString]) -> Option<Args> {
    let mut a = Args {
        security_profile: None,
        pod: None,
        container: None,
        default_profile: None,
        pss: None,
        profiles_dir: None,
        state_dir: None,
        cache_dir: None,
        enforcer: None,
        command: Vec::new(),
    };
    let mut it = argv.iter();
    let program = loop {
        let arg = it.next()?;
        let text = arg.to_str()?;
        if text == "--" {
            break it.next()?;
        }
        if !text.starts_with('-') {
            break arg;
        }
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (text, None),
        };
        let value = match inline {
            Some(v) => v,
            None => it.next()?.to_str()?.to_owned(),
        };
        // An empty value, or one that looks like an option, is clap's to judge.
        if value.is_empty() || value.starts_with('-') {
            return None;
        }
        let slot_set = |slot: &mut Option<PathBuf>| slot.replace(PathBuf::from(&value)).is_none();
        let fresh = match flag {
            "--security-profile" => a.security_profile.replace(value.clone()).is_none(),
            "--profiles-dir" => slot_set(&mut a.profiles_dir),
            "--state-dir" => slot_set(&mut a.state_dir),
            "--cache-dir" => slot_set(&mut a.cache_dir),
            "--enforcer" => slot_set(&mut a.enforcer),
            _ => return None,
        };
        if !fresh {
            return None;
        }
    };
    a.command.push(program.clone());
    a.command.extend(it.cloned());
    if a.enforcer.is_none() {
        // clap's `env = "RAMPART_ENFORCE"`; an empty value is clap's to judge.
        match std::env::var_os("RAMPART_ENFORCE") {
            Some(v) if v.is_empty() => return None,
            v => a.enforcer = v.map(PathBuf::from),
        }
    }
    Some(a)
}

fn fail(msg: impl std::fmt::Display) -> u8 {
    eprintln!("rampart run: {msg}");
    EXIT_RAMPART
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn default_dir(kind: &str) -> PathBuf {
    if euid() == 0 {
        match kind {
            "cache" => PathBuf::from("/var/cache/rampart"),
            _ => PathBuf::from("/run/rampart"),
        }
    } else {
        let base = std::env::var_os(if kind == "cache" {
            "XDG_CACHE_HOME"
        } else {
            "XDG_RUNTIME_DIR"
        })
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("rampart-{}", euid())));
        base.join("rampart")
    }
}

/// The cache key: everything the compiled policy depends on (this build's
/// compiler and built-in files, the profile texts, the host options).
fn cache_key(texts: &[(String, String)], opts: &Options) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(rampart_enforce::blob::FORMAT_VERSION.to_le_bytes());
    h.update(rampart::builtin::FINGERPRINT.to_le_bytes());
    for (name, text) in texts {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    h.update(format!("{:?}{:?}{:?}", opts.arches, opts.kernel, opts.cap_last_cap).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// What `rampart run` needs from the resolved profile besides the compiled
/// policy. Cached beside it (`KEY.run`), so a warm run neither parses nor resolves.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RunFacts {
    /// Who the app runs as (0 without a `user` section).
    app_uid: u32,
    userns: Option<UsernsFacts>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum UsernsFacts {
    Auto {
        size: u32,
    },
    /// `[inside, outside, count]` extents.
    Explicit {
        uid: Vec<[u32; 3]>,
        gid: Vec<[u32; 3]>,
    },
}

impl RunFacts {
    fn of(resolved: &resolve::Resolved) -> RunFacts {
        let userns = resolved.user_namespace.as_ref().and_then(|u| {
            let extents = |m: &[rampart::profile::IdMapping]| {
                m.iter()
                    .map(|x| [x.container_id, x.host_id, x.size])
                    .collect::<Vec<_>>()
            };
            match u.mode.value {
                UsernsMode::Auto => Some(UsernsFacts::Auto {
                    size: u.size.as_ref().map_or(65536, |s| s.value),
                }),
                UsernsMode::Explicit => Some(UsernsFacts::Explicit {
                    uid: extents(&u.uid_mappings),
                    // Without gidMappings the gid map follows the uid map.
                    gid: extents(if u.gid_mappings.is_empty() {
                        &u.uid_mappings
                    } else {
                        &u.gid_mappings
                    }),
                }),
                _ => None,
            }
        });
        RunFacts {
            // Without a `user` section the app keeps uid 0: root's own, or root inside
            // the user namespace that rootless and userNamespace runs create.
            app_uid: resolved.user.as_ref().map_or(0, |u| u.uid),
            userns,
        }
    }
}

/// The policy to hand the enforcer and what else the run needs.
#[derive(Debug)]
struct Prepared {
    policy: CompiledPolicy,
    /// The policy's file, for `--enforcer`.
    blob_path: PathBuf,
    /// `blob_path` is this run's own (a per-pod label, no cache), removed when the
    /// app exits.
    temp_blob: bool,
    facts: RunFacts,
    /// Held as long as the app runs.
    mcs_lease: Option<rampart::selinux::McsLease>,
}

/// A cached policy and its facts, if both are present and valid.
fn cache_lookup(cache_dir: &Path, key: &str) -> Option<Prepared> {
    let blob_path = cache_dir.join(format!("{key}.blob"));
    let blob = std::fs::read(&blob_path).ok()?;
    let policy = rampart_enforce::blob::decode(&blob).ok()?;
    let facts = std::fs::read(cache_dir.join(format!("{key}.run"))).ok()?;
    let facts: RunFacts = serde_json::from_slice(&facts).ok()?;
    Some(Prepared {
        policy,
        blob_path,
        temp_blob: false,
        facts,
        mcs_lease: None,
    })
}

/// The cold path: load and resolve the profile, then take its policy from the
/// cache or compile it (always, when the policy carries a per-pod MCS label).
/// Errors are printed here; `Err` holds the exit code.
fn prepare(
    args: &Args,
    opts: &Options,
    state_dir: &Path,
    cache_dir: &Path,
    builtin_key: Option<String>,
) -> Result<Prepared, u8> {
    let (file, what, non_root) = match &args.pod {
        Some(pod) => pod_profile(args, pod, opts)?,
        None => {
            let reference = args.security_profile.as_deref().unwrap_or("default");
            match rampart::reference::ProfileRef::parse(reference)
                .and_then(|r| r.load(Path::new(""), opts.profiles_dir.as_deref()))
            {
                Ok(f) => (f, format!("profile `{reference}`"), None),
                Err(e) => return Err(fail(e)),
            }
        }
    };
    let (chain, diags) = resolve::load_chain_from(file.clone(), opts);
    if chain.is_empty() || diags.iter().any(|d| d.is_error()) {
        // With the later stages' errors too, as `rampart lint` lists them.
        return Err(report_failure(
            pipeline::compile_file(file, opts).map_or_else(|e| e, |_| Failure::Diagnostics(diags)),
            &what,
        ));
    }
    let key = builtin_key.unwrap_or_else(|| {
        let texts: Vec<(String, String)> = chain
            .iter()
            .map(|p| (p.file.name.clone(), p.file.text.clone()))
            .collect();
        cache_key(&texts, opts)
    });
    let check_non_root = |facts: &RunFacts| match &non_root {
        Some(field) if facts.app_uid == 0 => Err(fail(format!(
            "{what}: {field} is true but the app would run as uid 0 (the kubelet refuses to start it); set runAsUser to a non-zero uid"
        ))),
        _ => Ok(()),
    };
    if let Some(hit) = cache_lookup(cache_dir, &key) {
        check_non_root(&hit.facts)?;
        return Ok(hit);
    }
    let (resolved, _) = resolve::resolve_chain(chain, opts);
    let facts = RunFacts::of(&resolved);
    check_non_root(&facts)?;

    // A per-pod MCS pair is leased to this process, which lives as long as the app.
    if rampart::lower::wants_mcs(&resolved) {
        let me = std::process::id();
        let spec = match resolved.selinux.as_ref().map(rampart::lower::label_spec) {
            Some(Ok(s)) => s,
            Some(Err(d)) => return Err(fail(d.message)),
            None => unreachable!("wants_mcs implies a selinux section"),
        };
        let alloc = McsAllocator::open(state_dir.join("selinux"))
            .map_err(|e| fail(format!("cannot open the MCS allocator: {e}")))?;
        let (label, mcs_lease) = spec
            .resolve(&alloc, me)
            .map_err(|e| fail(format!("cannot allocate an MCS pair: {e}")))?;
        let policy = pipeline::compile_file(file, opts)
            .and_then(|c| c.policy(Some(&label)))
            .map_err(|e| report_failure(e, &what))?;
        let (blob_path, temp_blob) = temp_blob(args, state_dir, &policy)?;
        return Ok(Prepared {
            policy,
            temp_blob,
            blob_path,
            facts,
            mcs_lease,
        });
    }

    let policy = pipeline::compile_file(file, opts)
        .and_then(|c| c.policy(None))
        .map_err(|e| report_failure(e, &what))?;
    let blob_path = cache_dir.join(format!("{key}.blob"));
    let facts_json = serde_json::to_vec(&facts).map_err(|e| fail(format!("run facts: {e}")))?;
    // The blob first: a facts file is only ever next to a complete blob.
    let cached = write_atomically(&blob_path, &rampart_enforce::blob::encode(&policy))
        .and_then(|()| write_atomically(&cache_dir.join(format!("{key}.run")), &facts_json));
    let (blob_path, temp_blob) = match cached {
        Ok(()) => (blob_path, false),
        Err(e) => {
            // The cache only spares the next run a compile (a read-only home, a full
            // disk): say so and run with the policy just compiled.
            eprintln!(
                "rampart run: warning: cannot write the policy cache {}: {e}; running without it (set --cache-dir to a writable directory)",
                blob_path.display()
            );
            temp_blob(args, state_dir, &policy)?
        }
    };
    Ok(Prepared {
        policy,
        blob_path,
        temp_blob,
        facts,
        mcs_lease: None,
    })
}

/// A policy file of this run's own, for `--enforcer` (the in-process launch uses
/// the policy itself and writes nothing): its path, and whether it was written
/// (then it is removed when the app exits).
fn temp_blob(
    args: &Args,
    state_dir: &Path,
    policy: &CompiledPolicy,
) -> Result<(PathBuf, bool), u8> {
    let path = state_dir.join(format!("policy-{}.blob", std::process::id()));
    if args.enforcer.is_none() {
        return Ok((path, false));
    }
    write_atomically(&path, &rampart_enforce::blob::encode(policy))
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    Ok((path, true))
}

pub fn run(args: Args) -> u8 {
    let mut opts = Options::host();
    opts.profiles_dir = args.profiles_dir.clone();
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| default_dir("state"));
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(|| default_dir("cache"));
    // A warm run neither parses nor resolves: a built-in profile is keyed by its
    // name (its text is part of this build's fingerprint), anything else by the
    // texts of its `extends` chain.
    let reference = args.security_profile.as_deref().unwrap_or("default");
    let builtin_key = match &args.pod {
        None => rampart::builtin::profile_name(reference)
            .map(|name| cache_key(&[("<builtin>".into(), name.into())], &opts)),
        Some(_) => None,
    };
    let prepared = match builtin_key
        .as_deref()
        .and_then(|key| cache_lookup(&cache_dir, key))
    {
        Some(hit) => hit,
        None => match prepare(&args, &opts, &state_dir, &cache_dir, builtin_key) {
            Ok(p) => p,
            Err(code) => return code,
        },
    };
    let Prepared {
        policy,
        blob_path,
        temp_blob,
        facts,
        mcs_lease: _mcs_lease,
    } = prepared;

    // User namespace: asked for by the profile, or implied when not root
    // (rootless: our own ids become root inside, so the capability sets can be set).
    let me = std::process::id();
    let maps: Option<(IdMaps, IdMaps, Option<rampart_userns::PodIdLease>)> = match &facts.userns {
        Some(UsernsFacts::Auto { size }) => {
            let config = AutoConfig {
                size: *size,
                ..AutoConfig::default()
            };
            let lease = AutoAllocator::for_invoking_user(state_dir.join("userns"), &config)
                .and_then(|a| a.allocate(me));
            match lease {
                Ok(l) => Some((l.uid_maps(), l.gid_maps(), Some(l))),
                Err(e) => return fail(format!("cannot allocate a user-namespace range: {e}")),
            }
        }
        Some(UsernsFacts::Explicit { uid, gid }) => {
            let conv = |m: &[[u32; 3]]| -> Result<IdMaps, String> {
                let maps = m
                    .iter()
                    .map(|&[inside, outside, count]| {
                        IdMap::new(inside, outside, count).map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                IdMaps::new(maps).map_err(|e| e.to_string())
            };
            match (conv(uid), conv(gid)) {
                (Ok(a), Ok(b)) => Some((a, b, None)),
                (Err(e), _) | (_, Err(e)) => return fail(format!("userNamespace mappings: {e}")),
            }
        }
        None if euid() != 0 => {
            let gid = nix::unistd::getegid().as_raw();
            match (IdMaps::single(0, euid(), 1), IdMaps::single(0, gid, 1)) {
                (Ok(a), Ok(b)) => Some((a, b, None)),
                (Err(e), _) | (_, Err(e)) => return fail(e),
            }
        }
        None => None,
    };

    // Signals to forward to the app, and SIGCHLD, are blocked before the child
    // exists and taken with sigwait below: no handler, no extra thread (the child
    // is forked from a single-threaded process). The child starts with an empty
    // mask (std's spawn and the enforcer both reset it).
    let mut signals = SigSet::empty();
    for s in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        signals.add(*s);
    }
    if let Err(e) = signals.thread_block() {
        return fail(format!("cannot block signals: {e}"));
    }

    // The user-namespace handshake runs over a socket pair: the child reports its
    // new namespace, we write its maps, then we let it go on.
    let sync = match maps {
        Some(_) => match UnixStream::pair() {
            Ok(p) => Some(p),
            Err(e) => return fail(format!("socketpair: {e}")),
        },
        None => None,
    };
    let spawned = match &args.enforcer {
        Some(enforcer) => spawn_enforcer(
            enforcer,
            &blob_path,
            sync.as_ref().map(|s| &s.1),
            &args.command,
        ),
        None => spawn_in_process(&policy, sync.as_ref().map(|s| &s.1), &args.command),
    };
    let pid = match spawned {
        Ok(pid) => Pid::from_raw(pid as i32),
        Err(e) => return fail(e),
    };
    if let (Some((mut ours, theirs)), Some((uid, gid, _))) = (sync, maps.as_ref()) {
        drop(theirs);
        let mut byte = [0u8];
        let handshake = ours
            .read_exact(&mut byte)
            .map_err(|e| format!("the enforcer did not report its user namespace: {e}"))
            .and_then(|_| {
                rampart_userns::write_maps(
                    pid.as_raw() as u32,
                    uid,
                    gid,
                    MapWriter::Auto,
                    Path::new("/proc"),
                )
                .map_err(|e| format!("cannot write the ID maps: {e}"))
            })
            .and_then(|_| {
                ours.write_all(&[1])
                    .map_err(|e| format!("cannot signal the enforcer: {e}"))
            });
        if let Err(e) = handshake {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return fail(e);
        }
    }

    let status = wait_forwarding(pid, &signals);
    if temp_blob {
        let _ = std::fs::remove_file(&blob_path);
    }
    match status {
        Ok(WaitStatus::Exited(_, code)) => code as u8,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as u8,
        Ok(other) => fail(format!("unexpected child status {other:?}")),
        Err(e) => fail(format!("waiting for the app: {e}")),
    }
}

/// The usual termination and user signals, passed on to the app.
const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Waits for `pid` to end, forwarding the blocked signals in `signals` to it.
fn wait_forwarding(pid: Pid, signals: &SigSet) -> nix::Result<WaitStatus> {
    loop {
        match signals.wait()? {
            Signal::SIGCHLD => match waitpid(pid, Some(WaitPidFlag::WNOHANG))? {
                WaitStatus::StillAlive => continue,
                done @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => return Ok(done),
                _ => continue,
            },
            sig => {
                let _ = kill(pid, sig);
            }
        }
    }
}

/// Forks a child that applies `policy` to itself and execs the program: the
/// enforcer's own code (`rampart_enforce::launch`), run without a second exec.
fn spawn_in_process(
    policy: &CompiledPolicy,
    sync: Option<&UnixStream>,
    command: &[OsString],
) -> Result<u32, String> {
    let Some((program, rest)) = command.split_first() else {
        return Err("missing PROGRAM".into());
    };
    let proc_root = PathBuf::from("/proc");
    let launch = Launch {
        program,
        args: rest,
        // Close-on-exec already (std's sockets are), so the app never sees it.
        userns_sync_fd: sync.map(|s| s.as_raw_fd()),
        cwd: None,
        proc_root: &proc_root,
        command: "rampart run",
    };
    rampart_enforce::sys::fork_child(|| {
        enforce_and_exec(policy.clone(), &launch, &mut Report::new(None))
    })
    .map_err(|e| format!("cannot start the app: {e}"))
}

/// Runs the `rampart-enforce` binary at `enforcer` on the policy file (`--enforcer`).
fn spawn_enforcer(
    enforcer: &Path,
    blob_path: &Path,
    sync: Option<&UnixStream>,
    command: &[OsString],
) -> Result<u32, String> {
    let mut cmd = Command::new(enforcer);
    cmd.arg("--policy").arg(blob_path);
    if let Some(theirs) = sync {
        // The child's end must survive exec: clear its close-on-exec flag.
        nix::fcntl::fcntl(
            theirs.as_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(|e| format!("fcntl: {e}"))?;
        cmd.arg("--userns-sync-fd")
            .arg(theirs.as_raw_fd().to_string());
    }
    cmd.arg("--").args(command);
    // The pid is reaped with waitpid by the caller; std's Child does not reap on drop.
    cmd.spawn()
        .map(|c| c.id())
        .map_err(|e| format!("cannot start {}: {e}", enforcer.display()))
}

/// Resolves the profile of one container of a pod manifest: the generated
/// profile, a description for messages, and the `runAsNonRoot` field that
/// applies to it. Errors are printed here; `Err` holds the exit code.
fn pod_profile(
    args: &Args,
    pod: &Path,
    opts: &Options,
) -> Result<(Arc<SourceFile>, String, Option<String>), u8> {
    let text = std::fs::read_to_string(pod).map_err(|e| {
        fail(format!(
            "cannot read the pod manifest {}: {e}",
            pod.display()
        ))
    })?;
    let name = pod.display().to_string();
    let print = |diags: &mut Vec<diagnostic::Diagnostic>| {
        diagnostic::sort(diags);
        for d in diags.iter() {
            eprint!("{}", diagnostic::render_text(d));
        }
    };
    let parsed = kube::parse_pod(&text, &name).map_err(|mut d| {
        print(&mut d);
        fail(format!("{name} is not a usable pod manifest"))
    })?;
    let pod_name = parsed.metadata.name.clone().unwrap_or_else(|| "pod".into());
    let spec = parsed.spec.clone().unwrap_or_default();
    let names: Vec<&str> = kube::containers(&spec).map(|c| c.name.as_str()).collect();
    let container = match (&args.container, names.as_slice()) {
        (Some(c), _) if names.contains(&c.as_str()) => c.clone(),
        (Some(c), _) => {
            return Err(fail(format!(
                "pod `{pod_name}` ({name}) has no container `{c}`; its containers: {}",
                names.join(", ")
            )));
        }
        (None, [only]) => (*only).to_string(),
        (None, []) => {
            return Err(fail(format!("pod `{pod_name}` ({name}) has no containers")));
        }
        (None, _) => {
            return Err(fail(format!(
                "pod `{pod_name}` ({name}) has {} containers ({}): choose one with --container NAME",
                names.len(),
                names.join(", ")
            )));
        }
    };
    if let Some(level) = args.pss {
        let level = match level {
            PssLevel::Baseline => Pss::Baseline,
            PssLevel::Restricted => Pss::Restricted,
        };
        let violations = kube::pss_violations(&parsed, level);
        if !violations.is_empty() {
            return Err(fail(format!(
                "pod `{pod_name}` ({name}) {}",
                kube::pss_message(level, &violations)
            )));
        }
    }
    let kopts = KubeOptions {
        source_name: name.clone(),
        default_profile: args
            .default_profile
            .clone()
            .unwrap_or_else(|| "default".into()),
        profiles_dir: opts.profiles_dir.clone(),
    };
    let mut resolved = kube::resolve(&text, Some(&container), &kopts).map_err(|mut d| {
        print(&mut d);
        fail(format!(
            "pod `{pod_name}` ({name}), container `{container}`: the pod cannot be resolved"
        ))
    })?;
    // `resolve` with a known container name yields exactly that container.
    let Some(r) = resolved.pop() else {
        return Err(fail(format!(
            "pod `{pod_name}` ({name}): container `{container}` was not resolved"
        )));
    };
    for w in &r.warnings {
        eprint!("{}", diagnostic::render_text(w));
    }
    Ok((
        r.source_file(&pod_name),
        format!("pod `{pod_name}` ({name}), container `{container}`"),
        r.requires_non_root,
    ))
}

/// Prints why `what` (the profile, the pod's container) cannot run; the exit code.
fn report_failure(e: Failure, what: &str) -> u8 {
    match e {
        Failure::Diagnostics(diags) => {
            for d in &diags {
                eprint!("{}", diagnostic::render_text(d));
            }
            fail(format!("{what} has errors"))
        }
        other => fail(other),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use proptest::prelude::*;

    use super::*;

    fn clap_args(argv: &[OsString]) -> Option<Args> {
        let full = ["rampart", "run"]
            .map(OsString::from)
            .into_iter()
            .chain(argv.iter().cloned());
        match crate::Cli::try_parse_from(full).ok()?.command {
            crate::Command::Run(a) => Some(a),
            _ => None,
        }
    }

    fn check(argv: &[OsString]) {
        if let Some(fast) = fast_args(argv) {
            let slow = clap_args(argv);
            assert_eq!(
                Some(format!("{fast:?}")),
                slow.map(|s| format!("{s:?}")),
                "fast path and clap disagree on {argv:?}"
            );
        }
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn fast_path_takes_the_common_forms() {
        let a = fast_args(&os(&["--security-profile", "restricted", "--", "ls", "-l"])).unwrap();
        assert_eq!(a.security_profile.as_deref(), Some("restricted"));
        assert_eq!(a.command, os(&["ls", "-l"]));
        let a = fast_args(&os(&["--profiles-dir=/p", "sh", "-c", "--pod x"])).unwrap();
        assert_eq!(a.profiles_dir, Some(PathBuf::from("/p")));
        assert_eq!(a.command, os(&["sh", "-c", "--pod x"]));
        for declined in [
            &["--pod", "p.yaml", "--", "ls"][..],
            &["--help"],
            &["--security-profile", "a", "--security-profile", "b", "ls"],
            &["--security-profile", "--", "ls"],
            &["-x", "ls"],
            &["--"],
            &[],
        ] {
            assert!(fast_args(&os(declined)).is_none(), "{declined:?}");
        }
        for argv in [
            &["--security-profile", "restricted", "--", "ls", "-l"][..],
            &["--profiles-dir=/p", "sh", "-c", "--pod x"],
            &[
                "--cache-dir",
                "c",
                "--state-dir",
                "s",
                "--enforcer=/e",
                "--",
                "--",
                "x",
            ],
            &["--security-profile=", "ls"],
            &["ls", "--security-profile", "x"],
        ] {
            check(&os(argv));
        }
    }

    proptest! {
        /// Every argument list the fast path accepts, clap parses to the same `Args`.
        #[test]
        fn fast_path_agrees_with_clap(words in prop::collection::vec(prop::sample::select(vec![
            "--security-profile", "--profiles-dir", "--state-dir", "--cache-dir", "--enforcer",
            "--pod", "--container", "--help", "--", "-", "-l", "=", "--security-profile=x",
            "--cache-dir=", "--enforcer=e", "--nope", "default", "ls", "a b", "",
        ]), 0..8)) {
            check(&os(&words));
        }
    }
}
