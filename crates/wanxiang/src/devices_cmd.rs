//! `wanxiang devices import`: bulk registration of devices from a CSV (a supplier's installation
//! list), checked row by row with the same rules as `POST /api/v1/devices`, stored in batches of
//! a thousand with a progress bar. Each device's access token is written once to a tokens file
//! (readable by its owner only); the store keeps only hashes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use wanxiang_api::auth::{random_secret, token_hash};
use wanxiang_api::events::LocationInput;
use wanxiang_api::sensing::{NewDeviceInput, check_new_device};
use wanxiang_core::Scope;
use wanxiang_store::NewDevice;

use crate::config::Config;
use crate::storage;

/// Devices stored per transaction.
const CHUNK: usize = 1000;

/// One CSV row.
#[derive(Debug, Deserialize)]
struct CsvRow {
    /// Device type code.
    #[serde(rename = "type")]
    type_code: String,
    /// Name.
    name: String,
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
    /// `wgs84` (default), `gcj02` or `bd09`.
    crs: Option<String>,
    /// The owning organisation (unit or department code); the command's `--owner-unit` if empty.
    owner_unit: Option<String>,
    /// Installation date, `YYYY-MM-DD`.
    installed_on: Option<String>,
    /// An id of your own.
    id: Option<String>,
}

/// What an import ended with.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Rows read.
    pub rows: usize,
    /// Devices registered.
    pub registered: usize,
    /// `row N: reason` for every refused row.
    pub failures: Vec<String>,
    /// Where the tokens were written.
    pub tokens: PathBuf,
}

impl ImportReport {
    /// The closing line, as scripts parse it.
    pub fn line(&self) -> String {
        format!(
            "rows={} registered={} failed={} tokens={}",
            self.rows,
            self.registered,
            self.failures.len(),
            self.tokens.display()
        )
    }
}

/// Imports a CSV of devices into the configured store, owned by `owner_unit` unless a row says.
pub async fn import(
    config: &Config,
    path: &Path,
    owner_unit: &str,
    tokens_out: Option<&Path>,
) -> anyhow::Result<ImportReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let state = storage::offline_state(config).await?;
    let tokens = tokens_out.map_or_else(|| path.with_extension("tokens.csv"), Path::to_path_buf);
    let mut report = ImportReport {
        tokens: tokens.clone(),
        ..ImportReport::default()
    };

    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let rows: Vec<_> = reader.deserialize::<CsvRow>().collect();
    report.rows = rows.len();
    let bar = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("registering {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .expect("valid template"),
    );
    let now = wanxiang_api::auth::now_ms();
    let mut checked = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (i, row) in rows.into_iter().enumerate() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                report
                    .failures
                    .push(format!("row {}: not a device: {e}", i + 1));
                bar.inc(1);
                continue;
            }
        };
        let input = NewDeviceInput {
            type_code: row.type_code,
            name: row.name,
            location: LocationInput {
                lon: row.lon,
                lat: row.lat,
                crs: row.crs,
            },
            owner_unit: row.owner_unit.filter(|o| !o.is_empty()),
            installed_on: row.installed_on.filter(|d| !d.is_empty()),
            id: row.id.filter(|d| !d.is_empty()),
        };
        match check_new_device(&state, None, owner_unit, &input, now) {
            Ok(record) if !seen_ids.insert(record.id.clone()) => {
                report.failures.push(format!(
                    "row {}: id {} appears twice in the file",
                    i + 1,
                    record.id
                ));
                bar.inc(1);
            }
            Ok(record) => checked.push((i + 1, record, random_secret())),
            Err(e) => {
                report.failures.push(format!("row {}: {e}", i + 1));
                bar.inc(1);
            }
        }
    }
    // The tokens file is created before anything is stored, readable by its owner only: a token
    // that was stored but never written down would be a device nobody can connect.
    let mut out = open_private(&tokens)?;
    writeln!(out, "id,token")?;
    let scope = Scope::system("devices import");
    for chunk in checked.chunks(CHUNK) {
        let batch: Vec<NewDevice> = chunk
            .iter()
            .map(|(_, record, token)| NewDevice {
                record: record.clone(),
                token_hash: token_hash(token),
            })
            .collect();
        match state.store.create_devices(&scope, &batch).await {
            Ok(()) => {
                for (_, record, token) in chunk {
                    writeln!(out, "{},{token}", record.id)?;
                }
                report.registered += chunk.len();
            }
            // A conflict (an id already registered) fails its chunk: retry its rows one by one
            // so only the offending rows are reported.
            Err(_) => {
                for (row, record, token) in chunk {
                    let one = NewDevice {
                        record: record.clone(),
                        token_hash: token_hash(token),
                    };
                    match state.store.create_device(&scope, &one).await {
                        Ok(()) => {
                            writeln!(out, "{},{token}", record.id)?;
                            report.registered += 1;
                        }
                        Err(e) => report.failures.push(format!("row {row}: {e}")),
                    }
                }
            }
        }
        out.flush()?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Creates a file readable and writable by its owner only.
fn open_private(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("creating the tokens file {}", path.display()))
}
