//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), as plain functions
//! so that the fuzzers and the corpus replay test (`tests/fuzz_corpus.rs`) run
//! exactly the same code.
//!
//! Every function takes arbitrary bytes and panics only when an invariant of
//! rampart is violated (a real bug): an error is an acceptable answer to bad
//! input, a panic, an out-of-range span or a filter that disagrees with its IR
//! is not. See `docs/ASSURANCE.md` for what each target checks.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use rampart_enforce::bpf::{self, SockFilter};

use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::diagnostic::{self, Diagnostic};
use crate::expr;
use crate::lint::{self, Pss};
use crate::profile;
use crate::reference::ProfileRef;
use crate::resolve::{self, Options};
use crate::seccomp::ir::{Action, ArchIr, Cmp, CmpOp, Cond, FilterIr, MAX_ERRNO, Rule, Width};
use crate::seccomp::simulate::{self, SeccompData, Simulator};
use crate::seccomp::{self, CompileError, EmitError};
use crate::source::{Location, SourceFile};

/// The names of the fuzz targets, as `fuzz/fuzz_targets/NAME.rs`, the corpus
/// directories `fuzz/corpus/NAME/` and the functions of this module.
pub const TARGETS: &[&str] = &[
    "profile",
    "expr",
    "blob",
    "bpf_check_simulate",
    "seccomp_emit",
    "import",
    "userns",
];

/// Runs target `name` on `data`. Returns `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "profile" => profile(data),
        "expr" => expr(data),
        "blob" => blob(data),
        "bpf_check_simulate" => bpf_check_simulate(data),
        "seccomp_emit" => seccomp_emit(data),
        "import" => import(data),
        "userns" => userns(data),
        _ => return false,
    }
    true
}

/// The fixed options every profile input is compiled with: the four arches of
/// an x86_64 + arm64 fleet, kernel 6.18, `cap_last_cap` 40. Fixed so that a
/// corpus file means the same on every machine.
pub fn options() -> &'static Options {
    static OPTS: OnceLock<Options> = OnceLock::new();
    OPTS.get_or_init(|| Options {
        arches: Some(vec![Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64]),
        kernel: (6, 18),
        cap_last_cap: Some(40),
        profiles_dir: None,
        ..Options::host()
    })
}

/// The name the fuzzed profile is loaded under.
pub const FUZZ_FILE: &str = "fuzz.yaml";

/// Asserts that a location is a valid range of its own file, on character
/// boundaries, and (for the fuzzed file) of exactly the fuzzed text.
fn check_location(loc: &Location, input: &Arc<SourceFile>, what: &str) {
    let text = &loc.file.text;
    let r = &loc.range;
    assert!(
        r.start <= r.end && r.end <= text.len(),
        "{what}: range {r:?} outside {} ({} bytes)",
        loc.file.name,
        text.len()
    );
    assert!(
        text.is_char_boundary(r.start) && text.is_char_boundary(r.end),
        "{what}: range {r:?} of {} is not on character boundaries",
        loc.file.name
    );
    if loc.file.name == FUZZ_FILE {
        assert!(
            loc.file.text == input.text,
            "{what}: points into a different text named {FUZZ_FILE}"
        );
    }
}

/// Checks every diagnostic's spans and renders it as text.
fn check_diagnostics(diags: &[Diagnostic], input: &Arc<SourceFile>) {
    for d in diags {
        check_location(&d.primary, input, d.code);
        for (loc, _) in &d.secondary {
            check_location(loc, input, d.code);
        }
        let text = diagnostic::render_text(d);
        assert!(
            text.contains(d.code),
            "rendered diagnostic lacks its code: {text}"
        );
        let _ = diagnostic::to_json(d);
        let _ = diagnostic::render_github(d);
    }
}

/// The profile's `extends` reference, if it has a valid one.
fn parent_ref(file: &Arc<SourceFile>) -> Option<ProfileRef> {
    let (p, _) = profile::parse(file);
    ProfileRef::parse(&p?.extends?.value).ok()
}

/// Whether loading this profile would read a file through `extends: <path>`.
/// Such inputs are not run: the result would depend on the machine's files.
/// Built-in and `localhost/` references (there is no profiles directory in
/// [`options`]: an error) stay in.
fn reads_files(file: &Arc<SourceFile>) -> bool {
    matches!(parent_ref(file), Some(ProfileRef::Path(_)))
}

/// `profile`: YAML bytes → lint (restricted PSS) → spans and rendering checked;
/// then, when clean, resolution and lowering to the seccomp IR.
pub fn profile(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let file = SourceFile::new(FUZZ_FILE, text);
    if reads_files(&file) {
        return;
    }
    let diags = lint::lint_file(&file, options(), Some(Pss::Restricted));
    check_diagnostics(&diags, &file);
    if diags.iter().any(Diagnostic::is_error) {
        return;
    }
    compile_linted(&file);
}

/// The pipeline after a clean lint: load, resolve and lower `file`, checking the
/// IR's contract, then compile the IR and check the filter against it.
fn compile_linted(file: &Arc<SourceFile>) {
    let opts = options();
    let (chain, diags) = resolve::load_chain_from(Arc::clone(file), opts);
    check_diagnostics(&diags, file);
    if chain.is_empty() || diags.iter().any(Diagnostic::is_error) {
        // A group file (`kind: SyscallGroups`) lints clean but is no profile.
        return;
    }
    let (resolved, diags) = resolve::resolve_chain(chain, opts);
    check_diagnostics(&diags, file);
    let (ir, diags) = resolve::lower_seccomp(&resolved, opts);
    check_diagnostics(&diags, file);
    let Some(ir) = ir else { return };
    assert!(
        !diags.iter().any(Diagnostic::is_error),
        "lower_seccomp returned an IR together with errors"
    );
    for a in &ir.arches {
        for rules in a.syscalls.values() {
            for r in rules {
                for c in r.cond.cmps() {
                    assert!(c.arg <= 5, "lowered a comparison of arg{}", c.arg);
                }
                if let Some(o) = r.origin {
                    assert!(ir.origin(o).is_some(), "dangling origin {o:?}");
                }
                check_action(r.action);
            }
        }
        check_action(a.default_action);
        check_action(a.unknown_action);
    }
    check_action(ir.bad_arch_action);
    if let Some(program) = compile_valid_ir(&ir) {
        check_filter_against_ir(&ir, &program, &[]);
    }
}

/// `userns`: the text formats the user-namespace code reads from the host
/// (`/proc/PID/uid_map`, `/etc/subuid`, `/etc/passwd`, `/proc/PID/stat` and
/// `status`), as a rootless `rampart run` does. A map that parses must print
/// and parse back to itself and translate each extent's ends; a subordinate
/// file that parses must give ranges inside the 32-bit id space, and every pod
/// block drawn from them must lie inside one of them and make a valid map.
pub fn userns(data: &[u8]) {
    use rampart_userns::auto::IdPool;
    use rampart_userns::map::IdMaps;
    use rampart_userns::procfs::{Credentials, parse_stat};
    use rampart_userns::subid::{SubIdFile, User, UserSpec};

    let text = String::from_utf8_lossy(data);
    if let Ok(maps) = IdMaps::from_proc_format(&text) {
        let printed = maps.to_proc_format();
        let again = IdMaps::from_proc_format(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} does not parse back: {e}"));
        assert_eq!(again, maps, "uid_map text does not round-trip");
        for e in maps.extents() {
            let last = e.count() - 1;
            assert_eq!(maps.to_outside(e.inside()), Some(e.outside()));
            assert_eq!(maps.to_outside(e.inside() + last), Some(e.outside() + last));
        }
        let _ = maps.helper_args();
    }
    if let Ok(file) = SubIdFile::parse(&text) {
        for r in file.ranges() {
            assert!(
                r.end() <= 1 << 32 && r.end() == u64::from(r.start()) + u64::from(r.count()),
                "range {r:?} past the id space"
            );
        }
        let owner = file.ranges().first().map(|r| r.owner().clone());
        let who = User {
            name: match &owner {
                Some(rampart_userns::subid::SubIdOwner::Name(n)) => n.clone(),
                _ => "fuzz".into(),
            },
            uid: match owner {
                Some(rampart_userns::subid::SubIdOwner::Uid(u)) => u,
                _ => 1000,
            },
            gid: 1000,
        };
        let pool = IdPool::subordinate(&who.name, &file, &file, &who);
        for size in [1, 65536] {
            for pod in pool.candidates(size).take(4) {
                let inside = |start: u32, spans: &[rampart_userns::auto::Span]| {
                    let (a, b) = (u64::from(start), u64::from(start) + u64::from(size));
                    spans.iter().any(|s| s.start <= a && b <= s.end)
                };
                assert!(
                    inside(pod.uid_start, &pool.uids),
                    "{pod:?} outside {:?}",
                    pool.uids
                );
                assert!(
                    inside(pod.gid_start, &pool.gids),
                    "{pod:?} outside {:?}",
                    pool.gids
                );
                pod.uid_maps().expect("a pod block makes a valid uid map");
                pod.gid_maps().expect("a pod block makes a valid gid map");
            }
        }
    }
    let first = text.lines().next().unwrap_or("");
    let spec = UserSpec::parse(first.split(':').next().unwrap_or(""));
    if let Some(u) = User::from_passwd_text(&text, &spec) {
        match &spec {
            UserSpec::Name(n) => assert_eq!(&u.name, n),
            UserSpec::Uid(id) => assert_eq!(u.uid, *id),
        }
    }
    let _ = parse_stat(&text);
    let _ = Credentials::parse_status(&text);
}

/// Where the `import` target's SPO base profiles and Kubernetes `Localhost`
/// profiles are looked up: nowhere, so that no input reads the machine's files.
const NO_DIR: &str = "/nonexistent/rampart-fuzz";

/// `import`: the same bytes through every foreign-format importer (OCI, Docker,
/// SPO, appc, seccompiler) and through the Kubernetes pod resolver. Every
/// diagnostic's spans are checked. What an importer or the resolver accepts
/// must be a profile that lints without errors and compiles to a filter that
/// decides like its IR: `rampart convert` and `rampart run --pod` hand their
/// output to the ordinary pipeline, and an error found only there would point
/// into generated text instead of the user's file.
pub fn import(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let input = SourceFile::new(FUZZ_FILE, text.clone());
    let _ = crate::import::detect(&text);
    let opts = crate::import::ImportOptions {
        source_name: FUZZ_FILE.into(),
        filter: None,
        base_dir: Some(NO_DIR.into()),
        arch: Some(Arch::X86_64),
    };
    // Every format, whatever `detect` says: that reaches each importer's error
    // paths with foreign-looking text too.
    for &format in <crate::import::Format as clap::ValueEnum>::value_variants() {
        match crate::import::load(format, &text, &opts) {
            Err(diags) => check_diagnostics(&diags, &input),
            Ok(imported) => {
                check_diagnostics(&imported.warnings, &input);
                let generated = imported.source_file("fuzz.imported.yaml");
                check_generated(&generated, format.name());
            }
        }
    }
    let kopts = crate::kube::KubeOptions {
        source_name: FUZZ_FILE.into(),
        default_profile: "default".into(),
        profiles_dir: Some(NO_DIR.into()),
    };
    match crate::kube::resolve(&text, None, &kopts) {
        Err(diags) => check_diagnostics(&diags, &input),
        Ok(containers) => {
            for c in &containers {
                check_diagnostics(&c.warnings, &input);
                check_generated(&c.source_file("fuzz"), "pod");
            }
        }
    }
    if let Ok(pod) = crate::kube::parse_pod(&text, FUZZ_FILE) {
        for level in [Pss::Baseline, Pss::Restricted] {
            let _ = crate::kube::pss_message(level, &crate::kube::pss_violations(&pod, level));
        }
    }
}

/// A profile rampart generated (an import, a pod's container): it lints
/// without errors and goes through the rest of the pipeline.
fn check_generated(file: &Arc<SourceFile>, from: &str) {
    // A `Localhost` pod profile in rampart YAML is extended by reference, and
    // what that reads is the profiles directory's business, not the resolver's.
    if matches!(
        parent_ref(file),
        Some(ProfileRef::Localhost(_) | ProfileRef::Path(_))
    ) {
        return;
    }
    let diags = lint::lint_file(file, options(), None);
    check_diagnostics(&diags, file);
    if let Some(e) = diags.iter().find(|d| d.is_error()) {
        panic!(
            "{from}: the generated profile has an error: {}\n{}",
            diagnostic::render_text(e),
            file.text
        );
    }
    compile_linted(file);
}

/// The IR's contract on actions: errno data is at most `MAX_ERRNO`.
fn check_action(a: Action) {
    if let Action::Errno(e) = a {
        assert!(e <= MAX_ERRNO, "lowered errno({e}), above MAX_ERRNO");
    }
}

/// `expr`: a `when` expression → parse; errors must point inside the text, a
/// parsed condition must satisfy the IR's contract.
pub fn expr(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    match expr::parse(&src) {
        Err(e) => {
            let r = &e.range;
            assert!(
                r.start <= r.end && r.end <= src.len(),
                "error range {r:?} outside the {}-byte expression",
                src.len()
            );
            assert!(
                src.is_char_boundary(r.start) && src.is_char_boundary(r.end),
                "error range {r:?} not on character boundaries"
            );
        }
        Ok(cond) => {
            for c in cond.cmps() {
                assert!(c.arg <= 5, "parsed a comparison of arg{}", c.arg);
                if c.width == Width::U32 {
                    assert!(
                        c.value <= u64::from(u32::MAX) && c.mask <= u64::from(u32::MAX),
                        "u32 comparison with a 64-bit constant: {c:?}"
                    );
                }
            }
            // The condition compiles to BPF that decides exactly like it.
            let ir = FilterIr {
                arches: vec![ArchIr {
                    arch: Arch::X86_64,
                    syscalls: BTreeMap::from([(
                        1,
                        vec![Rule {
                            cond,
                            action: Action::Errno(1),
                            origin: None,
                        }],
                    )]),
                    default_action: Action::Allow,
                    default_origin: None,
                    max_known_nr: 500,
                    unknown_action: Action::Errno(38),
                }],
                bad_arch_action: Action::KillProcess,
                origins: Vec::new(),
            };
            if let Some(program) = compile_valid_ir(&ir) {
                check_filter_against_ir(&ir, &program, &[]);
            }
        }
    }
}

/// `blob`: the enforcer's blob decoder (whole blob and bare body); whatever
/// decodes must re-encode to the same bytes.
pub fn blob(data: &[u8]) {
    rampart_enforce::blob::fuzz_decode(data);
}

/// The seed inputs of the `blob` target: real policies as the compiler builds
/// them (the built-in profiles and the `full-shape` corpus profile), plus an
/// empty policy and one with every part, encoded with
/// [`rampart_enforce::blob::encode`]. `tests/fuzz_corpus.rs` checks that the
/// committed files `fuzz/corpus/blob/seed-NAME.blob` still decode and rewrites
/// them when `RAMPART_FUZZ_BLESS=1`.
pub fn seed_blobs() -> Vec<(String, Vec<u8>)> {
    use rampart_enforce::blob::encode;
    use rampart_enforce::bpf::{SeccompProgram, SockFilter, op::*, ret};
    use rampart_enforce::policy::{
        CompatGate, Compatibility, CompiledPolicy, LandlockSpec, LandlockSpecParts, PathRule,
        Scopes, SeccompSpec, fs_access,
    };

    // A small hand-written filter stands in for the compiled one: the blob
    // format does not look inside the program.
    // x86_64 → 4, i386 → 3 (its compat gate), else kill.
    let program = SeccompProgram::new(vec![
        SockFilter::stmt(LD | W | ABS, 4),
        SockFilter::jump(JMP | JEQ | K, Arch::X86_64.audit_arch(), 2, 0),
        SockFilter::jump(JMP | JEQ | K, Arch::X86.audit_arch(), 0, 5),
        rampart_enforce::bpf::gate::OPEN,
        SockFilter::stmt(LD | W | ABS, 0),
        SockFilter::jump(JMP | JEQ | K, 83, 0, 1),
        SockFilter::stmt(RET | K, ret::ERRNO | 1),
        SockFilter::stmt(RET | K, ret::ALLOW),
        SockFilter::stmt(RET | K, ret::KILL_PROCESS),
    ])
    .expect("valid seed program");
    let spec = SeccompSpec {
        program,
        tsync: true,
        log: false,
        required: true,
        compat_gates: vec![CompatGate {
            arch: Arch::X86.audit_arch(),
            at: 3,
        }],
    };
    let mut out = vec![(
        "empty".to_string(),
        encode(&CompiledPolicy::builder().build().expect("empty policy")),
    )];
    let full_shape = "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nextends: default
user: {uid: 101, gid: 101, groups: [5, 6]}
capabilities: {drop: [ALL], add: [NET_BIND_SERVICE], ambient: [NET_BIND_SERVICE]}
selinux: {type: container_t, level: \"s0:c1,c2\", mountLabel: \"system_u:object_r:container_file_t:s0\"}
landlock: {compatibility: best-effort, paths: [{path: /usr, access: [read, execute]}], net: {bindTcp: [80]}}
";
    let sources = [
        ("default", crate::builtin::profile("default")),
        ("restricted", crate::builtin::profile("restricted")),
        ("privileged", crate::builtin::profile("privileged")),
        ("full-shape", Some(SourceFile::new(FUZZ_FILE, full_shape))),
    ];
    for (name, file) in sources {
        let file = file.expect("built-in profile");
        let (chain, _) = resolve::load_chain_from(file, options());
        let (resolved, _) = resolve::resolve_chain(chain, options());
        let policy = crate::lower::build_policy(&resolved, Some(spec.clone()), None)
            .unwrap_or_else(|d| panic!("seed profile {name} does not build: {d:?}"));
        out.push((name.to_string(), encode(&policy)));
    }
    let everything = CompiledPolicy::builder()
        .seccomp(spec)
        .landlock(
            LandlockSpec::new(LandlockSpecParts {
                compatibility: Compatibility::Required,
                handled_fs: fs_access::ABI1_ALL,
                handle_bind_tcp: true,
                handle_connect_tcp: true,
                paths: vec![PathRule::new("/", fs_access::READ_EXEC).expect("path rule")],
                bind_tcp: vec![80, 443],
                connect_tcp: vec![53],
                scopes: Scopes {
                    abstract_unix: true,
                    signal: true,
                },
            })
            .expect("landlock spec"),
        )
        .personality(8)
        .keep_fds([3, 7])
        .build()
        .expect("full policy");
    out.push(("everything".to_string(), encode(&everything)));
    out
}

// ---------------------------------------------------------------------------
// The seccomp back end: BPF checks, the simulator, the emitter.
// ---------------------------------------------------------------------------

/// A cursor over fuzz bytes that reads zeros once they run out, so every
/// input decodes to something.
#[derive(Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    /// `n` in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::from(self.u8()) % bound
    }
}

/// `bpf_check_simulate`: bytes 0-1 are an instruction count N (little endian),
/// the next 8·N bytes
/// the program, the rest `seccomp_data` vectors (64 bytes each). The kernel
/// checks (`bpf::check`), `SeccompProgram` and the simulator must agree on
/// whether the program is valid; a valid one must run on every vector: a
/// forward path inside the program that ends at a `ret` (or a division by
/// zero, which returns 0), the same result twice, and ALLOW wherever the
/// action-cache emulation says the kernel would skip the filter.
pub fn bpf_check_simulate(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (n, rest) = data.split_at(2);
    let n = usize::from(u16::from_le_bytes([n[0], n[1]]));
    let len = (n * 8).min(rest.len() / 8 * 8);
    let (prog_bytes, tail) = rest.split_at(len);
    let prog = SockFilter::parse_raw(prog_bytes);
    let checked = bpf::check(&prog);
    let sim = Simulator::new(&prog);
    assert_eq!(
        checked.is_ok(),
        sim.is_ok(),
        "bpf::check and Simulator::new disagree: {checked:?}"
    );
    let owned = bpf::SeccompProgram::new(prog.clone());
    assert_eq!(
        checked.is_ok(),
        owned.is_ok(),
        "bpf::check and SeccompProgram::new disagree"
    );
    let from_bytes = bpf::SeccompProgram::from_bytes(prog_bytes);
    assert_eq!(
        checked.is_ok(),
        from_bytes.is_ok(),
        "bpf::check and from_bytes disagree"
    );
    let (Ok(sim), Ok(owned)) = (sim, owned) else {
        // Refused programs are refused without running.
        assert!(simulate::simulate(&prog, &SeccompData::default()).is_err());
        return;
    };
    assert_eq!(owned.instructions(), &prog[..]);
    assert_eq!(owned.to_bytes(), prog_bytes, "to_bytes does not round-trip");
    let mut vectors: Vec<SeccompData> = tail
        .chunks(64)
        .take(16)
        .map(|c| {
            let mut b = Bytes::new(c);
            let (nr, arch, ip) = (b.u32(), b.u32(), b.u64());
            let args = [b.u64(), b.u64(), b.u64(), b.u64(), b.u64(), b.u64()];
            SeccompData {
                nr,
                arch,
                instruction_pointer: ip,
                args,
            }
        })
        .collect();
    if vectors.is_empty() {
        vectors.push(SeccompData::default());
    }
    for d in &vectors {
        let r = sim.trace(d);
        assert!(
            r.executed >= 1 && r.executed <= prog.len(),
            "executed {} of {}",
            r.executed,
            prog.len()
        );
        assert_eq!(r.executed, r.pcs.len());
        assert!(
            r.pcs.windows(2).all(|w| w[0] < w[1]),
            "the path goes backwards: {:?}",
            r.pcs
        );
        let last_pc = *r.pcs.last().expect("at least one instruction ran");
        let last = prog[last_pc];
        use bpf::op::*;
        if last.code == RET | K {
            assert_eq!(r.ret, last.k, "ret #k returned something else");
        } else if last.code != RET | A {
            let div = last.code == ALU | DIV | X || last.code == ALU | MOD | X;
            assert!(
                div && r.ret == 0,
                "the run stopped at pc {last_pc} ({last:?}) without a ret"
            );
        }
        assert_eq!(sim.run(d), (r.ret, r.executed), "two runs differ");
        if simulate::action_cache_allows(&prog, d.arch, d.nr) {
            assert_eq!(
                r.ret,
                bpf::ret::ALLOW,
                "the action cache would skip the filter for arch {:#x} nr {} but it returns {:#x}",
                d.arch,
                d.nr,
                r.ret
            );
        }
    }
}

/// The architectures the IR decoder draws from.
const IR_ARCHES: [Arch; 9] = Arch::ALL;

fn decode_action(b: &mut Bytes<'_>) -> Action {
    match b.below(8) {
        0 => Action::Allow,
        1 => Action::Errno(b.u16() % (MAX_ERRNO + 1)),
        2 => Action::KillProcess,
        3 => Action::KillThread,
        4 => Action::Trap,
        5 => Action::Log,
        6 => Action::Trace(b.u16()),
        _ => Action::Notify,
    }
}

fn decode_u64(b: &mut Bytes<'_>) -> u64 {
    match b.below(8) {
        0 => 0,
        1 => u64::from(b.u8()),
        2 => u64::from(u32::MAX),
        3 => 1 << 32,
        4 => u64::MAX,
        5 => u64::from(b.u32()),
        6 => u64::from(b.u32()) << 32,
        _ => b.u64(),
    }
}

fn decode_cond(b: &mut Bytes<'_>, depth: u32) -> Cond {
    let tag = if depth >= 3 { b.below(2) } else { b.below(6) };
    match tag {
        0 => Cond::True,
        1 | 5 => {
            let arg = b.below(6) as u8;
            let mask = match b.below(4) {
                0 | 1 => u64::MAX,
                2 => u64::from(u32::MAX),
                _ => decode_u64(b),
            };
            let op = [
                CmpOp::Eq,
                CmpOp::Ne,
                CmpOp::Lt,
                CmpOp::Le,
                CmpOp::Gt,
                CmpOp::Ge,
            ][b.below(6)];
            let value = decode_u64(b);
            let width = if b.below(4) == 0 {
                Width::U32
            } else {
                Width::U64
            };
            Cond::Cmp(Cmp {
                arg,
                mask,
                op,
                value,
                width,
            })
        }
        2 => Cond::Not(Box::new(decode_cond(b, depth + 1))),
        t => {
            let n = b.below(4);
            let cs = (0..n).map(|_| decode_cond(b, depth + 1)).collect();
            if t == 3 { Cond::And(cs) } else { Cond::Or(cs) }
        }
    }
}

/// Decodes a valid [`FilterIr`] from fuzz bytes: 1 to 3 distinct arches, up to
/// 24 syscalls each (numbers in the arch's own range: x32 ones with the x32
/// bit, x86_64 ones without), up to 4 rules each, conditions up to 3 deep over
/// arguments 0..=5 with every operator, mask and width.
pub fn decode_ir(b: &mut Bytes<'_>) -> FilterIr {
    let bad_arch_action = decode_action(b);
    let mut arches: Vec<Arch> = Vec::new();
    for _ in 0..=b.below(3) {
        let a = IR_ARCHES[b.below(IR_ARCHES.len())];
        if !arches.contains(&a) {
            arches.push(a);
        }
    }
    let arches = arches
        .into_iter()
        .map(|arch| {
            let default_action = decode_action(b);
            let unknown_action = decode_action(b);
            let max_known_nr = match b.below(4) {
                0 => arch.table().max_nr(),
                1 => u32::from(b.u16()),
                2 => u32::from(b.u8()),
                _ => b.u32(),
            };
            let x32 = |nr: u32| match arch {
                Arch::X32 => nr | X32_SYSCALL_BIT,
                Arch::X86_64 => nr & !X32_SYSCALL_BIT,
                _ => nr,
            };
            let max_known_nr = x32(max_known_nr);
            let mut syscalls = BTreeMap::new();
            let mut nr: u32 = 0;
            for _ in 0..b.below(25) {
                nr = match b.below(8) {
                    0 => b.u32(),
                    1 => max_known_nr.wrapping_add(u32::from(b.u8())).wrapping_sub(8),
                    _ => nr.wrapping_add(u32::from(b.u8() % 16)),
                };
                let rules = (0..b.below(5))
                    .map(|_| Rule {
                        cond: decode_cond(b, 0),
                        action: decode_action(b),
                        origin: None,
                    })
                    .collect();
                syscalls.insert(x32(nr), rules);
            }
            ArchIr {
                arch,
                syscalls,
                default_action,
                default_origin: None,
                max_known_nr,
                unknown_action,
            }
        })
        .collect();
    FilterIr {
        arches,
        bad_arch_action,
        origins: Vec::new(),
    }
}

/// Argument values at the edges of a comparison: the constant, its
/// neighbours, its masked forms, and variants differing only in the high or
/// the low word (where a 32-bit-halves implementation goes wrong).
fn boundary_values(c: &Cmp) -> Vec<u64> {
    let v = c.value;
    let m = c.mask;
    let mut out = vec![
        v,
        v.wrapping_sub(1),
        v.wrapping_add(1),
        v ^ (1 << 32),
        v ^ 1,
        v & 0xffff_ffff,
        v | 0xffff_ffff_0000_0000,
        (v & m) | !m,
        v & m,
        (v & 0xffff_ffff_0000_0000) | 0xffff_ffff,
        (v & 0xffff_ffff_0000_0000).wrapping_sub(1),
        0,
        u64::MAX,
    ];
    out.sort_unstable();
    out.dedup();
    out
}

/// The syscall numbers worth testing for a token: every number with rules,
/// its neighbours, the edges of the known range, the x32 split, the extremes.
fn boundary_numbers(ir: &FilterIr, token: u32) -> Vec<u32> {
    let mut out = vec![
        0,
        1,
        u32::MAX,
        u32::MAX - 1,
        X32_SYSCALL_BIT - 1,
        X32_SYSCALL_BIT,
        0x8000_0000,
    ];
    for a in ir.arches.iter().filter(|a| a.arch.audit_arch() == token) {
        for m in [a.max_known_nr, a.arch.table().max_nr()] {
            out.extend([m.wrapping_sub(1), m, m.wrapping_add(1), m.wrapping_add(64)]);
        }
        for &nr in a.syscalls.keys() {
            out.extend([nr.wrapping_sub(1), nr, nr.wrapping_add(1)]);
        }
    }
    if token == Arch::X86_64.audit_arch() {
        let more: Vec<u32> = out
            .iter()
            .flat_map(|&n| [n | X32_SYSCALL_BIT, n & !X32_SYSCALL_BIT])
            .collect();
        out.extend(more);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Argument vectors for one syscall's rules: zeros, each comparison's
/// boundary values alone, and each rule's comparisons made true (or false)
/// together.
fn arg_vectors(rules: &[Rule], extra: &[[u64; 6]]) -> Vec<[u64; 6]> {
    let mut out = vec![[0; 6], [u64::MAX; 6]];
    out.extend_from_slice(extra);
    let mut budget = 256usize;
    for r in rules {
        let cmps = r.cond.cmps();
        for delta in [0u64, 1, u64::MAX] {
            let mut all = [0u64; 6];
            for c in &cmps {
                all[usize::from(c.arg.min(5))] = c.value.wrapping_add(delta);
            }
            out.push(all);
        }
        for c in cmps.iter().take(16) {
            for v in boundary_values(c) {
                if budget == 0 {
                    return out;
                }
                budget -= 1;
                let mut a = [0u64; 6];
                a[usize::from(c.arg.min(5))] = v;
                out.push(a);
                let mut b = [u64::MAX; 6];
                b[usize::from(c.arg.min(5))] = v;
                out.push(b);
            }
        }
    }
    out
}

/// Whether the IR decides `(token, nr)` without looking at the arguments, as
/// an unconditional ALLOW: the emitter promises such decisions stay visible to
/// the kernel's action cache.
fn unconditional_allow(ir: &FilterIr, token: u32, nr: u32) -> bool {
    match ir.route(token, nr) {
        None => ir.bad_arch_action == Action::Allow,
        Some(a) => match a.syscalls.get(&nr).and_then(|rules| rules.first()) {
            None => a.evaluate(nr, &[0; 6]).0 == Action::Allow,
            Some(r) => r.cond == Cond::True && r.action == Action::Allow,
        },
    }
}

/// Runs `program` on boundary vectors derived from `ir` (every token of the
/// IR plus foreign ones, every interesting number, argument values at each
/// comparison's edges, plus `extra` argument vectors) and asserts that the
/// kernel's reading of each result (`Action::from_ret`) equals
/// [`FilterIr::evaluate`], and that the action-cache emulation is sound and
/// sees every unconditional ALLOW. Returns the number of vectors compared.
pub fn check_filter_against_ir(ir: &FilterIr, program: &[SockFilter], extra: &[[u64; 6]]) -> usize {
    let sim = Simulator::new(program).expect("the emitter returned a program the kernel refuses");
    let mut tokens: Vec<u32> = ir.arches.iter().map(|a| a.arch.audit_arch()).collect();
    tokens.extend([
        0,
        Arch::X86_64.audit_arch(),
        Arch::Arm.audit_arch(),
        Arch::S390x.audit_arch(),
    ]);
    tokens.sort_unstable();
    tokens.dedup();
    let mut compared = 0;
    for &token in &tokens {
        for nr in boundary_numbers(ir, token) {
            let rules: &[Rule] = ir
                .route(token, nr)
                .and_then(|a| a.syscalls.get(&nr))
                .map_or(&[], |r| r.as_slice());
            let cached = simulate::action_cache_allows(program, token, nr);
            if unconditional_allow(ir, token, nr) {
                assert!(
                    cached,
                    "arch {token:#x} nr {nr:#x}: an unconditional ALLOW the kernel's action cache cannot see"
                );
            }
            for args in arg_vectors(rules, extra) {
                let want = Action::from_ret(ir.evaluate(token, nr, args).0.to_ret());
                let got_ret = sim.run(&SeccompData::new(token, nr, args)).0;
                let got = Action::from_ret(got_ret);
                assert_eq!(
                    got, want,
                    "arch {token:#x} nr {nr:#x} args {args:x?}: the filter returns {got_ret:#x}, the IR says {want:?}"
                );
                if cached {
                    assert_eq!(
                        got,
                        Action::Allow,
                        "arch {token:#x} nr {nr:#x}: the action cache skips a filter that does not allow"
                    );
                }
                compared += 1;
            }
        }
    }
    compared
}

/// Compiles `ir` with [`seccomp::compile`] (emit, then the back end's own
/// verification); `None` when it is too large for one filter, the one allowed
/// failure for a valid IR. Any other error (an emitter error, a verification
/// mismatch) is a compiler bug.
pub fn compile_valid_ir(ir: &FilterIr) -> Option<Vec<SockFilter>> {
    match seccomp::compile(ir) {
        Ok(c) => {
            assert_eq!(
                c.origins.len(),
                c.program.len(),
                "one origin per instruction"
            );
            Some(c.program.instructions().to_vec())
        }
        Err(CompileError::Emit(EmitError::TooLarge { len, max, .. })) => {
            assert!(len > max, "TooLarge for {len} <= {max} instructions");
            None
        }
        Err(e) => panic!("compiling a valid IR failed: {e}"),
    }
}

/// `seccomp_emit`: an IR decoded from the bytes ([`decode_ir`]) is compiled;
/// the filter must decide like [`FilterIr::evaluate`] on boundary vectors and
/// on argument vectors taken from the remaining bytes.
pub fn seccomp_emit(data: &[u8]) {
    let mut b = Bytes::new(data);
    let ir = decode_ir(&mut b);
    let mut extra = Vec::new();
    while !b.is_empty() && extra.len() < 8 {
        extra.push([b.u64(), b.u64(), b.u64(), b.u64(), b.u64(), b.u64()]);
    }
    if let Some(program) = compile_valid_ir(&ir) {
        check_filter_against_ir(&ir, &program, &extra);
    }
}
