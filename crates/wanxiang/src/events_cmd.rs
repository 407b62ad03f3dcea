//! `wanxiang events import`: a batch of reports (a hotline's export) taken in one by one through
//! the same intake as `POST /api/v1/events`, each row in its own transaction, with a progress bar
//! and an error report per row.

use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use wanxiang_api::events::{Intake, LocationInput, NewEvent, take_in};
use wanxiang_core::case::Channel;

use crate::config::Config;
use crate::storage;

/// One CSV row; the columns a hotline export has.
#[derive(Debug, Deserialize)]
struct CsvRow {
    /// The work-order number; makes re-imports idempotent.
    external_id: Option<String>,
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
    /// `wgs84`, `gcj02` or `bd09`.
    crs: Option<String>,
    /// Minor category code, if the hotline classified it.
    category: Option<String>,
    /// What the caller said.
    description: String,
    /// The caller's number.
    reporter_contact: Option<String>,
    /// The channel, if not the command's default.
    channel: Option<String>,
}

/// What an import ended with.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Rows read.
    pub rows: usize,
    /// New cases.
    pub imported: usize,
    /// Rows whose channel and external id were imported before.
    pub duplicates: usize,
    /// Rows that repeat an open case nearby and were linked to it.
    pub linked: usize,
    /// `row N: reason` for every refused row.
    pub failures: Vec<String>,
}

impl ImportReport {
    /// The closing line, as scripts parse it.
    pub fn line(&self) -> String {
        format!(
            "rows={} imported={} duplicates={} failed={} linked={}",
            self.rows,
            self.imported,
            self.duplicates,
            self.failures.len(),
            self.linked
        )
    }
}

/// Reads the rows of a `.csv` (with a header) or `.jsonl` file as reports; a row that cannot be
/// read at all is an `Err` with its line.
fn read_rows(path: &Path, default_channel: &str) -> anyhow::Result<Vec<Result<NewEvent, String>>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    match ext.as_str() {
        "csv" => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
                rows.push(
                    row.map_err(|e| format!("row {}: not a report: {e}", i + 1))
                        .map(|r| NewEvent {
                            channel: r
                                .channel
                                .filter(|c| !c.is_empty())
                                .unwrap_or_else(|| default_channel.to_owned()),
                            location: LocationInput {
                                lon: r.lon,
                                lat: r.lat,
                                crs: r.crs,
                            },
                            category: r.category,
                            description: r.description,
                            reporter_contact: r.reporter_contact,
                            external_id: r.external_id,
                            attachments: None,
                        }),
                );
            }
        }
        "jsonl" | "ndjson" => {
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let mut value: serde_json::Value = match serde_json::from_str(line) {
                    Ok(v) => v,
                    Err(e) => {
                        rows.push(Err(format!("row {}: not JSON: {e}", i + 1)));
                        continue;
                    }
                };
                if value.get("channel").is_none() {
                    value["channel"] = default_channel.into();
                }
                rows.push(
                    serde_json::from_value(value)
                        .map_err(|e| format!("row {}: not a report: {e}", i + 1)),
                );
            }
        }
        other => anyhow::bail!(
            "{}: expected a .csv or .jsonl file, not .{other}",
            path.display()
        ),
    }
    Ok(rows)
}

/// Imports a file into the configured store.
pub async fn import(
    config: &Config,
    path: &Path,
    default_channel: &str,
) -> anyhow::Result<ImportReport> {
    if Channel::parse(default_channel).is_none() {
        anyhow::bail!("unknown channel {default_channel:?}");
    }
    let rows = read_rows(path, default_channel)?;
    let state = storage::offline_state(config).await?;

    let bar = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("importing {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .expect("valid template"),
    );
    let mut report = ImportReport {
        rows: rows.len(),
        ..ImportReport::default()
    };
    for (i, row) in rows.into_iter().enumerate() {
        bar.inc(1);
        let outcome = match row {
            Err(e) => Err(e),
            Ok(event) => match Channel::parse(&event.channel) {
                None => Err(format!(
                    "row {}: invalid_channel: {:?}",
                    i + 1,
                    event.channel
                )),
                Some(channel) => take_in(&state, None, channel, &event).await.map_err(|e| {
                    format!(
                        "row {}{}: {e}",
                        i + 1,
                        event
                            .external_id
                            .as_deref()
                            .map(|x| format!(" ({x})"))
                            .unwrap_or_default()
                    )
                }),
            },
        };
        match outcome {
            Ok(Intake::New(..)) => report.imported += 1,
            Ok(Intake::Existing(_)) => report.duplicates += 1,
            Ok(Intake::Linked { .. }) => report.linked += 1,
            Err(e) => report.failures.push(e),
        }
    }
    bar.finish_and_clear();
    let district = state.atlas.current().and_then(|a| {
        a.units()
            .iter()
            .find(|u| u.parent.is_none())
            .map(|u| u.code.clone())
    });
    if let Some(area) = district {
        state
            .store
            .append_audit(&wanxiang_core::AuditEntry {
                at: wanxiang_api::auth::now_ms(),
                actor_id: None,
                actor_name: "system (import)".into(),
                action: "events_imported".into(),
                target: Some(path.display().to_string()),
                detail: format!("system (event import): {}", report.line()),
                org: area.to_string(),
                area,
                client: None,
            })
            .await?;
    }
    Ok(report)
}
