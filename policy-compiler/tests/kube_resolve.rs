//! `kube::resolve` on the shared Kubernetes examples and on hand-written pods
//! for every precedence level; the generated profiles go through the normal
//! front end.

use rampart::kube::{self, ContainerResolution, KubeOptions};
use rampart::lint::Pss;
use rampart::resolve::{self, Options};
use rampart::seccomp::ir::Action;

fn testdata_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
}

fn testdata(name: &str) -> String {
    std::fs::read_to_string(testdata_dir().join(name)).unwrap()
}

fn opts(dir: Option<&std::path::Path>) -> KubeOptions {
    KubeOptions {
        source_name: "pod.yaml".into(),
        profiles_dir: dir.map(std::path::Path::to_path_buf),
        ..KubeOptions::default()
    }
}

fn one(text: &str, o: &KubeOptions) -> ContainerResolution {
    let mut r = kube::resolve(text, None, o).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(r.len(), 1);
    r.remove(0)
}

/// Compiles a generated profile; returns nnp, bounding-set names, and whether seccomp filters.
fn compile(r: &ContainerResolution, dir: Option<&std::path::Path>) -> (bool, Vec<String>, bool) {
    let o = Options {
        profiles_dir: dir.map(std::path::Path::to_path_buf),
        ..Options::host()
    };
    let (chain, mut diags) = resolve::load_chain_from(r.source_file("p"), &o);
    let (res, d) = resolve::resolve_chain(chain, &o);
    diags.extend(d);
    let (ir, d) = resolve::lower_seccomp(&res, &o);
    diags.extend(d);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "{diags:?}\n{}",
        r.profile_yaml
    );
    (
        res.no_new_privs.value,
        res.caps.bounding.names(),
        ir.is_some(),
    )
}

fn why<'a>(r: &'a ContainerResolution, part: &str) -> &'a kube::Why {
    r.why
        .iter()
        .find(|w| w.part == part)
        .unwrap_or_else(|| panic!("no {part} in {:?}", r.why))
}

#[test]
fn runtime_default_pod() {
    let r = one(&testdata("k8s-default-pod.yaml"), &opts(None));
    assert_eq!(r.reference, "default");
    assert_eq!(
        why(&r, "profile").source,
        "spec.securityContext.seccompProfile.type: RuntimeDefault"
    );
    assert_eq!(
        why(&r, "noNewPrivileges").source,
        "spec.containers[0].securityContext.allowPrivilegeEscalation: false"
    );
    let (nnp, caps, filtered) = compile(&r, None);
    assert!(nnp && filtered);
    assert_eq!(caps.len(), 14);
}

#[test]
fn localhost_json_profiles_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("profiles")).unwrap();
    std::fs::write(
        dir.path().join("profiles/violation.json"),
        testdata("k8s-violation.json"),
    )
    .unwrap();
    std::fs::copy(
        testdata_dir().join("spo-bpf-recorder.json"),
        dir.path().join("profiles/fine-grained.json"),
    )
    .unwrap();
    let o = opts(Some(dir.path()));
    let r = one(&testdata("k8s-violation-pod.yaml"), &o);
    assert_eq!(r.reference, "localhost/profiles/violation.json");
    assert!(
        r.profile_yaml.contains("defaultAction: \"errno(EPERM)\""),
        "{}",
        r.profile_yaml
    );
    assert!(r.profile_yaml.contains("noNewPrivileges: true"));
    let (nnp, caps, filtered) = compile(&r, Some(dir.path()));
    assert!(nnp && filtered);
    assert_eq!(
        caps.len(),
        14,
        "Localhost seccomp keeps the runtime's capabilities"
    );
    let r = one(&testdata("k8s-fine-pod.yaml"), &o);
    compile(&r, Some(dir.path()));
    // audit.json is not there: an error naming the file.
    let e = kube::resolve(&testdata("k8s-audit-pod.yaml"), None, &o).unwrap_err();
    assert!(e[0].message.contains("audit.json"), "{e:?}");
    // Without a profiles directory, a Localhost profile cannot be found.
    let e = kube::resolve(&testdata("k8s-audit-pod.yaml"), None, &opts(None)).unwrap_err();
    assert!(e[0].message.contains("--profiles-dir"), "{e:?}");
}

#[test]
fn capabilities_from_the_container() {
    let r = one(&testdata("k8s-security-context-4.yaml"), &opts(None));
    assert_eq!(r.reference, "default");
    assert_eq!(
        why(&r, "profile").source,
        "node default (--default-profile)"
    );
    assert_eq!(
        why(&r, "capabilities").value,
        "drop [], add [NET_ADMIN, SYS_TIME]"
    );
    let (_, caps, _) = compile(&r, None);
    assert!(
        caps.contains(&"NET_ADMIN".to_string()) && caps.len() == 16,
        "{caps:?}"
    );
}

#[test]
fn spo_pod_gets_the_node_default() {
    let mut o = opts(None);
    o.default_profile = "restricted".into();
    let r = one(&testdata("spo-pod.yaml"), &o);
    assert_eq!(r.reference, "restricted");
    let (_, caps, _) = compile(&r, None);
    assert!(caps.is_empty());
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: layered
  annotations:
    security-profile.rampart.dev/pod: restricted
    seccomp.security.alpha.kubernetes.io/pod: runtime/default
    container.security-profile.rampart.dev/annotated: privileged
    container.seccomp.security.alpha.kubernetes.io/legacy: unconfined
spec:
  hostUsers: false
  securityContext:
    seccompProfile: {type: RuntimeDefault}
    runAsUser: 1000
    runAsNonRoot: true
    supplementalGroups: [5]
    seLinuxOptions: {type: container_t, level: "s0:c1,c2"}
  containers:
  - name: own
    image: x
    securityContext:
      seccompProfile: {type: Unconfined}
      runAsUser: 2000
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
  - name: annotated
    image: x
  - name: legacy
    image: x
  - name: plain
    image: x
"#;

#[test]
fn every_precedence_level() {
    let all = kube::resolve(POD, None, &opts(None)).unwrap();
    let by = |n: &str| all.iter().find(|r| r.container == n).unwrap();
    // 1. container securityContext beats everything.
    let own = by("own");
    assert_eq!(own.reference, "default (seccomp unconfined)");
    assert_eq!(
        why(own, "profile").source,
        "spec.containers[0].securityContext.seccompProfile.type: Unconfined"
    );
    assert!(
        own.why
            .iter()
            .any(|w| w.part == "ignored" && w.source.contains("annotations"))
    );
    assert_eq!(why(own, "user").value, "uid 2000");
    let (_, caps, filtered) = compile(own, None);
    assert!(!filtered, "Unconfined turns the filter off");
    assert_eq!(caps, ["NET_BIND_SERVICE"]);
    // 2. container annotation (rampart's) beats the pod's settings.
    let ann = by("annotated");
    assert_eq!(ann.reference, "privileged");
    assert!(
        why(ann, "profile")
            .source
            .contains("container.security-profile.rampart.dev/annotated")
    );
    // 2b. the legacy container annotation, with a deprecation warning.
    let legacy = by("legacy");
    assert_eq!(legacy.reference, "default (seccomp unconfined)");
    assert!(
        legacy
            .warnings
            .iter()
            .any(|w| w.code == "deprecated-annotation")
    );
    // 3. pod securityContext beats pod annotations.
    let plain = by("plain");
    assert_eq!(plain.reference, "default");
    assert_eq!(
        why(plain, "profile").source,
        "spec.securityContext.seccompProfile.type: RuntimeDefault"
    );
    assert_eq!(why(plain, "user").source, "spec.securityContext.runAsUser");
    assert_eq!(
        why(plain, "selinux").value,
        "type=container_t level=s0:c1,c2"
    );
    assert_eq!(why(plain, "userNamespace").source, "spec.hostUsers: false");
    assert!(why(plain, "runAsNonRoot").value.starts_with("satisfied"));
    assert!(
        plain
            .profile_yaml
            .contains("userNamespace: {mode: auto, size: 65536}")
    );
    assert!(
        plain
            .profile_yaml
            .contains("user: {uid: 1000, groups: [5]}"),
        "{}",
        plain.profile_yaml
    );
    compile(plain, None);
    // --container picks one.
    let only = kube::resolve(POD, Some("legacy"), &opts(None)).unwrap();
    assert_eq!(only.len(), 1);
    assert!(kube::resolve(POD, Some("nope"), &opts(None)).is_err());
}

/// A bad `seLinuxOptions` part fails the resolution at the pod's field, as
/// `rampart lint` would fail the generated profile.
#[test]
fn selinux_options_are_checked_where_written() {
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext:
    seLinuxOptions: {type: container_t, level: \"s0:c9,c2.c1\"}
  containers:
  - name: app
    image: x
";
    let e = kube::resolve(pod, None, &opts(None)).unwrap_err();
    let d = e
        .iter()
        .find(|d| d.code == "selinux-label-syntax")
        .unwrap_or_else(|| panic!("{e:?}"));
    assert!(d.is_error());
    assert!(
        d.message
            .contains("invalid SELinux level `s0:c9,c2.c1` in spec.securityContext.seLinuxOptions"),
        "{}",
        d.message
    );
    assert_eq!(&pod[d.primary.range.clone()], "s0:c9,c2.c1");
}

#[test]
fn pod_annotations_and_node_default() {
    // 4. pod annotation: rampart's beats the legacy one.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    security-profile.rampart.dev/pod: restricted\n    seccomp.security.alpha.kubernetes.io/pod: unconfined\nspec:\n  containers: [{name: c, image: x}]\n";
    let r = one(pod, &opts(None));
    assert_eq!(r.reference, "restricted");
    assert!(
        r.why
            .iter()
            .any(|w| w.part == "ignored" && w.value.contains("unconfined"))
    );
    // 4b. the legacy pod annotation alone.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    seccomp.security.alpha.kubernetes.io/pod: localhost/web/app.yaml\nspec:\n  containers: [{name: c, image: x}]\n";
    let r = one(pod, &opts(None));
    assert_eq!(r.reference, "localhost/web/app.yaml");
    assert!(
        r.profile_yaml
            .contains("extends: \"localhost/web/app.yaml\"")
    );
    // 5. nothing set: the node default.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n";
    let r = one(pod, &opts(None));
    assert_eq!(r.reference, "default");
    // Escaping paths and root with runAsNonRoot are errors.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../../etc/x.json}}\n  containers: [{name: c, image: x}]\n";
    let e = kube::resolve(pod, None, &opts(None)).unwrap_err();
    assert_eq!(e[0].code, "localhost-path");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsNonRoot: true}\n  containers: [{name: c, image: x, securityContext: {runAsUser: 0}}]\n";
    let e = kube::resolve(pod, None, &opts(None)).unwrap_err();
    assert_eq!(e[0].code, "run-as-root");
}

#[test]
fn pod_security_standards_messages() {
    let pod = kube::parse_pod(&testdata("k8s-security-context-4.yaml"), "p").unwrap();
    let v = kube::pss_violations(&pod, Pss::Restricted);
    assert_eq!(
        kube::pss_message(Pss::Restricted, &v),
        "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"sec-ctx-4\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"sec-ctx-4\" must set securityContext.capabilities.drop=[\"ALL\"]; container \"sec-ctx-4\" must not include \"NET_ADMIN\", \"SYS_TIME\" in securityContext.capabilities.add), runAsNonRoot != true (pod or container \"sec-ctx-4\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"sec-ctx-4\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
    );
    let v = kube::pss_violations(&pod, Pss::Baseline);
    assert_eq!(
        v,
        [
            "non-default capabilities (container \"sec-ctx-4\" must not include \"NET_ADMIN\", \"SYS_TIME\" in securityContext.capabilities.add)"
        ]
    );
    let pod = kube::parse_pod(&testdata("k8s-default-pod.yaml"), "p").unwrap();
    assert!(kube::pss_violations(&pod, Pss::Baseline).is_empty());
    assert_eq!(
        kube::pss_violations(&pod, Pss::Restricted),
        [
            "unrestricted capabilities (container \"test-container\" must set securityContext.capabilities.drop=[\"ALL\"])",
            "runAsNonRoot != true (pod or container \"test-container\" must set securityContext.runAsNonRoot=true)"
        ]
    );
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  securityContext: {seccompProfile: {type: Unconfined}}\n  volumes: [{name: root, hostPath: {path: /}}]\n  containers:\n  - {name: a, image: x, securityContext: {privileged: true}, ports: [{containerPort: 80, hostPort: 80}]}\n  - {name: b, image: x, securityContext: {privileged: true}}\n";
    let pod = kube::parse_pod(bad, "p").unwrap();
    assert_eq!(
        kube::pss_violations(&pod, Pss::Baseline),
        [
            "host namespaces (hostNetwork=true)",
            "hostPath volume (volume \"root\")",
            "hostPort (container \"a\" uses hostPort 80)",
            "privileged (containers \"a\", \"b\" must not set securityContext.privileged=true)",
            "seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
        ]
    );
}

#[test]
fn workloads_use_their_pod_template() {
    let d = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {name: t}\n    spec:\n      containers: [{name: c, image: x, securityContext: {seccompProfile: {type: RuntimeDefault}}}]\n";
    let r = one(d, &opts(None));
    assert_eq!(r.reference, "default");
    let _ = Action::Allow;
}
