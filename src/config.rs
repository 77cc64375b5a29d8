//! Collection configuration and search parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optimizer::OptimizerConfig;

/// Payload indexes a collection can have.
pub const MAX_PAYLOAD_INDEXES: usize = 64;

/// The longest key a payload index can be created on, in bytes.
pub const MAX_INDEX_KEY_BYTES: usize = 1024;

/// The largest vector dimension a collection accepts.
pub const MAX_DIM: usize = 65_536;
/// The largest `limit` a search accepts.
pub const MAX_LIMIT: usize = 100_000;
/// The largest oversampling factor a search accepts.
pub const MAX_OVERSAMPLING: f32 = 1_000.0;
/// The oversampling an [`adaptive`](SearchParams::adaptive) search takes when none is given:
/// its candidate pool, `limit × 8`, of which rescoring reads only what the error bound
/// leaves. Measured on debian-minilm-384 (60,703 points, 1-bit rotated codes, 200
/// queries): pools of `limit × 4 / 8 / 16` recalled 0.9935 / 0.9990 / 0.9990 rescoring 33 /
/// 45 / 50 points per query on average; on siftsmall (Euclid) 0.978 / 0.997 / 1.000.
pub const ADAPTIVE_OVERSAMPLING: f32 = 8.0;
/// The largest payload one point may carry, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// The most vectors one multivector may hold (a ColPali page has about 1,030).
pub const MAX_MULTIVECTOR_LEN: usize = 8192;
/// The most named vectors a collection may declare.
pub const MAX_NAMED_VECTORS: usize = 64;
/// The longest vector name, in bytes.
pub const MAX_VECTOR_NAME_BYTES: usize = 255;

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
    /// One bit per component of the vector's residual from the nearest of its segment's
    /// centroids, after a fixed random rotation, plus two factors and the centroid's
    /// number per vector (the RaBitQ method): 1.19 bits per component at 384 dimensions.
    /// A 4-bit query gets an unbiased estimate of each distance from table lookups,
    /// so far fewer candidates need rescoring for the same recall than with `OneBit`.
    /// Cosine, Dot and Euclid; dense vectors only. The live segment keeps them too, centred
    /// on the origin until it is sealed and gets trained centroids (slightly lower recall
    /// meanwhile). Named vectors of a multi-vector collection keep `OneBit` codes while
    /// live, and search scans their sealed rotated slots exactly.
    RotatedOneBit,
    /// `RotatedOneBit` with two bits per component (extended RaBitQ): each component
    /// keeps its sign and whether it is among the vector's largest, 2.19 bits per
    /// component at 384 dimensions, for recall close to the originals' at low
    /// oversampling. Same distances and limits as `RotatedOneBit`.
    RotatedTwoBits,
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

impl Quantization {
    /// The codes `vecsieve create` gives a vector when none is named, for library callers
    /// who want the same: rotated 1-bit codes (RaBitQ), which recall 0.97–0.99 at their
    /// default oversampling of 4 on real MiniLM data for 1.19 bits per component, where
    /// they apply; sign bits (`OneBit`) for Manhattan distances and multivectors, which
    /// rotated codes do not serve. (`CollectionConfig::new` itself stays unquantized: an
    /// exact scan, until a quantization is chosen.)
    ///
    /// ```
    /// use vecsieve::{BinaryEncoding, CollectionConfig, Distance, Quantization};
    /// let q = Quantization::recommended(Distance::Cosine, false);
    /// let config = CollectionConfig::new(384, Distance::Cosine).with_quantization(q);
    /// assert!(matches!(q, Quantization::Binary(b) if b.encoding == BinaryEncoding::RotatedOneBit));
    /// assert_eq!(config.quantization.default_oversampling(), 4.0);
    /// ```
    #[must_use]
    pub fn recommended(distance: Distance, multivector: bool) -> Quantization {
        let encoding = if distance == Distance::Manhattan || multivector {
            BinaryEncoding::OneBit
        } else {
            BinaryEncoding::RotatedOneBit
        };
        Quantization::Binary(BinaryConfig::default().with_encoding(encoding))
    }

    /// The oversampling a search of these codes uses when neither the search nor the
    /// vector's [`SearchDefaults`] sets one: the smallest factor that reached recall@10 ≥ 0.95
    /// with rescoring on both debian-minilm-384 sets (10,000 and 60,703 real MiniLM
    /// vectors, Cosine, one segment; README, "Search defaults"). 1 for scalar codes
    /// (0.994–0.997 without rescoring) and no quantization.
    #[must_use]
    pub fn default_oversampling(&self) -> f32 {
        match self {
            Quantization::Binary(b) => match (b.encoding, b.query_encoding) {
                (BinaryEncoding::OneBit, QueryEncoding::SameAsStorage) => 8.0,
                (BinaryEncoding::OneBit, _) => 4.0,
                // Live segments keep their 1-bit words, which need 8.
                (BinaryEncoding::OneAndHalfBits | BinaryEncoding::TwoBits, _) => 8.0,
                (BinaryEncoding::RotatedOneBit, _) => 4.0,
                (BinaryEncoding::RotatedTwoBits, _) => 2.0,
            },
            Quantization::None | Quantization::Scalar(_) => 1.0,
        }
    }
}

/// Search parameters stored with a vector's config: what its searches use where
/// [`SearchParams`] leaves a field `None` (a search's own value always wins). Unset fields
/// fall back to the built-in defaults: [`Quantization::default_oversampling`], and
/// rescoring on for binary codes, off for scalar ones (Qdrant's).
///
/// ```
/// # fn main() -> vecsieve::Result<()> {
/// use vecsieve::{Collection, CollectionConfig, Distance, SearchDefaults};
/// # let tmp = tempfile::tempdir().unwrap();
/// let c = Collection::create(tmp.path().join("c"), CollectionConfig::new(4, Distance::Cosine))?;
/// c.set_search_defaults("", SearchDefaults::default().with_oversampling(4.0))?;
/// assert_eq!(c.config().search_defaults.oversampling, Some(4.0));
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchDefaults {
    /// Oversampling (finite, `1.0..=MAX_OVERSAMPLING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversampling: Option<f32>,
    /// Rescore candidates with the originals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescore: Option<bool>,
}

impl SearchDefaults {
    /// Sets the default oversampling.
    #[must_use]
    pub fn with_oversampling(mut self, oversampling: f32) -> Self {
        self.oversampling = Some(oversampling);
        self
    }

    /// Sets the default for rescoring.
    #[must_use]
    pub fn with_rescore(mut self, rescore: bool) -> Self {
        self.rescore = Some(rescore);
        self
    }

    /// True when no field is set.
    #[must_use]
    pub fn is_unset(&self) -> bool {
        *self == SearchDefaults::default()
    }

    fn validate(&self, which: &dyn Fn(&str) -> String) -> Result<()> {
        if let Some(o) = self.oversampling
            && !(o.is_finite() && (1.0..=MAX_OVERSAMPLING).contains(&o))
        {
            return Err(Error::InvalidArgument(format!(
                "{} is {o}; it must be a finite number in 1..={MAX_OVERSAMPLING}",
                which("default oversampling")
            )));
        }
        Ok(())
    }
}

/// How the vectors of one multivector are compared with a query's (Qdrant's
/// `MultiVectorComparator`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiVectorComparator {
    /// Late interaction (ColBERT, ColPali): each query vector is matched with its best
    /// document vector, and the matches are summed. For Cosine and Dot the score is
    /// `Σ_i max_j sim(q_i, d_j)` (higher is better); for Euclid and Manhattan it is
    /// `Σ_i min_j dist(q_i, d_j)`, the sum of each query vector's nearest distance (lower is
    /// better), on the same scale single-vector searches report.
    #[default]
    MaxSim,
}

/// Marks a vector as a multivector: each point holds `1..=MAX_MULTIVECTOR_LEN` vectors of
/// the declared dimension (Qdrant's `MultiVectorConfig`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiVectorConfig {
    /// How a query's vectors meet a point's.
    pub comparator: MultiVectorComparator,
    /// Beyond Qdrant, for Cosine and Dot (ignored otherwise, and by exact searches or
    /// `ignore_quantization`): before the code scan, keep this fraction (`0 < f ≤ 1`) of the
    /// points by the mean-pooled score `(Σ_i q_i) · mean_j(d_j)` (at least the candidates)
    /// and scan the codes of those alone. `None` (the default) scans every point, as
    /// Qdrant does. On debian-minilm-tokens, 0.2 keeps 99.8 % of the true top 10 while
    /// scanning 5× fewer vectors (README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooled_prefilter: Option<f32>,
}

impl MultiVectorConfig {
    /// Sets the fraction of points the mean-pooled first stage keeps.
    #[must_use]
    pub fn with_pooled_prefilter(mut self, fraction: f32) -> Self {
        self.pooled_prefilter = Some(fraction);
        self
    }
}

/// One named vector of a collection (Qdrant's `VectorParams`): its own dimension, distance,
/// storage, quantization and, for a multivector, its comparator.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    /// Components per vector, `1..=MAX_DIM`.
    pub dim: usize,
    /// How vectors are compared.
    pub distance: Distance,
    /// How the originals are stored.
    #[serde(default = "default_datatype")]
    pub datatype: Datatype,
    /// How vectors are quantized for the first search stage.
    #[serde(default)]
    pub quantization: Quantization,
    /// `Some` for a multivector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector: Option<MultiVectorConfig>,
    /// What searches of this vector use where their parameters leave a field unset.
    #[serde(default, skip_serializing_if = "SearchDefaults::is_unset")]
    pub search_defaults: SearchDefaults,
}

fn default_datatype() -> Datatype {
    Datatype::F32
}

impl VectorParams {
    /// A dense vector of `dim` components compared by `distance`, stored as `F32`, without
    /// quantization.
    #[must_use]
    pub fn new(dim: usize, distance: Distance) -> Self {
        VectorParams {
            dim,
            distance,
            datatype: Datatype::F32,
            quantization: Quantization::None,
            multivector: None,
            search_defaults: SearchDefaults::default(),
        }
    }

    /// Sets the search defaults.
    #[must_use]
    pub fn with_search_defaults(mut self, defaults: SearchDefaults) -> Self {
        self.search_defaults = defaults;
        self
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

    /// Makes it a multivector compared with `MaxSim`.
    #[must_use]
    pub fn with_multivector(mut self) -> Self {
        self.multivector = Some(MultiVectorConfig::default());
        self
    }

    /// Makes it a multivector (if it is not one) whose code scan keeps `fraction` of the
    /// points by their mean-pooled score
    /// ([`MultiVectorConfig::pooled_prefilter`]).
    #[must_use]
    pub fn with_pooled_prefilter(mut self, fraction: f32) -> Self {
        let m = self.multivector.unwrap_or_default();
        self.multivector = Some(m.with_pooled_prefilter(fraction));
        self
    }
}

impl VectorParams {
    /// Checks the vector's fields; errors name the vector (`name`, `""` for the default one).
    fn validate(&self, name: &str) -> Result<()> {
        let which = |field: &str| {
            if name.is_empty() {
                field.to_string()
            } else {
                format!("{field} of vector {name:?}")
            }
        };
        if name.len() > MAX_VECTOR_NAME_BYTES || name.chars().any(char::is_control) {
            return Err(Error::InvalidArgument(format!(
                "vector name {name:?} must be at most {MAX_VECTOR_NAME_BYTES} bytes without \
                 control characters"
            )));
        }
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(Error::InvalidArgument(format!(
                "{} is {}; it must be in 1..={MAX_DIM}",
                which("dim"),
                self.dim
            )));
        }
        if self.datatype == Datatype::U8 && self.distance == Distance::Cosine {
            return Err(Error::InvalidArgument(format!(
                "{} is U8 with Cosine, but Cosine vectors are normalized and cannot be stored \
                 as U8; use F16 or F32, or normalize them yourself and use Dot",
                which("datatype")
            )));
        }
        if let Quantization::Scalar(ScalarConfig { quantile: Some(q) }) = self.quantization
            && !(0.5..=1.0).contains(&q)
        {
            return Err(Error::InvalidArgument(format!(
                "{} is {q}; it must be in 0.5..=1.0 (or None for min..max)",
                which("scalar quantile")
            )));
        }
        if let Quantization::Binary(BinaryConfig {
            encoding: encoding @ (BinaryEncoding::RotatedOneBit | BinaryEncoding::RotatedTwoBits),
            ..
        }) = self.quantization
        {
            let name = if encoding == BinaryEncoding::RotatedOneBit {
                "rotated_one_bit"
            } else {
                "rotated_two_bits"
            };
            if self.distance == Distance::Manhattan {
                return Err(Error::InvalidArgument(format!(
                    "{} is {name} with Manhattan, but a rotation keeps Euclidean distances \
                     and inner products, not Manhattan distances; use one_bit or scalar int8 \
                     codes for Manhattan",
                    which("binary encoding")
                )));
            }
            if self.multivector.is_some() {
                return Err(Error::InvalidArgument(format!(
                    "{} is {name} on a multivector, which it does not support yet; use \
                     one_bit or scalar int8 codes for multivectors",
                    which("binary encoding")
                )));
            }
        }
        self.search_defaults.validate(&which)?;
        if let Some(MultiVectorConfig {
            pooled_prefilter: Some(f),
            ..
        }) = self.multivector
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(Error::InvalidArgument(format!(
                "{} is {f}; it must be in (0, 1] (or None to scan every point)",
                which("pooled_prefilter")
            )));
        }
        Ok(())
    }
}

/// One vector of a collection as the engine sees it: the default one (name `""`) or a
/// named one. Slot 0 is the default vector, then the named ones in name order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VectorSlot {
    pub name: String,
    pub params: VectorParams,
}

impl VectorSlot {
    pub(crate) fn is_multi(&self) -> bool {
        self.params.multivector.is_some()
    }
}

/// `the default vector` or `vector "name"`.
pub(crate) fn describe_vector(name: &str) -> String {
    if name.is_empty() {
        "the default vector".into()
    } else {
        format!("vector {name:?}")
    }
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
    /// `Some` when the default vector is a multivector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector: Option<MultiVectorConfig>,
    /// Named vectors beside the default one (Qdrant's `vectors_config` map). Searches name
    /// the one they use; every vector is optional on a point of a collection that has
    /// named vectors (a point needs at least one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vectors: BTreeMap<String, VectorParams>,
    /// Payload indexes, by key (a filter key path such as `section` or `meta.tags[]`):
    /// what [`Collection::create_payload_index`](crate::Collection::create_payload_index)
    /// made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub payload_indexes: BTreeMap<String, PayloadSchema>,
    /// What searches of the default vector use where their parameters leave a field
    /// unset ([`Collection::set_search_defaults`](crate::Collection::set_search_defaults)).
    #[serde(default, skip_serializing_if = "SearchDefaults::is_unset")]
    pub search_defaults: SearchDefaults,
}

/// The type of the values a payload index holds (Qdrant's `field_schema`).
///
/// Each index answers the conditions on its key that its values decide; any other
/// condition on the key reads payloads (see [`Filter`](crate::Filter)):
/// - `Keyword` and `Uuid`: strings; `match` `value` / `any` with strings. `Uuid` is
///   accepted for Qdrant's schema and indexes the strings as `Keyword` does (matched
///   exactly, as the filter compares them).
/// - `Integer`: integers; `match` `value` / `any` with integers, and `range` with numbers
///   (when every number at the key in a segment is an integer, else `range` reads
///   payloads there).
/// - `Float`: every number; `range` with numbers.
/// - `Bool`: `match` `value` with a bool.
/// - `Datetime`: strings that parse as RFC 3339 datetimes; `range` with datetimes.
///
/// Every index also answers `is_empty` and `is_null` on its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadSchema {
    /// Strings.
    Keyword,
    /// Integers.
    Integer,
    /// Numbers.
    Float,
    /// Booleans.
    Bool,
    /// UUID strings (indexed as `Keyword`).
    Uuid,
    /// RFC 3339 datetime strings.
    Datetime,
}

impl PayloadSchema {
    /// Every schema, in code order.
    pub const ALL: [PayloadSchema; 6] = [
        PayloadSchema::Keyword,
        PayloadSchema::Integer,
        PayloadSchema::Float,
        PayloadSchema::Bool,
        PayloadSchema::Uuid,
        PayloadSchema::Datetime,
    ];

    /// Qdrant's name: `keyword`, `integer`, `float`, `bool`, `uuid`, `datetime`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PayloadSchema::Keyword => "keyword",
            PayloadSchema::Integer => "integer",
            PayloadSchema::Float => "float",
            PayloadSchema::Bool => "bool",
            PayloadSchema::Uuid => "uuid",
            PayloadSchema::Datetime => "datetime",
        }
    }

    /// The schema called `name` (as [`name`](Self::name) spells it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its code in segment files.
    pub(crate) fn code(self) -> u8 {
        match self {
            PayloadSchema::Keyword => 1,
            PayloadSchema::Integer => 2,
            PayloadSchema::Float => 3,
            PayloadSchema::Bool => 4,
            PayloadSchema::Uuid => 5,
            PayloadSchema::Datetime => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl std::fmt::Display for PayloadSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
            multivector: None,
            vectors: BTreeMap::new(),
            payload_indexes: BTreeMap::new(),
            search_defaults: SearchDefaults::default(),
        }
    }

    /// Sets the default vector's search defaults.
    #[must_use]
    pub fn with_search_defaults(mut self, defaults: SearchDefaults) -> Self {
        self.search_defaults = defaults;
        self
    }

    /// Makes the default vector a multivector compared with `MaxSim`.
    #[must_use]
    pub fn with_multivector(mut self) -> Self {
        self.multivector = Some(MultiVectorConfig::default());
        self
    }

    /// Declares a named vector (replacing one of the same name).
    #[must_use]
    pub fn with_vector(mut self, name: impl Into<String>, params: VectorParams) -> Self {
        self.vectors.insert(name.into(), params);
        self
    }

    /// The default vector's parameters.
    #[must_use]
    pub fn default_vector(&self) -> VectorParams {
        VectorParams {
            dim: self.dim,
            distance: self.distance,
            datatype: self.datatype,
            quantization: self.quantization,
            multivector: self.multivector,
            search_defaults: self.search_defaults,
        }
    }

    /// True when every point holds just one dense vector (the layout of every collection
    /// before named vectors and multivectors): segments keep format version 1.
    pub(crate) fn is_single_dense(&self) -> bool {
        self.multivector.is_none() && self.vectors.is_empty()
    }

    /// The default vector, then the named ones in name order.
    pub(crate) fn slots(&self) -> Vec<VectorSlot> {
        std::iter::once(VectorSlot {
            name: String::new(),
            params: self.default_vector(),
        })
        .chain(self.vectors.iter().map(|(name, params)| VectorSlot {
            name: name.clone(),
            params: *params,
        }))
        .collect()
    }

    /// The slot of the vector called `name` (`""`: the default one).
    pub(crate) fn slot_of(&self, name: &str) -> Result<usize> {
        if name.is_empty() {
            return Ok(0);
        }
        match self.vectors.keys().position(|k| k == name) {
            Some(i) => Ok(i + 1),
            None => Err(Error::UnknownVector {
                name: name.to_string(),
                known: self.vectors.keys().cloned().collect(),
            }),
        }
    }

    /// This config with the default vector replaced by slot `slot`'s parameters: what the
    /// single-vector machinery (validation, quantizers, builds) reads for that vector.
    pub(crate) fn for_slot(&self, slot: &VectorSlot) -> CollectionConfig {
        let p = slot.params;
        CollectionConfig {
            dim: p.dim,
            distance: p.distance,
            datatype: p.datatype,
            quantization: p.quantization,
            multivector: p.multivector,
            search_defaults: p.search_defaults,
            vectors: BTreeMap::new(),
            ..self.clone()
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

    /// Checks every field; the message names the field (and the vector) and its valid range.
    pub fn validate(&self) -> Result<()> {
        if self.vectors.len() > MAX_NAMED_VECTORS {
            return Err(Error::InvalidArgument(format!(
                "{} named vectors are declared; at most {MAX_NAMED_VECTORS} are allowed",
                self.vectors.len()
            )));
        }
        if self.vectors.contains_key("") {
            return Err(Error::InvalidArgument(
                "a named vector needs a non-empty name (\"\" is the default vector)".into(),
            ));
        }
        for slot in self.slots() {
            slot.params.validate(&slot.name)?;
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
        if self.payload_indexes.len() > MAX_PAYLOAD_INDEXES {
            return Err(Error::InvalidArgument(format!(
                "{} payload indexes are declared; at most {MAX_PAYLOAD_INDEXES} are allowed",
                self.payload_indexes.len()
            )));
        }
        for key in self.payload_indexes.keys() {
            crate::filter::check_index_key(key)?;
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
    /// `None` means the vector's stored default ([`SearchDefaults`]), else
    /// [`ADAPTIVE_OVERSAMPLING`] for an adaptive search, else the quantization's
    /// [`default_oversampling`](Quantization::default_oversampling) (1 for scalar codes,
    /// 2–8 for binary ones).
    pub oversampling: Option<f32>,
    /// Rescore candidates with the originals. `None` means the vector's stored default
    /// ([`SearchDefaults`]), else the quantization's: on for binary, off for scalar.
    pub rescore: Option<bool>,
    /// Scan the originals of every point (exact results, slowest).
    pub exact: bool,
    /// Skip the quantized codes and scan the originals.
    pub ignore_quantization: bool,
    /// Return each hit's payload.
    pub with_payload: bool,
    /// Return each hit's searched vector (Qdrant's `with_vector`).
    pub with_vector: bool,
    /// Rescore candidates nearest-bound first and stop once the codes' error bound says no
    /// candidate left can enter the top `limit` (RaBitQ's re-ranking). Applies to rotated
    /// binary codes (`rotated_one_bit`, `rotated_two_bits`), whose estimates carry a bound;
    /// other codes rescore every candidate. The candidate pool is `limit × oversampling`,
    /// [`ADAPTIVE_OVERSAMPLING`] when `oversampling` is `None`. Needs rescoring.
    pub adaptive: bool,
    /// Scalar int8 codes of a single dense vector under Cosine or Dot: rank the rows of
    /// each sealed segment first by the 1-bit sign sketch of their codes (Hamming distance
    /// to the query's signs) and scan only this fraction of them (at least the candidates)
    /// with the int8 codes. A cascade, as binary quantization with rescoring is one: the
    /// int8 scan no longer sees every row, so a row the sketches rank too far down is
    /// missed. `None` (the default, Qdrant's behaviour): every row's int8 code is scanned.
    /// A segment makes its sketches on the first such search and keeps them in RAM (an
    /// eighth of its int8 codes; `CollectionInfo::ram`). Live segments are scanned whole.
    pub sketch_pool: Option<f32>,
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

    /// Rescores until the error bound settles the top `limit` (see [`Self::adaptive`]).
    #[must_use]
    pub fn with_adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// Scans with int8 codes only this fraction (`0 < fraction ≤ 1`) of each sealed
    /// segment's rows, the nearest by the codes' sign sketches (see [`Self::sketch_pool`]).
    ///
    /// ```
    /// # fn main() -> vecsieve::Result<()> {
    /// use vecsieve::{Collection, CollectionConfig, Distance, Point, Quantization, ScalarConfig,
    ///                SearchParams};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let config = CollectionConfig::new(2, Distance::Cosine)
    ///     .with_quantization(Quantization::Scalar(ScalarConfig::default()));
    /// let c = Collection::create(tmp.path().join("c"), config)?;
    /// c.upsert(&(0..100u64).map(|i| Point::new(i, vec![1.0, i as f32 / 10.0])).collect::<Vec<_>>())?;
    /// c.close()?;
    /// let c = Collection::open(tmp.path().join("c"))?;
    /// // Sealed: a tenth of the rows by their sketches, then int8, then the originals.
    /// let params = SearchParams::default().with_sketch_pool(0.1).with_oversampling(2.0).with_rescore(true);
    /// let hits = c.search(&[1.0, 0.0], 3, &params)?;
    /// assert_eq!(hits[0].id, 0.into());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_sketch_pool(mut self, fraction: f32) -> Self {
        self.sketch_pool = Some(fraction);
        self
    }

    /// Returns payloads with the hits.
    #[must_use]
    pub fn with_payload(mut self, with_payload: bool) -> Self {
        self.with_payload = with_payload;
        self
    }

    /// Returns the searched vector with the hits, as stored.
    #[must_use]
    pub fn with_vector(mut self, with_vector: bool) -> Self {
        self.with_vector = with_vector;
        self
    }
}
