//! Points, their ids, their vectors, and search hits.

use std::collections::BTreeMap;
use std::fmt;

/// A point's id: a `u64` or a UUID (as its 128-bit value).
///
/// Ids order numbers before UUIDs, then by value; search ties are broken by this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PointId {
    /// A numeric id.
    Num(u64),
    /// A UUID, as the big-endian reading of its 16 bytes.
    Uuid(u128),
}

impl PointId {
    pub(crate) fn kind_code(self) -> u8 {
        match self {
            PointId::Num(_) => 0,
            PointId::Uuid(_) => 1,
        }
    }

    pub(crate) fn value(self) -> u128 {
        match self {
            PointId::Num(v) => u128::from(v),
            PointId::Uuid(v) => v,
        }
    }

    /// Rebuilds an id from its on-disk kind code and value; `None` for an unknown kind or a
    /// numeric id that does not fit in `u64`.
    pub(crate) fn from_parts(kind: u8, value: u128) -> Option<Self> {
        match kind {
            0 => u64::try_from(value).ok().map(PointId::Num),
            1 => Some(PointId::Uuid(value)),
            _ => None,
        }
    }
}

impl PointId {
    /// The UUID id whose 128-bit value is `value` (the big-endian reading of its 16
    /// bytes). A `From<u128>` would make every integer literal id ambiguous, so this is a
    /// constructor.
    ///
    /// ```
    /// use vecsieve::PointId;
    /// let id = PointId::uuid(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
    /// assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
    /// assert_eq!(id, "67e55044-10b1-426f-9247-bb680e5fe0c8".parse()?);
    /// assert_eq!(id, PointId::from(id.uuid_bytes().unwrap()));
    /// assert_eq!(id.as_uuid(), Some(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8));
    /// assert_eq!(PointId::from(7).as_num(), Some(7));
    /// # Ok::<(), vecsieve::Error>(())
    /// ```
    #[must_use]
    pub const fn uuid(value: u128) -> Self {
        PointId::Uuid(value)
    }

    /// The numeric id, for a `Num`.
    #[must_use]
    pub const fn as_num(self) -> Option<u64> {
        match self {
            PointId::Num(v) => Some(v),
            PointId::Uuid(_) => None,
        }
    }

    /// The UUID's 128-bit value, for a `Uuid`.
    #[must_use]
    pub const fn as_uuid(self) -> Option<u128> {
        match self {
            PointId::Num(_) => None,
            PointId::Uuid(v) => Some(v),
        }
    }

    /// The UUID's 16 bytes in their usual (RFC 9562, big-endian) order, for a `Uuid`.
    #[must_use]
    #[expect(
        clippy::big_endian_bytes,
        reason = "RFC 9562 orders a UUID's bytes most significant first"
    )]
    pub const fn uuid_bytes(self) -> Option<[u8; 16]> {
        match self {
            PointId::Num(_) => None,
            PointId::Uuid(v) => Some(v.to_be_bytes()),
        }
    }
}

impl From<u64> for PointId {
    fn from(v: u64) -> Self {
        PointId::Num(v)
    }
}

impl From<&PointId> for PointId {
    fn from(id: &PointId) -> Self {
        *id
    }
}

/// A UUID from its 16 bytes in their usual (RFC 9562, big-endian) order, as the `uuid`
/// crate's `Uuid::as_bytes` gives them.
impl From<[u8; 16]> for PointId {
    #[expect(
        clippy::big_endian_bytes,
        reason = "RFC 9562 orders a UUID's bytes most significant first"
    )]
    fn from(bytes: [u8; 16]) -> Self {
        PointId::Uuid(u128::from_be_bytes(bytes))
    }
}

impl TryFrom<&str> for PointId {
    type Error = crate::Error;

    /// As [`str::parse`]: a decimal `u64` or a hyphenated UUID.
    fn try_from(s: &str) -> crate::Result<Self> {
        s.parse()
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PointId::Num(v) => write!(f, "{v}"),
            PointId::Uuid(v) => {
                let h = format!("{v:032x}");
                write!(
                    f,
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
        }
    }
}

impl std::str::FromStr for PointId {
    type Err = crate::Error;

    /// A decimal `u64`, or a UUID in its 36-character hyphenated form (as `Display` writes).
    fn from_str(s: &str) -> crate::Result<Self> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        let groups: Vec<usize> = s.split('-').map(str::len).collect();
        if groups == [8, 4, 4, 4, 12]
            && hex.len() == 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(v) = u128::from_str_radix(&hex, 16)
        {
            return Ok(PointId::Uuid(v));
        }
        Err(crate::Error::InvalidArgument(format!(
            "point id {s:?} is neither a non-negative integer below 2^64 nor a UUID \
             (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )))
    }
}

/// One vector of a point or a query: a dense vector, or a multivector (Qdrant's
/// `[[...], [...]]`) of vectors of the same dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    /// One vector.
    Dense(Vec<f32>),
    /// `1..=MAX_MULTIVECTOR_LEN` vectors, compared by the vector's comparator (`MaxSim`).
    Multi(Vec<Vec<f32>>),
}

impl From<Vec<f32>> for Vector {
    fn from(v: Vec<f32>) -> Self {
        Vector::Dense(v)
    }
}

impl From<Vec<Vec<f32>>> for Vector {
    fn from(v: Vec<Vec<f32>>) -> Self {
        Vector::Multi(v)
    }
}

/// A borrowed [`Vector`]: what a search takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VectorRef<'a> {
    /// One vector.
    Dense(&'a [f32]),
    /// A multivector.
    Multi(&'a [Vec<f32>]),
}

impl<'a> From<&'a Vector> for VectorRef<'a> {
    fn from(v: &'a Vector) -> Self {
        match v {
            Vector::Dense(d) => VectorRef::Dense(d),
            Vector::Multi(m) => VectorRef::Multi(m),
        }
    }
}

impl<'a> From<&'a [f32]> for VectorRef<'a> {
    fn from(v: &'a [f32]) -> Self {
        VectorRef::Dense(v)
    }
}

impl<'a, const N: usize> From<&'a [f32; N]> for VectorRef<'a> {
    fn from(v: &'a [f32; N]) -> Self {
        VectorRef::Dense(v)
    }
}

impl<'a> From<&'a Vec<f32>> for VectorRef<'a> {
    fn from(v: &'a Vec<f32>) -> Self {
        VectorRef::Dense(v)
    }
}

impl<'a> From<&'a [Vec<f32>]> for VectorRef<'a> {
    fn from(v: &'a [Vec<f32>]) -> Self {
        VectorRef::Multi(v)
    }
}

impl<'a> From<&'a Vec<Vec<f32>>> for VectorRef<'a> {
    fn from(v: &'a Vec<Vec<f32>>) -> Self {
        VectorRef::Multi(v)
    }
}

/// A point: an id, its vectors, and optional payload bytes.
///
/// The default vector, when dense, is `vector`; named vectors, and the default vector when
/// the collection declares it a multivector, are in `vectors` (the default one under the
/// name `""`). In a collection with named vectors every vector is optional, so a point may
/// carry any of them (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The id. Upserting an existing id replaces the point.
    pub id: PointId,
    /// The default dense vector (empty when the point has none). `get` returns it as
    /// stored: normalized for Cosine, rounded for F16.
    pub vector: Vec<f32>,
    /// Named vectors, and a default multivector under `""`.
    pub vectors: BTreeMap<String, Vector>,
    /// Opaque bytes stored with the point (JSON is a common choice).
    pub payload: Option<Vec<u8>>,
}

impl Point {
    /// A point with a default dense vector and no payload.
    pub fn new(id: impl Into<PointId>, vector: Vec<f32>) -> Self {
        Point {
            id: id.into(),
            vector,
            vectors: BTreeMap::new(),
            payload: None,
        }
    }

    /// A point with a default multivector (the collection's default vector must be one).
    pub fn new_multi(id: impl Into<PointId>, vectors: Vec<Vec<f32>>) -> Self {
        Point::without_vectors(id).with_vector("", vectors)
    }

    /// A point with no vector yet: add named ones with [`with_vector`](Self::with_vector).
    pub fn without_vectors(id: impl Into<PointId>) -> Self {
        Point::new(id, Vec::new())
    }

    /// Adds (or replaces) the vector called `name` (`""`: a default multivector).
    #[must_use]
    pub fn with_vector(mut self, name: impl Into<String>, vector: impl Into<Vector>) -> Self {
        self.vectors.insert(name.into(), vector.into());
        self
    }

    /// Attaches payload bytes.
    #[must_use]
    pub fn with_payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = Some(payload);
        self
    }

    /// The vector called `name` (`""`: the default vector, dense or multi), if the point
    /// has it.
    #[must_use]
    pub fn get_vector(&self, name: &str) -> Option<VectorRef<'_>> {
        if name.is_empty() && !self.vector.is_empty() {
            return Some(VectorRef::Dense(&self.vector));
        }
        self.vectors.get(name).map(VectorRef::from)
    }
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: PointId,
    /// Similarity (Cosine, Dot: higher first) or distance (Euclid, Manhattan: lower first).
    pub score: f32,
    /// The payload, when `SearchParams::with_payload` asked for it.
    pub payload: Option<Vec<u8>>,
    /// The searched vector as stored (normalized for Cosine, rounded for F16), when
    /// `SearchParams::with_vector` asked for it.
    pub vector: Option<Vector>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_what_display_writes() {
        for id in [
            PointId::Num(0),
            PointId::Num(u64::MAX),
            PointId::Uuid(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8),
            PointId::Uuid(1),
        ] {
            assert_eq!(id.to_string().parse::<PointId>().unwrap(), id);
        }
        for bad in [
            "-1",
            "18446744073709551616",
            "abc",
            "67e55044-10b1-426f-9247",
            "+7e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            "",
        ] {
            assert!(bad.parse::<PointId>().is_err(), "{bad}");
        }
        // Upper-case hex is the same UUID.
        assert_eq!(
            "67E55044-10B1-426F-9247-BB680E5FE0C8"
                .parse::<PointId>()
                .unwrap(),
            PointId::uuid(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8)
        );
    }

    #[test]
    fn uuid_bytes_are_big_endian_and_round_trip() {
        let mut bytes = [0u8; 16];
        bytes[0] = 0x67;
        bytes[15] = 0xc8;
        let id = PointId::from(bytes);
        assert_eq!(id.to_string(), "67000000-0000-0000-0000-0000000000c8");
        assert_eq!(id.uuid_bytes(), Some(bytes));
        assert_eq!(PointId::try_from(id.to_string().as_str()).unwrap(), id);
        assert_eq!(PointId::from(5).uuid_bytes(), None);
        assert_eq!(PointId::from(&id), id);
    }
}
