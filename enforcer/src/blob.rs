//! The compiled-policy file format: versioned, checksummed, canonical.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "RAMPART\0"
//! 8       2     format version, u16 little-endian (FORMAT_VERSION)
//! 10      4     body length N, u32 little-endian (at most MAX_BODY_LEN)
//! 14      8     XXH64 of the body (seed 0), u64 little-endian
//! 22      N     body: a sequence of records, nothing after it
//!
//! record  = tag u16 LE, length u32 LE, value[length]
//! ```
//!
//! Body records (tags strictly increasing, each at most once):
//!
//! | tag | field | value |
//! |---|---|---|
//! | 1 | seccomp (optional) | records: 1 program (8-byte LE `sock_filter`s), 2 flags u8 (bit0 tsync, bit1 log, bit2 required), 3 compat gates (optional, not empty): arch u32, instruction index u16, each |
//! | 2 | caps (optional) | 5 × u64 LE: bounding, permitted, effective, inheritable, ambient |
//! | 3 | no_new_privs (required) | u8 0/1 |
//! | 4 | user (optional) | uid u32, gid u32, then groups u32… |
//! | 5 | selinux (optional) | records: 1 process label, 2 mount label (optional), 3 required u8 |
//! | 6 | landlock (optional) | records: 1 compat u8 (0 required, 1 best-effort), 2 handled fs u64, 3 handled net u8 (bit0 bind, bit1 connect), 4 path rule (repeatable: records 1 path, 2 access u64), 5 bind ports u16…, 6 connect ports u16…, 7 scopes u8 (bit0 abstract unix, bit1 signal) |
//! | 7 | personality (optional) | u32 |
//! | 8 | keep_fds (required) | i32… strictly increasing, each ≥ 3 |
//!
//! The decoder accepts exactly what the encoder writes (unknown tags, out-of-order
//! tags, non-0/1 booleans, unsorted lists are all errors), so `encode(decode(b)) == b`
//! for every accepted `b`. Every error names the byte offset. Decoding never panics
//! and allocates at most in proportion to the input it was given.

use xxhash_rust::xxh64::xxh64;

use crate::bpf::{ProgramError, SeccompProgram, SockFilter};
use crate::policy::{
    CapSets, CompatGate, Compatibility, CompiledPolicy, LandlockSpec, LandlockSpecParts, PathRule,
    PolicyError, Scopes, SeccompSpec, SelinuxSpec, UserSpec,
};

/// `RAMPART\0`.
pub const MAGIC: [u8; 8] = *b"RAMPART\0";
/// The only format version this enforcer reads and writes.
/// (3: the seccomp section's compat gates.)
pub const FORMAT_VERSION: u16 = 3;
/// Size of the fixed header before the body.
pub const HEADER_LEN: usize = 8 + 2 + 4 + 8;
/// Largest body accepted (a 4096-instruction program is 32 KiB; this leaves room).
pub const MAX_BODY_LEN: usize = 4 << 20;
/// Largest whole blob accepted.
pub const MAX_BLOB_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

mod tag {
    pub const SECCOMP: u16 = 1;
    pub const CAPS: u16 = 2;
    pub const NNP: u16 = 3;
    pub const USER: u16 = 4;
    pub const SELINUX: u16 = 5;
    pub const LANDLOCK: u16 = 6;
    pub const PERSONALITY: u16 = 7;
    pub const KEEP_FDS: u16 = 8;

    pub const SC_PROGRAM: u16 = 1;
    pub const SC_FLAGS: u16 = 2;
    pub const SC_GATES: u16 = 3;

    pub const SE_PROCESS: u16 = 1;
    pub const SE_MOUNT: u16 = 2;
    pub const SE_REQUIRED: u16 = 3;

    pub const LL_COMPAT: u16 = 1;
    pub const LL_HANDLED_FS: u16 = 2;
    pub const LL_HANDLED_NET: u16 = 3;
    pub const LL_PATH: u16 = 4;
    pub const LL_BIND: u16 = 5;
    pub const LL_CONNECT: u16 = 6;
    pub const LL_SCOPES: u16 = 7;

    pub const LP_PATH: u16 = 1;
    pub const LP_ACCESS: u16 = 2;
}

/// Why a blob was refused. Offsets are from the start of the blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error(
        "byte 0: not a rampart policy (bad magic {found:02x?}, expected \"RAMPART\\0\"); pass a file written by `rampart compile`"
    )]
    BadMagic { found: Vec<u8> },
    #[error(
        "byte 8: policy format version {found}, but this rampart-enforce reads version {FORMAT_VERSION}; recompile the policy with the matching rampart or use the matching enforcer"
    )]
    UnsupportedVersion { found: u16 },
    #[error("byte {offset}: truncated: {what} needs {need} bytes but only {have} remain")]
    Truncated {
        offset: usize,
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("byte 10: body length {len} exceeds the limit of {MAX_BODY_LEN} bytes")]
    TooLarge { len: usize },
    #[error("byte {offset}: {len} unexpected trailing bytes after the {what}")]
    TrailingBytes {
        offset: usize,
        len: usize,
        what: &'static str,
    },
    #[error(
        "byte 14: the XXH64 checksum of the body does not match the header; the policy file is corrupt or was modified after compilation"
    )]
    ChecksumMismatch,
    #[error(
        "byte {offset}: unknown tag {tag} in {context}; the blob was written by a newer or different rampart"
    )]
    UnknownTag {
        offset: usize,
        tag: u16,
        context: &'static str,
    },
    #[error(
        "byte {offset}: tag {tag} in {context} is repeated or out of order (canonical blobs list each field once, by increasing tag)"
    )]
    OutOfOrder {
        offset: usize,
        tag: u16,
        context: &'static str,
    },
    #[error("byte {offset}: {context} is missing its required field `{what}`")]
    Missing {
        offset: usize,
        context: &'static str,
        what: &'static str,
    },
    #[error("byte {offset}: {what}: {reason}")]
    BadValue {
        offset: usize,
        what: &'static str,
        reason: String,
    },
    #[error("byte {offset}: seccomp program rejected: {source}")]
    Program { offset: usize, source: ProgramError },
    #[error("byte {offset}: invalid policy: {source}")]
    Policy { offset: usize, source: PolicyError },
}

// ---------------------------------------------------------------------------
// Encoding

/// Serialises `policy` into the canonical blob.
pub fn encode(policy: &CompiledPolicy) -> Vec<u8> {
    seal(&encode_body(policy))
}

/// The header, then `body`.
fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // A policy's body is bounded by its validated parts (4096 instructions, 1024
    // rules of at most a path each, 65536 groups); it always fits in u32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The header's checksum of `body`. It detects corruption (a truncated copy, a
/// flipped bit, a file that is not a policy); it cannot authenticate, and neither
/// could an unkeyed cryptographic hash, which anyone able to rewrite the file can
/// recompute. Where a policy's origin matters, protect the file (or pass it by fd).
/// XXH64 needs no CPU-feature probe: SHA-256 cost the enforcer two `cpuid`
/// instructions (VM exits) and about 6 µs per launch (docs/BENCHMARKS.md).
fn checksum(body: &[u8]) -> u64 {
    xxh64(body, 0)
}

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

fn encode_body(p: &CompiledPolicy) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(s) = p.seccomp() {
        let mut v = Vec::new();
        let mut prog = Vec::with_capacity(s.program.len() * 8);
        for i in s.program.instructions() {
            prog.extend_from_slice(&i.code.to_le_bytes());
            prog.push(i.jt);
            prog.push(i.jf);
            prog.extend_from_slice(&i.k.to_le_bytes());
        }
        put(&mut v, tag::SC_PROGRAM, &prog);
        let flags = u8::from(s.tsync) | u8::from(s.log) << 1 | u8::from(s.required) << 2;
        put(&mut v, tag::SC_FLAGS, &[flags]);
        if !s.compat_gates.is_empty() {
            let mut gates = Vec::with_capacity(s.compat_gates.len() * 6);
            for g in &s.compat_gates {
                gates.extend_from_slice(&g.arch.to_le_bytes());
                gates.extend_from_slice(&g.at.to_le_bytes());
            }
            put(&mut v, tag::SC_GATES, &gates);
        }
        put(&mut out, tag::SECCOMP, &v);
    }
    if let Some(c) = p.caps() {
        let mut v = Vec::with_capacity(40);
        for x in [
            c.bounding(),
            c.permitted(),
            c.effective(),
            c.inheritable(),
            c.ambient(),
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        put(&mut out, tag::CAPS, &v);
    }
    put(&mut out, tag::NNP, &[u8::from(p.no_new_privs())]);
    if let Some(u) = p.user() {
        let mut v = Vec::with_capacity(8 + 4 * u.groups().len());
        v.extend_from_slice(&u.uid().to_le_bytes());
        v.extend_from_slice(&u.gid().to_le_bytes());
        for g in u.groups() {
            v.extend_from_slice(&g.to_le_bytes());
        }
        put(&mut out, tag::USER, &v);
    }
    if let Some(s) = p.selinux() {
        let mut v = Vec::new();
        put(&mut v, tag::SE_PROCESS, s.process_label().as_bytes());
        if let Some(m) = s.mount_label() {
            put(&mut v, tag::SE_MOUNT, m.as_bytes());
        }
        put(&mut v, tag::SE_REQUIRED, &[u8::from(s.required())]);
        put(&mut out, tag::SELINUX, &v);
    }
    if let Some(l) = p.landlock() {
        let mut v = Vec::new();
        let compat = match l.compatibility() {
            Compatibility::Required => 0u8,
            Compatibility::BestEffort => 1,
        };
        put(&mut v, tag::LL_COMPAT, &[compat]);
        put(&mut v, tag::LL_HANDLED_FS, &l.handled_fs().to_le_bytes());
        let net = u8::from(l.handle_bind_tcp()) | u8::from(l.handle_connect_tcp()) << 1;
        put(&mut v, tag::LL_HANDLED_NET, &[net]);
        for r in l.paths() {
            let mut rv = Vec::new();
            put(&mut rv, tag::LP_PATH, r.path().as_bytes());
            put(&mut rv, tag::LP_ACCESS, &r.access().to_le_bytes());
            put(&mut v, tag::LL_PATH, &rv);
        }
        let ports = |ps: &[u16]| ps.iter().flat_map(|p| p.to_le_bytes()).collect::<Vec<u8>>();
        put(&mut v, tag::LL_BIND, &ports(l.bind_tcp()));
        put(&mut v, tag::LL_CONNECT, &ports(l.connect_tcp()));
        let sc = l.scopes();
        put(
            &mut v,
            tag::LL_SCOPES,
            &[u8::from(sc.abstract_unix) | u8::from(sc.signal) << 1],
        );
        put(&mut out, tag::LANDLOCK, &v);
    }
    if let Some(pers) = p.personality() {
        put(&mut out, tag::PERSONALITY, &pers.to_le_bytes());
    }
    let fds: Vec<u8> = p.keep_fds().iter().flat_map(|f| f.to_le_bytes()).collect();
    put(&mut out, tag::KEEP_FDS, &fds);
    out
}

// ---------------------------------------------------------------------------
// Decoding

/// Parses and verifies a blob. Rejects bad magic, another version, a wrong length,
/// trailing bytes, a checksum mismatch, and any malformed or non-canonical body.
pub fn decode(data: &[u8]) -> Result<CompiledPolicy, BlobError> {
    if data.len() < 8 || data[..8] != MAGIC {
        return Err(BlobError::BadMagic {
            found: data[..data.len().min(8)].to_vec(),
        });
    }
    let header = |off: usize, need: usize, what: &'static str| {
        data.get(off..off + need).ok_or(BlobError::Truncated {
            offset: off,
            what,
            need,
            have: data.len().saturating_sub(off),
        })
    };
    let v = header(8, 2, "format version")?;
    let version = u16::from_le_bytes([v[0], v[1]]);
    if version != FORMAT_VERSION {
        return Err(BlobError::UnsupportedVersion { found: version });
    }
    let l = header(10, 4, "body length")?;
    let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
    if len > MAX_BODY_LEN {
        return Err(BlobError::TooLarge { len });
    }
    let sum = header(14, 8, "checksum")?;
    let body = header(HEADER_LEN, len, "body")?;
    if data.len() > HEADER_LEN + len {
        return Err(BlobError::TrailingBytes {
            offset: HEADER_LEN + len,
            len: data.len() - HEADER_LEN - len,
            what: "body (the header's length field says where the body ends)",
        });
    }
    if checksum(body).to_le_bytes() != sum {
        return Err(BlobError::ChecksumMismatch);
    }
    decode_body_at(body, HEADER_LEN)
}

/// One TLV record: its tag, value, and the absolute offsets of the record and value.
#[derive(Clone, Copy)]
struct Rec<'a> {
    tag: u16,
    at: usize,
    val: Val<'a>,
}

/// A value slice with the absolute offset of its first byte.
#[derive(Clone, Copy)]
struct Val<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Iterates the records of one TLV sequence, enforcing the tag order.
struct Records<'a> {
    rest: Val<'a>,
    context: &'static str,
    last: u16,
    /// A tag allowed to repeat (it must still not go backwards).
    repeatable: u16,
}

impl<'a> Records<'a> {
    fn new(v: Val<'a>, context: &'static str, repeatable: u16) -> Self {
        Records {
            rest: v,
            context,
            last: 0,
            repeatable,
        }
    }

    fn next(&mut self) -> Result<Option<Rec<'a>>, BlobError> {
        let b = self.rest.bytes;
        let at = self.rest.at;
        if b.is_empty() {
            return Ok(None);
        }
        if b.len() < 6 {
            return Err(BlobError::Truncated {
                offset: at,
                what: "record header (tag, length)",
                need: 6,
                have: b.len(),
            });
        }
        let tag = u16::from_le_bytes([b[0], b[1]]);
        let len = u32::from_le_bytes([b[2], b[3], b[4], b[5]]) as usize;
        let Some(bytes) = b.get(6..).and_then(|r| r.get(..len)) else {
            return Err(BlobError::Truncated {
                offset: at + 6,
                what: "record value",
                need: len,
                have: b.len() - 6,
            });
        };
        let ok = tag > self.last || (tag == self.last && tag == self.repeatable);
        if !ok {
            return Err(BlobError::OutOfOrder {
                offset: at,
                tag,
                context: self.context,
            });
        }
        self.last = tag;
        self.rest = Val {
            bytes: &b[6 + len..],
            at: at + 6 + len,
        };
        Ok(Some(Rec {
            tag,
            at,
            val: Val { bytes, at: at + 6 },
        }))
    }

    fn unknown(&self, r: &Rec<'_>) -> BlobError {
        BlobError::UnknownTag {
            offset: r.at,
            tag: r.tag,
            context: self.context,
        }
    }

    fn end(&self) -> usize {
        self.rest.at
    }
}

impl<'a> Val<'a> {
    fn exact(&self, n: usize, what: &'static str) -> Result<&'a [u8], BlobError> {
        if self.bytes.len() < n {
            Err(BlobError::Truncated {
                offset: self.at,
                what,
                need: n,
                have: self.bytes.len(),
            })
        } else if self.bytes.len() > n {
            Err(BlobError::TrailingBytes {
                offset: self.at + n,
                len: self.bytes.len() - n,
                what,
            })
        } else {
            Ok(self.bytes)
        }
    }
    fn u8(&self, what: &'static str) -> Result<u8, BlobError> {
        Ok(self.exact(1, what)?[0])
    }
    fn flags(&self, what: &'static str, allowed: u8) -> Result<u8, BlobError> {
        let f = self.u8(what)?;
        if f & !allowed != 0 {
            return Err(self.bad(what, format!("unknown flag bits {:#04x}", f & !allowed)));
        }
        Ok(f)
    }
    fn bool(&self, what: &'static str) -> Result<bool, BlobError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.bad(what, format!("boolean must be 0 or 1, found {b}"))),
        }
    }
    fn u32(&self, what: &'static str) -> Result<u32, BlobError> {
        let b = self.exact(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&self, what: &'static str) -> Result<u64, BlobError> {
        let b = self.exact(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&self, what: &'static str) -> Result<&'a str, BlobError> {
        std::str::from_utf8(self.bytes).map_err(|e| BlobError::BadValue {
            offset: self.at + e.valid_up_to(),
            what,
            reason: "not valid UTF-8".into(),
        })
    }
    /// The value split into `size`-byte items (the length must be a multiple).
    fn items(
        &self,
        size: usize,
        what: &'static str,
    ) -> Result<std::slice::ChunksExact<'a, u8>, BlobError> {
        if !self.bytes.len().is_multiple_of(size) {
            return Err(self.bad(
                what,
                format!("length {} is not a multiple of {size}", self.bytes.len()),
            ));
        }
        Ok(self.bytes.chunks_exact(size))
    }
    fn bad(&self, what: &'static str, reason: String) -> BlobError {
        BlobError::BadValue {
            offset: self.at,
            what,
            reason,
        }
    }
}

fn policy_err(offset: usize) -> impl Fn(PolicyError) -> BlobError {
    move |source| BlobError::Policy { offset, source }
}

/// Decodes a body that starts at absolute offset `base` (for error offsets).
fn decode_body_at(body: &[u8], base: usize) -> Result<CompiledPolicy, BlobError> {
    let mut recs = Records::new(
        Val {
            bytes: body,
            at: base,
        },
        "policy body",
        0,
    );
    let mut b = CompiledPolicy::builder();
    let mut nnp = None;
    let mut keep = None;
    while let Some(r) = recs.next()? {
        match r.tag {
            tag::SECCOMP => b = b.seccomp(decode_seccomp(r.val)?),
            tag::CAPS => {
                let v = r.val.exact(40, "capability sets (5 × u64)")?;
                let m: Vec<u64> = v
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        u64::from_le_bytes(a)
                    })
                    .collect();
                let caps =
                    CapSets::new(m[0], m[1], m[2], m[3], m[4]).map_err(policy_err(r.val.at))?;
                b = b.caps(caps);
            }
            tag::NNP => nnp = Some(r.val.bool("no_new_privs")?),
            tag::USER => {
                if r.val.bytes.len() < 8 {
                    return Err(BlobError::Truncated {
                        offset: r.val.at,
                        what: "user (uid, gid)",
                        need: 8,
                        have: r.val.bytes.len(),
                    });
                }
                let ids = Val {
                    bytes: r.val.bytes,
                    at: r.val.at,
                };
                let mut it = ids
                    .items(4, "user ids (u32 each)")?
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                let (uid, gid) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
                let user = UserSpec::new(uid, gid, it.collect()).map_err(policy_err(r.val.at))?;
                b = b.user(user);
            }
            tag::SELINUX => b = b.selinux(decode_selinux(r.val)?),
            tag::LANDLOCK => b = b.landlock(decode_landlock(r.val)?),
            tag::PERSONALITY => b = b.personality(r.val.u32("personality")?),
            tag::KEEP_FDS => {
                let fds: Vec<i32> = r
                    .val
                    .items(4, "keep_fds (i32 each)")?
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if fds.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(r
                        .val
                        .bad("keep_fds", "fds must be strictly increasing".into()));
                }
                keep = Some(fds);
            }
            _ => return Err(recs.unknown(&r)),
        }
    }
    let end = recs.end();
    let Some(nnp) = nnp else {
        return Err(BlobError::Missing {
            offset: end,
            context: "policy body",
            what: "no_new_privs",
        });
    };
    let Some(keep) = keep else {
        return Err(BlobError::Missing {
            offset: end,
            context: "policy body",
            what: "keep_fds",
        });
    };
    b.no_new_privs(nnp)
        .keep_fds(keep)
        .build()
        .map_err(policy_err(base))
}

fn decode_seccomp(v: Val<'_>) -> Result<SeccompSpec, BlobError> {
    let mut recs = Records::new(v, "seccomp", 0);
    let (mut program, mut flags, mut compat_gates) = (None, None, Vec::new());
    while let Some(r) = recs.next()? {
        match r.tag {
            tag::SC_GATES => {
                // At most one per instruction; `build` checks where they point.
                if r.val.bytes.is_empty() || r.val.bytes.len() / 6 > crate::bpf::MAX_INSNS {
                    return Err(r.val.bad(
                        "compat gates",
                        format!("{} bytes: 1 to 4096 gates of 6 bytes", r.val.bytes.len()),
                    ));
                }
                compat_gates = r
                    .val
                    .items(6, "compat gates (6 bytes each)")?
                    .map(|c| CompatGate {
                        arch: u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                        at: u16::from_le_bytes([c[4], c[5]]),
                    })
                    .collect();
            }
            tag::SC_PROGRAM => {
                let insns = r
                    .val
                    .items(8, "seccomp program (8-byte instructions)")?
                    .map(|c| SockFilter {
                        code: u16::from_le_bytes([c[0], c[1]]),
                        jt: c[2],
                        jf: c[3],
                        k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                    });
                // Bound the allocation before collecting: the kernel limit applies anyway.
                if r.val.bytes.len() / 8 > crate::bpf::MAX_INSNS {
                    return Err(BlobError::Program {
                        offset: r.val.at,
                        source: ProgramError::TooLong {
                            len: r.val.bytes.len() / 8,
                        },
                    });
                }
                let p =
                    SeccompProgram::new(insns.collect()).map_err(|source| BlobError::Program {
                        offset: r.val.at,
                        source,
                    })?;
                program = Some(p);
            }
            tag::SC_FLAGS => flags = Some(r.val.flags("seccomp flags", 0b111)?),
            _ => return Err(recs.unknown(&r)),
        }
    }
    let missing = |what| BlobError::Missing {
        offset: recs.end(),
        context: "seccomp",
        what,
    };
    let program = program.ok_or_else(|| missing("program"))?;
    let f = flags.ok_or_else(|| missing("flags"))?;
    Ok(SeccompSpec {
        program,
        tsync: f & 1 != 0,
        log: f & 2 != 0,
        required: f & 4 != 0,
        compat_gates,
    })
}

fn decode_selinux(v: Val<'_>) -> Result<SelinuxSpec, BlobError> {
    let mut recs = Records::new(v, "selinux", 0);
    let (mut process, mut mount, mut required) = (None, None, None);
    while let Some(r) = recs.next()? {
        match r.tag {
            tag::SE_PROCESS => process = Some(r.val.str("selinux process label")?),
            tag::SE_MOUNT => mount = Some(r.val.str("selinux mount label")?),
            tag::SE_REQUIRED => required = Some(r.val.bool("selinux required")?),
            _ => return Err(recs.unknown(&r)),
        }
    }
    let missing = |what| BlobError::Missing {
        offset: recs.end(),
        context: "selinux",
        what,
    };
    let process = process.ok_or_else(|| missing("process label"))?;
    let required = required.ok_or_else(|| missing("required"))?;
    SelinuxSpec::new(process.to_owned(), mount.map(str::to_owned), required)
        .map_err(policy_err(v.at))
}

fn decode_ports(v: Val<'_>, what: &'static str) -> Result<Vec<u16>, BlobError> {
    let ports: Vec<u16> = v
        .items(2, what)?
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if ports.windows(2).any(|w| w[0] >= w[1]) {
        return Err(v.bad(what, "ports must be strictly increasing".into()));
    }
    Ok(ports)
}

fn decode_landlock(v: Val<'_>) -> Result<LandlockSpec, BlobError> {
    let mut recs = Records::new(v, "landlock", tag::LL_PATH);
    let (mut compat, mut fs, mut net, mut bind, mut connect, mut scopes) =
        (None, None, None, None, None, None);
    let mut paths = Vec::new();
    while let Some(r) = recs.next()? {
        match r.tag {
            tag::LL_COMPAT => {
                compat = Some(match r.val.u8("landlock compatibility")? {
                    0 => Compatibility::Required,
                    1 => Compatibility::BestEffort,
                    c => {
                        return Err(r.val.bad(
                            "landlock compatibility",
                            format!("{c} is neither 0 (required) nor 1 (best-effort)"),
                        ));
                    }
                })
            }
            tag::LL_HANDLED_FS => fs = Some(r.val.u64("landlock handled fs rights")?),
            tag::LL_HANDLED_NET => net = Some(r.val.flags("landlock handled net rights", 0b11)?),
            tag::LL_PATH => {
                let mut pr = Records::new(r.val, "landlock path rule", 0);
                let (mut path, mut access) = (None, None);
                while let Some(x) = pr.next()? {
                    match x.tag {
                        tag::LP_PATH => path = Some(x.val.str("landlock rule path")?),
                        tag::LP_ACCESS => access = Some(x.val.u64("landlock rule access")?),
                        _ => return Err(pr.unknown(&x)),
                    }
                }
                let missing = |what| BlobError::Missing {
                    offset: pr.end(),
                    context: "landlock path rule",
                    what,
                };
                let path = path.ok_or_else(|| missing("path"))?;
                let access = access.ok_or_else(|| missing("access"))?;
                paths.push(PathRule::new(path, access).map_err(policy_err(r.val.at))?);
            }
            tag::LL_BIND => bind = Some(decode_ports(r.val, "landlock bind ports")?),
            tag::LL_CONNECT => connect = Some(decode_ports(r.val, "landlock connect ports")?),
            tag::LL_SCOPES => scopes = Some(r.val.flags("landlock scopes", 0b11)?),
            _ => return Err(recs.unknown(&r)),
        }
    }
    let missing = |what| BlobError::Missing {
        offset: recs.end(),
        context: "landlock",
        what,
    };
    let net = net.ok_or_else(|| missing("handled net rights"))?;
    let scopes = scopes.ok_or_else(|| missing("scopes"))?;
    LandlockSpec::new(LandlockSpecParts {
        compatibility: compat.ok_or_else(|| missing("compatibility"))?,
        handled_fs: fs.ok_or_else(|| missing("handled fs rights"))?,
        handle_bind_tcp: net & 1 != 0,
        handle_connect_tcp: net & 2 != 0,
        paths,
        bind_tcp: bind.ok_or_else(|| missing("bind ports"))?,
        connect_tcp: connect.ok_or_else(|| missing("connect ports"))?,
        scopes: Scopes {
            abstract_unix: scopes & 1 != 0,
            signal: scopes & 2 != 0,
        },
    })
    .map_err(policy_err(v.at))
}

/// Fuzzing entry point: decode `data` as a whole blob and, separately, as a bare
/// body (the checksum would otherwise stop a fuzzer from ever reaching the body
/// parser). Whatever decodes must re-encode to the identical bytes.
///
/// Panics only if that round-trip property is violated.
pub fn fuzz_decode(data: &[u8]) {
    if let Ok(p) = decode(data) {
        assert_eq!(encode(&p), data, "blob did not round-trip");
    }
    if data.len() <= MAX_BODY_LEN
        && let Ok(p) = decode_body_at(data, 0)
    {
        assert_eq!(encode_body(&p), data, "body did not round-trip");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{op::*, ret};
    use crate::policy::fs_access;
    use proptest::prelude::*;

    fn program() -> SeccompProgram {
        SeccompProgram::new(vec![
            crate::bpf::gate::OPEN,
            SockFilter::stmt(LD | W | ABS, 0),
            SockFilter::jump(JMP | JEQ | K, 83, 0, 1),
            SockFilter::stmt(RET | K, ret::ERRNO | 1),
            SockFilter::stmt(RET | K, ret::ALLOW),
        ])
        .unwrap()
    }

    fn full_policy() -> CompiledPolicy {
        CompiledPolicy::builder()
            .seccomp(SeccompSpec {
                program: program(),
                tsync: true,
                log: false,
                required: true,
                compat_gates: vec![CompatGate {
                    arch: 0x4000_0003,
                    at: 0,
                }],
            })
            .caps(CapSets::new(0x4ff, 0x400, 0x400, 0x400, 0x400).unwrap())
            .no_new_privs(false)
            .user(UserSpec::new(1000, 1000, vec![10, 20]).unwrap())
            .selinux(
                SelinuxSpec::new(
                    "system_u:system_r:container_t:s0:c1,c2".into(),
                    Some("system_u:object_r:container_file_t:s0".into()),
                    false,
                )
                .unwrap(),
            )
            .landlock(
                LandlockSpec::new(LandlockSpecParts {
                    compatibility: Compatibility::BestEffort,
                    handled_fs: fs_access::ABI1_ALL,
                    handle_bind_tcp: true,
                    handle_connect_tcp: false,
                    paths: vec![
                        PathRule::new("/", fs_access::READ_EXEC).unwrap(),
                        PathRule::new("/tmp", fs_access::WRITE_FILE).unwrap(),
                    ],
                    bind_tcp: vec![80, 443],
                    connect_tcp: vec![],
                    scopes: Scopes {
                        abstract_unix: true,
                        signal: false,
                    },
                })
                .unwrap(),
            )
            .personality(8)
            .keep_fds([5, 9])
            .build()
            .unwrap()
    }

    #[test]
    fn round_trip_full_and_empty() {
        for p in [full_policy(), CompiledPolicy::builder().build().unwrap()] {
            let b = encode(&p);
            assert_eq!(decode(&b).unwrap(), p);
            fuzz_decode(&b);
            fuzz_decode(&b[HEADER_LEN..]);
        }
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_rejected() {
        let b = encode(&full_policy());
        for n in 0..b.len() {
            assert!(
                decode(&b[..n]).is_err(),
                "truncated to {n} bytes was accepted"
            );
        }
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                assert!(
                    decode(&c).is_err(),
                    "flip of bit {bit} of byte {i} was accepted"
                );
            }
        }
        let mut t = b.clone();
        t.push(0);
        assert!(
            matches!(decode(&t), Err(BlobError::TrailingBytes { offset, .. }) if offset == b.len())
        );
    }

    #[test]
    fn compat_gates_must_point_at_gates_and_are_never_empty() {
        let b = encode(&full_policy());
        // The gates record: tag 3, length 6, arch 0x40000003, index 0.
        let rec = [3, 0, 6, 0, 0, 0, 3, 0, 0, 0x40, 0, 0];
        let at = b.windows(rec.len()).position(|w| w == rec).unwrap();
        let reseal = |bytes: &[u8]| seal(&bytes[HEADER_LEN..]);
        // Index 1 is the `ld [nr]`, not a gate.
        let mut moved = b.clone();
        moved[at + 10] = 1;
        let e = decode(&reseal(&moved)).unwrap_err();
        assert!(
            e.to_string().contains("compat gate 0 (arch 0x40000003)"),
            "{e}"
        );
        // A closed gate is still a gate: a policy may be re-encoded after closing.
        let mut p = full_policy();
        assert!(p.close_compat_gate(0x4000_0003));
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert!(!p.close_compat_gate(0xc000_003e));
        // An empty record would not survive re-encoding: refused.
        let mut empty = b[..at].to_vec();
        empty.extend_from_slice(&[3, 0, 0, 0, 0, 0]);
        empty.extend_from_slice(&b[at + rec.len()..]);
        let seccomp_len =
            u32::from_le_bytes(empty[HEADER_LEN + 2..HEADER_LEN + 6].try_into().unwrap());
        empty[HEADER_LEN + 2..HEADER_LEN + 6].copy_from_slice(&(seccomp_len - 6).to_le_bytes());
        let e = decode(&reseal(&empty)).unwrap_err();
        assert!(e.to_string().contains("1 to 4096 gates"), "{e}");
    }

    #[test]
    fn the_checksum_is_xxh64_with_seed_0() {
        // The reference value for empty input (xxHash's own test vector).
        assert_eq!(checksum(b""), 0xef46_db37_51d8_e999);
        let b = encode(&full_policy());
        assert_eq!(b[14..22], checksum(&b[HEADER_LEN..]).to_le_bytes());
    }

    #[test]
    fn errors_name_what_and_where() {
        let b = encode(&full_policy());
        let mut v = b.clone();
        v[8] = 1;
        let e = decode(&v).unwrap_err();
        assert_eq!(e, BlobError::UnsupportedVersion { found: 1 });
        assert!(e.to_string().starts_with("byte 8: policy format version 1"));

        let mut v = b.clone();
        v[HEADER_LEN + 10] ^= 1;
        assert_eq!(decode(&v).unwrap_err(), BlobError::ChecksumMismatch);

        assert!(matches!(
            decode(b"NOTAPOLICY"),
            Err(BlobError::BadMagic { .. })
        ));

        // A huge declared length is refused before anything is read or allocated.
        let mut v = b[..HEADER_LEN].to_vec();
        v[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&v), Err(BlobError::TooLarge { .. })));

        // A record whose length runs past the body.
        let body = [3u8, 0, 0xff, 0xff, 0xff, 0x7f, 1];
        let e = decode(&seal(&body)).unwrap_err();
        assert!(
            matches!(
                e,
                BlobError::Truncated {
                    offset: 28,
                    what: "record value",
                    ..
                }
            ),
            "{e}"
        );

        // Unknown tag, duplicate tag, bad boolean, missing field.
        let e = decode(&seal(&[99, 0, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(
            e,
            BlobError::UnknownTag {
                offset: 22,
                tag: 99,
                context: "policy body"
            }
        );
        let dup = [3u8, 0, 1, 0, 0, 0, 1, 3, 0, 1, 0, 0, 0, 1];
        assert!(matches!(
            decode(&seal(&dup)),
            Err(BlobError::OutOfOrder { offset: 29, .. })
        ));
        let e = decode(&seal(&[3, 0, 1, 0, 0, 0, 2])).unwrap_err();
        assert!(
            e.to_string()
                .contains("byte 28: no_new_privs: boolean must be 0 or 1"),
            "{e}"
        );
        let e = decode(&seal(&[3, 0, 1, 0, 0, 0, 1])).unwrap_err();
        assert_eq!(
            e,
            BlobError::Missing {
                offset: 29,
                context: "policy body",
                what: "keep_fds"
            }
        );

        // An invalid seccomp program inside a valid envelope.
        let mut body = Vec::new();
        let mut sc = Vec::new();
        put(&mut sc, tag::SC_PROGRAM, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        put(&mut sc, tag::SC_FLAGS, &[0]);
        put(&mut body, tag::SECCOMP, &sc);
        put(&mut body, tag::NNP, &[1]);
        put(&mut body, tag::KEEP_FDS, &[]);
        let e = decode(&seal(&body)).unwrap_err();
        assert!(matches!(e, BlobError::Program { offset: 34, .. }), "{e}");

        // Ambient without inheritable (a compile-time error) is refused here too.
        let mut body = Vec::new();
        let caps: Vec<u8> = [0x400u64, 0x400, 0x400, 0, 0x400]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        put(&mut body, tag::CAPS, &caps);
        put(&mut body, tag::NNP, &[1]);
        put(&mut body, tag::KEEP_FDS, &[]);
        assert!(matches!(
            decode(&seal(&body)),
            Err(BlobError::Policy { offset: 28, .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            fuzz_decode(&data);
        }

        #[test]
        fn mutated_bodies_never_panic(idx in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
            let mut body = encode_body(&full_policy());
            let i = idx % body.len();
            body[i] = byte;
            body.truncate(body.len() - cut % body.len());
            fuzz_decode(&body);
            fuzz_decode(&seal(&body));
        }

        #[test]
        fn policies_round_trip(
            nnp in any::<bool>(),
            uid in 0u32..70000,
            groups in proptest::collection::vec(0u32..70000, 0..8),
            fds in proptest::collection::vec(3i32..4096, 0..8),
            pers in proptest::option::of(any::<u32>()),
            perm in 0u64..(1 << 41),
        ) {
            let mut b = CompiledPolicy::builder()
                .no_new_privs(nnp)
                .user(UserSpec::new(uid, uid, groups).unwrap())
                .caps(CapSets::new(perm, perm, perm & 0xff, perm & 0xf0, perm & 0x30).unwrap())
                .keep_fds(fds);
            if let Some(p) = pers { b = b.personality(p); }
            let p = b.build().unwrap();
            let blob = encode(&p);
            prop_assert_eq!(decode(&blob).unwrap(), p);
        }
    }
}
