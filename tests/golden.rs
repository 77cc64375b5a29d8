//! Conformance: the codecs against the golden files in `format-spec/vectors/`.
//!
//! Each golden file is a hex dump of one small file the spec describes byte by byte. The
//! test encodes the same content and compares, then decodes the golden bytes and checks
//! the fields. `VECSIEVE_BLESS=1 cargo test golden` rewrites the files (only after a
//! deliberate format change, with a new format version and a CHANGELOG entry).

#![allow(clippy::indexing_slicing)]

use std::path::PathBuf;

use vecsieve::codec::quant::{
    MultiBit, ROTATION_SEED, RangeDesign, Rotated, Rotation, RowFactors, Welford, blocks_len,
    code_stride, encode_one_bit, train, transpose_into,
};
use vecsieve::codec::segment::{self, CodeKind, SegmentColumns};
use vecsieve::codec::wal::{self as record, RecordKind, ScanEnd, UpsertRow};
use vecsieve::codec::{Manifest, SegmentEntry, deletes};
use vecsieve::fuzzing::parse_hex_dump as parse_hex;
use vecsieve::simd::Kernels;
use vecsieve::{Datatype, Distance, PointId};

fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{:08x}: {}\n", i * 16, hex.join(" ")));
    }
    out
}

fn check(name: &str, bytes: &[u8]) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("format-spec/vectors")
        .join(name);
    if std::env::var_os("VECSIEVE_BLESS").is_some() {
        std::fs::write(&path, hex_dump(bytes)).unwrap();
    }
    let golden = parse_hex(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(
        hex_dump(bytes),
        hex_dump(&golden),
        "{name} differs from its golden file"
    );
    golden
}

/// The three 4-dimensional vectors of every golden segment.
const VECTORS: [[f32; 4]; 3] = [
    [0.5, -1.0, 2.0, 0.0],
    [-0.25, 0.75, -3.0, 1.0],
    [1.0, 1.0, 1.0, -1.0],
];

/// Row-major f32 bytes of `vectors`: a segment's originals section.
fn originals(vectors: &[[f32; 4]]) -> Vec<u8> {
    vectors.iter().flat_map(|v| f32_bytes(v)).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The two records of the golden WAL files: an upsert of two points, a delete of one.
fn golden_wal_records() -> (Vec<u8>, Vec<u8>, [UpsertRow<'static>; 2]) {
    const A: [u8; 8] = [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]; // [1.0, -2.0]
    const B: [u8; 8] = [0, 0, 0, 0x3f, 0, 0, 0x80, 0x3e]; // [0.5, 0.25]
    let rows = [
        UpsertRow {
            id: PointId::Num(7),
            vector: &A,
            payload: Some(b"hi"),
        },
        UpsertRow {
            id: PointId::Uuid(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            vector: &B,
            payload: None,
        },
    ];
    let upsert = record::encode_upsert(2, Datatype::F32, &rows);
    let delete = record::encode_delete(&[PointId::Num(7)]);
    (upsert, delete, rows)
}

/// Checks a golden WAL file's records against [`golden_wal_records`].
fn check_wal_records(golden: &[u8], file: record::FileHeader, synced: [Option<u64>; 2]) {
    let (_, _, rows) = golden_wal_records();
    assert_eq!(record::parse_file_header(golden), Ok(file));
    let (recs, end) = record::scan(golden, file);
    assert_eq!(end, ScanEnd::Clean);
    assert_eq!(
        recs.iter()
            .map(|r| (r.seq, r.synced_seq, r.kind))
            .collect::<Vec<_>>(),
        [
            (1, synced[0], RecordKind::Upsert),
            (2, synced[1], RecordKind::Delete)
        ]
    );
    assert_eq!(
        record::decode_upsert(recs[0].body, 2, Datatype::F32).unwrap(),
        rows
    );
    assert_eq!(
        record::decode_delete(recs[1].body).unwrap(),
        [PointId::Num(7)]
    );
}

/// spec: WAL-1, WAL-2, WAL-4. The current version: record 2 was written after record 1
/// was synced.
#[test]
fn golden_wal_file() {
    let salt = 0x0BAD_C0DE;
    let (upsert, delete, _) = golden_wal_records();
    let mut bytes = record::encode_file_header(1, salt);
    let meta = |seq, synced_seq, kind| record::RecordMeta {
        seq,
        synced_seq,
        kind,
    };
    let crc = record::encode_record(
        &mut bytes,
        salt,
        salt,
        meta(1, 0, RecordKind::Upsert),
        &upsert,
    );
    record::encode_record(
        &mut bytes,
        salt,
        crc,
        meta(2, 1, RecordKind::Delete),
        &delete,
    );
    let golden = check("wal-v2-0000000000000001.hex", &bytes);
    let file = record::FileHeader {
        number: 1,
        salt,
        version: 2,
    };
    check_wal_records(&golden, file, [Some(0), Some(1)]);
}

/// spec: WAL-1, WAL-2. A version 1 file (24-byte record headers), as the previous format
/// wrote it: still read.
#[test]
fn golden_wal_file_version_1() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("format-spec/vectors/wal-v1-0000000000000001.hex");
    let golden = parse_hex(&std::fs::read_to_string(path).unwrap());
    let file = record::FileHeader {
        number: 1,
        salt: 0x0BAD_C0DE,
        version: 1,
    };
    check_wal_records(&golden, file, [None, None]);
}

#[test]
fn golden_segment_file() {
    let dim = 4;
    let vectors = VECTORS;
    let originals = originals(&vectors);
    let mut codes = vec![0u64; 3];
    for (v, c) in vectors.iter().zip(codes.iter_mut()) {
        encode_one_bit(v, 0.0, std::slice::from_mut(c));
    }
    assert_eq!(codes, [0b0101, 0b1010, 0b0111]);
    let ids = [PointId::Num(1), PointId::Num(5), PointId::Uuid(9)];
    let payloads: [Option<&[u8]>; 3] = [Some(b"a"), None, Some(b"xyz")];
    let bytes = segment::encode(&SegmentColumns {
        segment_id: 3,
        dim,
        distance: Distance::Dot,
        datatype: Datatype::F32,
        code_kind: CodeKind::OneBit,
        ids: &ids,
        versions: &[10, 11, 12],
        originals: &originals,
        codes: &codes
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
        payloads: &payloads,
        scalar: None,
        binary_stats: None,
        rotated: None,
    })
    .unwrap();
    let golden = check("segment-0000000000000003.hex", &bytes);
    let layout = segment::parse(&golden).unwrap();
    assert_eq!(
        (
            layout.header.segment_id,
            layout.header.rows,
            layout.header.dim,
            layout.code_words()
        ),
        (3, 3, 4, 1)
    );
    assert_eq!(
        (
            layout.header.distance,
            layout.header.datatype,
            layout.header.code_kind
        ),
        (Distance::Dot, Datatype::F32, CodeKind::OneBit)
    );
    assert_eq!(layout.verify(&golden), Ok(()));
    assert_eq!(layout.nonzero_padding(&golden), None);
    let section = |s| &golden[layout.range(s)];
    assert_eq!(section(segment::Section::Originals), originals.as_slice());
    assert_eq!(section(segment::Section::PayloadBlob), b"axyz");
    assert_eq!(section(segment::Section::IdKinds), [0, 0, 1]);
}

#[test]
fn golden_scalar_segment_file() {
    let dim = 4;
    let vectors = VECTORS;
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let params = train(dim, &flat, None, RangeDesign::PerDimension, 4);
    assert_eq!(params.lo, [-0.25, -1.0, -3.0, -1.0]);
    let stride = code_stride(dim);
    let mut codes = vec![0u8; 3 * stride];
    for (v, out) in vectors.iter().zip(codes.chunks_exact_mut(stride)) {
        params.encode(v, out);
    }
    assert_eq!(&codes[..4], &[153, 0, 255, 127]);
    let norms: Vec<f32> = vectors
        .iter()
        .map(|v| v.iter().map(|x| x * x).sum())
        .collect();
    let originals = originals(&vectors);
    let ids = [PointId::Num(2), PointId::Num(3), PointId::Num(4)];
    let bytes = segment::encode(&SegmentColumns {
        segment_id: 4,
        dim,
        distance: Distance::Euclid,
        datatype: Datatype::F32,
        code_kind: CodeKind::ScalarInt8,
        ids: &ids,
        versions: &[1, 2, 3],
        originals: &originals,
        codes: &codes,
        payloads: &[None, None, None],
        scalar: Some((&params, &norms)),
        binary_stats: None,
        rotated: None,
    })
    .unwrap();
    let golden = check("segment-0000000000000004.hex", &bytes);
    let layout = segment::parse(&golden).unwrap();
    assert_eq!(
        (layout.header.code_kind, layout.code_words()),
        (CodeKind::ScalarInt8, 8)
    );
    assert_eq!(layout.verify(&golden), Ok(()));
    let decoded =
        segment::decode_scalar_params(&golden[layout.range(segment::Section::QuantParams)], dim);
    assert_eq!(decoded, Ok(params));
    assert_eq!(
        &golden[layout.range(segment::Section::Codes)],
        codes.as_slice()
    );
    let stored_norms: Vec<u8> = norms.iter().flat_map(|n| n.to_le_bytes()).collect();
    assert_eq!(
        &golden[layout.range(segment::Section::Norms)],
        stored_norms.as_slice()
    );
}

#[test]
fn golden_two_bit_segment_file() {
    let vectors = VECTORS;
    let mut welford = Welford::new(4);
    vectors.iter().for_each(|v| welford.add(v));
    let (mean, std) = welford.finish();
    let enc = MultiBit {
        two_bits: true,
        mean,
        std,
    };
    let mut codes = Vec::new();
    for v in &vectors {
        let mut code = [0u64; 2];
        enc.encode(v, &mut code);
        codes.extend(code.iter().flat_map(|w| w.to_le_bytes()));
    }
    let originals = originals(&vectors);
    let bytes = segment::encode(&SegmentColumns {
        segment_id: 5,
        dim: 4,
        distance: Distance::Cosine,
        datatype: Datatype::F32,
        code_kind: CodeKind::TwoBits,
        ids: &[PointId::Num(7), PointId::Num(8), PointId::Num(9)],
        versions: &[4, 5, 6],
        originals: &originals,
        codes: &codes,
        payloads: &[None, None, None],
        scalar: None,
        binary_stats: Some(&enc),
        rotated: None,
    })
    .unwrap();
    let golden = check("segment-0000000000000005.hex", &bytes);
    let layout = segment::parse(&golden).unwrap();
    assert_eq!(
        (layout.header.code_kind, layout.code_words()),
        (CodeKind::TwoBits, 2)
    );
    assert_eq!(layout.verify(&golden), Ok(()));
    let stats = &golden[layout.range(segment::Section::BinaryStats)];
    assert_eq!(segment::decode_binary_stats(stats, 4, true), Ok(enc));
    assert_eq!(
        &golden[layout.range(segment::Section::Codes)],
        codes.as_slice()
    );
}

/// Rotated codes (`code_kind` 5), Euclid, one centroid at the vectors' mean. The code
/// bits and factors were worked out from format-spec/quantization.md [QNT-7] by a separate
/// implementation (numpy), not by the engine.
#[test]
fn golden_segment_rotated_codes() {
    let vectors = VECTORS;
    let rotated = golden_rotated(1);
    // Two columns of the 6-dimensional map (its transforms span components 0..4 and
    // 2..6) and one of the 4-dimensional one, from the spec's recipe.
    let six = Rotation::new(6, ROTATION_SEED);
    let mut e0 = [1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0];
    six.apply(&mut e0);
    assert_eq!(e0, [-0.25, -0.25, 0.25, 0.0, 0.75, 0.5]);
    let mut e5 = [0.0f32, 0.0, 0.0, 0.0, 0.0, 1.0];
    six.apply(&mut e5);
    assert_eq!(e5, [0.5, 0.0, 0.75, 0.25, -0.25, 0.25]);
    let mut e0 = [1.0f32, 0.0, 0.0, 0.0];
    Rotation::new(4, ROTATION_SEED).apply(&mut e0);
    assert_eq!(e0, [0.0, -1.0, 0.0, 0.0]);
    let kernels = Kernels::detect();
    let mut codes = Vec::new();
    let mut rows = Vec::new();
    for v in &vectors {
        let mut code = [0u64];
        rows.push(rotated.encode(Distance::Euclid, v, kernels, &mut code));
        codes.push(code[0]);
    }
    assert_eq!(codes, [0b1001, 0b0110, 0b1000]);
    let factors = [
        [5.569_444, 3.341_667],
        [10.694_445, 4.139_785],
        [2.902_778, 1.741_667],
    ];
    for (row, want) in rows.iter().zip(factors) {
        assert_eq!(row.centroid, 0);
        for (got, want) in row.factors.iter().zip(want) {
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{rows:?}");
        }
    }
    // Stored transposed in blocks of 32 rows: byte j of row r at 32·j + r.
    let row_major: Vec<u8> = codes.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut blocks = vec![0u8; blocks_len(3, 8)];
    transpose_into(&row_major, 8, &mut blocks);
    assert_eq!(blocks.len(), 256);
    assert_eq!(
        (blocks[0], blocks[1], blocks[2], blocks[3]),
        (0b1001, 0b0110, 0b1000, 0)
    );
    let (golden, layout) =
        check_rotated_segment(8, CodeKind::RotatedOneBit, &rotated, &rows, &blocks);
    assert_eq!(
        golden[layout.range(segment::Section::CodeCentroids)],
        [0, 0, 0]
    );
}

/// Rotated 2-bit codes (`code_kind` 6): segment 8's vectors and quantizer. The levels, bit
/// planes and factors were worked out from format-spec/quantization.md [QNT-7] by a
/// separate implementation (numpy), not by the engine.
#[test]
fn golden_segment_rotated_two_bit_codes() {
    let vectors = VECTORS;
    let rotated = golden_rotated(2);
    let kernels = Kernels::detect();
    let mut row_major = Vec::new();
    let mut planes = Vec::new();
    let mut rows = Vec::new();
    for v in &vectors {
        let mut code = [0u64; 2];
        rows.push(rotated.encode(Distance::Euclid, v, kernels, &mut code));
        planes.push(code);
        row_major.extend(code.iter().flat_map(|w| w.to_le_bytes()));
    }
    // Rotated residuals [1.25, −0.083, 0, 2], [−0.5, 0.667, 1, −3], [−0.75, −0.583, −1, 1]
    // get levels [3, −1, −1, 3], [−1, 1, 1, −3] and [−3, −1, −3, 3] (the best k: 2, 1, 3),
    // numbers (level + 3)/2 split into a sign plane and a low plane.
    assert_eq!(
        planes,
        [[0b1001, 0b1111], [0b0110, 0b0001], [0b1000, 0b1010]]
    );
    let factors = [
        [5.569_444, 1.132_768],
        [10.694_444, 1.915_423],
        [2.902_778, 0.657_233],
    ];
    for (row, want) in rows.iter().zip(factors) {
        assert_eq!(row.centroid, 0);
        for (got, want) in row.factors.iter().zip(want) {
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{rows:?}");
        }
    }
    // Each block of 32 rows: the sign plane's 8 bytes transposed, then the low plane's.
    let mut blocks = vec![0u8; blocks_len(3, 16)];
    transpose_into(&row_major, 16, &mut blocks);
    assert_eq!(blocks.len(), 512);
    assert_eq!(blocks[..3], [0b1001, 0b0110, 0b1000]);
    assert_eq!(blocks[256..259], [0b1111, 0b0001, 0b1010]);
    check_rotated_segment(9, CodeKind::RotatedTwoBits, &rotated, &rows, &blocks);
}

/// The quantizer of golden segments 8 and 9 (`bits` per component): one centroid, at the
/// mean of `VECTORS`, which is also the center.
fn golden_rotated(bits: u32) -> Rotated {
    let center: Vec<f32> = (0..4)
        .map(|i| VECTORS.iter().map(|v| v[i]).sum::<f32>() / 3.0)
        .collect();
    Rotated::new(ROTATION_SEED, 4, bits, center.clone(), center)
}

/// Golden segment `id` of `VECTORS` with rotated codes of `kind` (`blocks` transposed,
/// `rows` their terms): checked against its file, verified, and its rotation decoded back
/// to `rotated`. Returns the file and its layout.
fn check_rotated_segment(
    id: u64,
    kind: CodeKind,
    rotated: &Rotated,
    rows: &[RowFactors],
    blocks: &[u8],
) -> (Vec<u8>, segment::Layout) {
    let bytes = segment::encode(&SegmentColumns {
        segment_id: id,
        dim: 4,
        distance: Distance::Euclid,
        datatype: Datatype::F32,
        code_kind: kind,
        ids: &[PointId::Num(7), PointId::Num(8), PointId::Num(9)],
        versions: &[4, 5, 6],
        originals: &originals(&VECTORS),
        codes: blocks,
        payloads: &[None, None, None],
        scalar: None,
        binary_stats: None,
        rotated: Some((rotated, rows)),
    })
    .unwrap();
    let golden = check(&format!("segment-{id:016}.hex"), &bytes);
    let layout = segment::parse(&golden).unwrap();
    let bits = kind.rotated_bits().unwrap();
    assert_eq!(
        (layout.header.code_kind, layout.code_words()),
        (kind, bits as usize)
    );
    assert_eq!(layout.verify(&golden), Ok(()));
    let section = &golden[layout.range(segment::Section::Rotation)];
    assert_eq!(
        segment::decode_rotation(section, 4, bits),
        Ok(rotated.clone())
    );
    (golden, layout)
}

#[test]
fn golden_manifest_and_sidecar() {
    let m = Manifest {
        generation: 4,
        checkpoint_seq: 12,
        next_segment_id: 4,
        segments: vec![SegmentEntry {
            id: 3,
            rows: 3,
            del_gen: 4,
        }],
    };
    let golden = check("MANIFEST.hex", &m.encode());
    assert_eq!(Manifest::decode(&golden), Ok(m));
    let golden = check(
        "sidecar-0000000000000003-0000000000000004.hex",
        &deletes::encode(3, 3, &[0b010]),
    );
    assert_eq!(deletes::decode(&golden, 3, 3), Ok(vec![0b010]));
}

/// spec: WAL-3 (kind 3). An upsert of two points of a collection with a default dense
/// vector (2-d f32) and a multivector "m" (2-d f16): the first has both, the second only
/// two vectors of "m".
#[test]
fn golden_wal_upsert_vectors_record() {
    let salt = 0x0BAD_C0DE;
    let shapes = [
        record::SlotShape {
            dim: 2,
            datatype: Datatype::F32,
            multi: false,
        },
        record::SlotShape {
            dim: 2,
            datatype: Datatype::F16,
            multi: true,
        },
    ];
    let dense = f32_bytes(&[1.0, -2.0]);
    let f16 = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
            .collect()
    };
    let one = f16(&[0.5, 0.25]);
    let two = f16(&[1.0, 0.0, -1.0, 2.0]);
    let rows = [
        record::VectorsRow {
            id: PointId::Num(7),
            vectors: vec![&dense, &one],
            payload: Some(b"hi"),
        },
        record::VectorsRow {
            id: PointId::Uuid(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            vectors: vec![&[], &two],
            payload: None,
        },
    ];
    let body = record::encode_upsert_vectors(&shapes, &rows);
    let mut bytes = record::encode_file_header(1, salt);
    record::encode_record(
        &mut bytes,
        salt,
        salt,
        record::RecordMeta {
            seq: 1,
            synced_seq: 0,
            kind: RecordKind::UpsertVectors,
        },
        &body,
    );
    let golden = check("wal-v2-vectors-0000000000000001.hex", &bytes);
    let file = record::parse_file_header(&golden).unwrap();
    let (recs, end) = record::scan(&golden, file);
    assert_eq!(end, ScanEnd::Clean);
    assert_eq!(recs[0].kind, RecordKind::UpsertVectors);
    assert_eq!(
        record::decode_upsert_vectors(recs[0].body, &shapes).unwrap(),
        rows
    );
    // A record written for other vectors is refused, not misread.
    let mut other = shapes;
    other[1].multi = false;
    assert!(record::decode_upsert_vectors(recs[0].body, &other).is_err());
}

/// spec: SEG-3 (version 2), SEG-9. Three points with a default dense vector (4-d, Dot,
/// one-bit codes) and a multivector "m" (4-d, Euclid, f32, no codes): point 5 has no
/// default vector, point 9 no "m".
#[test]
fn golden_segment_file_with_vector_slots() {
    let ids = [PointId::Num(1), PointId::Num(5), PointId::Uuid(9)];
    let payloads: [Option<&[u8]>; 3] = [Some(b"a"), None, Some(b"xyz")];
    let dense = [VECTORS[0], VECTORS[2]];
    let mut codes = [0u64; 2];
    for (v, c) in dense.iter().zip(codes.iter_mut()) {
        encode_one_bit(v, 0.0, std::slice::from_mut(c));
    }
    let codes: Vec<u8> = codes.iter().flat_map(|w| w.to_le_bytes()).collect();
    let dense_originals = originals(&dense);
    let multi = [VECTORS[1], VECTORS[2], VECTORS[0]];
    let multi_originals = originals(&multi);
    let mean = |a: [f32; 4], b: [f32; 4]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x + y) / 2.0)
            .collect::<Vec<f32>>()
    };
    let means: Vec<f32> = [mean(multi[0], multi[1]), multi[2].to_vec(), vec![0.0; 4]].concat();
    let slot = |name: &str, distance, code_kind, multi, vectors| segment::SlotLayout {
        name: name.into(),
        dim: 4,
        distance,
        datatype: Datatype::F32,
        code_kind,
        multi,
        vectors,
    };
    let slots = [
        segment::SlotColumns {
            layout: slot("", Distance::Dot, CodeKind::OneBit, false, 2),
            offsets: &[0, 1, 1, 2],
            means: &[],
            originals: &dense_originals,
            codes: &codes,
            scalar: None,
            binary_stats: None,
            rotated: None,
        },
        segment::SlotColumns {
            layout: slot("m", Distance::Euclid, CodeKind::None, true, 3),
            offsets: &[0, 2, 3, 3],
            means: &means,
            originals: &multi_originals,
            codes: &[],
            scalar: None,
            binary_stats: None,
            rotated: None,
        },
    ];
    let bytes =
        segment::encode_with_slots(6, &ids, &[10, 11, 12], &payloads, &slots, None).unwrap();
    let golden = check("segment-v2-0000000000000006.hex", &bytes);
    let layout = segment::parse(&golden).unwrap();
    assert_eq!((layout.version, layout.header.rows), (2, 3));
    assert_eq!(
        layout.slots,
        slots.iter().map(|s| s.layout.clone()).collect::<Vec<_>>()
    );
    assert_eq!(layout.verify(&golden), Ok(()));
    assert_eq!(layout.nonzero_padding(&golden), None);
    let at = |s, n| &golden[layout.range_at(s, n)];
    assert_eq!(
        at(segment::Section::Originals, 1),
        multi_originals.as_slice()
    );
    assert_eq!(at(segment::Section::Codes, 0), codes.as_slice());
    assert_eq!(
        at(segment::Section::VectorMeans, 1),
        f32_bytes(&means).as_slice()
    );
    assert_eq!(
        at(segment::Section::VectorOffsets, 1),
        [0u64, 2, 3, 3]
            .iter()
            .flat_map(|o| o.to_le_bytes())
            .collect::<Vec<u8>>()
    );
    // Readers reject offsets that decrease, or a dense slot row with two vectors.
    let offsets_at = layout.range_at(segment::Section::VectorOffsets, 0).start;
    let mut bad = golden.clone();
    bad[offsets_at + 8] = 2;
    assert!(segment::parse(&bad).is_err());
}

/// spec: SEG-10. Three points with one dense vector (4-d, Dot, one-bit codes) and JSON
/// payloads, indexed on a keyword, an integer, a float, a bool and a datetime key (one
/// point has no payload, one a payload that is not a JSON object).
#[test]
fn golden_segment_file_with_payload_indexes() {
    use vecsieve::PayloadSchema;
    let ids = [PointId::Num(1), PointId::Num(2), PointId::Num(3)];
    let payloads: [Option<&[u8]>; 3] = [
        Some(br#"{"tag": ["b", "a"], "n": 7, "x": -0.5, "ok": true, "t": "2024-01-01T01:00:00+01:00"}"#),
        Some(br#"{"tag": "b", "n": 2.5, "x": null, "ok": [false]}"#),
        Some(b"opaque"),
    ];
    let mut codes = [0u64; 3];
    for (v, c) in VECTORS.iter().zip(codes.iter_mut()) {
        encode_one_bit(v, 0.0, std::slice::from_mut(c));
    }
    let codes: Vec<u8> = codes.iter().flat_map(|w| w.to_le_bytes()).collect();
    let dense = originals(&VECTORS);
    let slots = [segment::SlotColumns {
        layout: segment::SlotLayout {
            name: String::new(),
            dim: 4,
            distance: Distance::Dot,
            datatype: Datatype::F32,
            code_kind: CodeKind::OneBit,
            multi: false,
            vectors: 3,
        },
        offsets: &[0, 1, 2, 3],
        means: &[],
        originals: &dense,
        codes: &codes,
        scalar: None,
        binary_stats: None,
        rotated: None,
    }];
    let specs: Vec<(String, PayloadSchema)> = [
        ("n", PayloadSchema::Integer),
        ("ok", PayloadSchema::Bool),
        ("t", PayloadSchema::Datetime),
        ("tag", PayloadSchema::Keyword),
        ("x", PayloadSchema::Float),
    ]
    .iter()
    .map(|&(k, s)| (k.to_owned(), s))
    .collect();
    let section = segment::payload_indexes_section(&specs, &payloads);
    let bytes =
        segment::encode_with_slots(7, &ids, &[4, 5, 6], &payloads, &slots, Some(&section)).unwrap();
    let golden = check("segment-v3-0000000000000007.hex", &bytes);
    let layout = segment::parse(&golden).unwrap();
    assert_eq!((layout.version, layout.header.rows), (3, 3));
    assert_eq!(layout.verify(&golden), Ok(()));
    assert_eq!(layout.nonzero_padding(&golden), None);
    let body = &golden[layout.range(segment::Section::PayloadIndexes)];
    assert_eq!(body, section.as_slice());
    let fields = segment::decode_payload_indexes(body, 3).unwrap();
    let by_key = |k: &str| fields.iter().find(|f| f.key == k).unwrap();
    // Keys in byte order; each (value, row) pair once, sorted.
    assert_eq!(
        fields.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["n", "ok", "t", "tag", "x"]
    );
    let tag = by_key("tag");
    assert_eq!(tag.dict, ["a", "b"]);
    assert_eq!(
        (tag.keys.as_slice(), tag.rows_of.as_slice()),
        (&[0, 1, 1][..], &[0, 0, 1][..])
    );
    let n = by_key("n");
    assert_eq!(n.keys, [7u64 ^ 1 << 63]);
    assert!(
        n.other_numbers,
        "2.5 is a number the integer index does not hold"
    );
    let ok = by_key("ok");
    assert_eq!(
        (ok.keys.as_slice(), ok.rows_of.as_slice()),
        (&[0, 1][..], &[1, 0][..])
    );
    // -0.5 as f64 bits, negated: below every non-negative number.
    assert_eq!(by_key("x").keys, [!(-0.5f64).to_bits()]);
    // 2024-01-01T00:00:00Z in microseconds.
    assert_eq!(by_key("t").keys, [1_704_067_200_000_000u64 ^ 1 << 63]);
    // Readers reject a row past the file's rows and an unknown schema.
    let rows_at = layout.range(segment::Section::PayloadIndexes).start;
    let mut bad = golden.clone();
    let schema_at = rows_at + 8 + 16;
    bad[schema_at] = 9;
    assert!(
        segment::decode_payload_indexes(&bad[layout.range(segment::Section::PayloadIndexes)], 3)
            .is_err()
    );
    assert!(segment::decode_payload_indexes(body, 1).is_err());
}

/// `config.json` with search defaults [DIR-2], against `format-spec/vectors/
/// config-search-defaults.json`: the field is written only when set (top level for the
/// default vector, inside a named vector's object), so a collection that never sets one
/// writes the file older builds read.
#[test]
fn golden_config_search_defaults() {
    use vecsieve::{
        BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Quantization, SearchDefaults,
        VectorParams,
    };
    let tmp = tempfile::tempdir().unwrap();
    let rotated = BinaryConfig::default().with_encoding(BinaryEncoding::RotatedOneBit);
    let config = CollectionConfig::new(4, Distance::Cosine)
        .with_quantization(Quantization::Binary(rotated))
        .with_search_defaults(
            SearchDefaults::default()
                .with_oversampling(4.0)
                .with_rescore(true),
        )
        .with_vector(
            "title",
            VectorParams::new(2, Distance::Dot)
                .with_search_defaults(SearchDefaults::default().with_oversampling(2.0)),
        )
        .with_vector("plain", VectorParams::new(2, Distance::Dot));
    Collection::create(tmp.path().join("c"), config.clone())
        .unwrap()
        .close()
        .unwrap();
    let written = std::fs::read_to_string(tmp.path().join("c/config.json")).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("format-spec/vectors/config-search-defaults.json");
    if std::env::var_os("VECSIEVE_BLESS").is_some() {
        std::fs::write(&path, &written).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        golden,
        "config.json differs from {}",
        path.display()
    );
    let parsed: serde_json::Value = serde_json::from_str(&golden).unwrap();
    assert_eq!(parsed["config"]["search_defaults"]["oversampling"], 4.0);
    assert_eq!(parsed["config"]["search_defaults"]["rescore"], true);
    assert_eq!(
        parsed["config"]["vectors"]["title"]["search_defaults"]["oversampling"],
        2.0
    );
    assert!(
        parsed["config"]["vectors"]["plain"]
            .get("search_defaults")
            .is_none()
    );
    let back: CollectionConfig = serde_json::from_value(parsed["config"].clone()).unwrap();
    assert_eq!(back, config);
    // Unset, the field is not written at all.
    let plain = serde_json::to_value(CollectionConfig::new(4, Distance::Cosine)).unwrap();
    assert!(plain.get("search_defaults").is_none(), "{plain}");
}
