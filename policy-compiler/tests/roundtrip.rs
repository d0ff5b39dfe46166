//! Round trips and generated-value properties:
//! profile → compile → blob → decode is the identity on the compiled policy;
//! valid capability sets and ID maps are accepted, invalid ones rejected.

use proptest::prelude::*;
use rampart::arch::Arch;
use rampart::pipeline;
use rampart::resolve::Options;
use rampart_enforce::{blob, policy::CapSets};
use rampart_userns::{IdMap, IdMaps};

fn opts() -> Options {
    Options {
        kernel: (6, 18),
        cap_last_cap: Some(40),
        ..Options::host()
    }
}

#[test]
fn compiled_policies_survive_the_blob_format() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("web.yaml");
    std::fs::write(
        &extra,
        "apiVersion: rampart.dev/v1\nkind: SecurityProfile\nextends: default\nuser: {uid: 101, gid: 101, groups: [5]}\n\
capabilities: {drop: [ALL], add: [NET_BIND_SERVICE], ambient: [NET_BIND_SERVICE]}\n\
selinux: {type: container_t, level: \"s0:c1,c2\", required: false}\n\
landlock: {compatibility: best-effort, paths: [{path: /usr, access: [read, execute]}], net: {bindTcp: [80]}, scopes: [signal]}\n",
    )
    .unwrap();
    let refs = [
        "default".to_string(),
        "restricted".into(),
        "privileged".into(),
        extra.display().to_string(),
    ];
    for arches in [
        None,
        Some(vec![Arch::Aarch64, Arch::Arm]),
        Some(Arch::ALL.to_vec()),
    ] {
        let o = Options {
            arches: arches.clone(),
            ..opts()
        };
        for r in &refs {
            let compiled =
                pipeline::compile_reference(r, &o).unwrap_or_else(|e| panic!("{r}: {e:?}"));
            let policy = compiled
                .policy(None)
                .unwrap_or_else(|e| panic!("{r}: {e:?}"));
            let bytes = blob::encode(&policy);
            let decoded = blob::decode(&bytes).unwrap();
            assert_eq!(decoded, policy, "{r} {arches:?}");
            assert_eq!(blob::encode(&decoded), bytes, "{r}: encoding is canonical");
            if let Some(f) = &compiled.filter {
                assert_eq!(decoded.seccomp().unwrap().program, f.program);
            }
        }
    }
}

/// Five nested sets: ambient ⊆ permitted ∩ inheritable, effective ⊆ permitted ⊆ bounding.
fn valid_caps() -> impl Strategy<Value = [u64; 5]> {
    let all = (1u64 << 41) - 1;
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(move |(b, p, e, i, a)| {
            let b = b & all;
            let p = p & b;
            let e = e & p;
            let i = i & b;
            let a = a & p & i;
            [b, p, e, i, a]
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn valid_capability_sets_are_accepted(s in valid_caps()) {
        prop_assert!(CapSets::new(s[0], s[1], s[2], s[3], s[4]).is_ok());
    }

    #[test]
    fn capability_sets_breaking_an_invariant_are_rejected(s in valid_caps(), which in 0usize..4, bit in 0u32..41) {
        let mut s = s;
        let b = 1u64 << bit;
        // Put a capability in an inner set that its outer set lacks.
        match which {
            0 => { s[0] &= !b; s[1] |= b; }             // permitted ⊄ bounding
            1 => { s[1] &= !b; s[2] |= b; }             // effective ⊄ permitted
            2 => { s[3] &= !b; s[4] |= b; s[1] |= b; s[0] |= b; } // ambient ⊄ inheritable
            _ => { s[0] |= 1 << 50; }                   // not a capability
        }
        prop_assert!(CapSets::new(s[0], s[1], s[2], s[3], s[4]).is_err());
    }

    #[test]
    fn disjoint_id_maps_are_accepted_and_overlaps_rejected(
        starts in prop::collection::btree_set(0u32..1000, 1..10),
        len in 1u32..100,
    ) {
        // Extents at k*1000 of `len` ids never overlap; shifting one onto its
        // neighbour's range always does.
        let maps: Vec<IdMap> = starts.iter().enumerate()
            .map(|(i, &k)| IdMap::new(k * 1000, 1_000_000 + i as u32 * 1000, len).unwrap())
            .collect();
        prop_assert!(IdMaps::new(maps.clone()).is_ok());
        if maps.len() >= 2 {
            let mut bad = maps.clone();
            let first = bad[0];
            bad.push(IdMap::new(first.inside() + len - 1, 2_000_000_000, 1).unwrap());
            prop_assert!(IdMaps::new(bad).is_err());
        }
        prop_assert!(IdMap::new(0, 0, 0).is_err());
        prop_assert!(IdMap::new(u32::MAX - 5, 0, 10).is_err());
    }
}
