//! The collection directory (format-spec/directory.md): every file name, `config.json`,
//! opening the segments and sidecars the MANIFEST names, and the garbage an interrupted
//! write leaves.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::CollectionConfig;
use crate::error::{Error, Result};
use crate::io::Fs;
use crate::io::Vfs;
use crate::io::write_atomic;
use crate::manifest::{Manifest, SegmentEntry};
use crate::segment::immutable::ImmutableSegment;
use crate::segment::{Bitmap, deletes};

pub(crate) const CONFIG_FILE: &str = "config.json";
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
pub(crate) const WAL_DIR: &str = "wal";
pub(crate) const SEGMENTS_DIR: &str = "segments";

pub(crate) fn segment_file(id: u64) -> String {
    format!("{id:016x}.seg")
}

pub(crate) fn sidecar_file(id: u64, generation: u64) -> String {
    format!("{id:016x}-{generation:016x}.del")
}

/// `config.json`: the collection's config plus the version of this file's schema.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    format_version: u16,
    config: CollectionConfig,
}

/// Reads and validates `dir/config.json`.
pub(crate) fn read_config(vfs: &dyn Vfs, dir: &Path) -> Result<CollectionConfig> {
    let config_path = dir.join(CONFIG_FILE);
    let bytes = vfs.read_file(&config_path)?;
    let invalid = |message: String| Error::InvalidConfig {
        path: config_path.clone(),
        message,
    };
    let file: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if file.format_version != 1 {
        return Err(invalid(format!(
            "format_version {} is not supported (this build reads 1)",
            file.format_version
        )));
    }
    let config = file.config;
    config.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(config)
}

/// Opens the segment file of a manifest entry and checks it against the entry (id, rows)
/// and the collection (dim, distance, datatype).
pub(crate) fn open_named_segment(
    vfs: &dyn Vfs,
    seg_dir: &Path,
    entry: &SegmentEntry,
    config: &CollectionConfig,
) -> Result<ImmutableSegment> {
    let path = seg_dir.join(segment_file(entry.id));
    let seg = ImmutableSegment::open(vfs, &path)?;
    let l = seg.layout();
    let mismatch =
        |what: &str| Error::corrupted(&path, 0, format!("{what} differs from the collection's"));
    if l.header.segment_id != entry.id || l.header.rows as u64 != entry.rows {
        return Err(mismatch("segment id or row count (per MANIFEST)"));
    }
    if l.header.dim != config.dim
        || l.header.distance != config.distance
        || l.header.datatype != config.datatype
    {
        return Err(mismatch("dim, distance or datatype"));
    }
    // A single-vector collection holds version 1 segments (or, with payload indexes,
    // version 3 ones with its one slot), one with named vectors or multivectors segments
    // of version 2 or 3 with the same vectors in the same slots.
    let slots = config.slots();
    let same_slots = (l.has_slots() || config.is_single_dense())
        && l.slots.len() == slots.len()
        && l.slots.iter().zip(&slots).all(|(a, b)| {
            a.name == b.name
                && a.dim == b.params.dim
                && a.distance == b.params.distance
                && a.datatype == b.params.datatype
                && a.multi == b.is_multi()
        });
    if !same_slots {
        return Err(mismatch(
            "set of vectors (names, dims, distances, datatypes, kinds)",
        ));
    }
    Ok(seg)
}

/// The deletion bitmap of a manifest entry (from its sidecar, or empty) over `rows`, the
/// row count of its opened segment (bounded by that file's size, never by a field alone).
pub(crate) fn read_deletions(
    vfs: &dyn Vfs,
    seg_dir: &Path,
    entry: &SegmentEntry,
    rows: usize,
) -> Result<Bitmap> {
    if entry.del_gen == 0 {
        return Ok(Bitmap::with_len(rows));
    }
    let p = seg_dir.join(sidecar_file(entry.id, entry.del_gen));
    let bytes = vfs.read_file(&p)?;
    let words = deletes::decode(&bytes, entry.id, rows).map_err(|e| e.in_file(&p))?;
    Bitmap::from_words(words, rows)
        .ok_or_else(|| Error::corrupted(&p, 32, "bits set past the segment's rows"))
}

/// Removes files the manifest does not name: interrupted segment and sidecar writes,
/// superseded sidecars, temporary files.
pub(super) fn collect_garbage(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut keep: Vec<String> = Vec::new();
    for s in &manifest.segments {
        keep.push(segment_file(s.id));
        if s.del_gen > 0 {
            keep.push(sidecar_file(s.id, s.del_gen));
        }
    }
    let mut removed = false;
    for name in vfs.list_dir(&seg_dir)? {
        if !keep.contains(&name) {
            let p = seg_dir.join(&name);
            vfs.remove_file(&p)?;
            removed = true;
        }
    }
    if removed {
        vfs.sync_directory(&seg_dir)?;
    }
    let names = vfs.list_dir(dir)?;
    for tmp in ["MANIFEST.tmp", "config.json.tmp"] {
        if names.iter().any(|n| n == tmp) {
            let p = dir.join(tmp);
            vfs.remove_file(&p)?;
        }
    }
    Ok(())
}

/// Replaces `dir/config.json` atomically with `config` [DIR-2].
pub(crate) fn write_config(vfs: &dyn Vfs, dir: &Path, config: CollectionConfig) -> Result<()> {
    let file = ConfigFile {
        format_version: 1,
        config,
    };
    let json = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::InvalidArgument(format!("config cannot be serialized: {e}")))?;
    write_atomic(vfs, dir, CONFIG_FILE, &json)
}
