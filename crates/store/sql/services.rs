//! 一网通办's SQL — registers, the access log, decision models, applications, decisions,
//! certificates and signing keys — written once for both engines and included by each like
//! `shared.rs` (see there for the conventions).

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use wanxiang_store::StoreError;
use wanxiang_store::services::{
    ApplicationFilter, ApplicationRecord, ApplicationStep, ApplicationUpdate, Birth, Certificate,
    DecisionRecord, DeskLine, Enterprise, KeyEnterprise, ModelVersion, Person, RegisterAccess,
    ServiceStore, SigningKey,
};

use crate::shared::begin_write;
use crate::{Db, DbRow, StoreImpl, db};

const PERSON_COLUMNS: &str =
    "id, name, gender, birth_date, phone, community, household, facts, demo";
const ENTERPRISE_COLUMNS: &str =
    "uscc, name, legal_rep, community, registered_on, credit, facts, demo";
const BIRTH_COLUMNS: &str =
    "id, child_name, child_id, mother, father, born_on, hospital, registered_at, demo";
const APPLICATION_COLUMNS: &str = "id, item, department, mode, state, deciding, person, enterprise, account, form, offer_key, bundle, created_at, updated_at, due_at, decision, certificate, rating, version, overdue, countersign, assignee";
const DECISION_COLUMNS: &str =
    "id, application, item, model_version, inputs, output, trace, failures, approved, at";
const CERTIFICATE_COLUMNS: &str = "id, item, name, holder, holder_name, department, application, issued_at, expires_on, revoked_at, revoked_reason, body, signature, key_id";

fn read_person(row: &DbRow) -> Result<Person, StoreError> {
    Ok(Person {
        id: row.try_get("id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        gender: row.try_get("gender").map_err(db)?,
        birth_date: row.try_get("birth_date").map_err(db)?,
        phone: row.try_get("phone").map_err(db)?,
        community: row.try_get("community").map_err(db)?,
        household: row.try_get("household").map_err(db)?,
        facts: row.try_get("facts").map_err(db)?,
        demo: row.try_get("demo").map_err(db)?,
    })
}

fn read_enterprise(row: &DbRow) -> Result<Enterprise, StoreError> {
    Ok(Enterprise {
        uscc: row.try_get("uscc").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        legal_rep: row.try_get("legal_rep").map_err(db)?,
        community: row.try_get("community").map_err(db)?,
        registered_on: row.try_get("registered_on").map_err(db)?,
        credit: row.try_get("credit").map_err(db)?,
        facts: row.try_get("facts").map_err(db)?,
        demo: row.try_get("demo").map_err(db)?,
    })
}

fn read_birth(row: &DbRow) -> Result<Birth, StoreError> {
    Ok(Birth {
        id: row.try_get("id").map_err(db)?,
        child_name: row.try_get("child_name").map_err(db)?,
        child_id: row.try_get("child_id").map_err(db)?,
        mother: row.try_get("mother").map_err(db)?,
        father: row.try_get("father").map_err(db)?,
        born_on: row.try_get("born_on").map_err(db)?,
        hospital: row.try_get("hospital").map_err(db)?,
        registered_at: row.try_get("registered_at").map_err(db)?,
        demo: row.try_get("demo").map_err(db)?,
    })
}

fn read_application(row: &DbRow) -> Result<ApplicationRecord, StoreError> {
    Ok(ApplicationRecord {
        id: row.try_get("id").map_err(db)?,
        item: row.try_get("item").map_err(db)?,
        department: row.try_get("department").map_err(db)?,
        mode: row.try_get("mode").map_err(db)?,
        state: row.try_get("state").map_err(db)?,
        deciding: row.try_get("deciding").map_err(db)?,
        person: row.try_get("person").map_err(db)?,
        enterprise: row.try_get("enterprise").map_err(db)?,
        account: row.try_get("account").map_err(db)?,
        form: row.try_get("form").map_err(db)?,
        offer_key: row.try_get("offer_key").map_err(db)?,
        bundle: row.try_get("bundle").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
        due_at: row.try_get("due_at").map_err(db)?,
        decision: row.try_get("decision").map_err(db)?,
        certificate: row.try_get("certificate").map_err(db)?,
        rating: row.try_get("rating").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        overdue: row.try_get("overdue").map_err(db)?,
        countersign: row.try_get("countersign").map_err(db)?,
        assignee: row.try_get("assignee").map_err(db)?,
    })
}

fn read_step(row: &DbRow) -> Result<ApplicationStep, StoreError> {
    Ok(ApplicationStep {
        at: row.try_get("at").map_err(db)?,
        actor: row.try_get("actor").map_err(db)?,
        role: row.try_get("role").map_err(db)?,
        action: row.try_get("action").map_err(db)?,
        from: row.try_get("from_state").map_err(db)?,
        to: row.try_get("to_state").map_err(db)?,
        note: row.try_get("note").map_err(db)?,
    })
}

fn read_decision(row: &DbRow) -> Result<DecisionRecord, StoreError> {
    Ok(DecisionRecord {
        id: row.try_get("id").map_err(db)?,
        application: row.try_get("application").map_err(db)?,
        item: row.try_get("item").map_err(db)?,
        model_version: row.try_get("model_version").map_err(db)?,
        inputs: row.try_get("inputs").map_err(db)?,
        output: row.try_get("output").map_err(db)?,
        trace: row.try_get("trace").map_err(db)?,
        failures: row.try_get("failures").map_err(db)?,
        approved: row.try_get("approved").map_err(db)?,
        at: row.try_get("at").map_err(db)?,
    })
}

fn read_certificate(row: &DbRow) -> Result<Certificate, StoreError> {
    Ok(Certificate {
        id: row.try_get("id").map_err(db)?,
        item: row.try_get("item").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        holder: row.try_get("holder").map_err(db)?,
        holder_name: row.try_get("holder_name").map_err(db)?,
        department: row.try_get("department").map_err(db)?,
        application: row.try_get("application").map_err(db)?,
        issued_at: row.try_get("issued_at").map_err(db)?,
        expires_on: row.try_get("expires_on").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
        revoked_reason: row.try_get("revoked_reason").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        signature: row.try_get("signature").map_err(db)?,
        key_id: row.try_get("key_id").map_err(db)?,
    })
}

fn read_model(row: &DbRow) -> Result<ModelVersion, StoreError> {
    Ok(ModelVersion {
        item: row.try_get("item").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        model: row.try_get("model").map_err(db)?,
        author: row.try_get("author").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn read_key(row: &DbRow) -> Result<SigningKey, StoreError> {
    Ok(SigningKey {
        department: row.try_get("department").map_err(db)?,
        key_id: row.try_get("key_id").map_err(db)?,
        public_key: row.try_get("public_key").map_err(db)?,
        secret_key: row.try_get("secret_key").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

async fn insert_step(
    tx: &mut crate::shared::WriteTx,
    application: &str,
    step: &ApplicationStep,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO application_history (application, seq, at, actor, role, action, from_state, to_state, note)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM application_history WHERE application = $1",
    )
    .bind(application)
    .bind(step.at)
    .bind(&step.actor)
    .bind(&step.role)
    .bind(&step.action)
    .bind(&step.from)
    .bind(&step.to)
    .bind(&step.note)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

async fn fetch_application(
    conn: &mut <Db as sqlx::Database>::Connection,
    id: &str,
) -> Result<Option<ApplicationRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.as_ref().map(read_application).transpose()
}

#[async_trait]
impl ServiceStore for StoreImpl {
    async fn put_people(&self, people: &[Person]) -> Result<(), StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        for chunk in people.chunks(500) {
            let mut q = QueryBuilder::<Db>::new(format!("INSERT INTO people ({PERSON_COLUMNS}) "));
            q.push_values(chunk, |mut b, p| {
                b.push_bind(&p.id)
                    .push_bind(&p.name)
                    .push_bind(&p.gender)
                    .push_bind(&p.birth_date)
                    .push_bind(&p.phone)
                    .push_bind(&p.community)
                    .push_bind(&p.household)
                    .push_bind(&p.facts)
                    .push_bind(p.demo);
            });
            q.push(
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, gender = excluded.gender,
                  birth_date = excluded.birth_date, phone = excluded.phone, community = excluded.community,
                  household = excluded.household, facts = excluded.facts, demo = excluded.demo",
            );
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn put_enterprises(&self, enterprises: &[Enterprise]) -> Result<(), StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        for chunk in enterprises.chunks(500) {
            let mut q =
                QueryBuilder::<Db>::new(format!("INSERT INTO enterprises ({ENTERPRISE_COLUMNS}) "));
            q.push_values(chunk, |mut b, e| {
                b.push_bind(&e.uscc)
                    .push_bind(&e.name)
                    .push_bind(&e.legal_rep)
                    .push_bind(&e.community)
                    .push_bind(&e.registered_on)
                    .push_bind(&e.credit)
                    .push_bind(&e.facts)
                    .push_bind(e.demo);
            });
            q.push(
                " ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, legal_rep = excluded.legal_rep,
                  community = excluded.community, registered_on = excluded.registered_on,
                  credit = excluded.credit, facts = excluded.facts, demo = excluded.demo",
            );
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn put_births(&self, births: &[Birth]) -> Result<(), StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        for chunk in births.chunks(500) {
            let mut q = QueryBuilder::<Db>::new(format!("INSERT INTO births ({BIRTH_COLUMNS}) "));
            q.push_values(chunk, |mut b, x| {
                b.push_bind(&x.id)
                    .push_bind(&x.child_name)
                    .push_bind(&x.child_id)
                    .push_bind(&x.mother)
                    .push_bind(&x.father)
                    .push_bind(&x.born_on)
                    .push_bind(&x.hospital)
                    .push_bind(x.registered_at)
                    .push_bind(x.demo);
            });
            q.push(" ON CONFLICT (id) DO NOTHING");
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn count_people(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(n as u64)
    }

    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_person).transpose()
    }

    async fn person_by_phone(&self, phone: &str) -> Result<Option<Person>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE phone = $1"
        ))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_person).transpose()
    }

    async fn people_born_between(&self, from: &str, to: &str) -> Result<Vec<Person>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE birth_date >= $1 AND birth_date <= $2 ORDER BY birth_date, id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_person).collect()
    }

    async fn enterprise(&self, uscc: &str) -> Result<Option<Enterprise>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE uscc = $1"
        ))
        .bind(uscc)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_enterprise).transpose()
    }

    async fn enterprises_of(&self, person: &str) -> Result<Vec<Enterprise>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE legal_rep = $1 ORDER BY registered_on, uscc"
        ))
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_enterprise).collect()
    }

    async fn births_since(&self, since: i64) -> Result<Vec<Birth>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BIRTH_COLUMNS} FROM births WHERE registered_at >= $1 ORDER BY registered_at, id"
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_birth).collect()
    }

    async fn births_of_parent(&self, person: &str) -> Result<Vec<Birth>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BIRTH_COLUMNS} FROM births WHERE mother = $1 OR father = $1 ORDER BY born_on DESC, id"
        ))
        .bind(person)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_birth).collect()
    }

    async fn account_of_phone(&self, phone: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM accounts WHERE username = $1 AND disabled = FALSE AND roles LIKE '%resident%'",
        )
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)
    }

    async fn log_access(&self, entries: &[RegisterAccess]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = begin_write(self.writer()).await?;
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO register_access (at, account, purpose, register, subject, fields) ",
        );
        q.push_values(entries, |mut b, e| {
            b.push_bind(e.at)
                .push_bind(&e.account)
                .push_bind(&e.purpose)
                .push_bind(&e.register)
                .push_bind(&e.subject)
                .push_bind(&e.fields);
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn register_access(
        &self,
        subject: &str,
        limit: u32,
    ) -> Result<Vec<RegisterAccess>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, account, purpose, register, subject, fields FROM register_access
             WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(RegisterAccess {
                    at: row.try_get("at").map_err(db)?,
                    account: row.try_get("account").map_err(db)?,
                    purpose: row.try_get("purpose").map_err(db)?,
                    register: row.try_get("register").map_err(db)?,
                    subject: row.try_get("subject").map_err(db)?,
                    fields: row.try_get("fields").map_err(db)?,
                })
            })
            .collect()
    }

    async fn put_model(
        &self,
        item: &str,
        model: &str,
        author: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        // Two admins saving at once: the primary key refuses the second, which is told to retry.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO decision_models (item, version, model, author, created_at)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 FROM decision_models WHERE item = $1
             RETURNING version",
        )
        .bind(item)
        .bind(model)
        .bind(author)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
                "另一个版本同时保存，请重试 / another version was saved at the same time; retry"
                    .into(),
            ),
            other => db(other),
        })?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn model(
        &self,
        item: &str,
        version: Option<i64>,
    ) -> Result<Option<ModelVersion>, StoreError> {
        let row = match version {
            Some(v) => sqlx::query(
                "SELECT item, version, model, author, created_at FROM decision_models WHERE item = $1 AND version = $2",
            )
            .bind(item)
            .bind(v)
            .fetch_optional(&self.pool)
            .await,
            None => sqlx::query(
                "SELECT item, version, model, author, created_at FROM decision_models WHERE item = $1
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(item)
            .fetch_optional(&self.pool)
            .await,
        }
        .map_err(db)?;
        row.as_ref().map(read_model).transpose()
    }

    async fn model_versions(&self, item: &str) -> Result<Vec<ModelVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT item, version, model, author, created_at FROM decision_models WHERE item = $1
             ORDER BY version DESC",
        )
        .bind(item)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_model).collect()
    }

    async fn create_application(
        &self,
        a: &ApplicationRecord,
        step: &ApplicationStep,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO applications ({APPLICATION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
             ON CONFLICT DO NOTHING"
        ))
        .bind(&a.id)
        .bind(&a.item)
        .bind(&a.department)
        .bind(&a.mode)
        .bind(&a.state)
        .bind(a.deciding)
        .bind(&a.person)
        .bind(&a.enterprise)
        .bind(&a.account)
        .bind(&a.form)
        .bind(&a.offer_key)
        .bind(&a.bundle)
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(a.due_at)
        .bind(&a.decision)
        .bind(&a.certificate)
        .bind(a.rating)
        .bind(a.version)
        .bind(a.overdue)
        .bind(&a.countersign)
        .bind(&a.assignee)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        insert_step(&mut tx, &a.id, step).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn offer_exists(&self, offer_key: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM applications WHERE offer_key = $1")
                .bind(offer_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        Ok(found.is_some())
    }

    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        fetch_application(&mut conn, id).await
    }

    async fn applications(
        &self,
        f: &ApplicationFilter,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE 1 = 1"
        ));
        match (&f.account, &f.person) {
            (Some(account), Some(person)) => {
                q.push(" AND (account = ")
                    .push_bind(account.clone())
                    .push(" OR person = ")
                    .push_bind(person.clone())
                    .push(")");
            }
            (Some(account), None) => {
                q.push(" AND account = ").push_bind(account.clone());
            }
            (None, Some(person)) => {
                q.push(" AND person = ").push_bind(person.clone());
            }
            (None, None) => {}
        }
        if let Some(departments) = &f.departments {
            if departments.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND (department IN (");
            let mut sep = q.separated(", ");
            for d in departments {
                sep.push_bind(d.clone());
            }
            q.push(") OR countersign IN (");
            let mut sep = q.separated(", ");
            for d in departments {
                sep.push_bind(d.clone());
            }
            q.push("))");
        }
        if let Some(state) = &f.state {
            q.push(" AND state = ").push_bind(state.clone());
        }
        if let Some(item) = &f.item {
            q.push(" AND item = ").push_bind(item.clone());
        }
        if let Some(bundle) = &f.bundle {
            q.push(" AND bundle = ").push_bind(bundle.clone());
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit.clamp(1, 1000)));
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(read_application).collect()
    }

    async fn update_application(
        &self,
        u: &ApplicationUpdate,
    ) -> Result<ApplicationRecord, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        if let Some(d) = &u.decision {
            sqlx::query(&format!(
                "INSERT INTO decisions ({DECISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(&d.id)
            .bind(&d.application)
            .bind(&d.item)
            .bind(d.model_version)
            .bind(&d.inputs)
            .bind(&d.output)
            .bind(&d.trace)
            .bind(&d.failures)
            .bind(d.approved)
            .bind(d.at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if let Some(c) = &u.certificate {
            sqlx::query(&format!(
                "INSERT INTO certificates ({CERTIFICATE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(&c.id)
            .bind(&c.item)
            .bind(&c.name)
            .bind(&c.holder)
            .bind(&c.holder_name)
            .bind(&c.department)
            .bind(&c.application)
            .bind(c.issued_at)
            .bind(&c.expires_on)
            .bind(c.revoked_at)
            .bind(&c.revoked_reason)
            .bind(&c.body)
            .bind(&c.signature)
            .bind(&c.key_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let changed = sqlx::query(
            "UPDATE applications SET state = $1, deciding = $2, form = COALESCE($3, form),
               due_at = COALESCE($4, due_at), rating = COALESCE($5, rating),
               decision = COALESCE($6, decision), certificate = COALESCE($7, certificate),
               updated_at = $8, version = version + 1, enterprise = COALESCE($11, enterprise),
               assignee = CASE WHEN $12 IS NULL THEN assignee WHEN $12 = '' THEN NULL ELSE $12 END
             WHERE id = $9 AND version = $10",
        )
        .bind(&u.state)
        .bind(u.deciding)
        .bind(&u.form)
        .bind(u.due_at)
        .bind(u.rating)
        .bind(u.decision.as_ref().map(|d| d.id.clone()))
        .bind(u.certificate.as_ref().map(|c| c.id.clone()))
        .bind(u.step.at)
        .bind(&u.id)
        .bind(u.expected_version)
        .bind(&u.enterprise)
        .bind(&u.assignee)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(format!(
                "申请 {} 已被他人更改或不存在 / application {} was changed by someone else or does not exist",
                u.id, u.id
            )));
        }
        insert_step(&mut tx, &u.id, &u.step).await?;
        let stored = fetch_application(&mut tx, &u.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("application {} vanished", u.id)))?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    async fn next_application_due(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT MIN(due_at) FROM applications
             WHERE overdue = FALSE AND deciding = FALSE AND state IN ('pending', 'review', 'countersign') AND due_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    async fn applications_overdue(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications
             WHERE overdue = FALSE AND deciding = FALSE AND state IN ('pending', 'review', 'countersign') AND due_at <= $1
             ORDER BY due_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_application).collect()
    }

    async fn applications_deciding(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM applications
             WHERE deciding = TRUE AND updated_at < $1 ORDER BY updated_at, id LIMIT $2"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_application).collect()
    }

    async fn mark_overdue(&self, id: &str, step: &ApplicationStep) -> Result<bool, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        let marked =
            sqlx::query("UPDATE applications SET overdue = TRUE WHERE id = $1 AND overdue = FALSE")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        if marked == 0 {
            return Ok(false);
        }
        insert_step(&mut tx, id, step).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn application_history(&self, id: &str) -> Result<Vec<ApplicationStep>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, role, action, from_state, to_state, note FROM application_history
             WHERE application = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_step).collect()
    }

    async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_decision).transpose()
    }

    async fn decisions_of(&self, application: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM decisions WHERE application = $1 ORDER BY at, id"
        ))
        .bind(application)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_decision).collect()
    }

    async fn put_key_enterprise(&self, k: &KeyEnterprise) -> Result<(), StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO key_enterprises (uscc, leader, lead_department, lead_official, team, street_contact, street, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (uscc) DO UPDATE SET leader = excluded.leader, lead_department = excluded.lead_department,
               lead_official = excluded.lead_official, team = excluded.team, street_contact = excluded.street_contact,
               street = excluded.street, updated_at = excluded.updated_at",
        )
        .bind(&k.uscc)
        .bind(&k.leader)
        .bind(&k.lead_department)
        .bind(&k.lead_official)
        .bind(&k.team)
        .bind(&k.street_contact)
        .bind(&k.street)
        .bind(k.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn key_enterprises(&self) -> Result<Vec<KeyEnterprise>, StoreError> {
        let rows = sqlx::query(
            "SELECT uscc, leader, lead_department, lead_official, team, street_contact, street, updated_at
             FROM key_enterprises ORDER BY uscc",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(KeyEnterprise {
                    uscc: row.try_get("uscc").map_err(db)?,
                    leader: row.try_get("leader").map_err(db)?,
                    lead_department: row.try_get("lead_department").map_err(db)?,
                    lead_official: row.try_get("lead_official").map_err(db)?,
                    team: row.try_get("team").map_err(db)?,
                    street_contact: row.try_get("street_contact").map_err(db)?,
                    street: row.try_get("street").map_err(db)?,
                    updated_at: row.try_get("updated_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn add_desk_problem(
        &self,
        case_id: &str,
        uscc: &str,
        at: i64,
        by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO desk_problems (case_id, uscc, filed_at, filed_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(uscc)
        .bind(at)
        .bind(by)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn desk_problems(&self, uscc: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT case_id FROM desk_problems WHERE uscc = $1 ORDER BY filed_at DESC, case_id",
        )
        .bind(uscc)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn desk_report(&self) -> Result<Vec<DeskLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.uscc AS uscc,
               COUNT(c.id) AS problems,
               COALESCE(SUM(CASE WHEN c.stage = 'closed' THEN 1 ELSE 0 END), 0) AS closed,
               COALESCE(SUM(CASE WHEN c.stage = 'closed' AND (c.resolved IS NULL OR c.resolved) THEN 1 ELSE 0 END), 0) AS solved,
               COALESCE(SUM(CASE WHEN c.was_overdue OR c.overdue THEN 1 ELSE 0 END), 0) AS overdue,
               COALESCE(SUM(CASE WHEN c.rating IS NOT NULL THEN 1 ELSE 0 END), 0) AS rated,
               COALESCE(SUM(CASE WHEN c.rating IN ('very_satisfied', 'satisfied', 'fairly_satisfied') THEN 1 ELSE 0 END), 0) AS satisfied
             FROM key_enterprises k
             LEFT JOIN desk_problems d ON d.uscc = k.uscc
             LEFT JOIN cases c ON c.id = d.case_id
             GROUP BY k.uscc ORDER BY k.uscc",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(DeskLine {
                    uscc: row.try_get("uscc").map_err(db)?,
                    problems: row.try_get("problems").map_err(db)?,
                    closed: row.try_get("closed").map_err(db)?,
                    solved: row.try_get("solved").map_err(db)?,
                    overdue: row.try_get("overdue").map_err(db)?,
                    rated: row.try_get("rated").map_err(db)?,
                    satisfied: row.try_get("satisfied").map_err(db)?,
                })
            })
            .collect()
    }

    async fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_certificate).transpose()
    }

    async fn certificates_of(&self, holder: &str) -> Result<Vec<Certificate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE holder = $1 ORDER BY issued_at DESC, id"
        ))
        .bind(holder)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_certificate).collect()
    }

    async fn certificates_issued(
        &self,
        item: &str,
        since: i64,
    ) -> Result<Vec<Certificate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE item = $1 AND issued_at >= $2 ORDER BY issued_at, id"
        ))
        .bind(item)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_certificate).collect()
    }

    async fn certificates_expiring(
        &self,
        item: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Certificate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates
             WHERE item = $1 AND revoked_at IS NULL AND expires_on >= $2 AND expires_on <= $3
             ORDER BY expires_on, id"
        ))
        .bind(item)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_certificate).collect()
    }

    async fn revoke_certificate(
        &self,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        let n = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }

    async fn signing_key(&self, department: &str) -> Result<Option<SigningKey>, StoreError> {
        let row = sqlx::query(
            "SELECT department, key_id, public_key, secret_key, created_at FROM signing_keys WHERE department = $1",
        )
        .bind(department)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_key).transpose()
    }

    async fn ensure_signing_key(&self, key: &SigningKey) -> Result<SigningKey, StoreError> {
        let mut tx = begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO signing_keys (department, key_id, public_key, secret_key, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (department) DO NOTHING",
        )
        .bind(&key.department)
        .bind(&key.key_id)
        .bind(&key.public_key)
        .bind(&key.secret_key)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(
            "SELECT department, key_id, public_key, secret_key, created_at FROM signing_keys WHERE department = $1",
        )
        .bind(&key.department)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let stored = read_key(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }
}
