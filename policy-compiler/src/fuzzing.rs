//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), as plain functions
//! so that the fuzzers and the corpus replay test (`tests/fuzz_corpus.rs`) run
//! exactly the same code.
//!
//! Every function takes arbitrary bytes and panics only when an invariant of
//! rampart is violated (a real bug): an error is an acceptable answer to bad
//! input, a panic, an out-of-range span or a filter that disagrees with its IR
//! is not. See `docs/ASSURANCE.md` for what each target checks.

use std::sync::{Arc, OnceLock};

use crate::arch::Arch;
use crate::diagnostic::{self, Diagnostic};
use crate::expr;
use crate::lint::{self, Pss};
use crate::profile;
use crate::reference::ProfileRef;
use crate::resolve::{self, Options};
use crate::source::{Location, SourceFile};

/// The names of the fuzz targets, as `fuzz/fuzz_targets/NAME.rs`, the corpus
/// directories `fuzz/corpus/NAME/` and the functions of this module.
pub const TARGETS: &[&str] = &["profile", "expr", "blob"];

/// Runs target `name` on `data`. Returns `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "profile" => profile(data),
        "expr" => expr(data),
        "blob" => blob(data),
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

/// Whether loading this profile would read a file through `extends: <path>`.
/// Such inputs are not run: the result would depend on the machine's files
/// (and `/dev/zero` would never end). Built-in and `localhost/` references
/// (there is no profiles directory in [`options`]) stay in.
fn reads_files(file: &Arc<SourceFile>) -> bool {
    let (p, _) = profile::parse(file);
    p.and_then(|p| p.extends)
        .is_some_and(|e| matches!(ProfileRef::parse(&e.value), Ok(ProfileRef::Path(_))))
}

/// `profile`: YAML bytes → lint (restricted PSS) → spans and rendering checked;
/// then, when clean, resolution and lowering to the seccomp IR.
pub fn profile(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let file = SourceFile::new(FUZZ_FILE, text);
    if reads_files(&file) {
        return;
    }
    let opts = options();
    let diags = lint::lint_file(&file, opts, Some(Pss::Restricted));
    check_diagnostics(&diags, &file);
    if diags.iter().any(Diagnostic::is_error) {
        return;
    }
    let (chain, diags) = resolve::load_chain_from(Arc::clone(&file), opts);
    check_diagnostics(&diags, &file);
    if chain.is_empty() || diags.iter().any(Diagnostic::is_error) {
        // A group file (`kind: SyscallGroups`) lints clean but is no profile.
        return;
    }
    let (resolved, diags) = resolve::resolve_chain(chain, opts);
    check_diagnostics(&diags, &file);
    let (ir, diags) = resolve::lower_seccomp(&resolved, opts);
    check_diagnostics(&diags, &file);
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
            }
        }
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
                if c.width == crate::seccomp::ir::Width::U32 {
                    assert!(
                        c.value <= u64::from(u32::MAX) && c.mask <= u64::from(u32::MAX),
                        "u32 comparison with a 64-bit constant: {c:?}"
                    );
                }
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
        Compatibility, CompiledPolicy, LandlockSpec, LandlockSpecParts, PathRule, Scopes,
        SeccompSpec, fs_access,
    };

    // A small hand-written filter stands in for the compiled one: the blob
    // format does not look inside the program.
    let program = SeccompProgram::new(vec![
        SockFilter::stmt(LD | W | ABS, 4),
        SockFilter::jump(JMP | JEQ | K, Arch::X86_64.audit_arch(), 1, 0),
        SockFilter::stmt(RET | K, ret::KILL_PROCESS),
        SockFilter::stmt(LD | W | ABS, 0),
        SockFilter::jump(JMP | JEQ | K, 83, 0, 1),
        SockFilter::stmt(RET | K, ret::ERRNO | 1),
        SockFilter::stmt(RET | K, ret::ALLOW),
    ])
    .expect("valid seed program");
    let spec = SeccompSpec {
        program,
        tsync: true,
        log: false,
        required: true,
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
