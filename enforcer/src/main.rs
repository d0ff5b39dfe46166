fn main() {
    eprintln!("rampart-enforce: not built yet");
    std::process::exit(125);
}
