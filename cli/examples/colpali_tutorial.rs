//! The workflow of Qdrant's ColPali quantization tutorial, with vecsieve:
//! `cargo run --release -p vecsieve-cli --example colpali_tutorial`.
//!
//! Two collections of page images embedded as multivectors (1,030 × 128-d per page, as
//! ColPali produces them, compared with MaxSim): one with scalar int8 codes (quantile
//! 0.99), one with binary codes. Four pages with payloads go into each; a query of 18
//! vectors is searched with `rescore = true, oversampling = 2.0` and without rescoring,
//! and the scores and payloads are printed next to exact MaxSim. The program fails if a
//! quantized search does not return the exact order.
//!
//! No ColPali model runs here: each page's vectors are its own topic direction mixed with
//! noise (`normalize(0.6·topic + 0.8·noise)`), and the query is 18 of the third page's
//! vectors with fresh noise, so the third page should come first.

use vecsieve::{
    BinaryConfig, Collection, CollectionConfig, Distance, Point, Quantization, ScalarConfig,
    ScoredPoint, SearchParams,
};

const DIM: usize = 128;
const PAGE_VECTORS: usize = 1030;
const QUERY_VECTORS: usize = 18;

struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn unit(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM)
            .map(|_| {
                let (u, w) = (self.uniform(), self.uniform());
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * w).cos()
            })
            .collect();
        normalize(v)
    }
}

fn normalize(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn mix(a: &[f32], wa: f32, b: &[f32], wb: f32) -> Vec<f32> {
    normalize(a.iter().zip(b).map(|(x, y)| wa * x + wb * y).collect())
}

fn print(title: &str, hits: &[ScoredPoint]) {
    println!("{title}");
    for h in hits {
        let payload = h
            .payload
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        println!("  id {:>2}  score {:>9.4}  {payload}", h.id, h.score);
    }
}

fn main() -> vecsieve::Result<()> {
    let mut rng = Rng(0x00C0_FFEE);
    let titles = [
        "Annual report 2023, page 4: revenue by region",
        "Installation guide, page 12: wiring diagram",
        "Research paper, page 7: ablation table",
        "Menu, page 1: desserts",
    ];
    let pages: Vec<Vec<Vec<f32>>> = titles
        .iter()
        .map(|_| {
            let topic = rng.unit();
            (0..PAGE_VECTORS)
                .map(|_| mix(&topic, 0.6, &rng.unit(), 0.8))
                .collect()
        })
        .collect();
    let query: Vec<Vec<f32>> = pages[2]
        .iter()
        .step_by(PAGE_VECTORS / QUERY_VECTORS)
        .take(QUERY_VECTORS)
        .map(|v| mix(v, 1.0, &rng.unit(), 0.5))
        .collect();

    let dir = tempfile::tempdir().map_err(|e| vecsieve::Error::InvalidArgument(e.to_string()))?;
    let collections = [
        (
            "colpali-int8",
            Quantization::Scalar(ScalarConfig::default().with_quantile(0.99)),
        ),
        (
            "colpali-binary",
            Quantization::Binary(BinaryConfig::default()),
        ),
    ];
    let mut all_match = true;
    for (name, quantization) in collections {
        // Qdrant: vectors_config=VectorParams(size=128, distance=COSINE,
        //   multivector_config=MultiVectorConfig(comparator=MAX_SIM),
        //   quantization_config=...), hnsw m = 0 (a full scan).
        let config = CollectionConfig::new(DIM, Distance::Cosine)
            .with_multivector()
            .with_quantization(quantization);
        let c = Collection::create(dir.path().join(name), config)?;
        let points: Vec<Point> = pages
            .iter()
            .zip(titles)
            .enumerate()
            .map(|(i, (page, title))| {
                Point::new_multi(i as u64, page.clone())
                    .with_payload(format!("{{\"title\":\"{title}\"}}").into_bytes())
            })
            .collect();
        c.upsert(&points)?;
        // Quantized codes are trained per immutable segment: seal the four pages into one.
        c.seal()?;
        let base = SearchParams::default().with_payload(true);
        let exact = c.search_using("", &query, 4, &base.with_exact(true))?;
        let rescored = c.search_using(
            "",
            &query,
            4,
            &base.with_rescore(true).with_oversampling(2.0),
        )?;
        let estimated = c.search_using("", &query, 4, &base.with_rescore(false))?;
        println!("\n== {name}");
        print("exact MaxSim:", &exact);
        print("rescore = true, oversampling = 2.0:", &rescored);
        print(
            "rescore = false (scores estimated from the codes):",
            &estimated,
        );
        let order = |hits: &[ScoredPoint]| hits.iter().map(|h| h.id).collect::<Vec<_>>();
        for (what, hits) in [("rescored", &rescored), ("not rescored", &estimated)] {
            let same = order(hits) == order(&exact);
            println!(
                "{what}: {} order as exact MaxSim",
                if same { "same" } else { "DIFFERENT" }
            );
            all_match &= same;
        }
        c.close()?;
    }
    if all_match {
        Ok(())
    } else {
        Err(vecsieve::Error::InvalidArgument(
            "a quantized search returned another order than exact MaxSim".into(),
        ))
    }
}
