#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzzing::userns(data));
