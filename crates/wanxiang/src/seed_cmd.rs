//! Generated case history: `wanxiang bench seed-cases` fills a store with a district's worth of
//! **benchmark data** so the one screen's first paint, the stats queries and the case lists can be
//! measured at scale, and `serve --demo` gives a new demo the last month of **demo data**
//! (`events.demo_cases`), so its screen has trends and rankings from the first minute. Every
//! description carries its label. Each case goes through the real intake (location, dispatch by
//! the 权责清单, its first history lines) at a time spread over the period on a manual clock; most
//! are then taken to closed through the core lifecycle, as a district's archive is.

use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use wanxiang_api::AppState;
use wanxiang_api::clock::{Clock, ManualClock};
use wanxiang_api::events::{Intake, LocationInput, NewEvent, take_in};
use wanxiang_core::case::{self, Channel, Command, HistoryEntry, Stage};
use wanxiang_core::{Level, Scope};

use crate::config::Config;
use crate::simulate::Rng;
use crate::storage;

/// What to seed.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cases to add.
    pub count: usize,
    /// Spread over this many days before now.
    pub days: u32,
    /// Share of cases older than three days taken to closed (0–1); younger ones proportionally
    /// fewer.
    pub closed: f64,
    /// Seed of the random sequence (the same seed gives the same cases).
    pub seed: u64,
    /// What the cases are.
    pub label: Label,
}

/// What generated cases say they are.
#[derive(Debug, Clone, Copy)]
pub struct Label {
    /// At the head of each description.
    pub text: &'static str,
    /// In each external id (`<tag>-<seed>-<n>`), which keeps a re-run from adding them twice.
    pub tag: &'static str,
}

/// The label of `wanxiang bench seed-cases`.
pub const BENCH: Label = Label {
    text: "压测数据 benchmark data",
    tag: "bench",
};
/// The label of the demo's history.
pub const DEMO: Label = Label {
    text: "演示数据 demo data",
    tag: "demo",
};

/// What seeding did.
#[derive(Debug, Default)]
pub struct Seeded {
    /// New cases.
    pub cases: usize,
    /// Of those, closed.
    pub closed: usize,
    /// Reports that joined an existing case instead.
    pub linked: usize,
}

/// Cases younger than this are less likely to be closed already, the younger the less.
const RECENT_MS: i64 = 3 * 86_400_000;

/// The channels in roughly the proportions a district's intake has them.
const CHANNELS: [(Channel, f64); 5] = [
    (Channel::Hotline12345, 0.45),
    (Channel::ResidentApp, 0.25),
    (Channel::Inspector, 0.2),
    (Channel::VideoAi, 0.05),
    (Channel::Open311, 0.05),
];

/// Adds `opts.count` cases to the configured store (which must hold a district: run
/// `serve --demo` on it once first), with a progress bar.
pub async fn seed_cases(config: &Config, opts: &Options) -> anyhow::Result<Seeded> {
    let state = storage::offline_state(config).await?;
    anyhow::ensure!(
        state.atlas.current().is_some_and(|a| !a.units().is_empty()),
        "the store holds no district: start `wanxiang serve --demo` on it once first"
    );
    let bar = ProgressBar::new(opts.count as u64).with_style(
        ProgressStyle::with_template("seeding {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .context("progress template")?,
    );
    let seeded = seed_into(&state, opts, |done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    Ok(seeded)
}

/// Adds `opts.count` cases through `state`'s intake and store, dated over the `opts.days` before
/// now on a clock of their own; `progress` hears how many are done.
pub async fn seed_into(
    state: &AppState,
    opts: &Options,
    progress: impl Fn(usize),
) -> anyhow::Result<Seeded> {
    let grids: Vec<[f64; 4]> = state
        .atlas
        .current()
        .context("the geography is not loaded")?
        .units()
        .iter()
        .filter(|u| u.level == Level::Grid)
        .filter_map(|u| u.boundary.as_ref().map(bbox))
        .collect();
    anyhow::ensure!(!grids.is_empty(), "the district has no grids");
    let mut state = state.clone();
    let now = wanxiang_api::auth::now_ms();
    let span = i64::from(opts.days.max(1)) * 86_400_000;
    let clock = Arc::new(ManualClock::new(now - span));
    state.clock = clock.clone();
    let categories: Vec<(String, String)> = state
        .hub
        .categories
        .categories
        .values()
        .map(|c| (c.code.clone(), c.name_zh.clone()))
        .collect();
    let step = span / opts.count.max(1) as i64;
    let mut rng = Rng(opts.seed);
    // Hotspots: a third of the reports fall near one of twenty places.
    let hotspots: Vec<(f64, f64)> = (0..20).map(|_| point_in(&mut rng, &grids)).collect();
    let mut seeded = Seeded::default();
    let system = Scope::system("generated case history");
    for i in 0..opts.count {
        if i.is_multiple_of(100) {
            progress(i);
        }
        clock.advance(step);
        let (lon, lat) = if rng.unit() < 0.33 {
            let (x, y) = hotspots[(rng.next() % hotspots.len() as u64) as usize];
            (x + rng.range(-0.002, 0.002), y + rng.range(-0.002, 0.002))
        } else {
            point_in(&mut rng, &grids)
        };
        let (code, name) = &categories[(rng.next() % categories.len() as u64) as usize];
        let channel = pick_channel(rng.unit());
        let event = NewEvent {
            channel: channel.as_str().into(),
            location: LocationInput {
                lon,
                lat,
                crs: None,
            },
            category: Some(code.clone()),
            description: format!("【{}】{name} #{i}", opts.label.text),
            reporter_contact: None,
            external_id: Some(format!("{}-{}-{i}", opts.label.tag, opts.seed)),
            attachments: None,
        };
        let record = match take_in(&state, None, channel, &event).await {
            Ok(Intake::New(record, ..)) => *record,
            Ok(Intake::Linked { .. }) => {
                seeded.linked += 1;
                continue;
            }
            Ok(Intake::Existing(_)) => continue,
            // A point on a boundary gap is refused like any report; the next one will do.
            Err(_) => continue,
        };
        seeded.cases += 1;
        // Old cases are mostly closed; the open ones are mostly the last few days', as in a
        // district that keeps up with its work.
        let age = now - clock.now_ms();
        let share = opts.closed * (age as f64 / RECENT_MS as f64).min(1.0);
        if rng.unit() < share && record.lifecycle.stage == Stage::Dispatched {
            close(&state, &system, record, &mut rng).await?;
            seeded.closed += 1;
        }
    }
    progress(opts.count);
    Ok(seeded)
}

/// Takes a dispatched case to closed (accept, start, handle, verify) within the hours after its
/// report, writing each step as the console would.
async fn close(
    state: &AppState,
    scope: &Scope,
    mut record: wanxiang_core::case::CaseRecord,
    rng: &mut Rng,
) -> anyhow::Result<()> {
    let mut at = record.created_at;
    let steps = [
        Command::Accept,
        Command::Start,
        Command::Handle {
            note: "已处置".into(),
        },
        Command::Verify {
            pass: true,
            note: "核查通过".into(),
        },
    ];
    // The history's length is read once and counted on; only a conflict makes us read again.
    let mut lines = state.store.case_history(scope, &record.id).await?.len() as i64;
    for command in steps {
        at += (rng.range(0.2, 8.0) * 3_600_000.0) as i64;
        // A running server's supervision may touch the case meanwhile (its due time is in the
        // past on the real clock): then read it again and take the step from where it is now.
        let mut tries = 0;
        loop {
            let seq = lines + 1;
            let (next, t, _) =
                case::step(&record.lifecycle, &command, at).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut changed = record.clone();
            changed.lifecycle = next;
            changed.version += 1;
            changed.updated_at = at;
            changed.due_at = None;
            changed.supervision.warn_at = None;
            let entry = HistoryEntry {
                seq,
                at,
                actor_id: None,
                actor: "system (generated history)".into(),
                from: t.from,
                to: t.to,
                command: t.command.as_str().into(),
                note: t.note,
            };
            if state.store.update_case(scope, &changed, &entry).await? {
                record = changed;
                lines = seq;
                break;
            }
            tries += 1;
            anyhow::ensure!(tries < 5, "case {} keeps changing while seeding", record.id);
            record = state
                .store
                .case(scope, &record.id)
                .await?
                .with_context(|| format!("case {} vanished while seeding", record.id))?;
            lines = state.store.case_history(scope, &record.id).await?.len() as i64;
        }
    }
    Ok(())
}

fn pick_channel(u: f64) -> Channel {
    let mut acc = 0.0;
    for (c, share) in CHANNELS {
        acc += share;
        if u < acc {
            return c;
        }
    }
    Channel::Hotline12345
}

/// A uniform point in a random grid's bounding box (the intake refuses the few that fall
/// outside every grid).
fn point_in(rng: &mut Rng, grids: &[[f64; 4]]) -> (f64, f64) {
    let [x0, y0, x1, y1] = grids[(rng.next() % grids.len() as u64) as usize];
    (rng.range(x0, x1), rng.range(y0, y1))
}

fn bbox(m: &geo_types::MultiPolygon<f64>) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for c in m.0.iter().flat_map(|p| p.exterior().coords()) {
        b = [b[0].min(c.x), b[1].min(c.y), b[2].max(c.x), b[3].max(c.y)];
    }
    b
}
