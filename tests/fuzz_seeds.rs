//! The fuzz targets' seed corpora (`fuzz/seeds/<target>/`): the golden files of
//! `format-spec/vectors/` and the files of small real collections (the first 100 bundled
//! MiniLM vectors cut to 16 dimensions, payloads from their ids) in every code family.
//!
//! `VECSIEVE_WRITE_SEEDS=1 cargo nextest run --test fuzz_seeds` rewrites them; the default
//! run checks that every committed seed decodes cleanly, so that fuzzing starts past the
//! magic numbers and checksums.

mod common;

use std::path::PathBuf;

use vecsieve::optimizer::OptimizerConfig;
use vecsieve::vecs::read_fvecs;
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance, Point, PointId,
    Quantization, QueryEncoding, ScalarConfig, VectorParams,
};

const TARGETS: [&str; 4] = ["wal_file", "segment_file", "manifest", "deletion_sidecar"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target a collection file or golden file seeds, and its input (a sidecar's input
/// starts with the row count of its segment, as the target reads it: the count the
/// sidecar itself records, spec: SEG-7).
fn seed_for(name: &str, bytes: Vec<u8>) -> Option<(&'static str, Vec<u8>)> {
    if name.starts_with("wal") || name.ends_with(".wal") {
        Some(("wal_file", bytes))
    } else if name.starts_with("segment") || name.ends_with(".seg") {
        Some(("segment_file", bytes))
    } else if name.starts_with("manifest") || name == "MANIFEST" {
        Some(("manifest", bytes))
    } else if name.starts_with("sidecar") || name.ends_with(".del") {
        let rows = u16::try_from(u64::from_le_bytes(bytes[24..32].try_into().unwrap())).unwrap();
        let mut input = rows.to_le_bytes().to_vec();
        input.extend(bytes);
        Some(("deletion_sidecar", input))
    } else {
        None
    }
}

/// Every seed: `(target, file name, bytes)`.
fn make_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for path in common::files_under(&root().join("format-spec/vectors")) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = vecsieve::fuzzing::parse_hex_dump(&std::fs::read_to_string(&path).unwrap());
        if let Some((target, input)) = seed_for(&name, bytes) {
            seeds.push((target, format!("golden-{name}"), input));
        }
    }
    let base = read_fvecs(&root().join("data/debian-minilm-384-10k/base.fvecs")).unwrap();
    let one_bit = BinaryConfig::default();
    let families = [
        ("none", Quantization::None),
        ("binary1", Quantization::Binary(one_bit)),
        (
            "binary1-q4",
            Quantization::Binary(one_bit.with_query_encoding(QueryEncoding::Scalar4Bits)),
        ),
        (
            "binary1.5",
            Quantization::Binary(one_bit.with_encoding(BinaryEncoding::OneAndHalfBits)),
        ),
        (
            "binary2",
            Quantization::Binary(one_bit.with_encoding(BinaryEncoding::TwoBits)),
        ),
        (
            "rabitq1",
            Quantization::Binary(one_bit.with_encoding(BinaryEncoding::RotatedOneBit)),
        ),
        (
            "rabitq2",
            Quantization::Binary(one_bit.with_encoding(BinaryEncoding::RotatedTwoBits)),
        ),
        ("scalar8", Quantization::Scalar(ScalarConfig::default())),
    ];
    for (family, quantization) in families {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let config = CollectionConfig::new(16, Distance::Cosine).with_quantization(quantization);
        // Half the families seed version 2 files: a default multivector (two 16-d pieces
        // of the row) and a named dense 8-d vector.
        let multi = matches!(family, "binary1" | "binary1.5" | "scalar8");
        let config = if multi {
            config.with_multivector().with_vector(
                "dense",
                VectorParams::new(8, Distance::Dot).with_quantization(quantization),
            )
        } else {
            config
        };
        let config = config
            .with_search_threads(1)
            .with_optimizer(OptimizerConfig {
                background: false,
                ..OptimizerConfig::default()
            });
        let c = Collection::create(&dir, config).unwrap();
        let point = |i: usize| {
            let row = base.row(i);
            let p = if multi {
                let p = Point::new_multi(i as u64, vec![row[..16].to_vec(), row[16..32].to_vec()]);
                if i.is_multiple_of(4) {
                    p
                } else {
                    p.with_vector("dense", row[32..40].to_vec())
                }
            } else {
                Point::new(i as u64, row[..16].to_vec())
            };
            if i.is_multiple_of(3) {
                p.with_payload(format!("{{\"row\":{i}}}").into_bytes())
            } else {
                p
            }
        };
        c.upsert(&(0..100).map(point).collect::<Vec<_>>()).unwrap();
        c.delete([PointId::Num(7), PointId::Num(70)]).unwrap();
        c.seal().unwrap();
        c.delete([PointId::Num(8)]).unwrap();
        c.seal().unwrap();
        c.upsert(&(100..104).map(point).collect::<Vec<_>>())
            .unwrap();
        c.delete([PointId::Num(101)]).unwrap();
        drop(c);
        for path in common::files_under(&dir) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Some((target, input)) = seed_for(&name, std::fs::read(&path).unwrap()) {
                seeds.push((target, format!("{family}-{name}"), input));
            }
        }
    }
    seeds
}

#[test]
fn seeds_decode_cleanly_and_match_what_the_generator_makes() {
    let seeds_dir = root().join("fuzz/seeds");
    let made = make_seeds();
    if std::env::var_os("VECSIEVE_WRITE_SEEDS").is_some() {
        for target in TARGETS {
            let _ = std::fs::remove_dir_all(seeds_dir.join(target));
            std::fs::create_dir_all(seeds_dir.join(target)).unwrap();
        }
        for (target, name, bytes) in &made {
            std::fs::write(seeds_dir.join(target).join(name), bytes).unwrap();
        }
    }
    for target in TARGETS {
        let committed = common::files_under(&seeds_dir.join(target));
        assert!(committed.len() >= 5, "{target}: {} seeds", committed.len());
        for path in committed {
            let bytes = std::fs::read(&path).unwrap();
            // Every seed is a file that decodes: the fix-up changes nothing.
            let fixed = match target {
                "wal_file" => vecsieve::fuzzing::fix_wal_crcs(&bytes),
                "segment_file" => vecsieve::fuzzing::fix_segment_crcs(&bytes),
                "deletion_sidecar" => {
                    let mut v = bytes[..2].to_vec();
                    v.extend(vecsieve::fuzzing::fix_trailing_crc(&bytes[2..]));
                    v
                }
                _ => vecsieve::fuzzing::fix_trailing_crc(&bytes),
            };
            assert_eq!(
                fixed,
                bytes,
                "{}: a checksum does not match",
                path.display()
            );
            assert!(
                vecsieve::fuzzing::decodes(target, &bytes),
                "{} does not decode",
                path.display()
            );
        }
    }
    // The committed seeds are the ones the generator makes (WAL salts and file contents
    // that depend on time are compared by count only).
    let counts: Vec<usize> = TARGETS
        .iter()
        .map(|t| made.iter().filter(|(target, ..)| target == t).count())
        .collect();
    let committed: Vec<usize> = TARGETS
        .iter()
        .map(|t| common::files_under(&seeds_dir.join(t)).len())
        .collect();
    assert_eq!(
        counts, committed,
        "seeds are stale: rerun with VECSIEVE_WRITE_SEEDS=1"
    );
}

/// The fix-ups let a mutated file past its checksums: one flipped byte in a checksummed
/// body (a segment's first section, a WAL record's body, a MANIFEST's generation, a
/// sidecar's bitmap) fails to decode as given and decodes once fixed.
#[test]
fn fixups_carry_a_mutation_past_the_checksums() {
    use vecsieve::fuzzing::{decodes, fix_segment_crcs, fix_trailing_crc, fix_wal_crcs};
    let seeds_dir = root().join("fuzz/seeds");
    for target in TARGETS {
        for path in common::files_under(&seeds_dir.join(target)) {
            let mut bytes = std::fs::read(&path).unwrap();
            let u64_at =
                |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
            let fixed = match target {
                "segment_file" => {
                    // spec: SEG-1, SEG-2: the first table entry's section.
                    let table = u64_at(&bytes, 48) as usize;
                    let offset = u64_at(&bytes, table + 8) as usize;
                    bytes[offset] ^= 0x20;
                    fix_segment_crcs(&bytes)
                }
                "wal_file" => {
                    // spec: WAL-1, WAL-2: the first record's body.
                    let header = if bytes[8] == 1 { 24 } else { 32 };
                    bytes[32 + header] ^= 0x20;
                    fix_wal_crcs(&bytes)
                }
                "manifest" => {
                    bytes[16] ^= 0x20;
                    fix_trailing_crc(&bytes)
                }
                _ => {
                    bytes[2 + 32] ^= 0x01;
                    let mut v = bytes[..2].to_vec();
                    v.extend(fix_trailing_crc(&bytes[2..]));
                    v
                }
            };
            assert!(
                !decodes(target, &bytes),
                "{}: mutation not seen",
                path.display()
            );
            assert!(decodes(target, &fixed), "{}: fix-up failed", path.display());
        }
    }
}
