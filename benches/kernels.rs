//! Kernel throughput: GB/s of each kernel on each ISA this CPU has, over an L2-sized, an
//! L3-sized and a DRAM-sized array, printed next to a plain memory-read loop measured in the
//! same run.
//!
//! `cargo bench --bench kernels` (add `-- --quick` for fewer repetitions). Read the ratio
//! column, not the absolute numbers: the machines are shared.

use std::hint::black_box;
use std::time::Instant;

use vecsieve::simd::{EstimateTerms, Isa, Kernels, NIBBLE_LUT_MAX};

const DIM: usize = 384;

/// Best time of `reps` runs of `f`, in seconds.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn read_loop(words: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for chunk in words.chunks_exact(8) {
        for (a, w) in acc.iter_mut().zip(chunk) {
            *a = a.wrapping_add(*w);
        }
    }
    acc.iter().fold(0, |x, y| x ^ y)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 10 };
    println!(
        "{:<12} {:<7} {:>9} {:>9} {:>10}",
        "kernel", "isa", "size", "GB/s", "vs read"
    );
    for (label, bytes) in [
        ("256 KiB", 256usize << 10),
        ("4 MiB", 4 << 20),
        ("256 MiB", 256 << 20),
    ] {
        // Small arrays take more runs, so that each size is timed for about as long.
        let reps = reps * ((4 << 20) / bytes).max(1);
        let words: Vec<u64> = (0..bytes / 8)
            .map(|i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let t_read = best(reps, || {
            black_box(read_loop(black_box(&words)));
        });
        let read_gbs = bytes as f64 / t_read / 1e9;
        println!(
            "{:<12} {:<7} {:>9} {:>9.2} {:>9.0}%",
            "memory-read", "-", label, read_gbs, 100.0
        );
        let floats: Vec<f32> = words
            .iter()
            .map(|&w| (w >> 40) as f32 / 1e7 - 0.8)
            .collect::<Vec<_>>();
        let floats = &floats[..bytes / 4 / 2];
        let halves: Vec<u16> = floats
            .iter()
            .map(|&x| half::f16::from_f32(x).to_bits())
            .collect();
        let query: Vec<f32> = floats[..DIM].to_vec();
        let qcode: Vec<u64> = words[..DIM / 64].to_vec();
        for isa in Isa::available() {
            let Some(k) = Kernels::for_isa(isa) else {
                continue;
            };
            let rows = words.len() / qcode.len();
            let mut out = vec![0u32; rows];
            let t = best(reps, || k.hamming_many(&qcode, black_box(&words), &mut out));
            report("hamming-1b", isa, label, bytes, t, read_gbs);
            // The rotated codes' scan: four query bit planes against each 1-bit code.
            let planes: Vec<u64> = words[..4 * qcode.len()].to_vec();
            let t = best(reps, || {
                k.weighted_hamming_many(&planes, black_box(&words), qcode.len(), &mut out)
            });
            report("weighted-4b", isa, label, bytes, t, read_gbs);
            // The same scan on codes transposed in blocks of 32 rows, with nibble tables.
            let code_bytes = 8 * qcode.len();
            let luts: Vec<u8> = (0..32 * code_bytes).map(|i| (i * 37 % 57) as u8).collect();
            let luts: Vec<u8> = luts.iter().map(|&v| v % (NIBBLE_LUT_MAX + 1)).collect();
            let blocks: &[u8] = bytemuck::cast_slice(&words);
            let t = best(reps, || {
                k.nibble_lut_sums(&luts, black_box(blocks), 1, &mut out)
            });
            report("nibble-lut", isa, label, bytes, t, read_gbs);
            // The rotated codes' estimates: one sum, two factors and a centroid per row.
            let rows = out.len();
            let factors: Vec<[f32; 2]> = floats
                .chunks_exact(2)
                .take(rows)
                .map(|p| [p[0], p[1]])
                .collect();
            let centroids: Vec<u8> = (0..rows).map(|i| (i * 37 % 64) as u8).collect();
            let terms = EstimateTerms {
                table: [0.5; 256],
                base: 0.25,
                step: 0.001,
                euclid: true,
            };
            let sums: Vec<u32> = out.iter().map(|&v| v % 6000).collect();
            let mut keys = vec![0u32; rows];
            let t = best(reps, || {
                k.rotated_keys(&terms, black_box(&sums), &factors, &centroids, &mut keys)
            });
            report("rotated-keys", isa, label, rows * 13, t, read_gbs);
            type Pair = fn(&Kernels, &[f32], &[f32]) -> f32;
            for (name, f) in [
                ("dot-f32", Kernels::dot as Pair),
                ("l2sq-f32", Kernels::l2sq as Pair),
                ("l1-f32", Kernels::l1 as Pair),
            ] {
                let t = best(reps, || {
                    let mut s = 0.0;
                    for row in floats.chunks_exact(DIM) {
                        s += f(k, &query, black_box(row));
                    }
                    black_box(s);
                });
                report(name, isa, label, floats.len() * 4, t, read_gbs);
            }
            let bytes_u8: &[u8] = bytemuck::cast_slice(&words);
            let q16: Vec<i16> = bytes_u8[..2 * DIM]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1] >> 1]))
                .collect();
            let mut dots = vec![0i64; bytes_u8.len() / DIM];
            let t = best(reps, || {
                k.dot_u8i16_many(&q16, black_box(bytes_u8), &mut dots)
            });
            report("dot-u8i16", isa, label, bytes, t, read_gbs);
            let mut l1s = vec![0u32; bytes_u8.len() / DIM];
            let t = best(reps, || {
                k.l1_u8_many(&bytes_u8[..DIM], black_box(bytes_u8), &mut l1s)
            });
            report("l1-u8", isa, label, bytes, t, read_gbs);
            let mut scratch = vec![0f32; DIM];
            let t = best(reps, || {
                for row in halves.chunks_exact(DIM) {
                    k.f16_to_f32(black_box(row), &mut scratch);
                }
                black_box(&scratch);
            });
            report("f16->f32", isa, label, halves.len() * 2, t, read_gbs);
        }
    }
}

fn report(kernel: &str, isa: Isa, size: &str, bytes: usize, secs: f64, read_gbs: f64) {
    let gbs = bytes as f64 / secs / 1e9;
    println!(
        "{:<12} {:<7} {:>9} {:>9.2} {:>9.0}%",
        kernel,
        isa.name(),
        size,
        gbs,
        100.0 * gbs / read_gbs
    );
}
