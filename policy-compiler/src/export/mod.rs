//! Exporters: a compiled profile in the formats runtimes and clusters consume.
//!
//! | format | output | consumer |
//! |---|---|---|
//! | `oci` | an OCI runtime-spec fragment: `process.{capabilities, noNewPrivileges, user, selinuxLabel}`, `linux.{seccomp, mountLabel, uidMappings, gidMappings}` | merged into a bundle's `config.json` (runc, crun, youki) |
//! | `kubelet` | the `linux.seccomp` object alone (Docker's profile format) | the kubelet's seccomp directory, `localhostProfile:` |
//! | `spo` | a `SeccompProfile` resource (YAML) | the Security Profiles Operator |
//! | `crun-annotation` | `{"run.oci.seccomp_bpf_data": "<base64 of the BPF>"}` | crun, merged into `annotations` |
//!
//! The seccomp rules of `oci`, `kubelet` and `spo` come from [`seccomp`],
//! which exports exactly the IR's decisions or fails naming the rule. The
//! crun annotation carries rampart's own verified program, so it is exact by
//! construction. Parts of a profile a format cannot carry (Landlock in OCI;
//! everything but seccomp in `kubelet`/`spo`, whose consumers take seccomp
//! only) are errors in `oci` and out of scope for the seccomp-only formats.
//! Output is deterministic: no timestamps, sorted names.

pub mod seccomp;

use base64::Engine;
use oci_spec::runtime::LinuxIdMapping;
use serde_json::{Map, Value, json};

use crate::pipeline::CompiledProfile;
use crate::profile::UsernsMode;

/// Why a profile cannot be exported in a format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

/// The annotation crun reads a precompiled filter from.
pub const CRUN_BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";
/// The Security Profiles Operator's API version for `SeccompProfile`
/// (upstream's examples and `conventions.md`).
pub const SPO_API_VERSION: &str = "security-profiles-operator.x-k8s.io/v1";

fn seccomp_spec(c: &CompiledProfile) -> Result<Option<Value>, ExportError> {
    let Some(ir) = &c.ir else {
        return Ok(None);
    };
    let s = seccomp::translate(ir, c.resolved.seccomp.tsync, c.resolved.seccomp.log)?;
    let spec = s.to_spec()?;
    serde_json::to_value(&spec)
        .map(Some)
        .map_err(|e| ExportError(format!("internal: {e}")))
}

fn unconfined(c: &CompiledProfile, format: &str, instead: &str) -> ExportError {
    ExportError(format!(
        "profile `{}` is unconfined (seccomp mode: unconfined): a {format} has no way to say \"no filter\"; {instead}",
        c.resolved.name
    ))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `--format oci`: an OCI runtime-spec fragment (JSON), to merge into a
/// bundle's `config.json` key by key.
pub fn oci(c: &CompiledProfile) -> Result<String, ExportError> {
    let r = &c.resolved;
    if let Some(l) = &r.landlock {
        return Err(ExportError(format!(
            "{}: the profile restricts files with Landlock, and the OCI runtime spec has no Landlock field: the exported config would enforce less; run it with `rampart run`, or leave `landlock` out of the profile you export",
            l.loc.file_line()
        )));
    }
    // The enforcer's policy resolves SELinux labels (and refuses `level: auto`,
    // which is allocated per pod).
    let policy = c.policy(None).map_err(|e| match e {
        crate::pipeline::Failure::Diagnostics(d) => ExportError(
            d.iter()
                .map(|d| format!("{}: {}", d.primary.file_line(), d.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => ExportError(other.to_string()),
    })?;
    let caps = |set: crate::capability::CapSet| -> Value {
        Value::from(set.iter().map(|c| c.to_string()).collect::<Vec<_>>())
    };
    let mut process = Map::new();
    process.insert(
        "capabilities".into(),
        json!({
            "bounding": caps(r.caps.bounding),
            "effective": caps(r.caps.effective),
            "inheritable": caps(r.caps.inheritable),
            "permitted": caps(r.caps.permitted),
            "ambient": caps(r.caps.ambient),
        }),
    );
    process.insert("noNewPrivileges".into(), Value::Bool(r.no_new_privs.value));
    if let Some(u) = &r.user {
        let mut user = json!({"uid": u.uid, "gid": u.gid});
        if !u.groups.is_empty() {
            user["additionalGids"] = json!(u.groups);
        }
        process.insert("user".into(), user);
    }
    let mut linux = Map::new();
    if let Some(s) = policy.selinux() {
        process.insert("selinuxLabel".into(), Value::from(s.process_label()));
        if let Some(m) = s.mount_label() {
            linux.insert("mountLabel".into(), Value::from(m));
        }
    }
    if let Some(s) = seccomp_spec(c)? {
        linux.insert("seccomp".into(), s);
    }
    if let Some(u) = &r.user_namespace {
        match u.mode.value {
            UsernsMode::Host => {}
            UsernsMode::Auto => {
                return Err(ExportError(format!(
                    "{}: `userNamespace: {{mode: auto}}` leases an ID range per pod when `rampart run` starts it; an OCI config needs fixed maps: give `uidMappings`/`gidMappings` (mode: explicit)",
                    u.mode.loc.file_line()
                )));
            }
            UsernsMode::Explicit => {
                let maps = |m: &[crate::profile::IdMapping]| -> Result<Value, ExportError> {
                    let v: Vec<LinuxIdMapping> = m
                        .iter()
                        .map(|x| {
                            oci_spec::runtime::LinuxIdMappingBuilder::default()
                                .container_id(x.container_id)
                                .host_id(x.host_id)
                                .size(x.size)
                                .build()
                                .map_err(|e| ExportError(format!("internal: {e}")))
                        })
                        .collect::<Result<_, _>>()?;
                    serde_json::to_value(v).map_err(|e| ExportError(format!("internal: {e}")))
                };
                let gid = if u.gid_mappings.is_empty() {
                    &u.uid_mappings
                } else {
                    &u.gid_mappings
                };
                linux.insert("uidMappings".into(), maps(&u.uid_mappings)?);
                linux.insert("gidMappings".into(), maps(gid)?);
            }
        }
    }
    Ok(pretty(&json!({"process": process, "linux": linux})))
}

/// `--format kubelet`: a Localhost seccomp profile (the `linux.seccomp`
/// object as JSON) for the kubelet's seccomp directory.
pub fn kubelet(c: &CompiledProfile) -> Result<String, ExportError> {
    let s = seccomp_spec(c)?.ok_or_else(|| {
        unconfined(
            c,
            "Localhost seccomp profile",
            "use `seccompProfile: {type: Unconfined}` in the pod instead",
        )
    })?;
    Ok(pretty(&s))
}

/// Whether `name` is a Kubernetes object name (RFC 1123 subdomain).
fn k8s_name_ok(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `--format spo`: a Security Profiles Operator `SeccompProfile` (YAML).
pub fn spo(c: &CompiledProfile) -> Result<String, ExportError> {
    let name = &c.resolved.name;
    if !k8s_name_ok(name) {
        return Err(ExportError(format!(
            "profile name `{name}` is not a Kubernetes object name (lowercase letters, digits, `-` and `.`, at most 253): rename `metadata.name`"
        )));
    }
    let mut spec = seccomp_spec(c)?.ok_or_else(|| {
        unconfined(
            c,
            "SeccompProfile",
            "use `seccompProfile: {type: Unconfined}` in the pod instead",
        )
    })?;
    if let Some(o) = spec.as_object_mut() {
        o.remove("listenerMetadata");
    }
    let doc = json!({
        "apiVersion": SPO_API_VERSION,
        "kind": "SeccompProfile",
        "metadata": {"name": name},
        "spec": spec,
    });
    let mut out = String::new();
    yaml_block(&doc, 0, &mut out);
    Ok(out)
}

/// `--format crun-annotation`: `{"run.oci.seccomp_bpf_data": "<base64>"}`,
/// the verified program (all the profile's architectures, host byte order),
/// ready to merge into a config's `annotations`.
pub fn crun_annotation(c: &CompiledProfile) -> Result<String, ExportError> {
    let f = c.filter.as_ref().ok_or_else(|| {
        unconfined(
            c,
            "crun annotation",
            "leave the annotation and `linux.seccomp` out",
        )
    })?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(f.program.to_bytes());
    Ok(pretty(&json!({ CRUN_BPF_ANNOTATION: b64 })))
}

/// A JSON value as block-style YAML (keys in the value's order; strings
/// double-quoted, whose JSON escapes are valid YAML).
fn yaml_block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                yaml_child(x, indent, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push_str(&pad);
                out.push('-');
                match x {
                    Value::Object(m) if !m.is_empty() => {
                        // `- key: value` then the other keys aligned under it.
                        let mut first = true;
                        for (k, y) in m {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            out.push_str(k);
                            out.push(':');
                            yaml_child(y, indent + 2, out);
                        }
                    }
                    other => yaml_child(other, indent, out),
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

/// Plain when unambiguous (names like `SCMP_ACT_ALLOW`), else JSON-quoted.
fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s)
            if s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
                })
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                ) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

fn yaml_child(x: &Value, indent: usize, out: &mut String) {
    match x {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_block(x, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_block(x, indent + 2, out);
        }
        Value::Object(_) => out.push_str(" {}\n"),
        Value::Array(_) => out.push_str(" []\n"),
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

/// Applies an `oci` fragment (or any JSON overlay) to a config the documented
/// way: objects merge key by key, anything else replaces.
pub fn merge_fragment(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_fragment(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_block_round_trips_through_the_yaml_reader() {
        let v = json!({
            "a": "x: \"q\"",
            "plain": "SCMP_ACT_ALLOW",
            "word": "true",
            "path": "security-profiles-operator.x-k8s.io/v1",
            "b": [1, {"c": [], "d": {"e": true}}, [2, 3]],
            "f": {},
            "g": 18446744073709551615u64,
        });
        let mut s = String::new();
        yaml_block(&v, 0, &mut s);
        let back = crate::import::yaml_documents(&s).unwrap();
        assert_eq!(back, vec![v], "{s}");
    }

    #[test]
    fn kubernetes_names() {
        assert!(k8s_name_ok("default"));
        assert!(k8s_name_ok("web.v2-a"));
        assert!(!k8s_name_ok("Web"));
        assert!(!k8s_name_ok("-a"));
        assert!(!k8s_name_ok(""));
    }
}
