//! Quantization, in one place: which codes a configuration asks for ([`CodeKind`]), their
//! size per row, the trained [`Encoder`] that writes them, what the live segment keeps,
//! whether a segment's codes are current, and how a query is coded. The quantizers
//! themselves: [`binary`] (1, 1.5 and 2 bits, asymmetric queries), [`scalar`] (int8) and
//! [`stats`] (sampling). Their parameter sections are encoded by `format::segment`.

pub(crate) mod binary;
pub(crate) mod rotated;
pub(crate) mod scalar;
pub(crate) mod stats;

use crate::config::Distance;
use crate::config::{BinaryEncoding, CollectionConfig, Datatype, Quantization};
use crate::segment::live::ColumnShape;
use crate::simd::Kernels;
use binary::MultiBit;
use rotated::{Rotated, RowFactors};
use scalar::{ScalarParams, code_stride};

/// What the codes section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// No codes section.
    None,
    /// One bit per component, `ceil(dim/64)` little-endian u64 words per row.
    OneBit,
    /// One byte per component, rows padded to a multiple of 64 bytes, with a quantizer
    /// parameters section and a per-row norms section.
    ScalarInt8,
    /// Three levels per component in two planes, with a statistics section.
    TwoBits,
    /// Like `TwoBits` with the upper plane shared by pairs of components.
    OneAndHalfBits,
    /// One bit per component of the rotated residual (RaBitQ), `ceil(dim/64)` words per
    /// row stored transposed in blocks of 32 rows, with a rotation section and per-row
    /// factor and centroid sections.
    RotatedOneBit,
    /// Two bits per component of the rotated residual (extended RaBitQ): like
    /// `RotatedOneBit` with a second bit plane, `2·ceil(dim/64)` words per row.
    RotatedTwoBits,
}

impl CodeKind {
    /// Code size per row in 8-byte words.
    pub(crate) fn words(self, dim: usize) -> usize {
        match self {
            CodeKind::None => 0,
            CodeKind::OneBit | CodeKind::RotatedOneBit => dim.div_ceil(64),
            CodeKind::RotatedTwoBits => 2 * dim.div_ceil(64),
            CodeKind::ScalarInt8 => code_stride(dim) / 8,
            CodeKind::TwoBits => MultiBit::words(true, dim),
            CodeKind::OneAndHalfBits => MultiBit::words(false, dim),
        }
    }

    /// The name `Collection::info` reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CodeKind::None => "none",
            CodeKind::OneBit => "binary1",
            CodeKind::ScalarInt8 => "scalar8",
            CodeKind::TwoBits => "binary2",
            CodeKind::OneAndHalfBits => "binary1.5",
            CodeKind::RotatedOneBit => "rabitq1",
            CodeKind::RotatedTwoBits => "rabitq2",
        }
    }

    /// Bits per component of rotated codes (`None` for the other kinds).
    pub fn rotated_bits(self) -> Option<u32> {
        match self {
            CodeKind::RotatedOneBit => Some(1),
            CodeKind::RotatedTwoBits => Some(2),
            _ => None,
        }
    }

    /// True for the kinds whose codes are rows of u64 words scanned with Hamming
    /// distances (rotated codes are stored transposed and scanned with table lookups).
    pub(crate) fn is_binary(self) -> bool {
        matches!(
            self,
            CodeKind::OneBit | CodeKind::TwoBits | CodeKind::OneAndHalfBits
        )
    }
}

/// The codes `quantization` asks for in segment files.
pub(crate) fn code_kind(quantization: &Quantization) -> CodeKind {
    match quantization {
        Quantization::Binary(b) => match b.encoding {
            BinaryEncoding::OneBit => CodeKind::OneBit,
            BinaryEncoding::TwoBits => CodeKind::TwoBits,
            BinaryEncoding::OneAndHalfBits => CodeKind::OneAndHalfBits,
            BinaryEncoding::RotatedOneBit => CodeKind::RotatedOneBit,
            BinaryEncoding::RotatedTwoBits => CodeKind::RotatedTwoBits,
        },
        Quantization::Scalar(_) => CodeKind::ScalarInt8,
        Quantization::None => CodeKind::None,
    }
}

/// 1-bit code words per row the live segment keeps (a scalar collection keeps none: its
/// live segment is scanned exactly).
pub(crate) fn live_code_words(config: &CollectionConfig) -> usize {
    match config.quantization {
        Quantization::Binary(_) => CodeKind::OneBit.words(config.dim),
        Quantization::None | Quantization::Scalar(_) => 0,
    }
}

/// The layout of the live segment's rows: the one dense vector of a single-vector
/// collection, else every vector slot located through offsets. The one dense vector of a
/// collection with rotated codes keeps rotated codes (see [`rotated::Rotated::live`]);
/// other binary slots keep 1-bit codes.
pub(crate) fn live_shapes(config: &CollectionConfig) -> Vec<ColumnShape> {
    let offsets = !config.is_single_dense();
    config
        .slots()
        .iter()
        .map(|slot| {
            let slot_config = config.for_slot(slot);
            let rotated = code_kind(&slot_config.quantization)
                .rotated_bits()
                .filter(|_| !offsets);
            ColumnShape {
                dim: slot.params.dim,
                datatype: slot.params.datatype,
                code_words: if rotated.is_some() {
                    0
                } else {
                    live_code_words(&slot_config)
                },
                rotated: rotated.map(|bits| (bits, slot.params.distance)),
                offsets,
                means: slot.is_multi(),
            }
        })
        .collect()
}

/// True when a segment whose codes are `kind` (with scalar parameters `scalar`) has the
/// codes `quantization` asks for; otherwise the optimizer rewrites it.
pub(crate) fn codes_match(
    kind: CodeKind,
    scalar: Option<&ScalarParams>,
    quantization: &Quantization,
) -> bool {
    if kind != code_kind(quantization) {
        return false;
    }
    match (quantization, scalar) {
        (Quantization::Scalar(sc), Some(p)) => p.quantile == sc.quantile.unwrap_or(1.0),
        _ => true,
    }
}

/// A query's 1-bit code (compared with the 1-bit codes of the live segment and of 1-bit
/// segments) and the bits per component of its asymmetric form (0: symmetric Hamming).
pub(crate) fn query_codes(config: &CollectionConfig, query: &[f32]) -> (Vec<u64>, u32) {
    let mut code = vec![0u64; live_code_words(config)];
    binary::encode_one_bit(query, binary::threshold(config.datatype), &mut code);
    let asym_bits = match config.quantization {
        Quantization::Binary(b) => b.query_encoding.bits(),
        Quantization::None | Quantization::Scalar(_) => 0,
    };
    (code, asym_bits)
}

/// A trained code writer.
pub(crate) enum Encoder {
    /// The 1-bit threshold of the datatype.
    OneBit(f32),
    MultiBit(MultiBit),
    Scalar(ScalarParams),
    /// Rotated codes, with the factors of the collection's distance.
    Rotated(Rotated, Distance),
}

/// What a row's code keeps beside its bytes: `‖x‖²` for scalar codes, the centroid and
/// factors for rotated codes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RowExtra {
    pub norm: f32,
    pub rotated: RowFactors,
}

impl Encoder {
    /// The 1-bit encoder of vectors stored as `datatype`.
    pub(crate) fn one_bit(datatype: Datatype) -> Self {
        Encoder::OneBit(binary::threshold(datatype))
    }

    /// Code bytes per row.
    pub(crate) fn stride(&self, dim: usize) -> usize {
        match self {
            Encoder::OneBit(_) => 8 * CodeKind::OneBit.words(dim),
            Encoder::Rotated(r, _) => r.code_bytes(),
            Encoder::MultiBit(m) => 8 * MultiBit::words(m.two_bits, dim),
            Encoder::Scalar(_) => code_stride(dim),
        }
    }

    /// Encodes `v` into `out` (`stride` bytes, `words` as scratch); returns what the row
    /// keeps beside its code.
    pub(crate) fn encode(
        &self,
        v: &[f32],
        out: &mut [u8],
        words: &mut Vec<u64>,
        kernels: &Kernels,
    ) -> RowExtra {
        words.clear();
        words.resize(out.len() / 8, 0);
        let mut extra = RowExtra::default();
        match self {
            Encoder::OneBit(threshold) => {
                binary::encode_one_bit(v, *threshold, words);
                put_words(words, out);
            }
            Encoder::MultiBit(m) => {
                m.encode(v, words);
                put_words(words, out);
            }
            Encoder::Scalar(p) => {
                p.encode(v, out);
                extra.norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>() as f32;
            }
            Encoder::Rotated(r, distance) => {
                extra.rotated = r.encode(*distance, v, kernels, words);
                put_words(words, out);
            }
        }
        extra
    }
}

fn put_words(words: &[u64], out: &mut [u8]) {
    for (w, o) in words.iter().zip(out.as_chunks_mut::<8>().0) {
        *o = w.to_le_bytes();
    }
}
