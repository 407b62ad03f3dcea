//! `wanxiang geo import` (real boundaries into a deployment's store) and `wanxiang geo locate`
//! (a GIS user's batch point-in-polygon tool, and our benchmark).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use geo_types::MultiPolygon;
use geojson::{GeoJson, JsonValue};
use indicatif::{ProgressBar, ProgressStyle};
use wanxiang_core::Level;
use wanxiang_geo::import::{FeatureError, ImportOptions, parse_units};
use wanxiang_geo::{PolygonIndex, Strategy, geojson_io};

use crate::config::{Config, redact};
use crate::storage;

/// What an import ended with.
#[derive(Debug)]
pub enum ImportOutcome {
    /// Everything was written.
    Imported {
        /// Units written.
        units: usize,
        /// The store's new units revision.
        revision: i64,
    },
    /// The file was refused; nothing was written.
    Refused(Vec<FeatureError>),
}

/// Validates a GeoJSON file against the store's units and writes it in one transaction.
pub async fn import(
    config: &Config,
    file: &Path,
    options: &ImportOptions,
    dry_run: bool,
) -> anyhow::Result<ImportOutcome> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let store = storage::open(config).await?;
    let existing = store.units().await?;
    let opts = options.clone();
    let parsed = tokio::task::spawn_blocking(move || parse_units(&text, &opts, &existing)).await?;
    let units = match parsed {
        Ok(units) => units,
        Err(errors) => return Ok(ImportOutcome::Refused(errors)),
    };
    if dry_run {
        return Ok(ImportOutcome::Imported {
            units: units.len(),
            revision: store.units_revision().await?,
        });
    }
    let revision = store.import_units(&units).await?;
    tracing::info!(units = units.len(), level = %options.level, database = %redact(&config.database_url()), revision, "boundaries imported");
    Ok(ImportOutcome::Imported {
        units: units.len(),
        revision,
    })
}

/// Reads the features of a FeatureCollection as polygons; features without a (multi)polygon get
/// an empty shape, so positions still match the input and they simply never match.
pub fn read_boundaries(
    path: &Path,
    label_property: Option<&str>,
) -> anyhow::Result<(Vec<MultiPolygon<f64>>, Vec<String>, usize)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let geojson: GeoJson = text
        .parse()
        .with_context(|| format!("{} is not GeoJSON", path.display()))?;
    let GeoJson::FeatureCollection(fc) = geojson else {
        anyhow::bail!("{} must be a GeoJSON FeatureCollection", path.display());
    };
    let mut shapes = Vec::with_capacity(fc.features.len());
    let mut labels = Vec::with_capacity(fc.features.len());
    let mut skipped = 0;
    for (i, f) in fc.features.iter().enumerate() {
        let shape = f
            .geometry
            .as_ref()
            .and_then(|g| geojson_io::to_multipolygon(&g.value).ok());
        if shape.is_none() {
            skipped += 1;
        }
        shapes.push(shape.unwrap_or_else(|| MultiPolygon(vec![])));
        labels.push(match label_property {
            None => i.to_string(),
            Some(p) => match f.property(p) {
                Some(JsonValue::String(s)) => s.clone(),
                Some(JsonValue::Null) | None => String::new(),
                Some(other) => other.to_string(),
            },
        });
    }
    Ok((shapes, labels, skipped))
}

/// Figures of one `geo locate` run.
#[derive(Debug, Clone, Copy)]
pub struct LocateStats {
    /// Points read.
    pub points: usize,
    /// Points inside some feature.
    pub matched: usize,
    /// Seconds spent locating (index built, files read before the clock starts).
    pub seconds: f64,
}

impl LocateStats {
    /// The closing line, exactly as scripts parse it.
    pub fn line(&self) -> String {
        let rate = if self.seconds > 0.0 {
            self.points as f64 / self.seconds
        } else {
            0.0
        };
        format!(
            "points={} matched={} seconds={:.6} points_per_s={:.0}",
            self.points, self.matched, self.seconds, rate
        )
    }
}

/// Reads `lon,lat` rows; a first row that is not numeric is taken as a header.
pub fn read_points(path: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut points = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut line = 0usize;
    while reader
        .read_byte_record(&mut record)
        .with_context(|| format!("reading {}", path.display()))?
    {
        line += 1;
        let field = |i: usize| {
            record
                .get(i)
                .and_then(|b| std::str::from_utf8(b).ok())
                .map(str::trim)
        };
        let parsed = match (field(0), field(1)) {
            (Some(a), Some(b)) => a.parse::<f64>().ok().zip(b.parse::<f64>().ok()),
            _ => None,
        };
        match parsed {
            Some(p) => points.push(p),
            None if line == 1 => continue,
            None => anyhow::bail!("{} line {line}: expected `lon,lat` numbers", path.display()),
        }
    }
    Ok(points)
}

/// Runs `geo locate`: prints progress to stderr and returns the figures.
pub fn locate(
    boundaries: &Path,
    points_path: &Path,
    out: Option<&Path>,
    label_property: Option<&str>,
    strategy: Strategy,
) -> anyhow::Result<LocateStats> {
    let started = Instant::now();
    let (shapes, labels, skipped) = read_boundaries(boundaries, label_property)?;
    let index = PolygonIndex::new(&shapes);
    let (nx, ny, entries) = index.grid_size();
    eprintln!(
        "boundaries: {} features ({} without a polygon), {} edges, grid {nx}x{ny} with {entries} entries, read and indexed in {:.3} s",
        shapes.len(),
        skipped,
        index.edge_count(),
        started.elapsed().as_secs_f64()
    );
    drop(shapes);
    let points = read_points(points_path)?;
    eprintln!(
        "points: {} read from {}",
        points.len(),
        points_path.display()
    );

    let bar = ProgressBar::new(points.len() as u64).with_style(
        ProgressStyle::with_template("locating {bar:40} {pos}/{len} ({per_sec})")
            .expect("valid template"),
    );
    let mut matches: Vec<Option<usize>> = Vec::with_capacity(points.len());
    let clock = Instant::now();
    // Chunks big enough for the spatial ordering inside `locate_many` to pay, small enough for
    // the progress bar to move.
    for chunk in points.chunks(1 << 20) {
        matches.extend(index.locate_many_with(chunk, strategy));
        bar.inc(chunk.len() as u64);
    }
    let seconds = clock.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let matched = matches.iter().filter(|m| m.is_some()).count();

    if let Some(out) = out {
        let mut w = BufWriter::new(
            File::create(out).with_context(|| format!("creating {}", out.display()))?,
        );
        writeln!(w, "lon,lat,match")?;
        for (&(x, y), m) in points.iter().zip(&matches) {
            match m {
                Some(i) => writeln!(w, "{x},{y},{}", labels[*i])?,
                None => writeln!(w, "{x},{y},")?,
            }
        }
        w.flush()?;
    }
    Ok(LocateStats {
        points: points.len(),
        matched,
        seconds,
    })
}

/// Parses `--level`.
pub fn parse_level(s: &str) -> Result<Level, String> {
    match Level::parse(s) {
        Some(Level::District) | None => Err(format!(
            "level must be street, community or grid, not {s:?}"
        )),
        Some(level) => Ok(level),
    }
}
