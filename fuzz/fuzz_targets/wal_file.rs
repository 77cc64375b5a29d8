//! Arbitrary bytes as a wal file: never a panic; what decodes survives encode → decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vecsieve::fuzzing::wal_file(data));
