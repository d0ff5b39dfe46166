//! `rampart run [--security-profile REF] -- PROGRAM [ARGS…]`: compile (or take
//! from the cache), set up the user namespace when asked, start the enforcer,
//! forward signals, and exit with the app's status.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rampart::diagnostic;
use rampart::pipeline::{self, Failure};
use rampart::profile::UsernsMode;
use rampart::resolve::{self, Options};
use rampart::selinux::{Label, McsAllocator};
use rampart_userns::{AutoAllocator, AutoConfig, IdMap, IdMaps, MapWriter};
use sha2::{Digest, Sha256};

/// Exit status for a failure of rampart itself (as Docker and Podman use it).
const EXIT_RAMPART: u8 = 125;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The profile: default, restricted, privileged, localhost/<path> or a .yaml path.
    #[arg(long, default_value = "default", value_name = "REF")]
    security_profile: String,
    /// Where `localhost/` references resolve.
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// Lease state (user-namespace ranges, SELinux MCS pairs).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Compiled-policy cache.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The enforcer binary (default: `rampart-enforce` next to `rampart`).
    #[arg(long, value_name = "PATH", env = "RAMPART_ENFORCE")]
    enforcer: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
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

fn enforcer_path(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let sibling = me.with_file_name("rampart-enforce");
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "the enforcer is not installed next to rampart ({}); build the workspace (`cargo build --release`) or pass --enforcer PATH",
            sibling.display()
        ))
    }
}

/// The cache key: everything the compiled policy depends on.
fn cache_key(texts: &[(String, String)], opts: &Options) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
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
    let enforcer = match enforcer_path(args.enforcer.clone()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };

    // Load the chain first: it is cheap, and its text is the cache key.
    let file = match rampart::reference::ProfileRef::parse(&args.security_profile)
        .and_then(|r| r.load(Path::new("."), opts.profiles_dir.as_deref()))
    {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let (chain, diags) = resolve::load_chain_from(file.clone(), &opts);
    if chain.is_empty() || diags.iter().any(|d| d.is_error()) {
        for d in &diags {
            eprint!("{}", diagnostic::render_text(d));
        }
        return fail(format!("profile `{}` has errors", args.security_profile));
    }
    let texts: Vec<(String, String)> = chain
        .iter()
        .map(|p| (p.file.name.clone(), p.file.text.clone()))
        .collect();
    let (resolved, _) = resolve::resolve_chain(chain, &opts);
    let per_pod_label = rampart::lower::wants_mcs(&resolved);
    let userns_mode = resolved.user_namespace.as_ref().map(|u| u.mode.value);

    // Per-pod allocations are leased to this process, which lives as long as the app.
    let me = std::process::id();
    let mut label: Option<Label> = None;
    let mut _mcs_lease = None;
    if per_pod_label {
        let spec = match resolved.selinux.as_ref().map(rampart::lower::label_spec) {
            Some(Ok(s)) => s,
            Some(Err(d)) => return fail(d.message),
            None => unreachable!("wants_mcs implies a selinux section"),
        };
        let alloc = match McsAllocator::open(state_dir.join("selinux")) {
            Ok(a) => a,
            Err(e) => return fail(format!("cannot open the MCS allocator: {e}")),
        };
        match spec.resolve(&alloc, me) {
            Ok((l, lease)) => {
                label = Some(l);
                _mcs_lease = lease;
            }
            Err(e) => return fail(format!("cannot allocate an MCS pair: {e}")),
        }
    }

    // The compiled policy: from the cache unless it depends on this pod.
    let blob_path;
    let mut temp_blob = None;
    if per_pod_label {
        let compiled = match pipeline::compile_file(file, &opts) {
            Ok(c) => c,
            Err(e) => return report_failure(e),
        };
        let policy = match compiled.policy(label.as_ref()) {
            Ok(p) => p,
            Err(e) => return report_failure(e),
        };
        blob_path = state_dir.join(format!("policy-{me}.blob"));
        if let Err(e) = write_atomically(&blob_path, &rampart_enforce::blob::encode(&policy)) {
            return fail(format!("cannot write {}: {e}", blob_path.display()));
        }
        temp_blob = Some(blob_path.clone());
    } else {
        blob_path = cache_dir.join(format!("{}.blob", cache_key(&texts, &opts)));
        let cached = std::fs::read(&blob_path)
            .ok()
            .filter(|b| rampart_enforce::blob::decode(b).is_ok());
        if cached.is_none() {
            let compiled = match pipeline::compile_file(file, &opts) {
                Ok(c) => c,
                Err(e) => return report_failure(e),
            };
            let policy = match compiled.policy(None) {
                Ok(p) => p,
                Err(e) => return report_failure(e),
            };
            if let Err(e) = write_atomically(&blob_path, &rampart_enforce::blob::encode(&policy)) {
                return fail(format!(
                    "cannot write the policy cache {}: {e}",
                    blob_path.display()
                ));
            }
        }
    }

    // User namespace: asked for by the profile, or implied when not root
    // (rootless: our own ids become root inside, so the capability sets can be set).
    let maps: Option<(IdMaps, IdMaps, Option<rampart_userns::PodIdLease>)> = match userns_mode {
        Some(UsernsMode::Auto) => {
            let size = resolved
                .user_namespace
                .as_ref()
                .and_then(|u| u.size.as_ref())
                .map_or(65536, |s| s.value);
            let config = AutoConfig {
                size,
                ..AutoConfig::default()
            };
            let lease = AutoAllocator::for_invoking_user(state_dir.join("userns"), &config)
                .and_then(|a| a.allocate(me));
            match lease {
                Ok(l) => Some((l.uid_maps(), l.gid_maps(), Some(l))),
                Err(e) => return fail(format!("cannot allocate a user-namespace range: {e}")),
            }
        }
        Some(UsernsMode::Explicit) => {
            let u = resolved
                .user_namespace
                .as_ref()
                .expect("mode implies the section");
            let conv = |m: &[rampart::profile::IdMapping]| -> Result<IdMaps, String> {
                let maps = m
                    .iter()
                    .map(|x| {
                        IdMap::new(x.container_id, x.host_id, x.size).map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                IdMaps::new(maps).map_err(|e| e.to_string())
            };
            let gid_src = if u.gid_mappings.is_empty() {
                &u.uid_mappings
            } else {
                &u.gid_mappings
            };
            match (conv(&u.uid_mappings), conv(gid_src)) {
                (Ok(a), Ok(b)) => Some((a, b, None)),
                (Err(e), _) | (_, Err(e)) => return fail(format!("userNamespace mappings: {e}")),
            }
        }
        _ if euid() != 0 => {
            let gid = nix::unistd::getegid().as_raw();
            match (IdMaps::single(0, euid(), 1), IdMaps::single(0, gid, 1)) {
                (Ok(a), Ok(b)) => Some((a, b, None)),
                (Err(e), _) | (_, Err(e)) => return fail(e),
            }
        }
        _ => None,
    };

    let mut cmd = Command::new(&enforcer);
    cmd.arg("--policy").arg(&blob_path);
    let mut sync = None;
    if maps.is_some() {
        let (ours, theirs) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => return fail(format!("socketpair: {e}")),
        };
        // The child's end must survive exec: clear its close-on-exec flag.
        if let Err(e) = nix::fcntl::fcntl(
            theirs.as_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        ) {
            return fail(format!("fcntl: {e}"));
        }
        use std::os::fd::AsRawFd;
        cmd.arg("--userns-sync-fd")
            .arg(theirs.as_raw_fd().to_string());
        sync = Some((ours, theirs));
    }
    cmd.arg("--").args(&args.command);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {}: {e}", enforcer.display())),
    };
    let pid = child.id();
    if let (Some((mut ours, theirs)), Some((uid, gid, _))) = (sync, maps.as_ref()) {
        drop(theirs);
        let mut byte = [0u8];
        let handshake = ours
            .read_exact(&mut byte)
            .map_err(|e| format!("the enforcer did not report its user namespace: {e}"))
            .and_then(|_| {
                rampart_userns::write_maps(pid, uid, gid, MapWriter::Auto, Path::new("/proc"))
                    .map_err(|e| format!("cannot write the ID maps: {e}"))
            })
            .and_then(|_| {
                ours.write_all(&[1])
                    .map_err(|e| format!("cannot signal the enforcer: {e}"))
            });
        if let Err(e) = handshake {
            let _ = child.kill();
            let _ = child.wait();
            return fail(e);
        }
    }

    // Forward the usual termination and user signals to the app.
    let forward = [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGQUIT,
        signal_hook::consts::SIGUSR1,
        signal_hook::consts::SIGUSR2,
    ];
    if let Ok(mut signals) = signal_hook::iterator::Signals::new(forward) {
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s);
                }
            }
        });
    }
    let status = child.wait();
    if let Some(p) = temp_blob {
        let _ = std::fs::remove_file(p);
    }
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(sig)) => 128 + sig as u8,
            _ => EXIT_RAMPART,
        },
        Err(e) => fail(format!("waiting for the app: {e}")),
    }
}

fn report_failure(e: Failure) -> u8 {
    match e {
        Failure::Diagnostics(diags) => {
            for d in &diags {
                eprint!("{}", diagnostic::render_text(d));
            }
            fail("the profile cannot be compiled")
        }
        other => fail(other),
    }
}
