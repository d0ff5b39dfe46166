//! Security Profiles Operator `SeccompProfile` resources
//! (`security-profiles-operator.x-k8s.io/v1`).
//!
//! `spec` is the OCI seccomp object in YAML (`defaultAction`, `architectures`,
//! `flags`, `listenerPath`, `syscalls`), imported with the OCI semantics
//! ([`super::oci`]). A file may hold several resources (`---`): `--filter NAME`
//! picks one by `metadata.name`.
//!
//! `baseProfileName` names another `SeccompProfile` whose rules are appended
//! after the profile's own (the profile's `defaultAction` and architectures
//! win). It is looked up in the base directory as `<dir>/<name>.yaml`, then in
//! every `*.yaml` there, by `metadata.name`; chains are followed (cycles are
//! errors). `oci://` bases (pulled from a registry by the operator) are not
//! fetched: export them to a file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::source::{Location, SourceFile};

use super::oci;
use super::{Cx, Gen, GenSeccomp, ImportOptions};

const API_GROUP: &str = "security-profiles-operator.x-k8s.io/";

fn resources(cx: &mut Cx) -> Option<Vec<Value>> {
    match super::yaml_documents(&cx.file.text) {
        Ok(docs) => Some(
            docs.into_iter()
                .filter(|d| d.get("kind").and_then(Value::as_str) == Some("SeccompProfile"))
                .collect(),
        ),
        Err(e) => {
            let at = Location::new(&cx.file, e.offset..e.offset);
            cx.error("yaml-syntax", e.message, at);
            None
        }
    }
}

fn name_of(v: &Value) -> String {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(crate) fn import(cx: &mut Cx, opts: &ImportOptions) -> Option<Gen> {
    let docs = resources(cx)?;
    let names: Vec<String> = docs.iter().map(name_of).collect();
    let doc = match (&opts.filter, docs.len()) {
        (_, 0) => {
            let at = Location::new(&cx.file, 0..0);
            cx.error("missing-key", "no SeccompProfile resource in this file", at);
            return None;
        }
        (Some(f), _) => match docs.iter().position(|d| name_of(d) == *f) {
            Some(i) => &docs[i],
            None => {
                let at = Location::new(&cx.file, 0..0);
                cx.push(
                    crate::diagnostic::Diagnostic::error(
                        "missing-key",
                        format!("no SeccompProfile named `{f}` in this file"),
                        at,
                    )
                    .with_help(format!("the file holds: {}", names.join(", "))),
                );
                return None;
            }
        },
        (None, 1) => &docs[0],
        (None, _) => {
            let at = Location::new(&cx.file, 0..0);
            cx.push(
                crate::diagnostic::Diagnostic::error(
                    "missing-key",
                    format!("this file holds {} SeccompProfiles; pick one", docs.len()),
                    at,
                )
                .with_help(format!("pass --filter NAME, one of: {}", names.join(", "))),
            );
            return None;
        }
    };
    if let Some(api) = doc.get("apiVersion").and_then(Value::as_str)
        && !api.starts_with(API_GROUP)
    {
        let at = cx.find(api);
        cx.warn(
            "unsupported-version",
            format!("apiVersion `{api}` is not the Security Profiles Operator's"),
            at,
        );
    }
    let name = name_of(doc);
    let source = cx.short_name();
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    let mut seccomp = spec_seccomp(cx, &spec, "spec.")?;
    let base_dir = opts.base_dir.clone().unwrap_or_else(|| {
        Path::new(&cx.file.name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    // Follow baseProfileName.
    let mut seen = vec![name.clone()];
    let mut base = spec
        .get("baseProfileName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut bases = Vec::new();
    while let Some(b) = base.take() {
        if seen.contains(&b) {
            let at = cx.find(&b);
            cx.error(
                "extends-cycle",
                format!("base profiles form a cycle: {} → {b}", seen.join(" → ")),
                at,
            );
            return None;
        }
        seen.push(b.clone());
        let (file, bspec) = find_base(cx, &b, &base_dir)?;
        let mut bcx = Cx {
            file: file.clone(),
            diags: Vec::new(),
        };
        let mut bspec_mod = bspec.clone();
        // The derived profile's default action and architectures win.
        if let Some(o) = bspec_mod.as_object_mut() {
            o.insert(
                "defaultAction".into(),
                spec.get("defaultAction").cloned().unwrap_or(Value::Null),
            );
            o.remove("architectures");
        }
        let prefix = format!(
            "base `{b}` ({}) spec.",
            Path::new(&file.name)
                .file_name()
                .map_or_else(|| file.name.clone(), |n| n.to_string_lossy().into_owned())
        );
        let got = spec_seccomp(&mut bcx, &bspec_mod, &prefix);
        cx.diags.extend(bcx.diags);
        let got = got?;
        seccomp.rules.extend(got.rules);
        seccomp.notes.extend(got.notes);
        bases.push(b.clone());
        base = bspec
            .get("baseProfileName")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    // libseccomp's precedence across the merged list.
    seccomp.rules = super::order_rules(std::mem::take(&mut seccomp.rules));
    let mut header = vec![format!(
        "Imported from {source} (Security Profiles Operator SeccompProfile `{name}`) by `rampart convert`."
    )];
    if !bases.is_empty() {
        header.push(format!(
            "Base profiles (their rules follow this profile's own): {}.",
            bases.join(" → ")
        ));
    }
    let description = doc
        .pointer("/metadata/annotations/description")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(Gen {
        header,
        name: (!name.is_empty()).then_some(name),
        description,
        seccomp: Some(seccomp),
        ..Gen::default()
    })
}

fn spec_seccomp(cx: &mut Cx, spec: &Value, path: &str) -> Option<GenSeccomp> {
    let mut spec = spec.clone();
    if let Some(o) = spec.as_object_mut() {
        for k in ["baseProfileName", "disabled", "listenerMetadata"] {
            o.remove(k);
        }
    }
    let s: oci::Seccomp = cx.decode(spec, "SeccompProfile spec")?;
    oci::seccomp(cx, &s, path)
}

fn find_base(cx: &mut Cx, name: &str, dir: &Path) -> Option<(std::sync::Arc<SourceFile>, Value)> {
    if name.starts_with("oci://") {
        let at = cx.find(name);
        cx.push(
            crate::diagnostic::Diagnostic::error(
                "extends-not-found",
                format!("base profile `{name}` is an OCI artifact; rampart does not pull images"),
                at,
            )
            .with_help("save the artifact's SeccompProfile as <base-dir>/<name>.yaml and reference it by name"),
        );
        return None;
    }
    let mut candidates: Vec<PathBuf> = vec![dir.join(format!("{name}.yaml"))];
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut others: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        others.sort();
        candidates.extend(others);
    }
    for p in candidates {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(docs) = super::yaml_documents(&text) else {
            continue;
        };
        if let Some(d) = docs.iter().find(|d| {
            d.get("kind").and_then(Value::as_str) == Some("SeccompProfile") && name_of(d) == name
        }) {
            let spec = d.get("spec").cloned().unwrap_or(Value::Null);
            return Some((SourceFile::new(p.display().to_string(), text), spec));
        }
    }
    let at = cx.find(name);
    cx.push(
        crate::diagnostic::Diagnostic::error(
            "extends-not-found",
            format!(
                "base profile `{name}` not found in {}",
                if dir.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    dir.display().to_string()
                }
            ),
            at,
        )
        .with_help(format!(
            "put a SeccompProfile with metadata.name `{name}` in {name}.yaml there, or pass --base-dir DIR"
        )),
    );
    None
}
