//! Links the static (musl) `rampart-enforce` with `launch-text.ld`, which gathers
//! the code every launch runs into one run of pages (see that file for why and
//! what it saves). glibc builds go without: its libc.a alone would fill the run.
fn main() {
    println!("cargo::rerun-if-changed=launch-text.ld");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "musl" {
        let dir = var("CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bin=rampart-enforce=-Wl,-T,{dir}/launch-text.ld");
    }
}
