//! Links the static (musl) `rampart-enforce` with `launch-text.ld`, which gathers
//! the code every launch runs into one run of pages (see that file for why and
//! what it saves), and with packed relative relocations (`-z
//! pack-relative-relocs`, DT_RELR): the relocation table the static-PIE start
//! reads at every launch shrinks from 11 KiB (484 entries at e58ee6e, up to four
//! pages to fault in) to about 150 bytes in the headers' page. The start runs
//! about as many instructions (musl walks the bitmaps bit by bit). musl reads
//! DT_RELR since 1.2.4; GNU ld writes it since 2.38. glibc builds go without
//! either: its libc.a alone would fill the run.
fn main() {
    println!("cargo::rerun-if-changed=launch-text.ld");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "musl" {
        let dir = var("CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bin=rampart-enforce=-Wl,-T,{dir}/launch-text.ld");
        println!("cargo::rustc-link-arg-bin=rampart-enforce=-Wl,-z,pack-relative-relocs");
    }
}
