//! Collection configuration and search parameters.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optimizer::OptimizerConfig;

/// The largest vector dimension a collection accepts.
pub const MAX_DIM: usize = 65_536;
/// The largest `limit` a search accepts.
pub const MAX_LIMIT: usize = 100_000;
/// The largest oversampling factor a search accepts.
pub const MAX_OVERSAMPLING: f32 = 1_000.0;
/// The largest payload one point may carry, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// How two vectors are compared.
///
/// `Cosine` and `Dot` scores are similarities (higher is better); `Euclid` and `Manhattan`
/// scores are distances (lower is better), as in Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Cosine similarity. Vectors are normalized on write, so this is Dot on unit vectors.
    Cosine,
    /// Dot product.
    Dot,
    /// Euclidean (L2) distance.
    Euclid,
    /// Manhattan (L1) distance.
    Manhattan,
}

impl Distance {
    /// True when a higher score is better (Cosine, Dot).
    #[must_use]
    pub fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Distance::Cosine => 0,
            Distance::Dot => 1,
            Distance::Euclid => 2,
            Distance::Manhattan => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Distance::Cosine,
            1 => Distance::Dot,
            2 => Distance::Euclid,
            3 => Distance::Manhattan,
            _ => return None,
        })
    }
}

/// How the original vectors are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Datatype {
    /// 32-bit floats, 4 bytes a component.
    F32,
    /// IEEE half floats, 2 bytes a component (values are rounded to nearest on write).
    F16,
    /// Unsigned bytes: every component must be a whole number in `0..=255`.
    U8,
}

impl Datatype {
    /// Bytes one component takes.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            Datatype::F32 => 4,
            Datatype::F16 => 2,
            Datatype::U8 => 1,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Datatype::F32 => 0,
            Datatype::F16 => 1,
            Datatype::U8 => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Datatype::F32,
            1 => Datatype::F16,
            2 => Datatype::U8,
            _ => return None,
        })
    }
}

/// When a write call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `upsert`/`delete` return after the WAL is `fdatasync`ed: the write survives power
    /// loss. Concurrent writers share one sync (group commit).
    #[default]
    Sync,
    /// `upsert`/`delete` return once the WAL record is written to the OS: the write survives
    /// a crash of the process but may be lost on power loss. The WAL is synced by `flush()`,
    /// `close()` and a background timer.
    Buffered,
}

/// The binary encodings.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryEncoding {
    /// One bit per component: `x > 0` (for `U8` data, `x > 127`).
    #[default]
    OneBit,
    /// Three levels per component (below, around, above the segment's mean by half its
    /// standard deviation), 2 bits each in a thermometer code.
    TwoBits,
    /// The 2-bit code with the upper bit shared by each pair of components: 1.5 bits each.
    OneAndHalfBits,
}

/// How a query is coded against binary codes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryEncoding {
    /// The query gets the same binary code as stored vectors (symmetric Hamming distance).
    #[default]
    SameAsStorage,
    /// The query keeps 4 bits per component and is scored against the stored bits with
    /// weighted popcounts (asymmetric).
    Scalar4Bits,
    /// As `Scalar4Bits`, with 8 bits per component.
    Scalar8Bits,
}

impl QueryEncoding {
    /// Bits per query component (0 for `SameAsStorage`).
    pub(crate) fn bits(self) -> u32 {
        match self {
            QueryEncoding::SameAsStorage => 0,
            QueryEncoding::Scalar4Bits => 4,
            QueryEncoding::Scalar8Bits => 8,
        }
    }
}

/// Binary quantization settings.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinaryConfig {
    /// The code of each stored vector.
    pub encoding: BinaryEncoding,
    /// How queries are coded.
    #[serde(default)]
    pub query_encoding: QueryEncoding,
}

impl BinaryConfig {
    /// Sets the encoding.
    #[must_use]
    pub fn with_encoding(mut self, encoding: BinaryEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets the query encoding.
    #[must_use]
    pub fn with_query_encoding(mut self, query_encoding: QueryEncoding) -> Self {
        self.query_encoding = query_encoding;
        self
    }
}

/// Scalar int8 quantization settings.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalarConfig {
    /// Clip each range to this central fraction of the training values (per dimension),
    /// in `0.5..=1.0`; `None` uses the full min..max range.
    pub quantile: Option<f32>,
}

impl ScalarConfig {
    /// Sets the quantile (validated when the collection is created).
    #[must_use]
    pub fn with_quantile(mut self, quantile: f32) -> Self {
        self.quantile = Some(quantile);
        self
    }
}

/// How vectors are compressed for the first search stage.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Quantization {
    /// No codes: every search scans the originals.
    #[default]
    None,
    /// Binary codes scanned with XOR + popcount, then rescored with the originals.
    Binary(BinaryConfig),
    /// One byte per component, trained per segment; scores without rescoring by default.
    Scalar(ScalarConfig),
}

/// Everything fixed when a collection is created. Stored as `config.json` in its directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Vector dimension, `1..=MAX_DIM`.
    pub dim: usize,
    /// How vectors are compared.
    pub distance: Distance,
    /// How the originals are stored.
    pub datatype: Datatype,
    /// How vectors are quantized for the first search stage.
    pub quantization: Quantization,
    /// When writes return.
    pub durability: Durability,
    /// The live (in-memory) segment is sealed into an immutable segment file once its
    /// originals, codes and payloads take this many bytes. Default 32 MiB.
    pub live_segment_max_bytes: u64,
    /// A new WAL file is started once the current one passes this size. Default 4 MiB.
    pub wal_file_max_bytes: u64,
    /// With `Durability::Buffered`, how often the background thread syncs the WAL.
    /// Default 200 ms.
    pub buffered_sync_interval_ms: u64,
    /// Threads in the collection's own search pool; 0 means one per core.
    pub search_threads: usize,
    /// Thresholds of `Collection::optimize`.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
}

impl CollectionConfig {
    /// A config with `dim` components compared by `distance`, stored as `F32`, without
    /// quantization, with `Durability::Sync`.
    #[must_use]
    pub fn new(dim: usize, distance: Distance) -> Self {
        CollectionConfig {
            dim,
            distance,
            datatype: Datatype::F32,
            quantization: Quantization::None,
            durability: Durability::Sync,
            live_segment_max_bytes: 32 << 20,
            wal_file_max_bytes: 4 << 20,
            buffered_sync_interval_ms: 200,
            search_threads: 0,
            optimizer: OptimizerConfig::default(),
        }
    }

    /// Sets how the originals are stored.
    #[must_use]
    pub fn with_datatype(mut self, datatype: Datatype) -> Self {
        self.datatype = datatype;
        self
    }

    /// Sets the quantization.
    #[must_use]
    pub fn with_quantization(mut self, quantization: Quantization) -> Self {
        self.quantization = quantization;
        self
    }

    /// Sets when writes return.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the size at which the live segment is sealed (at least 4 KiB).
    #[must_use]
    pub fn with_live_segment_max_bytes(mut self, bytes: u64) -> Self {
        self.live_segment_max_bytes = bytes;
        self
    }

    /// Sets the size at which a new WAL file is started (at least 4 KiB).
    #[must_use]
    pub fn with_wal_file_max_bytes(mut self, bytes: u64) -> Self {
        self.wal_file_max_bytes = bytes;
        self
    }

    /// Sets the optimizer's thresholds.
    #[must_use]
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Sets the number of search threads (0: one per core).
    #[must_use]
    pub fn with_search_threads(mut self, threads: usize) -> Self {
        self.search_threads = threads;
        self
    }

    /// Checks every field; the message names the field and its valid range.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(Error::InvalidArgument(format!(
                "dim is {}; it must be in 1..={MAX_DIM}",
                self.dim
            )));
        }
        if self.datatype == Datatype::U8 && self.distance == Distance::Cosine {
            return Err(Error::InvalidArgument(
                "Cosine vectors are normalized and cannot be stored as U8; use F16 or F32, \
                 or normalize them yourself and use Dot"
                    .into(),
            ));
        }
        if let Quantization::Scalar(ScalarConfig { quantile: Some(q) }) = self.quantization
            && !(0.5..=1.0).contains(&q)
        {
            return Err(Error::InvalidArgument(format!(
                "scalar quantile is {q}; it must be in 0.5..=1.0 (or None for min..max)"
            )));
        }
        if self.live_segment_max_bytes < 4096 {
            return Err(Error::InvalidArgument(format!(
                "live_segment_max_bytes is {}; it must be at least 4096",
                self.live_segment_max_bytes
            )));
        }
        if self.wal_file_max_bytes < 4096 {
            return Err(Error::InvalidArgument(format!(
                "wal_file_max_bytes is {}; it must be at least 4096",
                self.wal_file_max_bytes
            )));
        }
        if self.buffered_sync_interval_ms == 0 || self.buffered_sync_interval_ms > 60_000 {
            return Err(Error::InvalidArgument(format!(
                "buffered_sync_interval_ms is {}; it must be in 1..=60000",
                self.buffered_sync_interval_ms
            )));
        }
        let o = &self.optimizer;
        if o.merge_factor < 2
            || o.max_segments == 0
            || o.max_segment_bytes < 4096
            || !(o.vacuum_deleted_ratio > 0.0 && o.vacuum_deleted_ratio <= 1.0)
            || !(1..=256).contains(&o.threads)
        {
            return Err(Error::InvalidArgument(format!(
                "optimizer settings {o:?}: merge_factor must be at least 2, max_segments at \
                 least 1, max_segment_bytes at least 4096, vacuum_deleted_ratio in (0, 1], \
                 threads in 1..=256"
            )));
        }
        if self.search_threads > 1024 {
            return Err(Error::InvalidArgument(format!(
                "search_threads is {}; it must be at most 1024 (0 = one per core)",
                self.search_threads
            )));
        }
        Ok(())
    }
}

/// Per-search options. Semantics follow Qdrant's `params` and `quantization` options.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SearchParams {
    /// Candidates taken from the quantized scan: `ceil(limit × oversampling)` when above 1.
    /// `None` means 1 (no oversampling).
    pub oversampling: Option<f32>,
    /// Rescore candidates with the originals. `None` means the default of the quantization:
    /// on for binary, off for scalar.
    pub rescore: Option<bool>,
    /// Scan the originals of every point (exact results, slowest).
    pub exact: bool,
    /// Skip the quantized codes and scan the originals.
    pub ignore_quantization: bool,
    /// Return each hit's payload.
    pub with_payload: bool,
}

impl SearchParams {
    /// Sets the oversampling factor (finite, `1.0..=MAX_OVERSAMPLING`).
    #[must_use]
    pub fn with_oversampling(mut self, oversampling: f32) -> Self {
        self.oversampling = Some(oversampling);
        self
    }

    /// Turns rescoring with the originals on or off.
    #[must_use]
    pub fn with_rescore(mut self, rescore: bool) -> Self {
        self.rescore = Some(rescore);
        self
    }

    /// Asks for an exact scan of the originals.
    #[must_use]
    pub fn with_exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Skips the quantized codes.
    #[must_use]
    pub fn with_ignore_quantization(mut self, ignore: bool) -> Self {
        self.ignore_quantization = ignore;
        self
    }

    /// Returns payloads with the hits.
    #[must_use]
    pub fn with_payload(mut self, with_payload: bool) -> Self {
        self.with_payload = with_payload;
        self
    }
}
