//! `rampart run --pod POD.yaml [--container NAME]` end to end: the container's
//! profile is resolved from the pod as `rampart resolve --pod` resolves it, and
//! the app (the probe) shows from inside that the pod's settings were applied.
//! A pod the kubelet or the admission controller would refuse never runs the
//! app. Pods come from `../shared/testdata` (the Kubernetes examples) where one
//! fits, and are written inline otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rampart_tests::{Scratch, enforcer_bin, field, rampart_bin, text};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
/// Docker's / OCI's default 14 capabilities.
const DEFAULT_CAPS: u64 = 0xa804_25fb;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_SYS_TIME: u64 = 1 << 25;

fn testdata(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing (shared/testdata must sit beside the repository)",
        p.display()
    );
    p
}

struct Env(Scratch);

impl std::ops::Deref for Env {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        &self.0
    }
}

impl Env {
    fn new() -> Env {
        // The pods below run the app as uid 1000: let it write its markers here.
        Env(Scratch::new(Some("a+rwx")))
    }

    fn pod(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, yaml).unwrap();
        p
    }

    /// `rampart run --pod POD [OPTIONS…] -- probe ARGS…`
    fn run(&self, pod: &Path, options: &[&str], args: &[&str]) -> Output {
        self.rampart_run()
            .arg("--pod")
            .arg(pod)
            .args(options)
            .arg("--enforcer")
            .arg(enforcer_bin())
            .arg("--")
            .arg(PROBE)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `probe write MARKER` and says whether the app ran.
    fn app_ran(&self, pod: &Path, options: &[&str]) -> (bool, Output) {
        let marker = self.path("ran");
        let _ = std::fs::remove_file(&marker);
        let o = self.run(pod, options, &["write", marker.to_str().unwrap()]);
        (marker.exists(), o)
    }
}

fn caps(out: &str, key: &str) -> u64 {
    u64::from_str_radix(field(out, key), 16).unwrap()
}

/// The app's status under a pod, asserting it ran.
fn status(env: &Env, pod: &Path, options: &[&str]) -> String {
    let o = env.run(pod, options, &["status"]);
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

/// A refusal: rampart's own failure status, a message with `needle`, no app.
fn assert_refused(env: &Env, pod: &Path, options: &[&str], needle: &str) {
    let (ran, o) = env.app_ran(pod, options);
    assert!(!ran, "the app ran: {}", text(&o));
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(text(&o).contains(needle), "no `{needle}` in: {}", text(&o));
}

#[test]
fn capabilities_added_by_the_pod_reach_the_app() {
    // security-context-4 (JSON in YAML, from the Kubernetes docs) adds NET_ADMIN
    // and SYS_TIME and names no seccomp profile: the node default decides.
    let env = Env::new();
    let pod = testdata("k8s-security-context-4.yaml");
    let out = status(&env, &pod, &[]);
    let want = DEFAULT_CAPS | CAP_NET_ADMIN | CAP_SYS_TIME;
    for k in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(caps(&out, k), want, "{k} in {out}");
    }
    assert_eq!(field(&out, "Seccomp"), "2", "{out}");
    // The node default is a flag: on `restricted` only the pod's two remain.
    let out = status(&env, &pod, &["--default-profile", "restricted"]);
    assert_eq!(caps(&out, "CapEff"), CAP_NET_ADMIN | CAP_SYS_TIME, "{out}");
}

#[test]
fn runtime_default_and_unconfined_seccomp_profiles_are_applied() {
    // default-pod: seccompProfile RuntimeDefault, allowPrivilegeEscalation false.
    let env = Env::new();
    let pod = testdata("k8s-default-pod.yaml");
    let out = status(&env, &pod, &[]);
    assert_eq!(field(&out, "Seccomp"), "2", "{out}");
    assert_eq!(field(&out, "NoNewPrivs"), "1", "{out}");
    assert_eq!(caps(&out, "CapEff"), DEFAULT_CAPS, "{out}");
    // unshare(CLONE_NEWUSER) is denied by the runtime default's filter.
    let o = env.run(&pod, &[], &["syscall", "272", "0x10000000"]);
    assert_eq!(text(&o).trim(), format!("ret=-1 errno={}", libc::EPERM));

    // Control: the same pod with Unconfined and privilege escalation allowed
    // gets no filter and no no_new_privs, with the same capabilities.
    let text_ = std::fs::read_to_string(&pod)
        .unwrap()
        .replace("type: RuntimeDefault", "type: Unconfined")
        .replace(
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
        );
    let unconfined = env.pod("unconfined.yaml", &text_);
    let out = status(&env, &unconfined, &[]);
    assert_eq!(field(&out, "Seccomp"), "0", "{out}");
    assert_eq!(field(&out, "NoNewPrivs"), "0", "{out}");
    assert_eq!(caps(&out, "CapEff"), DEFAULT_CAPS, "{out}");
}

const RESTRICTED_POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: locked}
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    supplementalGroups: [4000]
    fsGroup: 2000
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: example.invalid/app
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
"#;

#[test]
fn a_restricted_pod_runs_with_its_user_groups_and_capabilities() {
    let env = Env::new();
    let pod = env.pod("locked.yaml", RESTRICTED_POD);
    // The pod meets the restricted Pod Security Standard, so --pss lets it run.
    let out = status(&env, &pod, &["--pss", "restricted"]);
    assert_eq!(field(&out, "Uid"), "1000\t1000\t1000\t1000", "{out}");
    assert_eq!(field(&out, "Gid"), "3000\t3000\t3000\t3000", "{out}");
    assert_eq!(field(&out, "Groups"), "2000 4000", "{out}");
    assert_eq!(caps(&out, "CapBnd"), CAP_NET_BIND_SERVICE, "{out}");
    // A non-root app keeps only ambient capabilities, and the pod asks for none.
    for k in ["CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(caps(&out, k), 0, "{k} in {out}");
    }
    assert_eq!(field(&out, "NoNewPrivs"), "1", "{out}");
    assert_eq!(field(&out, "Seccomp"), "2", "{out}");
    // So it cannot bind :80, as in the cluster.
    let o = env.run(&pod, &[], &["bind-tcp", "80"]);
    assert_eq!(text(&o).trim(), format!("errno={}", libc::EACCES));
}

#[test]
fn host_users_false_gets_a_leased_user_namespace() {
    let env = Env::new();
    let pod = env.pod(
        "userns.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: userns}\nspec:\n  hostUsers: false\n  containers:\n  - {name: app, image: x}\n",
    );
    let out = status(&env, &pod, &[]);
    let map: Vec<u64> = field(&out, "UidMap")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!((map[0], map[2]), (0, 65536), "{out}");
    assert!(map[1] >= 65536 && map[1].is_multiple_of(65536), "{out}");
}

const TWO_CONTAINERS: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  initContainers:
  - name: setup
    image: x
    securityContext: {runAsUser: 1001}
  containers:
  - name: web
    image: x
    securityContext: {runAsUser: 1002}
  - name: sidecar
    image: x
    securityContext: {runAsUser: 1003}
"#;

#[test]
fn a_pod_with_several_containers_needs_container() {
    let env = Env::new();
    let pod = env.pod("two.yaml", TWO_CONTAINERS);
    assert_refused(
        &env,
        &pod,
        &[],
        "has 3 containers (setup, web, sidecar): choose one with --container NAME",
    );
    assert_refused(
        &env,
        &pod,
        &["--container", "db"],
        "has no container `db`; its containers: setup, web, sidecar",
    );
    for (name, uid) in [("setup", "1001"), ("web", "1002"), ("sidecar", "1003")] {
        let out = status(&env, &pod, &["--container", name]);
        assert_eq!(field(&out, "Uid").split('\t').next(), Some(uid), "{out}");
    }
}

#[test]
fn pods_the_cluster_would_refuse_never_run_the_app() {
    let env = Env::new();
    // runAsNonRoot without runAsUser: the app would be root, which the kubelet
    // refuses. Control: with a non-root runAsUser the same pod runs.
    let no_uid = RESTRICTED_POD.replace("    runAsUser: 1000\n", "");
    let pod = env.pod("no-uid.yaml", &no_uid);
    assert_refused(
        &env,
        &pod,
        &[],
        "spec.securityContext.runAsNonRoot is true but the app would run as uid 0",
    );
    let (ran, o) = env.app_ran(&env.pod("uid.yaml", RESTRICTED_POD), &[]);
    assert!(ran, "{}", text(&o));
    // runAsNonRoot with runAsUser 0.
    let root = RESTRICTED_POD.replace("runAsUser: 1000", "runAsUser: 0");
    assert_refused(&env, &env.pod("root.yaml", &root), &[], "run-as-root");
    // An unknown capability.
    let bad_cap = RESTRICTED_POD.replace("add: [NET_BIND_SERVICE]", "add: [NET_BIND_SERVIC]");
    assert_refused(
        &env,
        &env.pod("cap.yaml", &bad_cap),
        &[],
        "unknown capability `NET_BIND_SERVIC`",
    );
    // The Pod Security admission: default-pod is not `restricted`.
    let default_pod = testdata("k8s-default-pod.yaml");
    assert_refused(
        &env,
        &default_pod,
        &["--pss", "restricted"],
        "violates PodSecurity \"restricted:latest\"",
    );
    let (ran, o) = env.app_ran(&default_pod, &["--pss", "baseline"]);
    assert!(ran, "{}", text(&o));
    // A Localhost profile needs the kubelet's directory, and must exist there.
    let violation_pod = testdata("k8s-violation-pod.yaml");
    assert_refused(&env, &violation_pod, &[], "pass --profiles-dir DIR");
    let dir = env.path("seccomp");
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let d = dir.to_str().unwrap();
    assert_refused(
        &env,
        &violation_pod,
        &["--profiles-dir", d],
        "profiles/violation.json",
    );
}

#[test]
fn the_violation_example_profile_denies_everything_so_the_app_never_starts() {
    // violation-pod (Kubernetes docs) names a Localhost profile whose default
    // action is SCMP_ACT_ERRNO: even the exec of the app is denied.
    let env = Env::new();
    let pod = testdata("k8s-violation-pod.yaml");
    let dir = env.path("seccomp");
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let d = dir.to_str().unwrap();
    let profile = dir.join("profiles/violation.json");
    std::fs::copy(testdata("k8s-violation.json"), &profile).unwrap();
    let (ran, o) = env.app_ran(&pod, &["--profiles-dir", d]);
    assert!(!ran, "the app ran: {}", text(&o));
    assert!(!o.status.success(), "{}", text(&o));
    // Control: the same pod and directory with Docker's profile in that file runs.
    std::fs::copy(testdata("docker-default.json"), &profile).unwrap();
    let (ran, o) = env.app_ran(&pod, &["--profiles-dir", d]);
    assert!(ran, "{}", text(&o));
}

#[test]
fn pod_conflicts_with_security_profile_and_container_needs_pod() {
    let env = Env::new();
    let pod = testdata("k8s-default-pod.yaml");
    let o = env.run(&pod, &["--security-profile", "default"], &["exit", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot be used with"), "{}", text(&o));
    let o = Command::new(rampart_bin())
        .args(["run", "--container", "app", "--", PROBE, "exit", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--pod"), "{}", text(&o));
    // An unreadable manifest is rampart's failure, named.
    let missing = env.path("missing.yaml");
    let o = env.run(&missing, &[], &["exit", "0"]);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    assert!(
        text(&o).contains("cannot read the pod manifest"),
        "{}",
        text(&o)
    );
}
