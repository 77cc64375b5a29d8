//! Point and query validation, and the stored form of a vector (normalized for Cosine,
//! rounded for F16, whole numbers for U8).

use crate::config::{
    CollectionConfig, Datatype, Distance, MAX_MULTIVECTOR_LEN, MAX_PAYLOAD_BYTES, VectorParams,
    VectorSlot,
};
use crate::error::{BatchPoint, Error, InvalidVector, Result, VectorAt, VectorProblem};
use crate::point::{Point, VectorRef};

/// A vector that fails a check, before the point it belongs to is known.
enum Invalid {
    Dimension { expected: usize, got: usize },
    Vector(VectorProblem),
}

impl Invalid {
    fn into_error(self, point: Option<BatchPoint>, vector: Option<Box<VectorAt>>) -> Error {
        match self {
            Invalid::Dimension { expected, got } => Error::DimensionMismatch {
                expected,
                got,
                point,
                vector,
            },
            Invalid::Vector(reason) => Error::InvalidVector(InvalidVector {
                point,
                vector,
                reason,
            }),
        }
    }
}

/// A point's vectors in stored form, one entry per vector slot of the collection (empty:
/// the point has no such vector; a multivector's vectors back to back), after every check
/// of `upsert`; errors name `point` (its place in a batch) when given.
pub(super) fn stored_point(
    config: &CollectionConfig,
    point: Option<BatchPoint>,
    p: &Point,
) -> Result<Vec<Vec<u8>>> {
    if let Some(payload) = &p.payload
        && payload.len() > MAX_PAYLOAD_BYTES
    {
        return Err(Error::InvalidArgument(format!(
            "{}payload is {} bytes, the maximum is {MAX_PAYLOAD_BYTES}",
            BatchPoint::prefix(point.as_ref()),
            payload.len()
        )));
    }
    let slots = config.slots();
    let mut out = vec![Vec::new(); slots.len()];
    // The default vector may be given as `vector` or under "" in `vectors`, not both.
    if !p.vector.is_empty() && p.vectors.contains_key("") {
        return Err(Error::InvalidArgument(format!(
            "{}the default vector is given twice (in `vector` and under \"\" in `vectors`)",
            BatchPoint::prefix(point.as_ref())
        )));
    }
    let default = match p.vectors.get("") {
        Some(v) => Some(VectorRef::from(v)),
        None => (!p.vector.is_empty()).then_some(VectorRef::Dense(&p.vector)),
    };
    if config.is_single_dense() {
        // No named vector is declared, so any name is unknown.
        if let Some(name) = p.vectors.keys().find(|k| !k.is_empty()) {
            return Err(Error::UnknownVector {
                name: name.clone(),
                known: Vec::new(),
            });
        }
        let v = match default {
            Some(VectorRef::Dense(d)) => d,
            Some(VectorRef::Multi(_)) => {
                return Err(Invalid::Vector(VectorProblem::ExpectedDense)
                    .into_error(point, at(&slots[0], None)));
            }
            None => &[],
        };
        out[0] =
            stored_vector(config.default_vector(), v).map_err(|e| e.into_error(point, None))?;
        return Ok(out);
    }
    let mut given = 0;
    if let Some(v) = default {
        out[0] = stored(&slots[0], point, v)?;
        given += 1;
    }
    for (name, v) in p.vectors.iter().filter(|(k, _)| !k.is_empty()) {
        let s = config.slot_of(name)?;
        out[s] = stored(&slots[s], point, v.into())?;
        given += 1;
    }
    if given == 0 {
        return Err(Error::InvalidVector(InvalidVector {
            point,
            vector: None,
            reason: VectorProblem::NoVectors,
        }));
    }
    Ok(out)
}

/// Where in a point an error is: `None` for the default dense vector (as before named
/// vectors existed).
fn at(slot: &VectorSlot, sub_vector: Option<usize>) -> Option<Box<VectorAt>> {
    (!slot.name.is_empty() || slot.is_multi()).then(|| {
        Box::new(VectorAt {
            name: slot.name.clone(),
            sub_vector,
        })
    })
}

/// Checks the kind (dense or multi), size and every component of `v` given for `slot`.
fn check_shape<'v>(
    slot: &VectorSlot,
    point: Option<BatchPoint>,
    v: VectorRef<'v>,
) -> Result<Vec<&'v [f32]>> {
    let shape_error = |problem| Invalid::Vector(problem).into_error(point, at(slot, None));
    match (slot.is_multi(), v) {
        (false, VectorRef::Dense(d)) => Ok(vec![d]),
        (true, VectorRef::Multi([])) => Err(shape_error(VectorProblem::EmptyMultivector)),
        (true, VectorRef::Multi(m)) if m.len() > MAX_MULTIVECTOR_LEN => {
            Err(shape_error(VectorProblem::TooManyVectors {
                count: m.len(),
                max: MAX_MULTIVECTOR_LEN,
            }))
        }
        (true, VectorRef::Multi(m)) => Ok(m.iter().map(Vec::as_slice).collect()),
        (true, VectorRef::Dense(_)) => Err(shape_error(VectorProblem::ExpectedMultivector)),
        (false, VectorRef::Multi(_)) => Err(shape_error(VectorProblem::ExpectedDense)),
    }
}

/// The stored bytes of `v` given for `slot`.
fn stored(slot: &VectorSlot, point: Option<BatchPoint>, v: VectorRef<'_>) -> Result<Vec<u8>> {
    let parts = check_shape(slot, point, v)?;
    let multi = slot.is_multi();
    let mut out = Vec::new();
    for (i, d) in parts.iter().enumerate() {
        let bytes = stored_vector(slot.params, d)
            .map_err(|e| e.into_error(point, at(slot, multi.then_some(i))))?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn check_components(params: VectorParams, v: &[f32]) -> Result<(), Invalid> {
    if v.len() != params.dim {
        return Err(Invalid::Dimension {
            expected: params.dim,
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
fn stored_vector(params: VectorParams, v: &[f32]) -> Result<Vec<u8>, Invalid> {
    check_components(params, v)?;
    let owned;
    let v = if params.distance == Distance::Cosine {
        owned = normalized(v)?;
        &owned
    } else {
        v
    };
    Ok(match params.datatype {
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

fn query_part(params: VectorParams, v: &[f32]) -> Result<Vec<f32>, Invalid> {
    check_components(params, v)?;
    if params.distance == Distance::Cosine {
        normalized(v)
    } else {
        Ok(v.to_vec())
    }
}

/// Validates a query for `slot` (dense, or a multivector for a multivector slot), each
/// vector normalized for Cosine.
pub(super) fn query_vectors(slot: &VectorSlot, v: VectorRef<'_>) -> Result<Vec<Vec<f32>>> {
    let parts = check_shape(slot, None, v)?;
    let multi = slot.is_multi();
    parts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            query_part(slot.params, d).map_err(|e| e.into_error(None, at(slot, multi.then_some(i))))
        })
        .collect()
}
