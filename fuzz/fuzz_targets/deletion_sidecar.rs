//! Arbitrary bytes as a deletion sidecar: never a panic; what decodes survives encode → decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let [a, b, rest @ ..] = data {
        vecsieve::fuzzing::deletion_sidecar(rest, u16::from_le_bytes([*a, *b]));
    }
});
