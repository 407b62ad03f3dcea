//! `wanxiang bench services`: how fast 秒批 decides. Two measurements in one run: the shipped
//! decision models evaluated in this process (the rules alone), and applications submitted over
//! HTTP to a running demo server from this second process, each timed from the request to the
//! answer that carries the decision and, when approved, the signed certificate.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use wanxiang_api::services::catalogue::{Catalogue, check_model};

/// What to run.
pub struct Options {
    /// The demo server's API, `http://HOST:PORT`; without it only the rules are measured.
    pub api: Option<String>,
    /// Applications to submit.
    pub applications: usize,
    /// Concurrent submitters.
    pub concurrency: usize,
    /// Evaluations per model in the in-process measurement.
    pub evaluations: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The rules alone: each shipped model on inputs that pass and inputs that fail, alternately.
fn evaluate(opts: &Options) -> anyhow::Result<()> {
    let catalogue = Catalogue::shipped();
    let cases = [
        (
            "0100007001",
            json!({"enterprise": {"credit": "good", "has_business_licence": true, "scope_catering": true},
                   "form": {"premises_area": 32, "health_certificates": 2, "premises_address": "x"}}),
            json!({"enterprise": {"credit": "warning", "has_business_licence": true, "scope_catering": true},
                   "form": {"premises_area": 15, "health_certificates": 0, "premises_address": "x"}}),
        ),
        (
            "0500001001",
            json!({"applicant": {"age": 81, "hukou_in_district": true, "already_receiving": false, "bank_card": true}}),
            json!({"applicant": {"age": 79, "hukou_in_district": true, "already_receiving": false, "bank_card": true}}),
        ),
    ];
    for (code, pass, fail) in cases {
        let entry = catalogue.items.get(code).context("shipped item")?;
        let model = check_model(
            entry.shipped_model.as_deref().context("shipped model")?,
            &entry.item.fields,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let mut times = Vec::with_capacity(opts.evaluations);
        let mut approved = 0usize;
        let started = Instant::now();
        for i in 0..opts.evaluations {
            let input = if i % 2 == 0 { &pass } else { &fail };
            let t = Instant::now();
            let e = model.evaluate(input)?;
            times.push(t.elapsed());
            if e.output["failures"].as_array().is_some_and(Vec::is_empty) {
                approved += 1;
            }
        }
        let total = started.elapsed();
        times.sort();
        println!(
            "evaluate item={code} evaluations={} approved={approved} per_s={:.0} p50_us={:.1} p99_us={:.1} max_us={:.1}",
            opts.evaluations,
            opts.evaluations as f64 / total.as_secs_f64(),
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
        );
    }
    Ok(())
}

async fn login(client: &reqwest::Client, api: &str, username: &str) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{api}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": wanxiang_api::demo::DEMO_PASSWORD}))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("log in as {username} (is it the demo server?)"))?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the login answer")
}

/// End to end: the demo restaurant owner applies for the food licence, half the time with too
/// small premises (refused at once, failing rule named) and half the time passing (approved,
/// certificate signed), from `concurrency` submitters.
async fn submit(api: &str, opts: &Options) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let token = login(&client, api, "13800138004").await?;
    let me: Value = client
        .get(format!("{api}/api/v1/services/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let uscc = me["enterprises"][0]["uscc"]
        .as_str()
        .context("the demo restaurant owner has no enterprise")?
        .to_owned();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..opts.concurrency.max(1) {
        let (client, api, token, uscc, next) = (
            client.clone(),
            api.to_owned(),
            token.clone(),
            uscc.clone(),
            next.clone(),
        );
        let total = opts.applications;
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(Duration, String)> = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(out);
                }
                let area = if i % 2 == 0 { 32 } else { 15 };
                let t = Instant::now();
                let r = client
                    .post(format!("{api}/api/v1/services/applications"))
                    .bearer_auth(&token)
                    .json(&json!({"item": "0100007001", "enterprise": uscc,
                        "form": {"premises_area": area, "health_certificates": 2, "premises_address": "罗湖区（压测数据 benchmark）"}}))
                    .send()
                    .await?;
                let status = r.status();
                let body: Value = r.json().await?;
                let elapsed = t.elapsed();
                if status.as_u16() != 201 {
                    bail!("application {i} answered {status}: {body}");
                }
                let state = body["state"].as_str().unwrap_or("?").to_owned();
                if state == "approved" && !body["certificate"].is_string() {
                    bail!("approved without a certificate: {body}");
                }
                out.push((elapsed, state));
            }
        }));
    }
    let mut times = Vec::new();
    let (mut approved, mut pending) = (0, 0);
    for t in tasks {
        for (d, state) in t.await?? {
            times.push(d);
            match state.as_str() {
                "approved" => approved += 1,
                "pending" => pending += 1,
                _ => {}
            }
        }
    }
    let total = started.elapsed();
    times.sort();
    println!(
        "submit applications={} approved={approved} pending={pending} concurrency={} per_s={:.1} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        times.len(),
        opts.concurrency,
        times.len() as f64 / total.as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}

/// Runs the benchmark.
pub async fn run(opts: &Options) -> anyhow::Result<()> {
    evaluate(opts)?;
    if let Some(api) = &opts.api {
        submit(api.trim_end_matches('/'), opts).await?;
    }
    Ok(())
}
