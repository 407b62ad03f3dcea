//! The event hub's SQL beside cases — batched intake, linked duplicate reports, attachments,
//! warnings and the webhook outbox — written once for both engines, like `shared.rs` (included
//! the same way; see there for the conventions).

use sqlx::{Pool, QueryBuilder, Row};
use wanxiang_core::case::{CaseRecord, Channel, HistoryEntry};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::warning::{Kind, Level};
use wanxiang_core::{Scope, ScopeFilter};
use wanxiang_store::codec;
use wanxiang_store::{
    Attachment, AttachmentMeta, CaseCreated, CaseMark, CaseParts, Delivery, DeliveryOutcome,
    DeliveryStatus, IntakeWrite, IntakeWritten, LinkedReport, NearQuery, NewCase, NewLink,
    OverdueGroup, StoreError, SupervisionMark, WarningChange, WarningRecord, WarningStatus,
};

use crate::shared::{
    CASE_COLUMNS, Conn, Script, corrupt, insert_case, insert_history, parsed, push_scope,
    read_case, read_recipient,
};
use crate::{Db, DbRow, db};

/// The case a channel's external id already names, as a case or as a linked report.
async fn known_external(
    tx: &mut Conn,
    channel: Channel,
    external_id: &str,
) -> Result<Option<String>, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM cases WHERE channel = $1 AND external_id = $2
         UNION ALL SELECT case_id FROM case_reports WHERE channel = $1 AND external_id = $2",
    )
    .bind(channel.as_str())
    .bind(external_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    Ok(found)
}

pub(crate) async fn insert_notifications(
    tx: &mut Conn,
    list: &[Notification],
    outbox: bool,
) -> Result<(), StoreError> {
    let mut pending = Pending::default();
    pending.notifications(list, outbox);
    pending.flush(tx).await?;
    Ok(())
}

/// Statements of an intake transaction queued until an answer is needed (see `Script`), with
/// what to do once they ran: the notifications whose deliveries are still to be written (they
/// need the notifications' ids).
#[derive(Default)]
struct Pending {
    script: Script,
    /// Places of notification inserts that returned ids for deliveries.
    returning: Vec<usize>,
}

impl Pending {
    /// Queues notifications, in statements of at most 2,000 rows (SQLite takes at most 32,766
    /// parameters a statement: 7 a notification). With `outbox`, each gets its delivery, due at
    /// its own time, when the statements run.
    fn notifications(&mut self, list: &[Notification], outbox: bool) {
        for part in list.chunks(2_000) {
            let (at, qb) = self.script.statement(
                "INSERT INTO notifications (at, recipient_account, recipient_org, recipient_role, case_id, kind, message) ",
            );
            qb.push_values(part, |mut b, n| {
                let (account, org, role) = match &n.recipient {
                    Recipient::Account(a) => (Some(a.clone()), None, None),
                    Recipient::Org { org, role } => {
                        (None, Some(org.clone()), role.map(|r| r.as_str()))
                    }
                };
                b.push_bind(n.at)
                    .push_bind(account)
                    .push_bind(org)
                    .push_bind(role)
                    .push_bind(n.case_id.clone())
                    .push_bind(n.kind.clone())
                    .push_bind(n.message.clone());
            });
            if outbox {
                qb.push(" RETURNING id, at");
                self.returning.push(at);
            }
        }
    }

    /// Queues the attachment of a reporter's uploads to a case's history line: line `seq`, or
    /// (`None`) the case's last line when the statement runs.
    fn attach(
        &mut self,
        ids: &[String],
        owner: &str,
        case_id: &str,
        seq: Option<i64>,
    ) -> Vec<usize> {
        ids.iter()
            .map(|id| {
                let (at, qb) = self.script.statement("UPDATE attachments SET case_id = ");
                qb.push_bind(case_id.to_owned()).push(", history_seq = ");
                match seq {
                    Some(seq) => qb.push_bind(seq),
                    None => qb
                        .push("(SELECT MAX(h.seq) FROM case_history h WHERE h.case_id = ")
                        .push_bind(case_id.to_owned())
                        .push(")"),
                };
                qb.push(" WHERE id = ")
                    .push_bind(id.clone())
                    .push(" AND owner = ")
                    .push_bind(owner.to_owned())
                    .push(" AND case_id IS NULL");
                at
            })
            .collect()
    }

    /// Runs what is queued, then the deliveries of its notifications; returns the outcomes of
    /// the statements queued.
    async fn flush(&mut self, tx: &mut Conn) -> Result<Vec<crate::shared::Outcome>, StoreError> {
        let script = std::mem::take(&mut self.script);
        if script.is_empty() {
            return Ok(Vec::new());
        }
        let done = script.run(tx).await?;
        self.deliveries(tx, &done).await?;
        Ok(done)
    }

    /// Writes the deliveries of the notifications queued with `outbox` (as their statements
    /// answered in `done`), in one more round trip if there are any.
    async fn deliveries(
        &mut self,
        tx: &mut Conn,
        done: &[crate::shared::Outcome],
    ) -> Result<(), StoreError> {
        let returning = std::mem::take(&mut self.returning);
        // Each notification gets its delivery, due at its own time: one statement for each
        // statement of notifications (so within SQLite's parameters), all in one script.
        let mut deliveries = Script::default();
        for at in returning {
            let created: Vec<(i64, i64)> = done[at]
                .rows
                .iter()
                .map(|r| Ok((r.try_get("id").map_err(db)?, r.try_get("at").map_err(db)?)))
                .collect::<Result<_, StoreError>>()?;
            if created.is_empty() {
                continue;
            }
            let (_, qb) = deliveries.statement(
                "INSERT INTO deliveries (notification_id, status, attempts, next_at, created_at, updated_at) ",
            );
            qb.push_values(created, |mut b, (id, at)| {
                b.push_bind(id)
                    .push_bind("pending")
                    .push_bind(0i64)
                    .push_bind(at)
                    .push_bind(at)
                    .push_bind(at);
            });
        }
        if !deliveries.is_empty() {
            deliveries.run(tx).await?;
        }
        Ok(())
    }
}

async fn attach_in(
    tx: &mut Conn,
    ids: &[String],
    owner: &str,
    case_id: &str,
    seq: i64,
) -> Result<u64, StoreError> {
    let mut pending = Pending::default();
    let places = pending.attach(ids, owner, case_id, Some(seq));
    let done = pending.flush(tx).await?;
    Ok(places.iter().map(|at| done[*at].affected).sum())
}

async fn create_one(
    tx: &mut Conn,
    item: &NewCase,
    outbox: bool,
) -> Result<CaseCreated, StoreError> {
    let c = &item.record;
    if let Some(ext) = &c.external_id
        && let Some(id) = known_external(tx, c.channel, ext).await?
    {
        return Ok(CaseCreated::Existing(id));
    }
    if !insert_case(tx, c).await? {
        // The same channel and external id, written meanwhile (another node, same batch).
        let ext = c.external_id.as_deref().unwrap_or_default();
        return match known_external(tx, c.channel, ext).await? {
            Some(id) => Ok(CaseCreated::Existing(id)),
            None => Err(StoreError::Conflict(format!("case {} exists", c.id))),
        };
    }
    let mut pending = Pending::default();
    case_rest(&mut pending, &[item], outbox);
    pending.flush(tx).await?;
    Ok(CaseCreated::New)
}

pub(crate) async fn create_cases(
    pool: &Pool<Db>,
    batch: &[NewCase],
    outbox: bool,
) -> Result<Vec<CaseCreated>, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        out.push(create_one(&mut tx, item, outbox).await?);
    }
    tx.commit().await.map_err(db)?;
    Ok(out)
}

/// Stages that are finished.
const FINISHED: &str = "('closed', 'rejected')";

pub(crate) async fn cases_near_any(
    pool: &Pool<Db>,
    boxes: &[NearQuery],
) -> Result<Vec<CaseMark>, StoreError> {
    // A query takes at most CHUNK boxes (SQLite limits the depth of an expression); newest
    // first is sorted here: few rows.
    const CHUNK: usize = 100;
    let mut found = Vec::new();
    for part in boxes.chunks(CHUNK) {
        for row in near_query(part).build().fetch_all(pool).await.map_err(db)? {
            found.push(read_mark(&row)?);
        }
    }
    found.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(found)
}

/// The channels of machines' reports, as the partial index `cases_machine_near` names them (a
/// query uses that index only with this very condition).
const MACHINE_CHANNELS: &str = "channel IN ('sensor', 'video_ai')";

/// The query for [`cases_near_any`]'s boxes: each box is what narrows the search (an index range
/// on longitude, by category when given; for machines' cases only, the partial index of theirs);
/// `+created_at` keeps the time condition from steering the planner to the time index, which
/// would scan every recent case.
pub(crate) fn near_query(part: &[NearQuery]) -> QueryBuilder<'static, Db> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {MARK_COLUMNS} FROM cases WHERE ("));
    for (i, q) in part.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(");
        if let Some(c) = &q.category {
            qb.push("category = ").push_bind(c.clone()).push(" AND ");
        }
        if q.machines_only {
            qb.push(MACHINE_CHANNELS).push(" AND ");
        }
        qb.push("lon >= ").push_bind(q.lon_min);
        qb.push(" AND lon <= ").push_bind(q.lon_max);
        qb.push(" AND lat >= ").push_bind(q.lat_min);
        qb.push(" AND lat <= ").push_bind(q.lat_max);
        qb.push(" AND +created_at >= ").push_bind(q.since);
        if let Some(until) = q.until {
            qb.push(" AND +created_at < ").push_bind(until);
        }
        if q.open_only {
            qb.push(format!(" AND stage NOT IN {FINISHED}"));
        }
        qb.push(")");
    }
    qb.push(")");
    let limit: u32 = part.iter().map(|q| q.limit).sum();
    qb.push(" LIMIT ")
        .push_bind(i64::from(limit.clamp(1, 20_000)));
    qb
}

pub(crate) async fn case_marks(
    pool: &Pool<Db>,
    since: i64,
    until: i64,
    limit: u32,
) -> Result<Vec<CaseMark>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {MARK_COLUMNS} FROM cases
         WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id LIMIT $3"
    ))
    .bind(since)
    .bind(until)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(read_mark).collect()
}

/// The columns [`read_mark`] reads.
const MARK_COLUMNS: &str = "id, channel, category, lon, lat, area_code, created_at, stage";

/// A case's mark from a row of [`MARK_COLUMNS`].
fn read_mark(row: &DbRow) -> Result<CaseMark, StoreError> {
    Ok(CaseMark {
        id: row.try_get("id").map_err(db)?,
        channel: parsed(row, "channel", "channel", Channel::parse)?,
        category: row.try_get("category").map_err(db)?,
        lon: row.try_get("lon").map_err(db)?,
        lat: row.try_get("lat").map_err(db)?,
        area: row.try_get("area_code").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        stage: parsed(row, "stage", "stage", wanxiang_core::case::Stage::parse)?,
    })
}

pub(crate) async fn daily_counts(
    pool: &Pool<Db>,
    scope: &Scope,
    category: &str,
    end: i64,
    days: u32,
) -> Result<Vec<u64>, StoreError> {
    const DAY: i64 = 86_400_000;
    let mut counts = vec![0u64; days as usize];
    if days == 0 {
        return Ok(counts);
    }
    let mut qb = QueryBuilder::<Db>::new("SELECT (");
    qb.push_bind(end - 1)
        .push(" - created_at) / ")
        .push_bind(DAY)
        .push(" AS k, COUNT(*) AS n FROM cases WHERE category = ")
        .push_bind(category.to_owned())
        .push(" AND created_at >= ")
        .push_bind(end - i64::from(days) * DAY)
        .push(" AND created_at < ")
        .push_bind(end);
    push_scope(&mut qb, scope);
    qb.push(" GROUP BY k");
    for r in qb.build().fetch_all(pool).await.map_err(db)? {
        let k: i64 = r.try_get("k").map_err(db)?;
        let n: i64 = r.try_get("n").map_err(db)?;
        if let Some(slot) = usize::try_from(k).ok().and_then(|k| counts.get_mut(k)) {
            *slot += n.max(0) as u64;
        }
    }
    Ok(counts)
}

pub(crate) async fn overdue_backlog(
    pool: &Pool<Db>,
    scope: &Scope,
    first: u32,
) -> Result<Vec<OverdueGroup>, StoreError> {
    // Read from `cases_overdue_backlog` alone (migration 0023): it holds the open overdue
    // cases with every column named here.
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT org, district, id, due_at, n FROM (\
         SELECT org, substr(area_code, 1, 6) AS district, id, due_at, \
         ROW_NUMBER() OVER (PARTITION BY org, substr(area_code, 1, 6) ORDER BY due_at, id) AS r, \
         COUNT(*) OVER (PARTITION BY org, substr(area_code, 1, 6)) AS n \
         FROM cases WHERE overdue AND stage NOT IN {FINISHED}"
    ));
    push_scope(&mut qb, scope);
    qb.push(") AS t WHERE r <= ")
        .push_bind(i64::from(first.max(1)))
        .push(" ORDER BY org, district, r");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    let mut out: Vec<OverdueGroup> = Vec::new();
    for row in &rows {
        let org: String = row.try_get("org").map_err(db)?;
        let district: String = row.try_get("district").map_err(db)?;
        let n: i64 = row.try_get("n").map_err(db)?;
        let case = (
            row.try_get("due_at").map_err(db)?,
            row.try_get("id").map_err(db)?,
        );
        match out.last_mut() {
            Some(g) if g.org == org && g.district == district => g.first.push(case),
            _ => out.push(OverdueGroup {
                org,
                district,
                count: n.max(0) as u64,
                first: vec![case],
            }),
        }
    }
    Ok(out)
}

/// Supervision's marks, in one transaction (see `Store::mark_supervised`): marks that write
/// the same values share an UPDATE, which names each case with the version it was read at and
/// returns those it changed; the cases' last history numbers are read in the same round trip.
/// Then the changed cases' history lines and notifications go in one script.
pub(crate) async fn mark_supervised(
    pool: &Pool<Db>,
    scope: &Scope,
    marks: &[SupervisionMark],
    outbox: bool,
) -> Result<Vec<bool>, StoreError> {
    if marks.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = crate::shared::begin_write(pool).await?;
    let mut pending = Pending::default();
    type Values<'a> = (bool, bool, Option<&'a str>, i64);
    let mut groups: Vec<(Values<'_>, Vec<&CaseRecord>)> = Vec::new();
    for m in marks {
        let c = &m.case;
        let s = &c.supervision;
        let key = (s.warned, s.overdue, s.escalated_to.as_deref(), c.updated_at);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    let mut updates = Vec::new();
    for ((warned, overdue, escalated_to, at), list) in &groups {
        // SQLite takes at most 32,766 parameters a statement: 3 a case.
        for part in list.chunks(1_000) {
            let (place, qb) = pending.script.statement("UPDATE cases SET warned = ");
            qb.push_bind(*warned)
                .push(", overdue = ")
                .push_bind(*overdue)
                .push(", escalated_to = ")
                .push_bind(escalated_to.map(str::to_owned))
                .push(", version = version + 1, updated_at = ")
                .push_bind(*at)
                .push(" WHERE id IN (");
            // The id list finds the rows by key; the pairs check each one's version.
            let ids: Vec<&str> = part.iter().map(|c| c.id.as_str()).collect();
            crate::shared::push_among(qb, &ids, "AND (id, version) IN (VALUES ");
            let mut pairs = qb.separated(", ");
            for c in part {
                pairs.push("(");
                pairs.push_bind_unseparated(c.id.clone());
                pairs.push_unseparated(", ");
                pairs.push_bind_unseparated(c.version - 1);
                pairs.push_unseparated(")");
            }
            qb.push(")");
            push_scope(qb, scope);
            qb.push(" RETURNING id");
            updates.push(place);
        }
    }
    let done = pending.flush(&mut tx).await?;
    let mut written = std::collections::HashSet::new();
    for row in updates.iter().flat_map(|at| &done[*at].rows) {
        written.insert(row.try_get::<String, _>("id").map_err(db)?);
    }
    let chosen: Vec<&SupervisionMark> = marks
        .iter()
        .filter(|m| written.contains(&m.case.id))
        .collect();
    append_in_rounds(
        &mut pending,
        &chosen,
        |m| (m.case.id.as_str(), &m.entry),
        |_, _| {},
    );
    let notes: Vec<Notification> = chosen
        .iter()
        .flat_map(|m| m.notifications.iter().cloned())
        .collect();
    pending.notifications(&notes, outbox);
    pending.flush(&mut tx).await?;
    tx.commit().await.map_err(db)?;
    Ok(marks.iter().map(|m| written.contains(&m.case.id)).collect())
}

/// Appends a history line to a case, numbering it after the last one; returns its number.
pub(crate) async fn append_history(
    tx: &mut Conn,
    case_id: &str,
    entry: &HistoryEntry,
) -> Result<i64, StoreError> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(seq) FROM case_history WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    let entry = HistoryEntry {
        seq: last.unwrap_or(0) + 1,
        ..entry.clone()
    };
    insert_history(tx, case_id, &entry).await?;
    Ok(entry.seq)
}

async fn link_in(tx: &mut Conn, l: &NewLink, outbox: bool) -> Result<CaseCreated, StoreError> {
    let r = &l.report;
    if let Some(ext) = &r.external_id
        && let Some(id) = known_external(tx, r.channel, ext).await?
    {
        return Ok(CaseCreated::Existing(id));
    }
    if insert_reports(tx, &[l]).await? == 0 {
        // The same channel and external id, written meanwhile (another node, same batch).
        let ext = r.external_id.as_deref().unwrap_or_default();
        return match known_external(tx, r.channel, ext).await? {
            Some(id) => Ok(CaseCreated::Existing(id)),
            None => Err(StoreError::Conflict(format!("report {} exists", r.id))),
        };
    }
    let mut pending = Pending::default();
    link_rest(&mut pending, &[l], outbox);
    pending.flush(tx).await?;
    Ok(CaseCreated::New)
}

/// Queues a batch's history lines, in statements of at most 2,000 rows (SQLite takes at most
/// 32,766 parameters a statement: 9 a history line).
fn history_lines(pending: &mut Pending, lines: &[(&str, &HistoryEntry)]) {
    for part in lines.chunks(2_000) {
        crate::shared::push_histories(&mut pending.script, part);
    }
}

/// Queues new cases without external ids, one statement per table. Nothing of theirs can be
/// skipped (it is a channel's external id that may be stored before); an id used twice fails
/// the statement, and so the transaction.
fn create_many(pending: &mut Pending, run: &[&NewCase], outbox: bool) {
    let records: Vec<&CaseRecord> = run.iter().map(|c| &c.record).collect();
    // SQLite takes at most 32,766 parameters a statement: 32 a case.
    for part in records.chunks(500) {
        crate::shared::push_cases(&mut pending.script, part);
    }
    case_rest(pending, run, outbox);
}

/// Queues what follows new cases' rows: their history lines, notifications and attachments.
fn case_rest(pending: &mut Pending, run: &[&NewCase], outbox: bool) {
    let lines: Vec<(&str, &HistoryEntry)> = run
        .iter()
        .flat_map(|c| c.history.iter().map(|h| (c.record.id.as_str(), h)))
        .collect();
    history_lines(pending, &lines);
    let notes: Vec<Notification> = run
        .iter()
        .flat_map(|c| c.notifications.iter().cloned())
        .collect();
    pending.notifications(&notes, outbox);
    for c in run {
        if let Some(owner) = &c.record.reporter
            && !c.attachments.is_empty()
        {
            pending.attach(&c.attachments, owner, &c.record.id, Some(1));
        }
    }
}

/// Queues links without external ids, one statement per table (as [`create_many`], nothing of
/// theirs can be skipped).
fn link_many(pending: &mut Pending, run: &[&NewLink], outbox: bool) {
    // SQLite takes at most 32,766 parameters a statement: 13 a report.
    for part in run.chunks(1_000) {
        push_reports(&mut pending.script, part);
    }
    link_rest(pending, run, outbox);
}

/// Stores linked reports in one statement; returns how many were new (a channel and external
/// id stored before is skipped).
async fn insert_reports(tx: &mut Conn, links: &[&NewLink]) -> Result<u64, StoreError> {
    let mut script = Script::default();
    let at = push_reports(&mut script, links);
    Ok(script.run(tx).await?[at].affected)
}

/// Queues the statement that stores linked reports, skipping any whose channel and external id
/// were stored before; returns its place (its outcome counts the new ones).
fn push_reports(script: &mut Script, links: &[&NewLink]) -> usize {
    let (at, qb) = script.statement(
        "INSERT INTO case_reports (id, case_id, channel, external_id, owner, reporter_contact, category,
             description, lon, lat, area_code, distance_m, at, unlinked_at, unlinked_to) ",
    );
    qb.push_values(links, |mut b, l| {
        let r = &l.report;
        b.push_bind(r.id.clone())
            .push_bind(r.case_id.clone())
            .push_bind(r.channel.as_str())
            .push_bind(r.external_id.clone())
            .push_bind(r.reporter.clone())
            .push_bind(r.reporter_contact.clone())
            .push_bind(r.category.clone())
            .push_bind(r.description.clone())
            .push_bind(r.lon)
            .push_bind(r.lat)
            .push_bind(r.area.as_str().to_owned())
            .push_bind(r.distance_m)
            .push_bind(r.at)
            .push("NULL, NULL");
    });
    qb.push(" ON CONFLICT (channel, external_id) DO NOTHING");
    at
}

/// Splits history lines to append into rounds in which no case comes twice: a case's first goes in the
/// first round, its second in the second, and so on (so each case's lines keep their order).
fn rounds<'a, T>(items: &'a [T], case: impl Fn(&'a T) -> &'a str) -> Vec<Vec<&'a T>> {
    let mut rounds: Vec<Vec<&T>> = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for item in items {
        let k = seen.entry(case(item)).or_insert(0);
        if rounds.len() == *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(item);
        *k += 1;
    }
    rounds
}

/// Queues history lines each appended after its case's last (see `push_appended`), in rounds
/// (see [`rounds`]) and statements of at most 2,000 lines (SQLite takes at most 32,766
/// parameters a statement: 10 a line); `then` queues what must follow each statement's lines.
fn append_in_rounds<'a, T>(
    pending: &mut Pending,
    items: &'a [T],
    line: impl Fn(&'a T) -> (&'a str, &'a HistoryEntry),
    mut then: impl FnMut(&mut Pending, &[&'a T]),
) {
    for round in rounds(items, |t| line(t).0) {
        for part in round.chunks(2_000) {
            let lines: Vec<(&str, &HistoryEntry)> = part.iter().map(|t| line(t)).collect();
            crate::shared::push_appended(&mut pending.script, &lines);
            then(pending, part);
        }
    }
}

/// Queues what follows linked reports' rows: each case's history line, numbered by the database
/// after the case's last (a round of statements per link a case gets, so that several joining
/// one case are numbered in order), the reporters' attachments (to the line just appended) and
/// the notifications. Nothing here waits for an answer: the links of a batch cost no round trip
/// of their own.
fn link_rest(pending: &mut Pending, run: &[&NewLink], outbox: bool) {
    append_in_rounds(
        pending,
        run,
        |l| (l.report.case_id.as_str(), &l.entry),
        |pending, part| {
            for l in part {
                if let Some(owner) = &l.report.reporter
                    && !l.attachments.is_empty()
                {
                    pending.attach(&l.attachments, owner, &l.report.case_id, None);
                }
            }
        },
    );
    let notes: Vec<Notification> = run
        .iter()
        .flat_map(|l| l.notifications.iter().cloned())
        .collect();
    pending.notifications(&notes, outbox);
}

/// Writes an intake batch in one transaction: new cases, and reports linked to the open cases
/// they repeat; answers with what became of each and the joined cases as the transaction left
/// them. A batch without external ids (the usual one) is one script: begin, every row, the
/// read of the joined cases, commit: one round trip to SQLite's thread (more with a webhook
/// outbox, whose deliveries need the notifications' ids).
pub(crate) async fn write_intake(
    pool: &Pool<Db>,
    intake: &crate::shared::IntakeConn,
    batch: &[IntakeWrite],
    outbox: bool,
) -> Result<IntakeWritten, StoreError> {
    let mut held = intake.lock().await;
    let mut pending = Pending::default();
    let mut tx = crate::shared::ScriptTx::begin(pool, held.take(), &mut pending.script).await?;
    let written = intake_in(&mut tx, pending, batch, outbox).await;
    if written.is_err() {
        tx.rollback().await;
    }
    *held = tx.finish();
    written
}

/// The body of [`write_intake`], in its transaction (begun by the first statement `pending`
/// holds); commits.
async fn intake_in(
    tx: &mut crate::shared::ScriptTx,
    mut pending: Pending,
    batch: &[IntakeWrite],
    outbox: bool,
) -> Result<IntakeWritten, StoreError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(item) = rest.first() {
        // A run of new cases and links without external ids needs no idempotency check: their
        // rows go in a few multi-row statements, queued. The run's cases go in first, so a
        // link to one of them finds it.
        let run = rest
            .iter()
            .take_while(|w| match w {
                IntakeWrite::Case(c) => c.record.external_id.is_none(),
                IntakeWrite::Link(l) => l.report.external_id.is_none(),
            })
            .count();
        if run > 0 {
            let (mut cases, mut links): (Vec<&NewCase>, Vec<&NewLink>) = Default::default();
            for w in &rest[..run] {
                match w {
                    IntakeWrite::Case(c) => cases.push(c),
                    IntakeWrite::Link(l) => links.push(l),
                }
            }
            if !cases.is_empty() {
                create_many(&mut pending, &cases, outbox);
            }
            if !links.is_empty() {
                link_many(&mut pending, &links, outbox);
            }
            out.extend(std::iter::repeat_n(CaseCreated::New, run));
            rest = &rest[run..];
            continue;
        }
        // One with an external id: what is queued runs first (the first time, with the
        // transaction's BEGIN), then its check and rows.
        pending.flush(tx.conn()).await?;
        rest = &rest[1..];
        out.push(match item {
            IntakeWrite::Case(c) => create_one(tx.conn(), c, outbox).await?,
            IntakeWrite::Link(l) => link_in(tx.conn(), l, outbox).await?,
        });
    }
    // The cases the links joined, once each, as this transaction leaves them: the answer to
    // each linked report, read here on the writer (whose pages are warm) instead of by every
    // report's handler after the commit; their histories as their last lines only.
    let mut ids: Vec<String> = Vec::new();
    for (w, done) in batch.iter().zip(&out) {
        if let (IntakeWrite::Link(l), CaseCreated::New) = (w, done)
            && !ids.contains(&l.report.case_id)
        {
            ids.push(l.report.case_id.clone());
        }
    }
    let reads = (!ids.is_empty()).then(|| {
        // The rows with their census, so the parts need no statement more for cases without
        // attachments or alarms (most).
        let (rows, qb) = pending.script.statement(&format!(
            "SELECT {CASE_COLUMNS}, {} FROM cases WHERE id IN (",
            crate::shared::PARTS_CENSUS
        ));
        crate::shared::push_among(qb, &ids, "");
        let (history, qb) = pending
            .script
            .statement(&crate::shared::histories_head(Some(
                wanxiang_store::JOINED_HISTORY_LINES,
            )));
        crate::shared::push_among(qb, &ids, crate::shared::HISTORY_GROUP);
        (rows, history)
    });
    // The commit goes with the rest, unless notifications' deliveries are still to be written.
    let done = if pending.returning.is_empty() {
        tx.commit(std::mem::take(&mut pending.script)).await?
    } else {
        let done = pending.flush(tx.conn()).await?;
        tx.commit(Script::default()).await?;
        done
    };
    // The batch is committed: a failure to read the joined cases back must not fail it (the
    // writer reads a case it is not given after the commit).
    let joined = match reads {
        None => Vec::new(),
        Some((rows, history)) => joined_cases(
            tx.conn(),
            &ids,
            &done[rows].rows,
            &done[history].rows,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the cases an intake batch joined were not read back");
            Vec::new()
        }),
    };
    Ok(IntakeWritten {
        created: out,
        joined,
    })
}

/// The cases a batch's links joined, from the rows its script read before the commit (each
/// case with its census, and the histories); what else their parts need (attachments, linked
/// reports, alarms; for few cases) is read after the commit, on the same connection (on SQLite
/// still under the write lock: as the transaction left it).
async fn joined_cases(
    conn: &mut Conn,
    ids: &[String],
    rows: &[DbRow],
    history: &[DbRow],
) -> Result<Vec<(CaseRecord, CaseParts)>, StoreError> {
    let mut cases = Vec::with_capacity(ids.len());
    let mut census = std::collections::HashMap::with_capacity(ids.len());
    for row in rows {
        let case = read_case(row)?;
        census.insert(case.id.clone(), crate::shared::read_census(row)?);
        cases.push(case);
    }
    let mut parts = crate::shared::assemble_parts(ids, &census, history)?;
    crate::shared::more_parts(conn, &mut parts, ids, &census, true).await?;
    Ok(cases
        .into_iter()
        .map(|case| {
            let p = parts.remove(&case.id).unwrap_or_default();
            (case, p)
        })
        .collect())
}

const REPORT_COLUMNS: &str = "id, case_id, channel, external_id, owner, reporter_contact, category, description, \
    lon, lat, area_code, distance_m, at, unlinked_at, unlinked_to";

fn read_report(row: &DbRow) -> Result<LinkedReport, StoreError> {
    let area: String = row.try_get("area_code").map_err(db)?;
    Ok(LinkedReport {
        id: row.try_get("id").map_err(db)?,
        case_id: row.try_get("case_id").map_err(db)?,
        channel: parsed(row, "channel", "channel", Channel::parse)?,
        external_id: row.try_get("external_id").map_err(db)?,
        reporter: row.try_get("owner").map_err(db)?,
        reporter_contact: row.try_get("reporter_contact").map_err(db)?,
        category: row.try_get("category").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        lon: row.try_get("lon").map_err(db)?,
        lat: row.try_get("lat").map_err(db)?,
        area: codec::decode_code(&area)?,
        distance_m: row.try_get("distance_m").map_err(db)?,
        at: row.try_get("at").map_err(db)?,
        unlinked_at: row.try_get("unlinked_at").map_err(db)?,
        unlinked_to: row.try_get("unlinked_to").map_err(db)?,
    })
}

pub(crate) async fn case_reports(
    pool: &Pool<Db>,
    case_id: &str,
) -> Result<Vec<LinkedReport>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REPORT_COLUMNS} FROM case_reports WHERE case_id = $1 ORDER BY at, id"
    ))
    .bind(case_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(read_report).collect()
}

pub(crate) async fn unlink_report(
    pool: &Pool<Db>,
    scope: &Scope,
    report_id: &str,
    primary: &CaseRecord,
    entry: &HistoryEntry,
    split: &NewCase,
    outbox: bool,
) -> Result<bool, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    let marked = sqlx::query(
        "UPDATE case_reports SET unlinked_at = $1, unlinked_to = $2
         WHERE id = $3 AND case_id = $4 AND unlinked_at IS NULL",
    )
    .bind(entry.at)
    .bind(&split.record.id)
    .bind(report_id)
    .bind(&primary.id)
    .execute(&mut *tx)
    .await
    .map_err(db)?
    .rows_affected();
    if marked == 0 {
        return Ok(false);
    }
    let mut qb = QueryBuilder::<Db>::new("UPDATE cases SET version = ");
    qb.push_bind(primary.version);
    qb.push(", updated_at = ").push_bind(primary.updated_at);
    qb.push(" WHERE id = ").push_bind(primary.id.clone());
    qb.push(" AND version = ").push_bind(primary.version - 1);
    push_scope(&mut qb, scope);
    if qb
        .build()
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
        == 0
    {
        return Ok(false);
    }
    append_history(&mut tx, &primary.id, entry).await?;
    // The split case keeps the report's external id: free it on the report first.
    sqlx::query("UPDATE case_reports SET external_id = NULL WHERE id = $1")
        .bind(report_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if create_one(&mut tx, split, outbox).await? != CaseCreated::New {
        return Err(StoreError::Conflict(format!(
            "case {} exists",
            split.record.id
        )));
    }
    tx.commit().await.map_err(db)?;
    Ok(true)
}

pub(crate) async fn case_followers(
    pool: &Pool<Db>,
    case_id: &str,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT DISTINCT owner FROM case_reports WHERE case_id = $1 AND unlinked_at IS NULL AND owner IS NOT NULL ORDER BY owner",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await
    .map_err(db)
}

const ATTACHMENT_COLUMNS: &str =
    "id, owner, case_id, history_seq, name, content_type, size, sha256, created_at";

fn read_attachment_meta(row: &DbRow) -> Result<AttachmentMeta, StoreError> {
    Ok(AttachmentMeta {
        id: row.try_get("id").map_err(db)?,
        owner: row.try_get("owner").map_err(db)?,
        case_id: row.try_get("case_id").map_err(db)?,
        history_seq: row.try_get("history_seq").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        content_type: row.try_get("content_type").map_err(db)?,
        size: row.try_get::<i64, _>("size").map_err(db)?.max(0) as u64,
        sha256: row.try_get("sha256").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(crate) async fn put_attachment(pool: &Pool<Db>, a: &Attachment) -> Result<(), StoreError> {
    let m = &a.meta;
    sqlx::query(&format!(
        "INSERT INTO attachments ({ATTACHMENT_COLUMNS}, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&m.id)
    .bind(&m.owner)
    .bind(&m.case_id)
    .bind(m.history_seq)
    .bind(&m.name)
    .bind(&m.content_type)
    .bind(m.size as i64)
    .bind(&m.sha256)
    .bind(m.created_at)
    .bind(&a.data)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn attachment(
    pool: &Pool<Db>,
    id: &str,
    with_data: bool,
) -> Result<Option<Attachment>, StoreError> {
    let columns = if with_data {
        format!("{ATTACHMENT_COLUMNS}, data")
    } else {
        ATTACHMENT_COLUMNS.to_owned()
    };
    let row = sqlx::query(&format!("SELECT {columns} FROM attachments WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(Attachment {
            meta: read_attachment_meta(&r)?,
            data: if with_data {
                r.try_get("data").map_err(db)?
            } else {
                Vec::new()
            },
        })
    })
    .transpose()
}

/// The attachments of several cases, case by case, each case's by history line.
pub(crate) async fn attachments_of<'c>(
    ex: impl sqlx::Executor<'c, Database = Db>,
    ids: &[impl AsRef<str>],
) -> Result<Vec<AttachmentMeta>, StoreError> {
    let rows = crate::shared::among(
        &format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE case_id IN ("),
        ids,
        "ORDER BY case_id, history_seq, created_at, id",
    )
    .build()
    .fetch_all(ex)
    .await
    .map_err(db)?;
    rows.iter().map(read_attachment_meta).collect()
}

pub(crate) async fn attach(
    pool: &Pool<Db>,
    ids: &[String],
    owner: &str,
    case_id: &str,
    seq: i64,
) -> Result<u64, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    let n = attach_in(&mut tx, ids, owner, case_id, seq).await?;
    tx.commit().await.map_err(db)?;
    Ok(n)
}

pub(crate) async fn purge_loose_attachments(
    pool: &Pool<Db>,
    before: i64,
) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM attachments WHERE case_id IS NULL AND created_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map_err(db)?
            .rows_affected(),
    )
}

const WARNING_COLUMNS: &str = "id, key, kind, level, area_code, category, evidence, observed, expected, message, \
    status, case_id, created_at, updated_at";

fn read_warning(row: &DbRow) -> Result<WarningRecord, StoreError> {
    let text = |c: &str| -> Result<String, StoreError> { row.try_get(c).map_err(db) };
    let kind = text("kind")?;
    let level = text("level")?;
    let status = text("status")?;
    let evidence = text("evidence")?;
    Ok(WarningRecord {
        id: text("id")?,
        key: text("key")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("warning kind", &kind))?,
        level: Level::parse(&level).ok_or_else(|| corrupt("warning level", &level))?,
        area: codec::decode_code(&text("area_code")?)?,
        category: row.try_get("category").map_err(db)?,
        evidence: evidence
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        observed: row.try_get("observed").map_err(db)?,
        expected: row.try_get("expected").map_err(db)?,
        message: text("message")?,
        status: WarningStatus::parse(&status).ok_or_else(|| corrupt("warning status", &status))?,
        case_id: row.try_get("case_id").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

/// Warnings belong to units: the scope's area filter applies, and scopes that see no area
/// (a department, an entity, a resident) see none.
fn push_warning_scope(qb: &mut QueryBuilder<'_, Db>, scope: &Scope) {
    match scope.filter() {
        ScopeFilter::All => qb.push(""),
        ScopeFilter::AreaPrefix(p) => {
            crate::shared::push_area_prefix(qb, &p);
            qb
        }
        ScopeFilter::Org(_) | ScopeFilter::Owner(_) => qb.push(" AND 1 = 0"),
    };
}

/// Stores one detection inside a write transaction: see [`upsert_warnings`].
async fn upsert_in(
    tx: &mut Conn,
    w: &WarningRecord,
) -> Result<(WarningRecord, WarningChange), StoreError> {
    let select = format!("SELECT {WARNING_COLUMNS} FROM warnings WHERE key = $1");
    let existing = sqlx::query(&select)
        .bind(&w.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .map(|r| read_warning(&r))
        .transpose()?;
    Ok(match existing {
        None => {
            let inserted = sqlx::query(&format!(
                "INSERT INTO warnings ({WARNING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (key) DO NOTHING"
            ))
            .bind(&w.id)
            .bind(&w.key)
            .bind(w.kind.as_str())
            .bind(w.level.as_str())
            .bind(w.area.as_str())
            .bind(&w.category)
            .bind(w.evidence.join(","))
            .bind(w.observed)
            .bind(w.expected)
            .bind(&w.message)
            .bind(w.status.as_str())
            .bind(&w.case_id)
            .bind(w.created_at)
            .bind(w.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if inserted == 0 {
                // Another node stored the same key meanwhile: theirs stands. (PostgreSQL's
                // statements each see what committed before them, so it is found here.)
                let theirs = sqlx::query(&select)
                    .bind(&w.key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
                return Ok((read_warning(&theirs)?, WarningChange::Unchanged));
            }
            (w.clone(), WarningChange::New)
        }
        Some(old) if old.status == WarningStatus::Active => {
            let mut evidence = old.evidence.clone();
            for id in &w.evidence {
                if !evidence.contains(id) {
                    evidence.push(id.clone());
                }
            }
            let raised = w.level > old.level;
            if !raised && evidence.len() == old.evidence.len() {
                (old, WarningChange::Unchanged)
            } else {
                let level = old.level.max(w.level);
                let (observed, expected, message) = if w.level >= old.level {
                    (w.observed, w.expected, w.message.clone())
                } else {
                    (old.observed, old.expected, old.message.clone())
                };
                sqlx::query(
                    "UPDATE warnings SET level = $1, evidence = $2, observed = $3, expected = $4, message = $5, updated_at = $6 WHERE id = $7",
                )
                .bind(level.as_str())
                .bind(evidence.join(","))
                .bind(observed)
                .bind(expected)
                .bind(&message)
                .bind(w.updated_at)
                .bind(&old.id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                let stored = WarningRecord {
                    level,
                    evidence,
                    observed,
                    expected,
                    message,
                    updated_at: w.updated_at,
                    ..old
                };
                (stored, WarningChange::Raised)
            }
        }
        Some(closed) => (closed, WarningChange::Unchanged),
    })
}

pub(crate) async fn upsert_warnings(
    pool: &Pool<Db>,
    list: &[WarningRecord],
    outbox: bool,
) -> Result<Vec<(WarningRecord, WarningChange)>, StoreError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = crate::shared::begin_write(pool).await?;
    let mut out = Vec::with_capacity(list.len());
    for w in list {
        out.push(upsert_in(&mut tx, w).await?);
    }
    let notices: Vec<Notification> = out
        .iter()
        .filter(|(_, change)| *change != WarningChange::Unchanged)
        .map(|(stored, _)| stored.notice())
        .collect();
    for part in notices.chunks(2_000) {
        insert_notifications(&mut tx, part, outbox).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(out)
}

pub(crate) async fn warnings(
    pool: &Pool<Db>,
    scope: &Scope,
    active_only: bool,
    id: Option<&str>,
    limit: u32,
) -> Result<Vec<WarningRecord>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {WARNING_COLUMNS} FROM warnings WHERE 1 = 1"
    ));
    if active_only {
        qb.push(" AND status = 'active'");
    }
    if let Some(id) = id {
        qb.push(" AND id = ").push_bind(id.to_owned());
    }
    push_warning_scope(&mut qb, scope);
    qb.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit.clamp(1, 1000)));
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(read_warning).collect()
}

pub(crate) async fn update_warning(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
    status: WarningStatus,
    case_id: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let mut qb = QueryBuilder::<Db>::new("UPDATE warnings SET status = ");
    qb.push_bind(status.as_str());
    qb.push(", case_id = ")
        .push_bind(case_id.map(str::to_owned));
    qb.push(", updated_at = ").push_bind(now);
    qb.push(" WHERE id = ").push_bind(id.to_owned());
    push_warning_scope(&mut qb, scope);
    Ok(qb.build().execute(pool).await.map_err(db)?.rows_affected() > 0)
}

pub(crate) async fn notify(
    pool: &Pool<Db>,
    list: &[Notification],
    outbox: bool,
) -> Result<(), StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    insert_notifications(&mut tx, list, outbox).await?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.status, d.attempts, d.next_at, d.last_error, d.created_at, d.updated_at,
    n.id AS n_id, n.at AS n_at, n.recipient_account, n.recipient_org, n.recipient_role, n.case_id AS n_case, n.kind AS n_kind,
    n.message AS n_message
    FROM deliveries d JOIN notifications n ON n.id = d.notification_id";

fn read_delivery(row: &DbRow) -> Result<Delivery, StoreError> {
    let status: String = row.try_get("status").map_err(db)?;
    let recipient = read_recipient(row)?;
    Ok(Delivery {
        id: row.try_get("id").map_err(db)?,
        notification: Notification {
            id: row.try_get("n_id").map_err(db)?,
            at: row.try_get("n_at").map_err(db)?,
            recipient,
            case_id: row.try_get("n_case").map_err(db)?,
            kind: row.try_get("n_kind").map_err(db)?,
            message: row.try_get("n_message").map_err(db)?,
        },
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt("delivery status", &status))?,
        attempts: row.try_get::<i64, _>("attempts").map_err(db)?.max(0) as u32,
        next_at: row.try_get("next_at").map_err(db)?,
        last_error: row.try_get("last_error").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

pub(crate) async fn deliveries_due(
    pool: &Pool<Db>,
    now: i64,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = sqlx::query(&format!(
        "{DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_at <= $1 ORDER BY d.next_at, d.id LIMIT $2"
    ))
    .bind(now)
    .bind(i64::from(limit.clamp(1, 1000)))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(read_delivery).collect()
}

/// What a claim takes: rows of `table` for which `due` holds (`$2` is now), oldest by `order`.
struct Claim<'a> {
    table: &'a str,
    /// Set to the lease's end on claimed rows (which stops them being due for others).
    lease_column: &'a str,
    due: &'a str,
    order: &'a str,
}

/// Claims up to `limit` due rows for one claimer until `lease_until`, skipping rows another
/// claimer holds at the same moment, and reads them back with `select` (which ends in
/// `WHERE <alias>.id IN (` and is completed here, then ordered by `then_order`), all in one
/// transaction. Shared by the webhook deliveries and the change outbox.
async fn claim_rows(
    pool: &Pool<Db>,
    claim: Claim<'_>,
    select: &str,
    then_order: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DbRow>, StoreError> {
    let Claim {
        table,
        lease_column,
        due,
        order,
    } = claim;
    let mut tx = crate::shared::begin_write(pool).await?;
    let claimed: Vec<(i64,)> = sqlx::query_as(&format!(
        "UPDATE {table} SET {lease_column} = $1 WHERE id IN (
             SELECT id FROM {table} WHERE {due} ORDER BY {order} LIMIT $3{})
         RETURNING id",
        crate::SKIP_LOCKED
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let rows = if claimed.is_empty() {
        Vec::new()
    } else {
        let mut qb = QueryBuilder::<Db>::new(select);
        let mut list = qb.separated(", ");
        for (id,) in &claimed {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY ").push(then_order);
        qb.build().fetch_all(&mut *tx).await.map_err(db)?
    };
    tx.commit().await.map_err(db)?;
    Ok(rows)
}

pub(crate) async fn claim_deliveries(
    pool: &Pool<Db>,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = claim_rows(
        pool,
        Claim {
            table: "deliveries",
            lease_column: "next_at",
            due: "status = 'pending' AND next_at <= $2",
            order: "next_at, id",
        },
        &format!("{DELIVERY_SELECT} WHERE d.id IN ("),
        "d.id",
        now,
        lease_until,
        i64::from(limit.clamp(1, 1000)),
    )
    .await?;
    rows.iter().map(read_delivery).collect()
}

pub(crate) async fn next_delivery_at(pool: &Pool<Db>) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT MIN(next_at) FROM deliveries WHERE status = 'pending'")
        .fetch_one(pool)
        .await
        .map_err(db)
}

pub(crate) async fn record_delivery(
    pool: &Pool<Db>,
    id: i64,
    outcome: &DeliveryOutcome,
    now: i64,
) -> Result<(), StoreError> {
    let (status, next_at, error) = match outcome {
        DeliveryOutcome::Delivered => (DeliveryStatus::Delivered, None, None),
        DeliveryOutcome::Failed { error, retry_at } => (
            if retry_at.is_some() {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Dead
            },
            *retry_at,
            Some(error.clone()),
        ),
    };
    sqlx::query(
        "UPDATE deliveries SET status = $1, attempts = attempts + 1, next_at = COALESCE($2, next_at),
             last_error = COALESCE($3, last_error), updated_at = $4 WHERE id = $5",
    )
    .bind(status.as_str())
    .bind(next_at)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn deliveries(
    pool: &Pool<Db>,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(format!("{DELIVERY_SELECT} WHERE 1 = 1"));
    if let Some(s) = status {
        qb.push(" AND d.status = ").push_bind(s.as_str());
    }
    qb.push(" ORDER BY d.id DESC LIMIT ")
        .push_bind(i64::from(limit.clamp(1, 1000)));
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(read_delivery).collect()
}

pub(crate) async fn retry_delivery(pool: &Pool<Db>, id: i64, now: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map_err(db)?
    .rows_affected()
        > 0)
}

// --- The change outbox (migration 0012). ---

/// Queues history lines' keys for the change outbox, in the transaction that writes them (only
/// where the engine keeps one: `CHANGE_OUTBOX`).
pub(crate) fn push_changes(script: &mut Script, lines: &[(&str, i64)]) {
    if !crate::CHANGE_OUTBOX || lines.is_empty() {
        return;
    }
    let (_, qb) = script.statement("INSERT INTO change_outbox (case_id, seq) ");
    qb.push_values(lines, |mut b, (case_id, seq)| {
        b.push_bind((*case_id).to_owned()).push_bind(*seq);
    });
    qb.push(" ON CONFLICT (case_id, seq) DO NOTHING");
}

pub(crate) async fn claim_changes(
    pool: &Pool<Db>,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<wanxiang_store::UnsentChange>, StoreError> {
    let rows = claim_rows(
        pool,
        Claim {
            table: "change_outbox",
            lease_column: "claimed_until",
            due: "claimed_until < $2",
            order: "id",
        },
        "SELECT o.case_id, o.seq, h.command, h.to_stage, h.at, c.org, c.area_code, c.owner
         FROM change_outbox o
         JOIN case_history h ON h.case_id = o.case_id AND h.seq = o.seq
         JOIN cases c ON c.id = o.case_id
         WHERE o.id IN (",
        "o.id",
        now,
        lease_until,
        i64::from(limit.clamp(1, 5000)),
    )
    .await?;
    rows.iter()
        .map(|row| {
            let org: String = row.try_get("org").map_err(db)?;
            Ok(wanxiang_store::UnsentChange {
                case_id: row.try_get("case_id").map_err(db)?,
                seq: row.try_get("seq").map_err(db)?,
                command: row.try_get("command").map_err(db)?,
                stage: parsed(row, "to_stage", "stage", wanxiang_core::case::Stage::parse)?,
                at: row.try_get("at").map_err(db)?,
                assignee: (!org.is_empty()).then_some(org),
                area: codec::decode_code(&row.try_get::<String, _>("area_code").map_err(db)?)?,
                reporter: row.try_get("owner").map_err(db)?,
            })
        })
        .collect()
}

/// Writes an alarm history line to the alarm outbox (PostgreSQL only, like the change outbox).
pub(crate) async fn record_alarm_change(
    tx: &mut Conn,
    alarm_id: &str,
    seq: i64,
) -> Result<(), StoreError> {
    if !crate::CHANGE_OUTBOX {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO alarm_outbox (alarm_id, seq) VALUES ($1, $2) ON CONFLICT (alarm_id, seq) DO NOTHING",
    )
    .bind(alarm_id)
    .bind(seq)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Claims alarm outbox lines like [`claim_changes`], each with its alarm as it is now.
pub(crate) async fn claim_alarm_changes(
    pool: &Pool<Db>,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<wanxiang_store::UnsentAlarm>, StoreError> {
    let columns: String = crate::sensing::ALARM_COLUMNS
        .split(',')
        .map(|c| format!("a.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = claim_rows(
        pool,
        Claim {
            table: "alarm_outbox",
            lease_column: "claimed_until",
            due: "claimed_until < $2",
            order: "id",
        },
        &format!(
            "SELECT o.seq AS outbox_seq, h.action AS outbox_action, h.at AS outbox_at, {columns}
             FROM alarm_outbox o
             JOIN alarm_history h ON h.alarm_id = o.alarm_id AND h.seq = o.seq
             JOIN alarms a ON a.id = o.alarm_id
             WHERE o.id IN ("
        ),
        "o.id",
        now,
        lease_until,
        i64::from(limit.clamp(1, 5000)),
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(wanxiang_store::UnsentAlarm {
                alarm: crate::sensing::read_alarm(row)?,
                seq: row.try_get("outbox_seq").map_err(db)?,
                action: row.try_get("outbox_action").map_err(db)?,
                at: row.try_get("outbox_at").map_err(db)?,
            })
        })
        .collect()
}

/// Deletes relayed alarm outbox lines.
pub(crate) async fn forget_alarm_changes(
    pool: &Pool<Db>,
    sent: &[(String, i64)],
) -> Result<(), StoreError> {
    forget_lines(pool, "alarm_outbox", "alarm_id", sent).await
}

pub(crate) async fn forget_changes(
    pool: &Pool<Db>,
    sent: &[(String, i64)],
) -> Result<(), StoreError> {
    forget_lines(pool, "change_outbox", "case_id", sent).await
}

/// Deletes outbox lines by (owner id, seq): shared by the change and alarm outboxes.
async fn forget_lines(
    pool: &Pool<Db>,
    table: &str,
    owner: &str,
    sent: &[(String, i64)],
) -> Result<(), StoreError> {
    for chunk in sent.chunks(1000) {
        let mut qb =
            QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE ({owner}, seq) IN ("));
        let mut list = qb.separated(", ");
        for (id, seq) in chunk {
            list.push("(")
                .push_bind_unseparated(id.clone())
                .push_unseparated(", ")
                .push_bind_unseparated(*seq)
                .push_unseparated(")");
        }
        qb.push(")");
        qb.build().execute(pool).await.map_err(db)?;
    }
    Ok(())
}
