//! Arbitrary bytes as a segment file: never a panic; what decodes survives encode → decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vecsieve::fuzzing::segment_file(data));
