//! Arbitrary bytes as a manifest: never a panic; what decodes survives encode → decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vecsieve::fuzzing::manifest(data));
