//! The sensing hub's SQL — devices, readings, rule state and alarms — written once for both
//! engines, like `shared.rs` (included the same way; see there for the conventions).
//!
//! Readings are one row per device message (`device_id`, `ts`) with the values as a JSON object,
//! so a message of five values is one row, and the primary key makes a resent message a no-op.

use sqlx::{Pool, QueryBuilder, Row};
use wanxiang_core::Scope;
use wanxiang_core::alarm::{AlarmStatus, Level};
use wanxiang_core::case::{HistoryEntry, Stage};
use wanxiang_store::{
    AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, DeviceFilter, DeviceRecord, DeviceResume,
    NewDevice, ROLLUP_WIDTHS, Reading, Rollup, StoreError, TelemetryBatch, codec, guard,
};

use crate::shared::{corrupt, push_scope};
use crate::{Db, DbRow, db};

/// Rows per multi-row INSERT: SQLite allows 32,766 bound parameters, PostgreSQL 65,535.
const ROWS_PER_INSERT: usize = 4000;

const DEVICE_COLUMNS: &str = "id, type_code, name, lon, lat, area_code, org, owner, installed_on, \
    disabled, rules, last_seen, bad_values, bad_detail, created_at";

pub(crate) const ALARM_COLUMNS: &str = "id, device_id, device_name, type_code, rule, title, level, peak, status, \
    value, lon, lat, area_code, org, case_id, raised_at, updated_at, cleared_at";

/// Encodes reason counts as `reason=n;reason=n` (reasons are fixed identifiers).
fn encode_counts(counts: &[(String, i64)]) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn decode_counts(text: &str) -> Result<Vec<(String, i64)>, StoreError> {
    text.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, n) = p.split_once('=').ok_or_else(|| corrupt("count", p))?;
            Ok((k.to_owned(), n.parse().map_err(|_| corrupt("count", p))?))
        })
        .collect()
}

/// Adds `more` into `into`, reason by reason.
fn add_counts(into: &mut Vec<(String, i64)>, more: &[(String, i64)]) {
    for (k, n) in more {
        match into.iter_mut().find(|(key, _)| key == k) {
            Some((_, total)) => *total += n,
            None => into.push((k.clone(), *n)),
        }
    }
}

/// Encodes a reading's values as a JSON object. Keys are identifiers checked against the device
/// type and values finite, so no escaping is needed; both are checked here anyway.
fn encode_values(values: &[(String, f64)]) -> Result<String, StoreError> {
    let mut out = String::with_capacity(values.len() * 24 + 2);
    out.push('{');
    for (i, (k, v)) in values.iter().enumerate() {
        if !v.is_finite() || k.contains(['"', '\\']) || k.chars().any(char::is_control) {
            return Err(StoreError::Conflict(format!(
                "unstorable reading value {k:?}={v}"
            )));
        }
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(k);
        out.push_str("\":");
        out.push_str(&v.to_string());
    }
    out.push('}');
    Ok(out)
}

/// Decodes what [`encode_values`] wrote.
fn decode_values(text: &str) -> Result<Vec<(String, f64)>, StoreError> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| corrupt("reading", text))?;
    inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once(':')
                .ok_or_else(|| corrupt("reading", text))?;
            let k = k.trim().trim_matches('"');
            let v: f64 = v.trim().parse().map_err(|_| corrupt("reading", text))?;
            Ok((k.to_owned(), v))
        })
        .collect()
}

fn level(text: String) -> Result<Level, StoreError> {
    Level::parse(&text).ok_or_else(|| corrupt("alarm level", &text))
}

/// The rows of a query, each read into its record.
trait ReadRows {
    /// Every row, read with `read`.
    fn read_all<T>(self, read: fn(&DbRow) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError>;
}

impl ReadRows for Result<Vec<DbRow>, sqlx::Error> {
    fn read_all<T>(self, read: fn(&DbRow) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
        self.map_err(db)?.iter().map(read).collect()
    }
}

/// The row of a query that finds at most one, read into its record.
trait ReadRow {
    /// The row, if any, read with `read`.
    fn read_one<T>(
        self,
        read: fn(&DbRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError>;
}

impl ReadRow for Result<Option<DbRow>, sqlx::Error> {
    fn read_one<T>(
        self,
        read: fn(&DbRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.map_err(db)?.as_ref().map(read).transpose()
    }
}

fn read_device(row: &DbRow) -> Result<DeviceRecord, StoreError> {
    let area: String = row.try_get("area_code").map_err(db)?;
    let detail: String = row.try_get("bad_detail").map_err(db)?;
    Ok(DeviceRecord {
        id: row.try_get("id").map_err(db)?,
        type_code: row.try_get("type_code").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        lon: row.try_get("lon").map_err(db)?,
        lat: row.try_get("lat").map_err(db)?,
        area: codec::decode_code(&area)?,
        org: row.try_get("org").map_err(db)?,
        owner: row.try_get("owner").map_err(db)?,
        installed_on: row.try_get("installed_on").map_err(db)?,
        disabled: row.try_get("disabled").map_err(db)?,
        rules: row.try_get("rules").map_err(db)?,
        last_seen: row.try_get("last_seen").map_err(db)?,
        bad_values: row.try_get("bad_values").map_err(db)?,
        bad_by_reason: decode_counts(&detail)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(crate) fn read_alarm(row: &DbRow) -> Result<AlarmRecord, StoreError> {
    let area: String = row.try_get("area_code").map_err(db)?;
    let status: String = row.try_get("status").map_err(db)?;
    Ok(AlarmRecord {
        id: row.try_get("id").map_err(db)?,
        device_id: row.try_get("device_id").map_err(db)?,
        device_name: row.try_get("device_name").map_err(db)?,
        type_code: row.try_get("type_code").map_err(db)?,
        rule: row.try_get("rule").map_err(db)?,
        title: row.try_get("title").map_err(db)?,
        level: level(row.try_get("level").map_err(db)?)?,
        peak: level(row.try_get("peak").map_err(db)?)?,
        status: AlarmStatus::parse(&status).ok_or_else(|| corrupt("alarm status", &status))?,
        value: row.try_get("value").map_err(db)?,
        lon: row.try_get("lon").map_err(db)?,
        lat: row.try_get("lat").map_err(db)?,
        area: codec::decode_code(&area)?,
        org: row.try_get("org").map_err(db)?,
        case_id: row.try_get("case_id").map_err(db)?,
        raised_at: row.try_get("raised_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
        cleared_at: row.try_get("cleared_at").map_err(db)?,
    })
}

fn read_reading(row: &DbRow) -> Result<Reading, StoreError> {
    let data: String = row.try_get("data").map_err(db)?;
    Ok(Reading {
        device_id: row.try_get("device_id").map_err(db)?,
        ts: row.try_get("ts").map_err(db)?,
        values: decode_values(&data)?,
    })
}

pub(crate) async fn create_device(
    pool: &Pool<Db>,
    scope: &Scope,
    new: &NewDevice,
) -> Result<(), StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    insert_device(&mut tx, scope, new).await?;
    tx.commit().await.map_err(db)
}

pub(crate) async fn create_devices(
    pool: &Pool<Db>,
    scope: &Scope,
    list: &[NewDevice],
) -> Result<(), StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    for new in list {
        insert_device(&mut tx, scope, new).await?;
    }
    tx.commit().await.map_err(db)
}

async fn insert_device(
    tx: &mut crate::shared::WriteTx,
    scope: &Scope,
    new: &NewDevice,
) -> Result<(), StoreError> {
    let d = &new.record;
    guard::device(scope, &d.area, &d.org)?;
    let result = sqlx::query(
        "INSERT INTO devices (id, type_code, name, lon, lat, area_code, org, owner, installed_on, \
         disabled, rules, last_seen, bad_values, bad_detail, created_at, updated_at, token_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)",
    )
    .bind(&d.id)
    .bind(&d.type_code)
    .bind(&d.name)
    .bind(d.lon)
    .bind(d.lat)
    .bind(d.area.to_string())
    .bind(&d.org)
    .bind(&d.owner)
    .bind(&d.installed_on)
    .bind(d.disabled)
    .bind(&d.rules)
    .bind(d.last_seen)
    .bind(d.bad_values)
    .bind(encode_counts(&d.bad_by_reason))
    .bind(d.created_at)
    .bind(&new.token_hash)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
            format!("device {} (or its token) already exists", d.id),
        )),
        Err(e) => Err(db(e)),
    }
}

pub(crate) async fn devices(
    pool: &Pool<Db>,
    scope: &Scope,
    filter: &DeviceFilter,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE 1=1"));
    push_scope(&mut qb, scope);
    if let Some(t) = &filter.type_code {
        qb.push(" AND type_code = ").push_bind(t.clone());
    }
    if let Some(after) = &filter.after {
        qb.push(" AND id > ").push_bind(after.clone());
    }
    if let Some(since) = filter.changed_since {
        qb.push(" AND updated_at >= ").push_bind(since);
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(filter.limit.clamp(1, 5000)));
    qb.build().fetch_all(pool).await.read_all(read_device)
}

pub(crate) async fn device(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
) -> Result<Option<DeviceRecord>, StoreError> {
    let mut qb =
        QueryBuilder::<Db>::new(format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = "));
    qb.push_bind(id.to_owned());
    push_scope(&mut qb, scope);
    qb.build().fetch_optional(pool).await.read_one(read_device)
}

pub(crate) async fn device_by_token(
    pool: &Pool<Db>,
    token_hash: &str,
) -> Result<Option<DeviceRecord>, StoreError> {
    sqlx::query(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .read_one(read_device)
}

pub(crate) async fn device_resumes(
    pool: &Pool<Db>,
    ids: Option<&[String]>,
) -> Result<Vec<DeviceResume>, StoreError> {
    let read = |row: &DbRow| -> Result<DeviceResume, StoreError> {
        Ok(DeviceResume {
            device_id: row.try_get("id").map_err(db)?,
            last_seen: row.try_get("last_seen").map_err(db)?,
            rule_state: row.try_get("rule_state").map_err(db)?,
            state_version: row.try_get("state_version").map_err(db)?,
        })
    };
    const SELECT: &str = "SELECT id, last_seen, rule_state, state_version FROM devices";
    let Some(ids) = ids else {
        return sqlx::query(&format!("{SELECT} ORDER BY id"))
            .fetch_all(pool)
            .await
            .map_err(db)?
            .iter()
            .map(read)
            .collect();
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        push_in(&mut qb, " WHERE id IN (", chunk);
        qb.push(" ORDER BY id");
        for row in qb.build().fetch_all(pool).await.map_err(db)? {
            out.push(read(&row)?);
        }
    }
    Ok(out)
}

/// `{head}$1, $2, …)`: an `IN` list of the ids.
fn push_in(qb: &mut QueryBuilder<'_, Db>, head: &str, ids: &[String]) {
    qb.push(head);
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    qb.push(")");
}

/// Checks a batch's claims on devices' rule state under their row locks (taken in id order, so
/// two nodes claiming overlapping devices wait for each other instead of deadlocking) and moves
/// each claimed version on. The devices whose version moved since the claim are returned; the
/// caller then writes nothing.
async fn claim_states(
    tx: &mut crate::shared::WriteTx,
    claims: &[(String, i64)],
) -> Result<Vec<String>, StoreError> {
    let mut sorted: Vec<&(String, i64)> = claims.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut stale = Vec::new();
    for chunk in sorted.chunks(ROWS_PER_INSERT) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let mut qb = QueryBuilder::<Db>::new("SELECT id, state_version FROM devices");
        push_in(&mut qb, " WHERE id IN (", &ids);
        qb.push(" ORDER BY id").push(crate::FOR_UPDATE);
        let mut current = std::collections::HashMap::with_capacity(ids.len());
        for row in qb.build().fetch_all(&mut **tx).await.map_err(db)? {
            current.insert(
                row.try_get::<String, _>("id").map_err(db)?,
                row.try_get::<i64, _>("state_version").map_err(db)?,
            );
        }
        for (id, version) in chunk {
            // A device deleted meanwhile is not stale: its readings have nowhere to go anyway.
            if current.get(id).is_some_and(|v| v != version) {
                stale.push(id.clone());
            }
        }
        if stale.is_empty() {
            let mut qb =
                QueryBuilder::<Db>::new("UPDATE devices SET state_version = state_version + 1");
            push_in(&mut qb, " WHERE id IN (", &ids);
            qb.build().execute(&mut **tx).await.map_err(db)?;
        }
    }
    Ok(stale)
}

pub(crate) async fn update_device(
    pool: &Pool<Db>,
    scope: &Scope,
    d: &DeviceRecord,
    now: i64,
) -> Result<bool, StoreError> {
    let mut qb = QueryBuilder::<Db>::new("UPDATE devices SET name = ");
    qb.push_bind(d.name.clone());
    qb.push(", disabled = ").push_bind(d.disabled);
    qb.push(", rules = ").push_bind(d.rules.clone());
    qb.push(", updated_at = ").push_bind(now);
    qb.push(" WHERE id = ").push_bind(d.id.clone());
    push_scope(&mut qb, scope);
    Ok(qb.build().execute(pool).await.map_err(db)?.rows_affected() == 1)
}

pub(crate) async fn write_telemetry(
    pool: &Pool<Db>,
    batch: &TelemetryBatch,
) -> Result<u64, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    if !batch.claims.is_empty() {
        let stale = claim_states(&mut tx, &batch.claims).await?;
        if !stale.is_empty() {
            // Dropped unfinished: rolled back.
            drop(tx);
            return Err(StoreError::Stale(stale));
        }
    }
    let mut inserted = 0;
    let mut new: std::collections::HashSet<(String, i64)> = Default::default();
    for chunk in batch.readings.chunks(ROWS_PER_INSERT) {
        let encoded = chunk
            .iter()
            .map(|r| Ok((r, encode_values(&r.values)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO readings (device_id, ts, data) ");
        qb.push_values(encoded, |mut b, (r, data)| {
            b.push_bind(r.device_id.clone())
                .push_bind(r.ts)
                .push_bind(data);
        });
        qb.push(" ON CONFLICT (device_id, ts) DO NOTHING RETURNING device_id, ts");
        for row in qb.build().fetch_all(&mut *tx).await.map_err(db)? {
            new.insert((
                row.try_get::<String, _>("device_id").map_err(db)?,
                row.try_get::<i64, _>("ts").map_err(db)?,
            ));
        }
    }
    // Rollups from the readings that were new (a resent one is not counted twice); a reading
    // repeated within the batch counts once, as it was stored once.
    let mut buckets: std::collections::BTreeMap<(&str, &str, i64, i64), Rollup> =
        Default::default();
    for r in &batch.readings {
        if !new.remove(&(r.device_id.clone(), r.ts)) {
            continue;
        }
        inserted += 1;
        for (key, v) in &r.values {
            for width in ROLLUP_WIDTHS {
                let bucket = r.ts - r.ts.rem_euclid(width * 1000);
                let one = Rollup::of(bucket, r.ts, *v);
                buckets
                    .entry((r.device_id.as_str(), key.as_str(), width, bucket))
                    .and_modify(|b| b.merge(&one))
                    .or_insert(one);
            }
        }
    }
    let rows: Vec<_> = buckets.into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_INSERT / 2) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO rollups (device_id, key, width, bucket, min, max, sum, count, last, last_ts) ",
        );
        qb.push_values(chunk, |mut b, ((device, key, width, _), r)| {
            b.push_bind(device.to_string())
                .push_bind(key.to_string())
                .push_bind(*width)
                .push_bind(r.bucket)
                .push_bind(r.min)
                .push_bind(r.max)
                .push_bind(r.sum)
                .push_bind(r.count)
                .push_bind(r.last)
                .push_bind(r.last_ts);
        });
        qb.push(
            " ON CONFLICT (device_id, key, width, bucket) DO UPDATE SET \
             min = CASE WHEN excluded.min < rollups.min THEN excluded.min ELSE rollups.min END, \
             max = CASE WHEN excluded.max > rollups.max THEN excluded.max ELSE rollups.max END, \
             sum = rollups.sum + excluded.sum, count = rollups.count + excluded.count, \
             last = CASE WHEN excluded.last_ts >= rollups.last_ts THEN excluded.last ELSE rollups.last END, \
             last_ts = CASE WHEN excluded.last_ts >= rollups.last_ts THEN excluded.last_ts ELSE rollups.last_ts END",
        );
        qb.build().execute(&mut *tx).await.map_err(db)?;
    }
    // Every device's newest time in one statement per chunk: a batch touches many devices, and
    // a statement per device would cost a round trip to the database each.
    let seen: Vec<(&str, i64)> = batch
        .marks
        .iter()
        .filter_map(|m| m.last_seen.map(|t| (m.device_id.as_str(), t)))
        .collect();
    for chunk in seen.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Db>::new("UPDATE devices SET last_seen = v.column2 FROM (");
        qb.push_values(chunk, |mut b, (id, ts)| {
            b.push_bind(id.to_string()).push_bind(*ts);
        });
        qb.push(
            ") AS v WHERE devices.id = v.column1 \
             AND (devices.last_seen IS NULL OR devices.last_seen < v.column2)",
        );
        qb.build().execute(&mut *tx).await.map_err(db)?;
    }
    for mark in &batch.marks {
        mark_device(&mut tx, mark).await?;
    }
    for w in &batch.alarms {
        write_alarm(&mut tx, w).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(inserted)
}

/// Writes a device's refused-value counts and rule state (its `last_seen` is written for the
/// whole batch at once).
async fn mark_device(
    tx: &mut crate::shared::WriteTx,
    mark: &wanxiang_store::DeviceMark,
) -> Result<(), StoreError> {
    if !mark.bad.is_empty() {
        let detail: Option<String> =
            sqlx::query_scalar("SELECT bad_detail FROM devices WHERE id = $1")
                .bind(&mark.device_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
        let mut counts = decode_counts(detail.as_deref().unwrap_or(""))?;
        add_counts(&mut counts, &mark.bad);
        let added: i64 = mark.bad.iter().map(|(_, n)| n).sum();
        sqlx::query(
            "UPDATE devices SET bad_values = bad_values + $1, bad_detail = $2 WHERE id = $3",
        )
        .bind(added)
        .bind(encode_counts(&counts))
        .bind(&mark.device_id)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    if let Some(state) = &mark.rule_state {
        sqlx::query("UPDATE devices SET rule_state = $1 WHERE id = $2")
            .bind((!state.is_empty()).then_some(state))
            .bind(&mark.device_id)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn write_alarm(tx: &mut crate::shared::WriteTx, w: &AlarmWrite) -> Result<(), StoreError> {
    let a = &w.alarm;
    sqlx::query(&format!(
        "INSERT INTO alarms ({ALARM_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (id) DO UPDATE SET level = excluded.level, peak = excluded.peak, \
         status = excluded.status, value = excluded.value, \
         case_id = COALESCE(excluded.case_id, alarms.case_id), \
         updated_at = excluded.updated_at, cleared_at = excluded.cleared_at"
    ))
    .bind(&a.id)
    .bind(&a.device_id)
    .bind(&a.device_name)
    .bind(&a.type_code)
    .bind(&a.rule)
    .bind(&a.title)
    .bind(a.level.as_str())
    .bind(a.peak.as_str())
    .bind(a.status.as_str())
    .bind(a.value)
    .bind(a.lon)
    .bind(a.lat)
    .bind(a.area.to_string())
    .bind(&a.org)
    .bind(&a.case_id)
    .bind(a.raised_at)
    .bind(a.updated_at)
    .bind(a.cleared_at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    let e = &w.event;
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO alarm_history (alarm_id, seq, at, action, level, value, actor, note) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM alarm_history WHERE alarm_id = $1), \
         $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(&a.id)
    .bind(e.at)
    .bind(&e.action)
    .bind(e.level.as_str())
    .bind(e.value)
    .bind(&e.actor)
    .bind(&e.note)
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?;
    crate::hub::record_alarm_change(tx, &a.id, seq).await?;
    if let (Some(case_id), Some(note)) = (&a.case_id, &w.case_note) {
        // A note leaves the case where it is: both stages are the case's current one.
        let stage: Option<String> = sqlx::query_scalar("SELECT stage FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
        if let Some(stage) = stage {
            let stage = Stage::parse(&stage).ok_or_else(|| corrupt("stage", &stage))?;
            let note = HistoryEntry {
                from: stage,
                to: stage,
                ..note.clone()
            };
            crate::hub::append_history(tx, case_id, &note).await?;
        }
    }
    Ok(())
}

pub(crate) async fn write_alarms(pool: &Pool<Db>, writes: &[AlarmWrite]) -> Result<(), StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    for w in writes {
        write_alarm(&mut tx, w).await?;
    }
    tx.commit().await.map_err(db)
}

pub(crate) async fn purge_readings(
    pool: &Pool<Db>,
    device_ids: &[String],
    before: i64,
) -> Result<u64, StoreError> {
    delete_per_device(
        pool,
        device_ids,
        "DELETE FROM readings WHERE device_id = $1 AND ts < $2",
        &[before],
    )
    .await
}

/// Runs `sql` once per device in one transaction, with `$1` the device's id and `$2…` the
/// `binds`; returns the rows deleted. One device at a time, each delete is a range of the table's
/// primary key (which starts with the device).
async fn delete_per_device(
    pool: &Pool<Db>,
    device_ids: &[String],
    sql: &str,
    binds: &[i64],
) -> Result<u64, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    let mut deleted = 0;
    for id in device_ids {
        let mut q = sqlx::query(sql).bind(id);
        for b in binds {
            q = q.bind(*b);
        }
        deleted += q.execute(&mut *tx).await.map_err(db)?.rows_affected();
    }
    tx.commit().await.map_err(db)?;
    Ok(deleted)
}

/// One UTC day in milliseconds: the width of a readings partition.
const DAY_MS: i64 = 86_400_000;

/// The name of the readings partition of the UTC day starting at `start`: `readings_pYYYYMMDD`.
fn partition_name(start: i64) -> String {
    let day = chrono::DateTime::from_timestamp_millis(start)
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_else(|| format!("x{start}"));
    format!("readings_p{day}")
}

/// The day a partition's name stands for (its start, Unix ms), if it is one of ours.
fn partition_start(name: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(name.strip_prefix("readings_p")?, "%Y%m%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

pub(crate) async fn maintain_readings(
    pool: &Pool<Db>,
    from: i64,
    to: i64,
    drop_before: Option<i64>,
) -> Result<(u32, u32), StoreError> {
    if !crate::READINGS_PARTITIONED {
        return Ok((0, 0));
    }
    let mut tx = crate::shared::begin_write(pool).await?;
    // One node at a time (the key is arbitrary but fixed: "wanxiang readings partitions").
    sqlx::query("SELECT pg_advisory_xact_lock(7246110301)")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'readings'::regclass",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let have: std::collections::HashSet<i64> =
        existing.iter().filter_map(|n| partition_start(n)).collect();
    let (mut created, mut dropped) = (0, 0);
    let mut missing = Vec::new();
    let mut day = from.div_euclid(DAY_MS) * DAY_MS;
    while day < to {
        if drop_before.is_none_or(|b| day + DAY_MS > b) && !have.contains(&day) {
            missing.push(day);
        }
        day += DAY_MS;
    }
    if !missing.is_empty() {
        // Writers wait until the new partitions are in place: an insert routed to the catch-all
        // before an ATTACH would otherwise fail its new constraint after it.
        sqlx::query("LOCK TABLE readings IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    for day in missing {
        let name = partition_name(day);
        let end = day + DAY_MS;
        // Readings of that day the catch-all took move into the new partition.
        for sql in [
            format!("CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS)"),
            format!(
                "INSERT INTO {name} SELECT * FROM readings_default WHERE ts >= {day} AND ts < {end}"
            ),
            format!("DELETE FROM readings_default WHERE ts >= {day} AND ts < {end}"),
            format!(
                "ALTER TABLE readings ATTACH PARTITION {name} FOR VALUES FROM ({day}) TO ({end})"
            ),
        ] {
            sqlx::query(&sql).execute(&mut *tx).await.map_err(db)?;
        }
        created += 1;
    }
    if let Some(before) = drop_before {
        for name in &existing {
            if partition_start(name).is_some_and(|start| start + DAY_MS <= before) {
                sqlx::query(&format!("DROP TABLE {name}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                dropped += 1;
            }
        }
    }
    tx.commit().await.map_err(db)?;
    Ok((created, dropped))
}

pub(crate) async fn purge_rollups(
    pool: &Pool<Db>,
    device_ids: &[String],
    width: i64,
    before: i64,
) -> Result<u64, StoreError> {
    delete_per_device(
        pool,
        device_ids,
        "DELETE FROM rollups WHERE device_id = $1 AND width = $2 AND bucket < $3",
        &[width, before],
    )
    .await
}

pub(crate) async fn readings(
    pool: &Pool<Db>,
    device_id: &str,
    from: i64,
    to: i64,
    limit: u32,
) -> Result<Vec<Reading>, StoreError> {
    sqlx::query(
        "SELECT device_id, ts, data FROM readings WHERE device_id = $1 AND ts >= $2 AND ts < $3 \
         ORDER BY ts LIMIT $4",
    )
    .bind(device_id)
    .bind(from)
    .bind(to)
    .bind(i64::from(limit.clamp(1, 100_000)))
    .fetch_all(pool)
    .await
    .read_all(read_reading)
}

pub(crate) async fn rollups(
    pool: &Pool<Db>,
    device_id: &str,
    key: &str,
    width: i64,
    from: i64,
    to: i64,
) -> Result<Vec<Rollup>, StoreError> {
    sqlx::query(
        "SELECT bucket, min, max, sum, count, last, last_ts FROM rollups \
         WHERE device_id = $1 AND key = $2 AND width = $3 AND bucket >= $4 AND bucket < $5 \
         ORDER BY bucket",
    )
    .bind(device_id)
    .bind(key)
    .bind(width)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(|row| {
        Ok(Rollup {
            bucket: row.try_get("bucket").map_err(db)?,
            min: row.try_get("min").map_err(db)?,
            max: row.try_get("max").map_err(db)?,
            sum: row.try_get("sum").map_err(db)?,
            count: row.try_get("count").map_err(db)?,
            last: row.try_get("last").map_err(db)?,
            last_ts: row.try_get("last_ts").map_err(db)?,
        })
    })
    .collect()
}

pub(crate) async fn latest_readings(
    pool: &Pool<Db>,
    device_id: &str,
    limit: u32,
) -> Result<Vec<Reading>, StoreError> {
    sqlx::query(
        "SELECT device_id, ts, data FROM readings WHERE device_id = $1 ORDER BY ts DESC LIMIT $2",
    )
    .bind(device_id)
    .bind(i64::from(limit.clamp(1, 1000)))
    .fetch_all(pool)
    .await
    .read_all(read_reading)
}

pub(crate) async fn alarms<'c>(
    ex: impl sqlx::Executor<'c, Database = Db>,
    scope: &Scope,
    filter: &AlarmFilter,
) -> Result<Vec<AlarmRecord>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE 1=1"));
    push_scope(&mut qb, scope);
    match filter.status {
        _ if filter.any_status => &mut qb,
        Some(s) => qb.push(" AND status = ").push_bind(s.as_str()),
        None => qb.push(" AND status <> 'cleared'"),
    };
    if let Some(d) = &filter.device_id {
        qb.push(" AND device_id = ").push_bind(d.clone());
    }
    if let Some(c) = &filter.case_id {
        qb.push(" AND case_id = ").push_bind(c.clone());
    }
    qb.push(" ORDER BY updated_at DESC, id LIMIT ")
        .push_bind(i64::from(filter.limit.clamp(1, 5000)));
    qb.build().fetch_all(ex).await.read_all(read_alarm)
}

pub(crate) async fn alarm(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
) -> Result<Option<AlarmRecord>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE id = "));
    qb.push_bind(id.to_owned());
    push_scope(&mut qb, scope);
    qb.build().fetch_optional(pool).await.read_one(read_alarm)
}

pub(crate) async fn alarm_history(
    pool: &Pool<Db>,
    alarm_id: &str,
) -> Result<Vec<AlarmEvent>, StoreError> {
    sqlx::query(
        "SELECT at, action, level, value, actor, note FROM alarm_history WHERE alarm_id = $1 ORDER BY seq",
    )
    .bind(alarm_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(|row| {
        Ok(AlarmEvent {
            at: row.try_get("at").map_err(db)?,
            action: row.try_get("action").map_err(db)?,
            level: level(row.try_get("level").map_err(db)?)?,
            value: row.try_get("value").map_err(db)?,
            actor: row.try_get("actor").map_err(db)?,
            note: row.try_get("note").map_err(db)?,
        })
    })
    .collect()
}

pub(crate) async fn open_alarms(
    pool: &Pool<Db>,
    devices: Option<&[String]>,
) -> Result<Vec<AlarmRecord>, StoreError> {
    let select = format!("SELECT {ALARM_COLUMNS} FROM alarms WHERE status <> 'cleared'");
    let Some(devices) = devices else {
        return sqlx::query(&format!("{select} ORDER BY id"))
            .fetch_all(pool)
            .await
            .read_all(read_alarm);
    };
    let mut out = Vec::new();
    for chunk in devices.chunks(ROWS_PER_INSERT) {
        let mut qb = QueryBuilder::<Db>::new(&select);
        push_in(&mut qb, " AND device_id IN (", chunk);
        qb.push(" ORDER BY id");
        out.extend(qb.build().fetch_all(pool).await.read_all(read_alarm)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let values = vec![
            ("level_cm".to_owned(), 27.5),
            ("battery_pct".to_owned(), -0.001),
        ];
        let text = encode_values(&values).unwrap();
        assert_eq!(text, r#"{"level_cm":27.5,"battery_pct":-0.001}"#);
        assert_eq!(decode_values(&text).unwrap(), values);
        assert_eq!(decode_values("{}").unwrap(), vec![]);
        assert!(encode_values(&[("x".into(), f64::NAN)]).is_err());
        assert!(encode_values(&[("a\"b".into(), 1.0)]).is_err());
    }

    #[test]
    fn counts_add_up() {
        let mut counts = decode_counts("unknown_key=2;out_of_range=1").unwrap();
        add_counts(
            &mut counts,
            &[("out_of_range".into(), 3), ("bad_time".into(), 1)],
        );
        assert_eq!(
            encode_counts(&counts),
            "unknown_key=2;out_of_range=4;bad_time=1"
        );
        assert!(decode_counts("x").is_err());
    }
}
