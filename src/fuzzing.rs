//! Entry points for the `fuzz/` targets: each feeds arbitrary bytes to a decoder and checks
//! that it returns an error, or a value that survives encode → decode unchanged (reserved
//! fields are ignored on read, so bytes may differ there). Not a stable API.

use crate::config::Datatype;
use crate::format::segment;
use crate::manifest::Manifest;
use crate::segment::deletes;
use crate::wal::record::{self, FILE_HEADER_LEN, ScanEnd};

/// A WAL file: header, then records up to the first invalid one.
pub fn wal_file(bytes: &[u8]) {
    let Some(Ok(file)) = bytes.get(..FILE_HEADER_LEN).map(record::parse_file_header) else {
        return;
    };
    let (records, end) = record::scan(bytes, file);
    let mut rebuilt = record::encode_file_header(file.number, file.salt);
    let mut prev = file.salt;
    for r in &records {
        let meta = record::RecordMeta {
            seq: r.seq,
            synced_seq: r.synced_seq.unwrap_or(0).min(r.seq.saturating_sub(1)),
            kind: r.kind,
        };
        prev = record::encode_record(&mut rebuilt, file.salt, prev, meta, r.body);
        if let Ok(rows) = record::decode_upsert(r.body, 2, Datatype::F32) {
            let again = record::encode_upsert(2, Datatype::F32, &rows);
            assert_eq!(
                record::decode_upsert(&again, 2, Datatype::F32).ok(),
                Some(rows)
            );
        }
        if let Ok(ids) = record::decode_delete(r.body) {
            let again = record::encode_delete(&ids);
            assert_eq!(record::decode_delete(&again).ok(), Some(ids));
        }
    }
    let current = record::parse_file_header(&rebuilt).unwrap_or(file);
    let (again, again_end) = record::scan(&rebuilt, current);
    if file.version == current.version {
        assert_eq!(again, records);
    } else {
        // A version 1 file re-encoded at the current version: the same records, except
        // that one with seq 0 cannot carry a `synced_seq` below it.
        let same = |(a, b): (&record::ScannedRecord<'_>, &record::ScannedRecord<'_>)| {
            (a.seq, a.kind, a.body) == (b.seq, b.kind, b.body)
        };
        assert!(again.iter().zip(&records).all(same));
        assert!(
            again.len() == records.len() || records.get(again.len()).is_some_and(|r| r.seq == 0)
        );
    }
    assert_eq!(again_end, ScanEnd::Clean);
    if let ScanEnd::Invalid { offset, .. } = end {
        assert!(offset <= bytes.len());
    }
}

/// A segment file: parse, verify, and read every row through the bounds-checked accessors.
pub fn segment_file(bytes: &[u8]) {
    let Ok(layout) = segment::parse(bytes) else {
        return;
    };
    let _ = layout.verify(bytes);
    let _ = layout.nonzero_padding(bytes);
    let two_bits = layout.header.code_kind == segment::CodeKind::TwoBits;
    if two_bits || layout.header.code_kind == segment::CodeKind::OneAndHalfBits {
        let stats = bytes
            .get(layout.range(segment::Section::BinaryStats))
            .unwrap_or_default();
        if let Ok(s) = segment::decode_binary_stats(stats, layout.header.dim, two_bits) {
            assert_eq!(s.mean.len(), layout.header.dim);
        }
    }
    if layout.header.code_kind == segment::CodeKind::ScalarInt8 {
        let params = bytes.get(layout.range(segment::Section::QuantParams));
        if let Some(Ok(p)) = params.map(|b| segment::decode_scalar_params(b, layout.header.dim)) {
            let again = segment::encode_scalar_params(&p);
            assert_eq!(
                segment::decode_scalar_params(&again, layout.header.dim),
                Ok(p)
            );
        }
    }
    for s in segment::SECTIONS {
        assert!(layout.range(s).end <= bytes.len());
    }
}

/// A MANIFEST.
pub fn manifest(bytes: &[u8]) {
    if let Ok(m) = Manifest::decode(bytes) {
        assert_eq!(Manifest::decode(&m.encode()), Ok(m));
    }
}

/// A deletion sidecar of segment 1 with `rows` rows.
pub fn deletion_sidecar(bytes: &[u8], rows: u16) {
    let rows = usize::from(rows);
    if let Ok(words) = deletes::decode(bytes, 1, rows) {
        assert_eq!(
            deletes::decode(&deletes::encode(1, rows, &words), 1, rows),
            Ok(words)
        );
    }
}
