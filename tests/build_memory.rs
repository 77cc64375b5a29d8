//! A merge streams its output: the heap it uses is a small fraction of the segment it
//! writes, whatever the codes (dhat counts every allocation of this test binary).

use std::path::Path;

use vecsieve::optimizer::OptimizerConfig;
use vecsieve::vecs::read_fvecs;
use vecsieve::{
    BinaryConfig, BinaryEncoding, Collection, CollectionConfig, Distance, Point, Quantization,
    ScalarConfig, SearchParams,
};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn segment_files_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_merge_uses_a_fraction_of_its_output_in_memory() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/debian-minilm-384-10k");
    let base = read_fvecs(&data.join("base.fvecs")).unwrap();
    let queries = read_fvecs(&data.join("query.fvecs")).unwrap();
    let modes = [
        (
            Quantization::Binary(BinaryConfig::default().with_encoding(BinaryEncoding::TwoBits)),
            1,
        ),
        (Quantization::Scalar(ScalarConfig::default()), 2),
    ];
    for (quantization, threads) in modes {
        let dir = tempfile::tempdir().unwrap();
        let config = CollectionConfig::new(384, Distance::Cosine)
            .with_quantization(quantization)
            .with_live_segment_max_bytes(4 << 20)
            .with_optimizer(OptimizerConfig {
                background: false,
                threads,
                ..OptimizerConfig::default()
            });
        let c = Collection::create(dir.path(), config).unwrap();
        for start in (0..base.rows()).step_by(1000) {
            let points: Vec<Point> = (start..(start + 1000).min(base.rows()))
                .map(|i| Point::new(i as u64, base.row(i).to_vec()))
                .collect();
            c.upsert(&points).unwrap();
        }
        c.seal().unwrap();
        let before = c.info().unwrap().segments;
        assert!(before >= 4, "{before} segments to merge");
        let params = SearchParams::default().with_exact(true);
        let expected: Vec<_> = (0..20)
            .map(|q| c.search(queries.row(q), 10, &params).unwrap())
            .collect();

        // Counts only what is allocated while the profiler runs.
        let profiler = dhat::Profiler::builder().testing().build();
        let report = c.optimize().unwrap();
        let peak = dhat::HeapStats::get().max_bytes as u64;
        drop(profiler);
        assert_eq!(report.merged, before, "{quantization:?}");
        assert_eq!(c.info().unwrap().segments, 1);
        let output = segment_files_bytes(dir.path());
        eprintln!("{quantization:?}: merge heap peak {peak} B for a {output} B segment");
        assert!(
            peak <= output / 4,
            "{quantization:?}: merge heap peak {peak} B for a {output} B segment"
        );
        assert!(output > 15 << 20, "output {output} B");
        for (q, want) in expected.iter().enumerate() {
            assert_eq!(&c.search(queries.row(q), 10, &params).unwrap(), want);
        }
        c.close().unwrap();
    }
}
