//! `vecsieve bench`, `bench-optimizer` and `demo`: the measurements behind the README.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use vecsieve::Distance;
use vecsieve_cli::Result;
use vecsieve_cli::eval::{self, BenchOptions, BenchQuantization, BenchRow};

use crate::commands::Phases;

#[derive(Clone, Copy, ValueEnum)]
pub enum QuantArg {
    None,
    Binary1,
    #[value(name = "binary1-q4")]
    Binary1Q4,
    #[value(name = "binary1-q8")]
    Binary1Q8,
    #[value(name = "binary1.5")]
    Binary15,
    Binary2,
    Rabitq1,
    Rabitq2,
    Scalar8,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DistanceArg {
    Cosine,
    Dot,
    Euclid,
    Manhattan,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Folder with base.fvecs, query.fvecs and groundtruth.ivecs, or a multivector set
    /// (base_vectors.npy + base_offsets.npy, query_vectors.npy + query_offsets.npy,
    /// groundtruth.ivecs), searched with MaxSim.
    #[arg(long)]
    data: PathBuf,
    /// Configurations to measure.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,binary1,binary1-q4,binary1-q8,binary1.5,binary2,rabitq1,rabitq2,scalar8"
    )]
    quantization: Vec<QuantArg>,
    /// Oversampling factors for quantized configurations.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,8")]
    oversampling: Vec<f32>,
    /// Results per query (at least 10).
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Distance of the collection.
    #[arg(long, value_enum, default_value = "cosine")]
    distance: DistanceArg,
    /// Points per upsert call while building.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Search threads (1 gives single-threaded latency).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Clip scalar ranges to this central fraction of the values (0.5..=1).
    #[arg(long)]
    scalar_quantile: Option<f32>,
    /// Seal segments at this many MiB (default 32; large puts everything in one segment).
    #[arg(long)]
    segment_mib: Option<u64>,
    /// Multivector sets: also measure each quantized configuration with the mean-pooled
    /// first stage keeping this fraction of the points (0 < F ≤ 1; Cosine and Dot)
    #[arg(long, value_name = "F")]
    pooled_prefilter: Option<f32>,
    /// Also search rabitq configurations adaptively (rescoring until the codes' error bound
    /// settles the results), each oversampling being the candidate pool.
    #[arg(long)]
    adaptive: bool,
    /// Also search scalar8 scanning only this fraction of the rows with int8 codes, the
    /// nearest by the codes' sign sketches (0 < F ≤ 1; Cosine and Dot; rows scalar8+sketch).
    #[arg(long, value_name = "F")]
    sketch_pool: Option<f32>,
    /// One JSON object per configuration per line instead of a table.
    #[arg(long)]
    json: bool,
}

impl QuantArg {
    pub fn mode(self) -> BenchQuantization {
        match self {
            QuantArg::None => BenchQuantization::None,
            QuantArg::Binary1 => BenchQuantization::Binary1,
            QuantArg::Binary1Q4 => BenchQuantization::Binary1Q4,
            QuantArg::Binary1Q8 => BenchQuantization::Binary1Q8,
            QuantArg::Binary15 => BenchQuantization::Binary15,
            QuantArg::Binary2 => BenchQuantization::Binary2,
            QuantArg::Rabitq1 => BenchQuantization::Rabitq1,
            QuantArg::Rabitq2 => BenchQuantization::Rabitq2,
            QuantArg::Scalar8 => BenchQuantization::Scalar8,
        }
    }
}

impl DistanceArg {
    pub fn distance(self) -> Distance {
        match self {
            DistanceArg::Cosine => Distance::Cosine,
            DistanceArg::Dot => Distance::Dot,
            DistanceArg::Euclid => Distance::Euclid,
            DistanceArg::Manhattan => Distance::Manhattan,
        }
    }
}

/// `vecsieve bench-optimizer`.
pub fn bench_optimizer(data: &Path, segment_mib: u64, json: bool) -> Result<()> {
    let phases = Phases::new();
    let r = eval::run_optimizer(data, segment_mib << 20, |l| phases.show(l));
    phases.finish();
    let r = r?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ingest_points_per_s": r.ingest_points_per_s,
                "settled_segments": r.settled_segments,
                "max_segments": r.max_segments,
                "disk_ratio": r.disk_ratio,
                "idle_p50_ms": r.idle_p50_ms,
                "busy_p50_ms": r.busy_p50_ms,
                "busy_searches": r.busy_searches,
                "originals_after_delete": r.originals_after_delete,
                "recall_before": r.recall_before,
                "recall_after": r.recall_after,
            })
        );
    } else {
        println!("{r:#?}");
    }
    Ok(())
}

/// `vecsieve bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    let opts = BenchOptions {
        data: a.data,
        quantizations: a.quantization.iter().map(|q| q.mode()).collect(),
        oversampling: a.oversampling,
        limit: a.limit,
        distance: a.distance.distance(),
        batch: a.batch.max(1),
        threads: a.threads,
        scalar_quantile: a.scalar_quantile,
        segment_bytes: a.segment_mib.map(|m| m << 20),
        pooled_prefilter: a.pooled_prefilter,
        adaptive: a.adaptive,
        sketch_pool: a.sketch_pool,
    };
    run(&opts, a.json)
}

/// `vecsieve demo`.
pub fn demo(data: Option<PathBuf>, json: bool) -> Result<()> {
    let opts = BenchOptions {
        data: match data {
            Some(d) => d,
            None => demo_data()?,
        },
        quantizations: BenchQuantization::ALL.to_vec(),
        oversampling: vec![1.0, 2.0, 3.0, 4.0, 8.0],
        limit: 10,
        distance: Distance::Cosine,
        batch: 1000,
        threads: 1,
        scalar_quantile: None,
        segment_bytes: None,
        pooled_prefilter: None,
        adaptive: true,
        sketch_pool: None,
    };
    run(&opts, json)
}

/// The bundled data set, under the working directory (the root of a clone of the
/// repository: an installed binary carries no data).
fn demo_data() -> Result<PathBuf> {
    const SET: &str = "data/debian-minilm-384-10k";
    let dir = PathBuf::from(SET);
    if dir.join("base.fvecs").is_file() {
        return Ok(dir);
    }
    Err(vecsieve::Error::InvalidArgument(format!(
        "the demo reads the data set bundled with the repository ({SET}), and there is none \
         under the working directory; run it at the root of a clone (`cargo run --release -- \
         demo`), or pass --data DIR with base.fvecs, query.fvecs and groundtruth.ivecs"
    ))
    .into())
}

fn run(opts: &BenchOptions, json: bool) -> Result<()> {
    if !json {
        println!(
            "data: {}\nkernels: {}",
            opts.data.display(),
            vecsieve::simd::Kernels::detect().isa().name()
        );
    }
    let phases = Phases::new();
    let rows = eval::run(opts, |line| phases.show(line));
    phases.finish();
    let rows = rows?;
    if json {
        for r in &rows {
            println!("{}", to_json(r));
        }
    } else {
        print_table(&rows);
    }
    Ok(())
}

fn to_json(r: &BenchRow) -> serde_json::Value {
    serde_json::json!({
        "config": r.config,
        "oversampling": r.oversampling,
        "rescore": r.rescore,
        "adaptive": r.adaptive,
        "sketch_pool": r.sketch_pool,
        "recall_at_10": r.recall_at_10,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "qps": r.qps,
        "build_s": r.build_s,
        "ingest_points_per_s": r.ingest_points_per_s,
        "disk_bytes": r.disk_bytes,
        "data_bytes": r.data_bytes,
        "ram_bytes": r.ram_bytes,
        "exact_p50_ms": r.exact_p50_ms,
        "scan_ms": r.scan_ms,
    })
}

fn print_table(rows: &[BenchRow]) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "\n{:<10} {:>4} {:>3} {:>9} {:>8} {:>8} {:>6} {:>8} {:>8} {:>9} {:>8} {:>10} {:>9} {:>9} {:>8}",
        "config",
        "os",
        "rs",
        "recall@10",
        "p50 ms",
        "scan ms",
        "÷scan",
        "p99 ms",
        "QPS",
        "vs exact",
        "build s",
        "ingest/s",
        "disk MiB",
        "data MiB",
        "RAM MiB"
    );
    for r in rows {
        let (scan, ratio) = match r.scan_ms {
            Some(s) => (format!("{s:.3}"), format!("{:.2}", r.p50_ms / s)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<10} {:>4} {:>3} {:>9.4} {:>8.3} {:>8} {:>6} {:>8.3} {:>8.0} {:>8.1}x {:>8.2} {:>10.0} {:>9.2} {:>9.2} {:>8.2}",
            r.config,
            r.oversampling,
            match (r.rescore, r.adaptive) {
                (_, true) => "bnd",
                (true, false) => "yes",
                (false, false) => "no",
            },
            r.recall_at_10,
            r.p50_ms,
            scan,
            ratio,
            r.p99_ms,
            r.qps,
            r.exact_p50_ms / r.p50_ms,
            r.build_s,
            r.ingest_points_per_s,
            mib(r.disk_bytes),
            mib(r.data_bytes),
            mib(r.ram_bytes),
        );
    }
    println!(
        "\nrs: candidates rescored with the originals (bnd: until the codes' error bound settles the results, --adaptive). scan: the code kernel alone over as many rows as the set (median of 51; ÷scan: p50 / scan). vs exact: exact-scan p50 / this p50, same collection, same run. disk: the directory after close;\n\
         data: originals + codes + payloads alone. RAM: heap of the open collection (mmap'd segments not counted)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        bench: BenchArgs,
    }

    /// The lists' defaults are what `--help` shows, and they parse as lists.
    #[test]
    fn list_defaults_are_comma_separated_and_parse() {
        let w = Wrap::try_parse_from(["bench", "--data", "d"]).unwrap();
        assert_eq!(w.bench.oversampling, [1.0, 2.0, 3.0, 4.0, 8.0]);
        assert_eq!(w.bench.quantization.len(), BenchQuantization::ALL.len());
        let w = Wrap::try_parse_from(["bench", "--data", "d", "--oversampling", "2,6"]).unwrap();
        assert_eq!(w.bench.oversampling, [2.0, 6.0]);
        let mut help = Vec::new();
        <Wrap as clap::CommandFactory>::command()
            .write_long_help(&mut help)
            .unwrap();
        let help = String::from_utf8(help).unwrap();
        assert!(help.contains("[default: 1,2,3,4,8]"), "{help}");
    }
}
