//! Point and query validation, and the stored form of a vector (normalized for Cosine,
//! rounded for F16, whole numbers for U8).

use crate::config::{CollectionConfig, Datatype, Distance, MAX_PAYLOAD_BYTES};
use crate::error::{Error, Result};
use crate::point::{Point, PointId};

pub(super) fn in_point(e: Error, index: usize, id: PointId) -> Error {
    match e {
        Error::InvalidVector(m) => Error::InvalidVector(format!("point {index} (id {id}): {m}")),
        Error::InvalidArgument(m) => {
            Error::InvalidArgument(format!("point {index} (id {id}): {m}"))
        }
        other => other,
    }
}

/// A point's vector in stored form, after every check of `upsert`.
pub(super) fn stored_point(config: &CollectionConfig, p: &Point) -> Result<Vec<u8>> {
    let bytes = stored_vector(config, &p.vector)?;
    if let Some(payload) = &p.payload
        && payload.len() > MAX_PAYLOAD_BYTES
    {
        return Err(Error::InvalidArgument(format!(
            "payload is {} bytes, the maximum is {MAX_PAYLOAD_BYTES}",
            payload.len()
        )));
    }
    Ok(bytes)
}

fn check_components(config: &CollectionConfig, v: &[f32]) -> Result<()> {
    if v.len() != config.dim {
        return Err(Error::DimensionMismatch {
            expected: config.dim,
            got: v.len(),
        });
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidVector(format!(
            "component {i} is {}; every component must be finite",
            v[i]
        )));
    }
    Ok(())
}

fn normalized(v: &[f32]) -> Result<Vec<f32>> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::InvalidVector(
            "a zero vector has no direction, so it cannot be used with Cosine".into(),
        ));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// Validates a vector and converts it to its stored bytes.
fn stored_vector(config: &CollectionConfig, v: &[f32]) -> Result<Vec<u8>> {
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
                    return Err(Error::InvalidVector(format!(
                        "component {i} is {x}, beyond the F16 range (±65504); use F32"
                    )));
                }
                out.extend_from_slice(&h.to_bits().to_le_bytes());
            }
            out
        }
        Datatype::U8 => {
            let mut out = Vec::with_capacity(v.len());
            for (i, &x) in v.iter().enumerate() {
                if !(0.0..=255.0).contains(&x) || x.fract() != 0.0 {
                    return Err(Error::InvalidVector(format!(
                        "component {i} is {x}; U8 collections take whole numbers in 0..=255"
                    )));
                }
                out.push(x as u8);
            }
            out
        }
    })
}

/// Validates a query and normalizes it for Cosine.
pub(super) fn query_vector(config: &CollectionConfig, v: &[f32]) -> Result<Vec<f32>> {
    check_components(config, v)?;
    if config.distance == Distance::Cosine {
        normalized(v)
    } else {
        Ok(v.to_vec())
    }
}
