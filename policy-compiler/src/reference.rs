//! Profile references, as `--security-profile`, pod annotations and `extends`
//! write them: `default` (alias `runtime/default`), `restricted`, `privileged`
//! (alias `unconfined`), `localhost/<relative path>` under a profiles directory,
//! or a path to a `.yaml` file.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::builtin;
use crate::source::SourceFile;

/// The largest profile file rampart reads.
pub const MAX_PROFILE_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileRef {
    Builtin(&'static str),
    /// Relative to the profiles directory.
    Localhost(PathBuf),
    Path(PathBuf),
}

/// Why a reference could not be used. The message says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error(
        "`{0}`: localhost/ references must be relative paths without `..` (they resolve under the profiles directory)"
    )]
    Escapes(String),
    #[error("`{0}`: a localhost/ reference needs a profiles directory (pass --profiles-dir DIR)")]
    NoProfilesDir(String),
    #[error(
        "`{reference}` is not a profile reference{hint}; use default, restricted, privileged, localhost/<path> or a path to a .yaml file"
    )]
    Unknown { reference: String, hint: String },
    #[error("cannot read profile {path}: {message}")]
    Io { path: String, message: String },
}

impl ProfileRef {
    pub fn parse(s: &str) -> Result<ProfileRef, RefError> {
        if let Some(name) = builtin::profile_name(s) {
            return Ok(ProfileRef::Builtin(name));
        }
        if let Some(rel) = s.strip_prefix("localhost/") {
            let p = Path::new(rel);
            let safe = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
            return if safe {
                Ok(ProfileRef::Localhost(p.to_path_buf()))
            } else {
                Err(RefError::Escapes(s.to_string()))
            };
        }
        if s.ends_with(".yaml") || s.ends_with(".yml") || s.contains('/') {
            return Ok(ProfileRef::Path(PathBuf::from(s)));
        }
        let names = builtin::PROFILES
            .iter()
            .flat_map(|(_, r)| r.iter().copied());
        let hint = crate::suggest::did_you_mean(s, names)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        Err(RefError::Unknown {
            reference: s.to_string(),
            hint,
        })
    }

    /// Loads the referenced file. `base` is the directory relative paths start
    /// from: the referring file's, or `""` for the working directory (not `"."`,
    /// so that messages name the file as the user wrote it).
    pub fn load(
        &self,
        base: &Path,
        profiles_dir: Option<&Path>,
    ) -> Result<Arc<SourceFile>, RefError> {
        let path = match self {
            ProfileRef::Builtin(name) => {
                return builtin::profile(name).ok_or_else(|| RefError::Unknown {
                    reference: name.to_string(),
                    hint: String::new(),
                });
            }
            ProfileRef::Localhost(rel) => match profiles_dir {
                Some(d) => d.join(rel),
                None => {
                    return Err(RefError::NoProfilesDir(format!(
                        "localhost/{}",
                        rel.display()
                    )));
                }
            },
            ProfileRef::Path(p) if p.is_absolute() => p.clone(),
            ProfileRef::Path(p) => base.join(p),
        };
        let io = |message: String| RefError::Io {
            path: path.display().to_string(),
            message,
        };
        // Only regular files, and not huge ones: `extends: /dev/zero` or a FIFO
        // must fail, not hang.
        let meta = std::fs::metadata(&path).map_err(|e| io(e.to_string()))?;
        if !meta.is_file() {
            return Err(io("not a regular file".into()));
        }
        if meta.len() > MAX_PROFILE_BYTES {
            return Err(io(format!("larger than {MAX_PROFILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| io(e.to_string()))?;
        Ok(SourceFile::new(path.display().to_string(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            ProfileRef::parse("runtime/default"),
            Ok(ProfileRef::Builtin("default"))
        );
        assert_eq!(
            ProfileRef::parse("unconfined"),
            Ok(ProfileRef::Builtin("privileged"))
        );
        assert_eq!(
            ProfileRef::parse("localhost/web/app.yaml"),
            Ok(ProfileRef::Localhost("web/app.yaml".into()))
        );
        assert!(matches!(
            ProfileRef::parse("localhost/../etc/x.yaml"),
            Err(RefError::Escapes(_))
        ));
        assert!(matches!(
            ProfileRef::parse("localhost//etc/x.yaml"),
            Err(RefError::Escapes(_))
        ));
        assert_eq!(
            ProfileRef::parse("./p.yaml"),
            Ok(ProfileRef::Path("./p.yaml".into()))
        );
        let e = ProfileRef::parse("defualt").unwrap_err().to_string();
        assert!(e.contains("did you mean `default`?"), "{e}");
        assert!(matches!(
            ProfileRef::Path("/dev/zero".into()).load(Path::new("."), None),
            Err(RefError::Io { .. })
        ));
        assert!(matches!(
            ProfileRef::Localhost("x.yaml".into()).load(Path::new("."), None),
            Err(RefError::NoProfilesDir(_))
        ));
    }
}
