//! Property tests: no input makes the linter panic, and every diagnostic's
//! span lies inside the input, on character boundaries.

use proptest::prelude::*;
use rampart::arch::Arch;
use rampart::lint;
use rampart::resolve::Options;
use rampart::source::SourceFile;

fn opts() -> Options {
    Options {
        arches: Some(vec![Arch::X86_64, Arch::Aarch64]),
        kernel: (6, 18),
        cap_last_cap: Some(40),
        ..Options::host()
    }
}

fn check(text: String) {
    let file = SourceFile::new("fuzz.yaml", text);
    for d in lint::lint_file(&file, &opts(), Some(lint::Pss::Restricted)) {
        for loc in std::iter::once(&d.primary).chain(d.secondary.iter().map(|s| &s.0)) {
            if loc.file.name != "fuzz.yaml" {
                continue;
            }
            let r = &loc.range;
            assert!(r.start <= r.end && r.end <= file.text.len(), "{d:?}");
            assert!(
                file.text.is_char_boundary(r.start) && file.text.is_char_boundary(r.end),
                "{d:?}"
            );
        }
        let _ = rampart::diagnostic::render_text(&d);
        let _ = rampart::diagnostic::render_github(&d);
    }
}

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "extends",
    "user",
    "noNewPrivileges",
    "capabilities",
    "seccomp",
    "selinux",
    "landlock",
    "userNamespace",
    "defaultAction",
    "architectures",
    "syscalls",
    "names",
    "action",
    "when",
    "add",
    "drop",
    "ambient",
    "bounding",
    "uid",
    "paths",
    "path",
    "access",
    "mode",
    "size",
    "uidMappings",
    "containerID",
    "hostID",
    "ifCapability",
    "arches",
    "minKernel",
    "label",
    "level",
    "type",
    "net",
    "bindTcp",
];
const SCALARS: &[&str] = &[
    "rampart.dev/v1",
    "SecurityProfile",
    "default",
    "restricted",
    "true",
    "false",
    "allow",
    "errno(EPERM)",
    "kill-thread",
    "trace(7)",
    "notify",
    "read",
    "\"@default-allow\"",
    "\"@nope\"",
    "ALL",
    "SYS_ADMIN",
    "native",
    "x86_64",
    "arm",
    "\"arg0 & CLONE_NEWUSER == 0\"",
    "\"u32(arg1) == TIOCSTI\"",
    "\"arg9 ==\"",
    "/usr",
    "usr",
    "0x7fffffff",
    "18446744073709551616",
    "-1",
    "\"é\"",
    "~",
    "auto",
    "explicit",
    "\"4.8\"",
    "s0:c1,c2",
    "[]",
    "{}",
    "*x",
    "&x a",
    "!!str z",
];

fn yaml_value(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop::sample::select(SCALARS)
        .prop_map(str::to_string)
        .boxed();
    if depth == 0 {
        return leaf;
    }
    prop_oneof![
        3 => leaf,
        1 => prop::collection::vec(yaml_value(depth - 1), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        2 => prop::collection::vec((prop::sample::select(KEYS), yaml_value(depth - 1)), 0..5)
            .prop_map(|kv| format!("{{{}}}", kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))),
    ]
    .boxed()
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(KEYS), yaml_value(3)), 0..8).prop_map(|kv| {
        let mut s = String::from("apiVersion: rampart.dev/v1\nkind: SecurityProfile\n");
        for (k, v) in kv {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(text in "[a-zA-Z:\\-\\[\\]{}, \n\"'&*!#|>0-9_@.]{0,300}") {
        check(text);
    }

    #[test]
    fn profile_shaped_documents_never_panic(text in document()) {
        check(text);
    }
}
