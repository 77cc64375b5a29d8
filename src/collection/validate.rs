//! Point and query validation, and the stored form of a vector (normalized for Cosine,
//! rounded for F16, whole numbers for U8).

use crate::config::{CollectionConfig, Datatype, Distance, MAX_PAYLOAD_BYTES};
use crate::error::{BatchPoint, Error, InvalidVector, Result, VectorProblem};
use crate::point::Point;

/// A vector that fails a check, before the point it belongs to is known.
enum Invalid {
    Dimension { expected: usize, got: usize },
    Vector(VectorProblem),
}

impl Invalid {
    fn into_error(self, point: Option<BatchPoint>) -> Error {
        match self {
            Invalid::Dimension { expected, got } => Error::DimensionMismatch {
                expected,
                got,
                point,
            },
            Invalid::Vector(reason) => Error::InvalidVector(InvalidVector { point, reason }),
        }
    }
}

/// A point's vector in stored form, after every check of `upsert`; errors name `point`
/// (its place in a batch) when given.
pub(super) fn stored_point(
    config: &CollectionConfig,
    point: Option<BatchPoint>,
    p: &Point,
) -> Result<Vec<u8>> {
    let bytes = stored_vector(config, &p.vector).map_err(|e| e.into_error(point))?;
    if let Some(payload) = &p.payload
        && payload.len() > MAX_PAYLOAD_BYTES
    {
        return Err(Error::InvalidArgument(format!(
            "{}payload is {} bytes, the maximum is {MAX_PAYLOAD_BYTES}",
            BatchPoint::prefix(point.as_ref()),
            payload.len()
        )));
    }
    Ok(bytes)
}

fn check_components(config: &CollectionConfig, v: &[f32]) -> Result<(), Invalid> {
    if v.len() != config.dim {
        return Err(Invalid::Dimension {
            expected: config.dim,
            got: v.len(),
        });
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(component) => Err(Invalid::Vector(VectorProblem::NotFinite {
            component,
            value: v[component],
        })),
        None => Ok(()),
    }
}

fn normalized(v: &[f32]) -> Result<Vec<f32>, Invalid> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Invalid::Vector(VectorProblem::ZeroWithCosine));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// Validates a vector and converts it to its stored bytes.
fn stored_vector(config: &CollectionConfig, v: &[f32]) -> Result<Vec<u8>, Invalid> {
    check_components(config, v)?;
    let owned;
    let v = if config.distance == Distance::Cosine {
        owned = normalized(v)?;
        &owned
    } else {
        v
    };
    Ok(match config.datatype {
        Datatype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Datatype::F16 => {
            let mut out = Vec::with_capacity(v.len() * 2);
            for (i, &x) in v.iter().enumerate() {
                let h = half::f16::from_f32(x);
                if !h.is_finite() {
                    return Err(Invalid::Vector(VectorProblem::BeyondF16 {
                        component: i,
                        value: x,
                    }));
                }
                out.extend_from_slice(&h.to_bits().to_le_bytes());
            }
            out
        }
        Datatype::U8 => {
            let mut out = Vec::with_capacity(v.len());
            for (i, &x) in v.iter().enumerate() {
                if !(0.0..=255.0).contains(&x) || x.fract() != 0.0 {
                    return Err(Invalid::Vector(VectorProblem::NotU8 {
                        component: i,
                        value: x,
                    }));
                }
                out.push(x as u8);
            }
            out
        }
    })
}

/// Validates a query and normalizes it for Cosine.
pub(super) fn query_vector(config: &CollectionConfig, v: &[f32]) -> Result<Vec<f32>> {
    check_components(config, v).map_err(|e| e.into_error(None))?;
    if config.distance == Distance::Cosine {
        normalized(v).map_err(|e| e.into_error(None))
    } else {
        Ok(v.to_vec())
    }
}
