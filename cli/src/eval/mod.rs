//! The benchmark behind `vecsieve bench` and `demo`, the optimizer benchmark, and the
//! quantization advisor. The evaluation sets' `fvecs` / `ivecs` files are read with
//! [`vecsieve::vecs`].

mod advise;
mod bench;
mod optbench;

pub use advise::{Advice, AdviseOptions, AdviseRow, Suitability, advise, plot_svg};
pub use bench::{BenchOptions, BenchQuantization, BenchRow, run};
pub use optbench::{OptimizerBench, run_optimizer};
pub use vecsieve::vecs::{Matrix, read_fvecs, read_ivecs};
