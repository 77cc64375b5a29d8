//! The `vecsieve` command line: create, import, search, inspect, verify, optimize and
//! advise on collections, and the benchmarks behind the README.

mod bench;
mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use bench::{BenchArgs, DistanceArg, QuantArg};

#[derive(Parser)]
#[command(
    name = "vecsieve",
    version,
    about = "vecsieve: an embedded vector store. Look inside a collection, load data into it, \
             search it, check it, and find the cheapest quantization that keeps your recall.",
    after_help = "A collection is a directory. Start with `vecsieve create DIR --dim 384 \
                  --distance cosine`, then `vecsieve import DIR vectors.fvecs` and \
                  `vecsieve advise DIR`. Every command takes --json for machine output."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum DatatypeArg {
    F32,
    F16,
    U8,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Fvecs,
    Npy,
    Jsonl,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty collection in DIR (created if missing; it must be empty).
    Create {
        /// The collection directory.
        dir: PathBuf,
        /// Components per vector.
        #[arg(long)]
        dim: usize,
        /// How vectors are compared.
        #[arg(long, value_enum)]
        distance: DistanceArg,
        /// How originals are stored on disk (f16 halves the disk and rescoring I/O).
        #[arg(long, value_enum, default_value = "f32")]
        datatype: DatatypeArg,
        /// Codes scanned by searches (see `vecsieve advise` to choose) [default: rabitq1;
        /// binary1 for manhattan and multivectors].
        #[arg(long, value_enum)]
        quantization: Option<QuantArg>,
        /// Clip scalar8 ranges to this central fraction of the values (0.5..=1).
        #[arg(long)]
        scalar_quantile: Option<f32>,
        /// Oversampling every search uses unless it gives its own (stored in the config;
        /// default: the codes' built-in one, e.g. 4 for rabitq1, 8 for binary1).
        #[arg(long)]
        oversampling: Option<f32>,
        /// Whether searches rescore candidates with the originals unless they say (stored;
        /// default: on for binary codes, off for scalar8).
        #[arg(long)]
        rescore: Option<bool>,
        /// Make the default vector a multivector (ColBERT/ColPali), scored with MaxSim.
        #[arg(long)]
        multivector: bool,
        /// Multivectors: scan the codes of only this fraction of the points, chosen by
        /// their mean-pooled score (0 < F ≤ 1; Cosine and Dot).
        #[arg(long, value_name = "F")]
        pooled_prefilter: Option<f32>,
        /// Declare a named vector, e.g. `name=colbert,dim=128,distance=dot,datatype=f16,
        /// quantization=scalar8,multivector` (keys: name, dim, distance; optional datatype,
        /// quantization, scalar-quantile, multivector, pooled-prefilter). Repeatable.
        #[arg(long = "vector", value_name = "SPEC")]
        vectors: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Load points from a .fvecs, .npy (2-D float32/float16) or JSONL file, in batches.
    ///
    /// JSONL lines are objects {"id": 7 or "<uuid>", "vector": ..., "payload": {...}}
    /// (payload optional, stored as JSON bytes), where "vector" is [..] (the default
    /// vector), [[..], [..]] (a default multivector) or {"name": [..] or [[..], ..]} (named
    /// vectors), as Qdrant writes them. Rows of .fvecs and .npy get ids first-id,
    /// first-id + 1, ... (with --offsets, each group of rows is one multivector point). A
    /// malformed line or row stops the import with its position; the batches before it
    /// are stored, nothing after.
    Import {
        /// The collection directory.
        dir: PathBuf,
        /// The input file.
        file: PathBuf,
        /// The input format (default: from the file's extension).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Points per batch (each batch is one atomic, durable write).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Id of the first row of .fvecs and .npy files (of the first item with --offsets).
        #[arg(long, default_value_t = 0)]
        first_id: u64,
        /// Pass over this many lines (JSONL) or rows (.fvecs, .npy; their ids still count
        /// from --first-id) first: a failed import's message gives the --skip that resumes
        /// after its last written batch.
        #[arg(long, default_value_t = 0)]
        skip: u64,
        /// The named vector the rows of .fvecs and .npy go to (default: the default vector).
        #[arg(long)]
        using: Option<String>,
        /// An int64 .npy of items + 1 row offsets: item i is the multivector of rows
        /// offsets[i]..offsets[i+1] of the .fvecs/.npy file.
        #[arg(long)]
        offsets: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Find the points nearest to a vector (or multivector) and print id, score and payload.
    Search {
        /// The collection directory.
        dir: PathBuf,
        /// The query: comma-separated components, or JSON: [..] or, for a multivector,
        /// [[..], [..]].
        #[arg(long, allow_hyphen_values = true, conflicts_with = "vector_file")]
        vector: Option<String>,
        /// A file holding the query (.fvecs, .npy or .jsonl; see --row).
        #[arg(long)]
        vector_file: Option<PathBuf>,
        /// Which vector (or item, with --offsets) of --vector-file to use (from 0).
        #[arg(long, default_value_t = 0)]
        row: usize,
        /// An int64 .npy of row offsets grouping --vector-file's rows into multivectors.
        #[arg(long)]
        offsets: Option<PathBuf>,
        /// The vector to search (Qdrant's `using`; default: the default vector).
        #[arg(long)]
        using: Option<String>,
        /// Results to return.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Candidates taken from the quantized scan: limit × oversampling.
        #[arg(long)]
        oversampling: Option<f32>,
        /// Rescore candidates with the originals (default: on for binary, off for scalar).
        #[arg(long)]
        rescore: Option<bool>,
        /// Rescore until the codes' error bound settles the results (rabitq codes), from
        /// limit × oversampling candidates (default oversampling 8).
        #[arg(long)]
        adaptive: bool,
        /// scalar8 collections (Cosine, Dot): scan only this fraction of each sealed
        /// segment's rows with int8 codes, the nearest by the codes' sign sketches.
        #[arg(long, value_name = "FRACTION")]
        sketch_pool: Option<f32>,
        /// Scan the originals of every point (exact, slowest).
        #[arg(long)]
        exact: bool,
        /// Print each hit's searched vector as stored (normalized for cosine).
        #[arg(long)]
        with_vector: bool,
        /// Only points passing this filter, in Qdrant's filter JSON, e.g.
        /// '{"must": [{"key": "section", "match": {"value": "python"}}]}'.
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Count the points, or those passing --filter (exact; payload indexes answer what
    /// they can, payloads are read for the rest).
    Count {
        /// The collection directory.
        dir: PathBuf,
        /// Only points passing this filter (Qdrant's filter JSON).
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List points in id order with their payloads, a page at a time (Qdrant's scroll).
    Scroll {
        /// The collection directory.
        dir: PathBuf,
        /// Only points passing this filter (Qdrant's filter JSON).
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Start at this id (the "next" id a previous page printed).
        #[arg(long)]
        offset: Option<String>,
        /// Points per page.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show the config, segments, WAL, disk and memory by component, and optimizer state.
    Inspect {
        /// The collection directory.
        dir: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum of every file without changing anything. Exits with status 1
    /// and names the file and byte offset if anything is damaged.
    Verify {
        /// The collection directory.
        dir: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Index a payload key (Qdrant's create_payload_index) and rewrite every segment with
    /// the index, with progress. Filters on the key then read the index instead of every
    /// payload.
    CreateIndex {
        /// The collection directory.
        dir: PathBuf,
        /// The key, as filters name it: `section`, `meta.tags[]`.
        key: String,
        /// The values' type: keyword, integer, float, bool, uuid or datetime.
        schema: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Drop a payload index and rewrite the segments without it.
    DeleteIndex {
        /// The collection directory.
        dir: PathBuf,
        /// The indexed key.
        key: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Change a collection's quantization in place (its segments are rewritten with the
    /// new codes, with progress) and the search defaults stored with it.
    ///
    /// Searches that do not give --oversampling or --rescore use the stored ones, else the
    /// codes' built-in defaults. Changing the quantization without --oversampling clears
    /// a stored oversampling (it was chosen for the old codes).
    Configure {
        /// The collection directory.
        dir: PathBuf,
        /// The vector to configure (default: the default vector; named vectors keep
        /// their quantization).
        #[arg(long)]
        using: Option<String>,
        /// The new codes (see `vecsieve advise` to choose).
        #[arg(long, value_enum)]
        quantization: Option<QuantArg>,
        /// Clip scalar8 ranges to this central fraction of the values (0.5..=1).
        #[arg(long, requires = "quantization")]
        scalar_quantile: Option<f32>,
        /// Oversampling every search uses unless it gives its own.
        #[arg(long)]
        oversampling: Option<f32>,
        /// Whether searches rescore candidates with the originals unless they say.
        #[arg(long)]
        rescore: Option<bool>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Copy the collection to DEST (a new or empty directory) as one consistent state, while
    /// an application may be writing it, then verify the copy.
    ///
    /// Restore by moving DEST into place while nothing has the collection open.
    Backup {
        /// The collection directory.
        dir: PathBuf,
        /// Where the copy goes (created if missing; it must be empty).
        dest: PathBuf,
        /// Hard-link segment files instead of copying them (same file system only): fast
        /// and small, but the copy shares their disk blocks, so it does not protect
        /// against damage to them.
        #[arg(long)]
        hard_link: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Write the collection as Qdrant's request bodies: OUT/collection.json (the body of
    /// `PUT /collections/{name}`) and OUT/points-NNNNNN.json (bodies of `PUT
    /// /collections/{name}/points`), plus OUT/vecsieve.json. `vecsieve import DIR2 OUT`
    /// reads it back.
    Export {
        /// The collection directory.
        dir: PathBuf,
        /// Where the export goes (created if missing).
        out: PathBuf,
        /// Points per batch file.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Create the collection on a Qdrant server and upload its points in batches, with
    /// retries and progress.
    Push {
        /// The collection directory.
        dir: PathBuf,
        /// The server, e.g. http://localhost:6333 (plain HTTP).
        #[arg(long)]
        url: String,
        /// The name of the collection to create there.
        #[arg(long)]
        collection: String,
        /// Qdrant's API key (sent as the api-key header).
        #[arg(long)]
        api_key: Option<String>,
        /// Points per request.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Attempts per request (connection failures, 429 and 5xx are retried).
        #[arg(long, default_value_t = 5)]
        attempts: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Merge, vacuum and requantize segments now, to a fixpoint, with progress.
    Optimize {
        /// The collection directory.
        dir: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Measure recall and latency of every quantization mode and oversampling on your
    /// data, and recommend the cheapest one that meets the target recall.
    ///
    /// Queries are held-out points of the collection (or --query-file). Points are copied
    /// into temporary collections; the collection itself is only read.
    Advise {
        /// The collection directory.
        dir: PathBuf,
        /// Recall@limit the recommendation must reach (judged on a 95 % lower bound).
        #[arg(long, default_value_t = 0.95)]
        target_recall: f64,
        /// Results per query.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Held-out queries sampled from the collection.
        #[arg(long, default_value_t = 200, conflicts_with = "query_file")]
        queries: usize,
        /// Queries from a file (.fvecs, .npy or .jsonl) instead of held-out points.
        #[arg(long)]
        query_file: Option<PathBuf>,
        /// An int64 .npy of row offsets grouping --query-file's rows into multivectors.
        #[arg(long)]
        query_offsets: Option<PathBuf>,
        /// The vector to advise on (default: the default vector); a multivector is measured
        /// with MaxSim.
        #[arg(long)]
        using: Option<String>,
        /// Oversampling factors to try.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7,8")]
        oversampling: Vec<f32>,
        /// Write the recall-vs-oversampling curves to this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Where the temporary collections go (default: the system temp directory).
        #[arg(long)]
        temp_dir: Option<PathBuf>,
        /// Apply the recommendation: change the collection's quantization in place and
        /// store the oversampling and rescoring (as `vecsieve configure` does).
        #[arg(long)]
        apply: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Build a collection from a data set and report recall, latency, size per configuration.
    Bench(BenchArgs),
    /// Measure the background optimizer: ingest, settle, search while it vacuums, deletions.
    BenchOptimizer {
        /// Folder with base.fvecs and query.fvecs.
        #[arg(long)]
        data: PathBuf,
        /// Live segment size in MiB (small, so that the optimizer has work).
        #[arg(long, default_value_t = 4)]
        segment_mib: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run the benchmark on the bundled real data set and print a table.
    Demo {
        /// The data set (default: data/debian-minilm-384-10k under the working directory, the
        /// root of a clone of the repository).
        #[arg(long)]
        data: Option<PathBuf>,
        /// One JSON object per configuration per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// The collection directory the command works on, if it has one.
    fn dir(&self) -> Option<&Path> {
        match self {
            Command::Create { dir, .. }
            | Command::Import { dir, .. }
            | Command::Search { dir, .. }
            | Command::Count { dir, .. }
            | Command::Scroll { dir, .. }
            | Command::Inspect { dir, .. }
            | Command::Verify { dir, .. }
            | Command::CreateIndex { dir, .. }
            | Command::DeleteIndex { dir, .. }
            | Command::Configure { dir, .. }
            | Command::Backup { dir, .. }
            | Command::Export { dir, .. }
            | Command::Push { dir, .. }
            | Command::Optimize { dir, .. }
            | Command::Advise { dir, .. } => Some(dir),
            Command::Bench(_) | Command::BenchOptimizer { .. } | Command::Demo { .. } => None,
        }
    }
}

/// `e` in the command line's terms: the engine's messages speak to a program holding a
/// `Collection`; these speak to someone at a shell running a command on `dir`.
fn cli_message(e: &vecsieve_cli::Error, dir: Option<&Path>) -> String {
    use vecsieve::Error as E;
    let vecsieve_cli::Error::Engine(engine) = e else {
        return e.to_string();
    };
    match engine {
        E::NotFound(p) => format!(
            "no collection at {}: the directory does not exist; make one with `vecsieve create {} \
             --dim N --distance cosine|dot|euclid|manhattan`",
            p.display(),
            p.display()
        ),
        E::Locked { path, holder } => format!(
            "{} is open for writing in {} (an application or another vecsieve command that \
             writes); wait for it to finish, or close it, and run this command again \
             (search, count, scroll, inspect, verify and advise read it meanwhile)",
            path.display(),
            holder.map_or("another process".into(), |pid| format!("process {pid}"))
        ),
        E::Io { path, source } if dir.is_none_or(|d| !path.starts_with(d)) => format!(
            "cannot use {}: {source}; check the path and its permissions",
            path.display()
        ),
        E::Io { path, source } => format!(
            "I/O error on {}: {source}; check free space and permissions, then run the command \
             again",
            path.display()
        ),
        other => other.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.command.dir().map(Path::to_path_buf);
    let result = match cli.command {
        Command::Create {
            dir,
            dim,
            distance,
            datatype,
            quantization,
            scalar_quantile,
            oversampling,
            rescore,
            multivector,
            pooled_prefilter,
            vectors,
            json,
        } => commands::create(
            &dir,
            commands::DefaultVector {
                dim,
                distance: distance.distance(),
                datatype: match datatype {
                    DatatypeArg::F32 => vecsieve::Datatype::F32,
                    DatatypeArg::F16 => vecsieve::Datatype::F16,
                    DatatypeArg::U8 => vecsieve::Datatype::U8,
                },
                quantization: quantization.map(|q| q.mode().quantization(scalar_quantile)),
                multivector: multivector || pooled_prefilter.is_some(),
                pooled_prefilter,
                search_defaults: commands::search_defaults(oversampling, rescore),
            },
            &vectors,
            json,
        ),
        Command::Import {
            dir,
            file,
            format,
            batch,
            first_id,
            skip,
            using,
            offsets,
            json,
        } => commands::import(
            &dir,
            &file,
            format.map(|f| match f {
                FormatArg::Fvecs => vecsieve_cli::import::Format::Fvecs,
                FormatArg::Npy => vecsieve_cli::import::Format::Npy,
                FormatArg::Jsonl => vecsieve_cli::import::Format::Jsonl,
            }),
            vecsieve_cli::import::ImportOptions {
                batch,
                first_id,
                using,
                offsets,
                skip,
            },
            json,
        ),
        Command::Search {
            dir,
            vector,
            vector_file,
            row,
            offsets,
            using,
            limit,
            oversampling,
            rescore,
            adaptive,
            sketch_pool,
            exact,
            with_vector,
            filter,
            json,
        } => commands::search(
            &dir,
            &commands::Query {
                vector,
                vector_file,
                row,
                offsets,
                using: using.unwrap_or_default(),
            },
            limit,
            vecsieve::SearchParams {
                oversampling,
                rescore,
                exact,
                ignore_quantization: false,
                with_payload: true,
                with_vector,
                adaptive,
                sketch_pool,
            },
            filter.as_deref(),
            json,
        ),
        Command::Count { dir, filter, json } => commands::count(&dir, filter.as_deref(), json),
        Command::Scroll {
            dir,
            filter,
            offset,
            limit,
            json,
        } => commands::scroll(&dir, filter.as_deref(), offset.as_deref(), limit, json),
        Command::Inspect { dir, json } => commands::inspect(&dir, json),
        Command::Verify { dir, json } => match commands::verify(&dir, json) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Configure {
            dir,
            using,
            quantization,
            scalar_quantile,
            oversampling,
            rescore,
            json,
        } => commands::configure(
            &dir,
            &commands::Changes {
                using: using.unwrap_or_default(),
                quantization: quantization.map(|q| q.mode().quantization(scalar_quantile)),
                oversampling,
                rescore,
            },
            json,
        ),
        Command::Backup {
            dir,
            dest,
            hard_link,
            json,
        } => commands::backup(&dir, &dest, hard_link, json),
        Command::Export {
            dir,
            out,
            batch,
            json,
        } => commands::export(&dir, &out, batch, json),
        Command::Push {
            dir,
            url,
            collection,
            api_key,
            batch,
            attempts,
            json,
        } => commands::push(
            &dir,
            &vecsieve_cli::qdrant::Server {
                url,
                collection,
                api_key,
                attempts,
                backoff: std::time::Duration::from_millis(200),
            },
            batch,
            json,
        ),
        Command::Optimize { dir, json } => commands::optimize(&dir, json),
        Command::CreateIndex {
            dir,
            key,
            schema,
            json,
        } => commands::create_index(&dir, &key, &schema, json),
        Command::DeleteIndex { dir, key, json } => commands::delete_index(&dir, &key, json),
        Command::Advise {
            dir,
            target_recall,
            limit,
            queries,
            query_file,
            query_offsets,
            using,
            oversampling,
            plot,
            temp_dir,
            apply,
            json,
        } => commands::advise(
            &dir,
            vecsieve_cli::eval::AdviseOptions {
                target_recall,
                limit,
                queries,
                queries_given: None,
                using: using.unwrap_or_default(),
                oversampling,
                temp_dir,
                ..Default::default()
            },
            query_file.as_deref(),
            query_offsets.as_deref(),
            apply,
            plot.as_deref(),
            json,
        ),
        Command::Bench(a) => bench::bench(a),
        Command::BenchOptimizer {
            data,
            segment_mib,
            json,
        } => bench::bench_optimizer(&data, segment_mib, json),
        Command::Demo { data, json } => bench::demo(data, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli_message(&e, dir.as_deref()));
            ExitCode::FAILURE
        }
    }
}
