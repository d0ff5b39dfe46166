//! Kubernetes pods → one rampart profile per container, and *why*.
//!
//! The base profile of a container is decided by the first of (highest
//! precedence first):
//! 1. the container's `securityContext.seccompProfile`;
//! 2. the container's annotation: rampart's
//!    `container.security-profile.rampart.dev/<container>` (any profile
//!    reference), else the legacy
//!    `container.seccomp.security.alpha.kubernetes.io/<container>`;
//! 3. the pod's `securityContext.seccompProfile`;
//! 4. the pod's annotation: `security-profile.rampart.dev/pod`, else the legacy
//!    `seccomp.security.alpha.kubernetes.io/pod`;
//! 5. the node default (`--default-profile`, `default` unless given: what the
//!    kubelet's `--seccomp-default` does).
//!
//! `RuntimeDefault` (legacy `runtime/default`, `docker/default`) is rampart's
//! `default`. `Localhost` (legacy `localhost/<path>`) names a file under the
//! profiles directory (relative, no `..`): a rampart `.yaml` profile is
//! extended; anything else is imported as an OCI/Docker seccomp profile
//! (what the kubelet reads) with the runtime's default capabilities.
//! `Unconfined` (legacy `unconfined`) turns the seccomp filter off and
//! nothing else: Kubernetes keeps the runtime's default capabilities for it,
//! so it maps to `default` with `seccomp: {mode: unconfined}`, not to the
//! `privileged` profile (which grants every capability). A rampart annotation
//! naming `privileged` gets exactly that profile, as does
//! `securityContext.privileged: true`.
//!
//! Overrides from the security contexts (container over pod, field by field):
//! `capabilities.add/drop`; `allowPrivilegeEscalation` (`false` ⇒
//! `noNewPrivileges: true`, `true` ⇒ `false`); `seLinuxOptions` (the whole
//! struct); `runAsUser`, `runAsGroup`, and the pod's `supplementalGroups` and
//! `fsGroup` (⇒ `user`); `runAsNonRoot` (checked: uid 0 is an error); the
//! pod's `hostUsers: false` ⇒ `userNamespace: {mode: auto, size: 65536}`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, SecurityContext};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::import::to_yaml::quote;
use crate::import::{self, ImportOptions};
use crate::lint::Pss;
use crate::reference::ProfileRef;
use crate::source::{Location, SourceFile};

pub const RAMPART_POD: &str = "security-profile.rampart.dev/pod";
pub const RAMPART_CONTAINER: &str = "container.security-profile.rampart.dev/";
pub const LEGACY_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
pub const LEGACY_CONTAINER: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// Resolution settings.
#[derive(Clone, Debug)]
pub struct KubeOptions {
    /// The pod file's name, for diagnostics.
    pub source_name: String,
    /// The node default profile reference.
    pub default_profile: String,
    /// The kubelet's seccomp directory (`Localhost` profiles live here).
    pub profiles_dir: Option<PathBuf>,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            source_name: "<pod>".into(),
            default_profile: "default".into(),
            profiles_dir: None,
        }
    }
}

/// One decision and what decided it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Why {
    /// `profile`, `capabilities`, `noNewPrivileges`, `selinux`, `user`,
    /// `runAsNonRoot`, `userNamespace`, `seccomp`, or `ignored`.
    pub part: String,
    pub value: String,
    /// The field or annotation (a path into the pod), or `node default`.
    pub source: String,
}

/// A container's effective profile.
#[derive(Clone, Debug)]
pub struct ContainerResolution {
    pub container: String,
    pub init: bool,
    /// The base profile reference (`default`, `localhost/x.yaml`, …).
    pub reference: String,
    /// A complete rampart profile: the base (by `extends`, or inline for an
    /// imported Localhost profile) plus the overrides.
    pub profile_yaml: String,
    pub why: Vec<Why>,
    pub warnings: Vec<Diagnostic>,
    /// `Some(field)` when `runAsNonRoot: true` applies to this container: a
    /// launcher must refuse to start it as uid 0, as the kubelet does with an
    /// image whose user is root.
    pub requires_non_root: Option<String>,
}

impl ContainerResolution {
    /// The generated profile as a source file for `pipeline::compile_file`.
    /// Relative `extends` paths resolve from the working directory.
    pub fn source_file(&self, pod: &str) -> Arc<SourceFile> {
        SourceFile::new(
            format!("<pod {pod}>/{}.yaml", self.container),
            self.profile_yaml.clone(),
        )
    }
}

/// What selected the base profile.
#[derive(Clone, Debug, PartialEq)]
enum Base {
    /// Extend a rampart reference.
    Ref(String),
    /// Kubernetes `Unconfined`: the default profile without its filter.
    Unconfined,
    /// Kubernetes `Localhost` with a non-YAML file: import it.
    Import(String),
}

struct Cx {
    file: Arc<SourceFile>,
    diags: Vec<Diagnostic>,
}

impl Cx {
    fn at(&self, needle: &str) -> Location {
        match self.file.text.find(needle) {
            Some(i) => Location::new(&self.file, i..i + needle.len()),
            None => Location::new(&self.file, 0..0),
        }
    }
}

/// Parses a pod (or a workload's pod template) from YAML or JSON text.
pub fn parse_pod(text: &str, name: &str) -> Result<Pod, Vec<Diagnostic>> {
    let file = SourceFile::new(name, text.to_string());
    let err = |msg: String, off: usize, code: &'static str| {
        vec![Diagnostic::error(code, msg, Location::new(&file, off..off))]
    };
    let docs = import::yaml_documents(text).map_err(|e| err(e.message, e.offset, "yaml-syntax"))?;
    let doc = docs
        .into_iter()
        .find(|d| d.get("kind").is_some())
        .ok_or_else(|| err("no Kubernetes object in this file".into(), 0, "missing-key"))?;
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let pod = match kind {
        "Pod" => doc,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            let t = doc
                .pointer("/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": t.get("metadata").cloned().unwrap_or(serde_json::json!({})),
                "spec": t.get("spec").cloned().unwrap_or(Value::Null),
            })
        }
        "CronJob" => {
            let t = doc
                .pointer("/spec/jobTemplate/spec/template")
                .cloned()
                .unwrap_or(Value::Null);
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": t.get("metadata").cloned().unwrap_or(serde_json::json!({})),
                "spec": t.get("spec").cloned().unwrap_or(Value::Null),
            })
        }
        other => {
            return Err(err(
                format!("expected a Pod (or a workload with a pod template), found kind `{other}`"),
                0,
                "type-mismatch",
            ));
        }
    };
    serde_json::from_value::<Pod>(pod)
        .map_err(|e| err(format!("not a valid Pod: {e}"), 0, "type-mismatch"))
}

fn seccomp_base(
    cx: &mut Cx,
    type_: &str,
    localhost: Option<&str>,
    source: &str,
) -> Option<(Base, String)> {
    match type_ {
        "RuntimeDefault" => Some((Base::Ref("default".into()), "default".into())),
        "Unconfined" => Some((Base::Unconfined, "default (seccomp unconfined)".into())),
        "Localhost" => {
            let Some(p) = localhost.filter(|p| !p.is_empty()) else {
                let at = cx.at("Localhost");
                cx.diags.push(Diagnostic::error(
                    "missing-key",
                    format!("{source}: type Localhost needs localhostProfile"),
                    at,
                ));
                return None;
            };
            localhost_base(cx, p, source)
        }
        other => {
            let at = cx.at(other);
            cx.diags.push(
                Diagnostic::error(
                    "type-mismatch",
                    format!("{source}: unknown seccompProfile type `{other}`"),
                    at,
                )
                .with_help("use RuntimeDefault, Localhost or Unconfined"),
            );
            None
        }
    }
}

fn localhost_base(cx: &mut Cx, p: &str, source: &str) -> Option<(Base, String)> {
    let safe = Path::new(p)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        let at = cx.at(p);
        cx.diags.push(Diagnostic::error(
            "localhost-path",
            format!("{source}: localhost profile `{p}` must be a relative path without `..`"),
            at,
        ));
        return None;
    }
    let reference = format!("localhost/{p}");
    if p.ends_with(".yaml") || p.ends_with(".yml") {
        Some((Base::Ref(reference.clone()), reference))
    } else {
        Some((Base::Import(p.to_string()), reference))
    }
}

fn legacy_base(cx: &mut Cx, value: &str, source: &str) -> Option<(Base, String)> {
    let at = cx.at(source.rsplit(' ').next().unwrap_or(source));
    cx.diags.push(
        Diagnostic::warning(
            "deprecated-annotation",
            format!("{source} is deprecated (removed in Kubernetes 1.27)"),
            at,
        )
        .with_help("use securityContext.seccompProfile"),
    );
    match value {
        "runtime/default" | "docker/default" => {
            Some((Base::Ref("default".into()), "default".into()))
        }
        "unconfined" => Some((Base::Unconfined, "default (seccomp unconfined)".into())),
        v => match v.strip_prefix("localhost/") {
            Some(p) => localhost_base(cx, p, source),
            None => {
                let at = cx.at(v);
                cx.diags.push(Diagnostic::error(
                    "type-mismatch",
                    format!("{source}: unknown value `{v}` (runtime/default, docker/default, unconfined, localhost/<path>)"),
                    at,
                ));
                None
            }
        },
    }
}

fn rampart_base(cx: &mut Cx, value: &str, source: &str) -> Option<(Base, String)> {
    match ProfileRef::parse(value) {
        Ok(_) => Some((Base::Ref(value.to_string()), value.to_string())),
        Err(e) => {
            let at = cx.at(value);
            cx.diags.push(Diagnostic::error(
                "extends-not-found",
                format!("{source}: {e}"),
                at,
            ));
            None
        }
    }
}

fn short_cap(c: &str) -> String {
    let u = c.trim().to_ascii_uppercase();
    u.strip_prefix("CAP_").unwrap_or(&u).to_string()
}

/// Resolves every container (or only `container`) of a pod.
pub fn resolve(
    pod_text: &str,
    container: Option<&str>,
    opts: &KubeOptions,
) -> Result<Vec<ContainerResolution>, Vec<Diagnostic>> {
    let pod = parse_pod(pod_text, &opts.source_name)?;
    let mut cx = Cx {
        file: SourceFile::new(opts.source_name.clone(), pod_text.to_string()),
        diags: Vec::new(),
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_else(|| "pod".into());
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let mut all: Vec<(&Container, bool, String)> = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        all.push((c, true, format!("spec.initContainers[{i}]")));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        all.push((c, false, format!("spec.containers[{i}]")));
    }
    if let Some(name) = container
        && !all.iter().any(|c| c.0.name == name)
    {
        let names: Vec<&str> = all.iter().map(|c| c.0.name.as_str()).collect();
        return Err(vec![
            Diagnostic::error(
                "missing-key",
                format!("pod `{pod_name}` has no container `{name}`"),
                Location::new(&cx.file, 0..0),
            )
            .with_help(format!("its containers: {}", names.join(", "))),
        ]);
    }
    let psc = spec.security_context.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (c, init, path) in all {
        if container.is_some_and(|n| n != c.name) {
            continue;
        }
        let before = cx.diags.len();
        let sc: SecurityContext = c.security_context.clone().unwrap_or_default();
        let mut why = Vec::new();
        // Candidates for the base, highest precedence first.
        let mut candidates: Vec<Option<(Base, String, String)>> = Vec::new();
        let csrc = format!("{path}.securityContext.seccompProfile");
        if sc.privileged == Some(true) {
            candidates.push(Some((
                Base::Ref("privileged".into()),
                "privileged".into(),
                format!("{path}.securityContext.privileged: true"),
            )));
        }
        if let Some(sp) = &sc.seccomp_profile {
            let src = format!("{csrc}.type: {}", sp.type_);
            candidates.push(
                seccomp_base(&mut cx, &sp.type_, sp.localhost_profile.as_deref(), &csrc)
                    .map(|(b, r)| (b, r, src)),
            );
        }
        let rkey = format!("{RAMPART_CONTAINER}{}", c.name);
        if let Some(v) = annotations.get(&rkey) {
            let src = format!("metadata.annotations[{rkey}]");
            candidates.push(rampart_base(&mut cx, v, &src).map(|(b, r)| (b, r, src)));
        }
        let lkey = format!("{LEGACY_CONTAINER}{}", c.name);
        if let Some(v) = annotations.get(&lkey) {
            let src = format!("metadata.annotations {lkey}");
            candidates.push(legacy_base(&mut cx, v, &src).map(|(b, r)| (b, r, src)));
        }
        if let Some(sp) = &psc.seccomp_profile {
            let psrc = "spec.securityContext.seccompProfile";
            let src = format!("{psrc}.type: {}", sp.type_);
            candidates.push(
                seccomp_base(&mut cx, &sp.type_, sp.localhost_profile.as_deref(), psrc)
                    .map(|(b, r)| (b, r, src)),
            );
        }
        if let Some(v) = annotations.get(RAMPART_POD) {
            let src = format!("metadata.annotations[{RAMPART_POD}]");
            candidates.push(rampart_base(&mut cx, v, &src).map(|(b, r)| (b, r, src)));
        }
        if let Some(v) = annotations.get(LEGACY_POD) {
            let src = format!("metadata.annotations {LEGACY_POD}");
            candidates.push(legacy_base(&mut cx, v, &src).map(|(b, r)| (b, r, src)));
        }
        if cx.diags[before..].iter().any(Diagnostic::is_error) {
            continue;
        }
        let candidates: Vec<(Base, String, String)> = candidates.into_iter().flatten().collect();
        let (base, reference, source) = match candidates.first() {
            Some(x) => x.clone(),
            None => match rampart_base(&mut cx, &opts.default_profile, "--default-profile") {
                Some((b, r)) => (b, r, "node default (--default-profile)".into()),
                None => continue,
            },
        };
        why.push(Why {
            part: "profile".into(),
            value: reference.clone(),
            source: source.clone(),
        });
        for (_, r, s) in candidates.iter().skip(1) {
            why.push(Why {
                part: "ignored".into(),
                value: r.clone(),
                source: format!("{s} (lower precedence than {source})"),
            });
        }
        // Overrides.
        let mut sections = String::new();
        if let Some(ape) = sc.allow_privilege_escalation {
            sections.push_str(&format!("noNewPrivileges: {}\n", !ape));
            why.push(Why {
                part: "noNewPrivileges".into(),
                value: (!ape).to_string(),
                source: format!("{path}.securityContext.allowPrivilegeEscalation: {ape}"),
            });
        }
        if let Some(caps) = &sc.capabilities {
            let mut ok = true;
            let mut list = |names: &Option<Vec<String>>, what: &str| -> Vec<String> {
                let mut v = Vec::new();
                for n in names.iter().flatten() {
                    let s = short_cap(n);
                    if s == "ALL" || crate::capability::parse(&s).is_some() {
                        v.push(s);
                    } else {
                        ok = false;
                        let at = cx.at(n);
                        cx.diags.push(Diagnostic::error(
                            "unknown-capability",
                            format!("{path}.securityContext.capabilities.{what}: unknown capability `{n}`"),
                            at,
                        ));
                    }
                }
                v
            };
            let add = list(&caps.add, "add");
            let drop = list(&caps.drop, "drop");
            if !ok {
                continue;
            }
            if !add.is_empty() || !drop.is_empty() {
                sections.push_str("capabilities:\n");
                if !drop.is_empty() {
                    sections.push_str(&format!("  drop: [{}]\n", drop.join(", ")));
                }
                if !add.is_empty() {
                    sections.push_str(&format!("  add: [{}]\n", add.join(", ")));
                }
                why.push(Why {
                    part: "capabilities".into(),
                    value: format!("drop [{}], add [{}]", drop.join(", "), add.join(", ")),
                    source: format!("{path}.securityContext.capabilities"),
                });
            }
        }
        let (se, se_src) = match (&sc.se_linux_options, &psc.se_linux_options) {
            (Some(o), _) => (
                Some(o.clone()),
                format!("{path}.securityContext.seLinuxOptions"),
            ),
            (None, Some(o)) => (
                Some(o.clone()),
                "spec.securityContext.seLinuxOptions".into(),
            ),
            _ => (None, String::new()),
        };
        if let Some(o) = se {
            let fields: Vec<(&str, &Option<String>)> = vec![
                ("user", &o.user),
                ("role", &o.role),
                ("type", &o.type_),
                ("level", &o.level),
            ];
            for (k, v) in &fields {
                if let Some(v) = v
                    && let Err(e) = crate::selinux::check_part(k, v)
                {
                    let at = cx.at(v);
                    cx.diags.push(Diagnostic::error(
                        "selinux-label-syntax",
                        format!("invalid SELinux {k} `{v}` in {se_src}: {}", e.message),
                        at,
                    ));
                }
            }
            let set: Vec<String> = fields
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("  {k}: {}\n", quote(v))))
                .collect();
            if !set.is_empty() {
                sections.push_str("selinux:\n");
                sections.push_str(&set.concat());
                why.push(Why {
                    part: "selinux".into(),
                    value: fields
                        .iter()
                        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                        .collect::<Vec<_>>()
                        .join(" "),
                    source: se_src,
                });
            }
        }
        let pick = |c: Option<i64>, p: Option<i64>, field: &str| -> Option<(i64, String)> {
            match (c, p) {
                (Some(v), _) => Some((v, format!("{path}.securityContext.{field}"))),
                (None, Some(v)) => Some((v, format!("spec.securityContext.{field}"))),
                _ => None,
            }
        };
        let uid = pick(sc.run_as_user, psc.run_as_user, "runAsUser");
        let gid = pick(sc.run_as_group, psc.run_as_group, "runAsGroup");
        let mut groups: Vec<i64> = psc.supplemental_groups.clone().unwrap_or_default();
        if let Some(fs) = psc.fs_group
            && !groups.contains(&fs)
        {
            groups.push(fs);
        }
        let id_ok = |cx: &mut Cx, v: i64, what: &str| -> bool {
            if (0..=i64::from(u32::MAX)).contains(&v) {
                true
            } else {
                let at = cx.at(&v.to_string());
                cx.diags.push(Diagnostic::error(
                    "constant-out-of-range",
                    format!("{what} {v} is not a valid Linux id"),
                    at,
                ));
                false
            }
        };
        let mut user = Vec::new();
        if let Some((u, s)) = &uid
            && id_ok(&mut cx, *u, "runAsUser")
        {
            user.push(format!("uid: {u}"));
            why.push(Why {
                part: "user".into(),
                value: format!("uid {u}"),
                source: s.clone(),
            });
        }
        if let Some((g, s)) = &gid
            && id_ok(&mut cx, *g, "runAsGroup")
        {
            user.push(format!("gid: {g}"));
            why.push(Why {
                part: "user".into(),
                value: format!("gid {g}"),
                source: s.clone(),
            });
        }
        if !groups.is_empty() && groups.iter().all(|g| id_ok(&mut cx, *g, "group")) {
            user.push(format!(
                "groups: [{}]",
                groups
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            why.push(Why {
                part: "user".into(),
                value: format!("groups {groups:?}"),
                source: "spec.securityContext.supplementalGroups/fsGroup".into(),
            });
        }
        if !user.is_empty() {
            sections.push_str(&format!("user: {{{}}}\n", user.join(", ")));
        }
        let non_root = match (sc.run_as_non_root, psc.run_as_non_root) {
            (Some(v), _) => Some((v, format!("{path}.securityContext.runAsNonRoot"))),
            (None, Some(v)) => Some((v, "spec.securityContext.runAsNonRoot".into())),
            _ => None,
        };
        if let Some((true, s)) = &non_root {
            match &uid {
                Some((0, us)) => {
                    let at = cx.at("runAsNonRoot");
                    cx.diags.push(Diagnostic::error(
                        "run-as-root",
                        format!("container `{}`: {s} is true but {us} is 0; the kubelet refuses to start it", c.name),
                        at,
                    ));
                }
                Some((u, us)) => why.push(Why {
                    part: "runAsNonRoot".into(),
                    value: format!("satisfied (uid {u})"),
                    source: format!("{s}; uid from {us}"),
                }),
                None => why.push(Why {
                    part: "runAsNonRoot".into(),
                    value: "the image's user must not be root (checked by the kubelet at start; rampart cannot see the image)".into(),
                    source: s.clone(),
                }),
            }
        }
        if spec.host_users == Some(false) {
            sections.push_str("userNamespace: {mode: auto, size: 65536}\n");
            why.push(Why {
                part: "userNamespace".into(),
                value: "auto, 65536 ids".into(),
                source: "spec.hostUsers: false".into(),
            });
        }
        if base == Base::Unconfined {
            sections.push_str("seccomp: {mode: unconfined}\n");
            why.push(Why {
                part: "seccomp".into(),
                value: "unconfined (capabilities stay the runtime default)".into(),
                source: source.clone(),
            });
        }
        let header = format!(
            "# Generated by `rampart resolve --pod` for pod {pod_name}, container {}.\n# Base: {reference} ({source}).\n",
            c.name
        );
        let profile_yaml = match &base {
            Base::Ref(r) => format!(
                "{header}apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata:\n  name: {}\nextends: {}\n{sections}",
                quote(&format!("{pod_name}/{}", c.name)),
                quote(r)
            ),
            Base::Unconfined => format!(
                "{header}apiVersion: rampart.dev/v1\nkind: SecurityProfile\nmetadata:\n  name: {}\nextends: default\n{sections}",
                quote(&format!("{pod_name}/{}", c.name))
            ),
            Base::Import(p) => {
                let Some(dir) = &opts.profiles_dir else {
                    let at = cx.at(p);
                    cx.diags.push(Diagnostic::error(
                        "localhost-path",
                        format!("{reference} needs the kubelet's seccomp directory: pass --profiles-dir DIR"),
                        at,
                    ));
                    continue;
                };
                let full = dir.join(p);
                let text = match std::fs::read_to_string(&full) {
                    Ok(t) => t,
                    Err(e) => {
                        let at = cx.at(p);
                        cx.diags.push(Diagnostic::error(
                            "extends-not-found",
                            format!("cannot read {}: {e}", full.display()),
                            at,
                        ));
                        continue;
                    }
                };
                let format = import::detect(&text).unwrap_or(import::Format::Docker);
                let iopts = ImportOptions {
                    source_name: full.display().to_string(),
                    ..ImportOptions::default()
                };
                match import::load(format, &text, &iopts) {
                    Ok(imp) => {
                        cx.diags.extend(imp.warnings);
                        format!("{header}{}{sections}", imp.yaml)
                    }
                    Err(d) => {
                        cx.diags.extend(d);
                        continue;
                    }
                }
            }
        };
        let warnings = cx.diags[before..].to_vec();
        if warnings.iter().any(Diagnostic::is_error) {
            continue;
        }
        out.push(ContainerResolution {
            container: c.name.clone(),
            init,
            reference,
            profile_yaml,
            why,
            warnings,
            requires_non_root: match non_root {
                Some((true, s)) => Some(s),
                _ => None,
            },
        });
    }
    if cx.diags.iter().any(Diagnostic::is_error) {
        return Err(cx.diags);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Pod Security Standards, as the admission controller reports them.
// ---------------------------------------------------------------------------

use crate::lint::{PSS_BASELINE_CAPS as BASELINE_CAPS, PSS_SELINUX_TYPES as SELINUX_TYPES};

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn containers_phrase(names: &[String]) -> String {
    if names.len() == 1 {
        format!("container {}", quoted(names))
    } else {
        format!("containers {}", quoted(names))
    }
}

/// Every container of a pod spec, init containers first (the order they run in
/// and the kubelet lists them).
pub fn containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
}

/// The Pod Security Standards violations of a pod at `level`, each as the
/// admission controller words it (`allowPrivilegeEscalation != false
/// (container "x" must set securityContext.allowPrivilegeEscalation=false)`),
/// in the controller's order.
pub fn pss_violations(pod: &Pod, level: Pss) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let psc = spec.security_context.clone().unwrap_or_default();
    let containers: Vec<&Container> = containers(&spec).collect();
    let restricted = level == Pss::Restricted;
    let sc = |c: &Container| c.security_context.clone().unwrap_or_default();
    let mut out = Vec::new();
    // allowPrivilegeEscalation
    if restricted {
        let bad: Vec<String> = containers
            .iter()
            .filter(|c| sc(c).allow_privilege_escalation != Some(false))
            .map(|c| c.name.clone())
            .collect();
        if !bad.is_empty() {
            out.push(format!(
                "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
                containers_phrase(&bad)
            ));
        }
    }
    // capabilities
    let adds = |c: &Container| -> Vec<String> {
        sc(c)
            .capabilities
            .and_then(|k| k.add)
            .unwrap_or_default()
            .iter()
            .map(|n| short_cap(n))
            .collect()
    };
    if restricted {
        let mut parts = Vec::new();
        let no_drop: Vec<String> = containers
            .iter()
            .filter(|c| {
                !sc(c)
                    .capabilities
                    .and_then(|k| k.drop)
                    .unwrap_or_default()
                    .iter()
                    .any(|d| short_cap(d) == "ALL")
            })
            .map(|c| c.name.clone())
            .collect();
        if !no_drop.is_empty() {
            parts.push(format!(
                "{} must set securityContext.capabilities.drop=[\"ALL\"]",
                containers_phrase(&no_drop)
            ));
        }
        for c in &containers {
            let extra: Vec<String> = adds(c)
                .into_iter()
                .filter(|a| a != "NET_BIND_SERVICE")
                .collect();
            if !extra.is_empty() {
                parts.push(format!(
                    "container {:?} must not include {} in securityContext.capabilities.add",
                    c.name,
                    quoted(&extra)
                ));
            }
        }
        if !parts.is_empty() {
            out.push(format!("unrestricted capabilities ({})", parts.join("; ")));
        }
    } else {
        let mut parts = Vec::new();
        for c in &containers {
            let extra: Vec<String> = adds(c)
                .into_iter()
                .filter(|a| !BASELINE_CAPS.contains(&a.as_str()))
                .collect();
            if !extra.is_empty() {
                parts.push(format!(
                    "container {:?} must not include {} in securityContext.capabilities.add",
                    c.name,
                    quoted(&extra)
                ));
            }
        }
        if !parts.is_empty() {
            out.push(format!("non-default capabilities ({})", parts.join("; ")));
        }
    }
    // host namespaces
    let hosts: Vec<&str> = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ]
    .iter()
    .filter(|(v, _)| *v == Some(true))
    .map(|(_, s)| *s)
    .collect();
    if !hosts.is_empty() {
        out.push(format!("host namespaces ({})", hosts.join(", ")));
    }
    // hostPath volumes
    let host_paths: Vec<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.clone())
        .collect();
    if !host_paths.is_empty() {
        out.push(format!(
            "hostPath volume{} ({})",
            if host_paths.len() > 1 { "s" } else { "" },
            if host_paths.len() > 1 {
                format!("volumes {}", quoted(&host_paths))
            } else {
                format!("volume {}", quoted(&host_paths))
            }
        ));
    }
    // hostPorts
    let mut port_parts = Vec::new();
    for c in &containers {
        let ports: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.host_port.filter(|&h| h != 0).map(|h| h.to_string()))
            .collect();
        if !ports.is_empty() {
            port_parts.push(format!(
                "container {:?} uses hostPort{} {}",
                c.name,
                if ports.len() > 1 { "s" } else { "" },
                ports.join(", ")
            ));
        }
    }
    if !port_parts.is_empty() {
        out.push(format!("hostPort ({})", port_parts.join("; ")));
    }
    // privileged
    let privileged: Vec<String> = containers
        .iter()
        .filter(|c| sc(c).privileged == Some(true))
        .map(|c| c.name.clone())
        .collect();
    if !privileged.is_empty() {
        out.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            containers_phrase(&privileged)
        ));
    }
    if restricted {
        // runAsNonRoot
        let pod_true = psc.run_as_non_root == Some(true);
        let explicit_false: Vec<String> = containers
            .iter()
            .filter(|c| sc(c).run_as_non_root == Some(false))
            .map(|c| c.name.clone())
            .collect();
        let unset: Vec<String> = containers
            .iter()
            .filter(|c| sc(c).run_as_non_root.is_none() && !pod_true)
            .map(|c| c.name.clone())
            .collect();
        let mut parts = Vec::new();
        if psc.run_as_non_root == Some(false) {
            parts.push("pod must not set securityContext.runAsNonRoot=false".to_string());
        }
        if !explicit_false.is_empty() {
            parts.push(format!(
                "{} must not set securityContext.runAsNonRoot=false",
                containers_phrase(&explicit_false)
            ));
        }
        if !unset.is_empty() && psc.run_as_non_root != Some(false) {
            parts.push(format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&unset)
            ));
        }
        if !parts.is_empty() {
            out.push(format!("runAsNonRoot != true ({})", parts.join("; ")));
        }
        // runAsUser
        let mut parts = Vec::new();
        if psc.run_as_user == Some(0) {
            parts.push("pod must not set runAsUser=0".to_string());
        }
        let zero: Vec<String> = containers
            .iter()
            .filter(|c| sc(c).run_as_user == Some(0))
            .map(|c| c.name.clone())
            .collect();
        if !zero.is_empty() {
            parts.push(format!(
                "{} must not set runAsUser=0",
                containers_phrase(&zero)
            ));
        }
        if !parts.is_empty() {
            out.push(format!("runAsUser=0 ({})", parts.join("; ")));
        }
    }
    // seLinuxOptions
    let mut se_parts = Vec::new();
    let mut check_se = |who: String, o: &Option<k8s_openapi::api::core::v1::SELinuxOptions>| {
        let Some(o) = o else { return };
        let mut bad = Vec::new();
        if let Some(t) = &o.type_
            && !t.is_empty()
            && !SELINUX_TYPES.contains(&t.as_str())
        {
            bad.push(format!("type {t:?}"));
        }
        if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
            bad.push(format!("user {:?}", o.user.clone().unwrap_or_default()));
        }
        if o.role.as_deref().is_some_and(|u| !u.is_empty()) {
            bad.push(format!("role {:?}", o.role.clone().unwrap_or_default()));
        }
        if !bad.is_empty() {
            se_parts.push(format!(
                "{who} set forbidden securityContext.seLinuxOptions: {}",
                bad.join(", ")
            ));
        }
    };
    check_se("pod".into(), &psc.se_linux_options);
    for c in &containers {
        check_se(format!("container {:?}", c.name), &sc(c).se_linux_options);
    }
    if !se_parts.is_empty() {
        out.push(format!("seLinuxOptions ({})", se_parts.join("; ")));
    }
    // seccompProfile
    let pod_type = psc.seccomp_profile.as_ref().map(|s| s.type_.clone());
    let mut parts = Vec::new();
    if pod_type.as_deref() == Some("Unconfined") {
        parts.push(
            "pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_string(),
        );
    }
    let unconfined: Vec<String> = containers
        .iter()
        .filter(|c| {
            sc(c)
                .seccomp_profile
                .is_some_and(|s| s.type_ == "Unconfined")
        })
        .map(|c| c.name.clone())
        .collect();
    if !unconfined.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
            containers_phrase(&unconfined)
        ));
    }
    if restricted && pod_type.is_none() {
        let unset: Vec<String> = containers
            .iter()
            .filter(|c| sc(c).seccomp_profile.is_none())
            .map(|c| c.name.clone())
            .collect();
        if !unset.is_empty() {
            parts.push(format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&unset)
            ));
        }
    }
    if !parts.is_empty() {
        out.push(format!("seccompProfile ({})", parts.join("; ")));
    }
    out
}

/// The admission controller's message for a list of violations.
pub fn pss_message(level: Pss, violations: &[String]) -> String {
    let l = match level {
        Pss::Baseline => "baseline",
        Pss::Restricted => "restricted",
    };
    format!(
        "violates PodSecurity \"{l}:latest\": {}",
        violations.join(", ")
    )
}
