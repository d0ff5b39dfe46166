#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzzing::bpf_check_simulate(data));
