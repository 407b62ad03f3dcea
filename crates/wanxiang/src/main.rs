//! `wanxiang`: the city operating system's one binary. Parses the command line and hands over to
//! the library; exit codes: 0 success, 1 error, 2 refused input (an import with invalid features).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wanxiang::config::{self, Config, LogFormat, Overrides};
use wanxiang::{geo_cmd, serve};
use wanxiang_core::Level;
use wanxiang_geo::import::ImportOptions;

/// mimalloc instead of the system allocator: the server makes and drops many small buffers per
/// request on two threads or more, and glibc's malloc spent about a tenth of intake's CPU on
/// them (bins, consolidation); with mimalloc a report costs 7–10% less CPU (BENCHMARKS.md,
/// issue 4, session 10). The `override` feature makes it C's `malloc` too, so SQLite's
/// allocations skip glibc as well (session 11).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "wanxiang",
    version,
    about = "万象 Wanxiang — a city operating system / 城市操作系统"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform server / 启动平台服务
    #[command(after_long_help = config::KEYS_HELP, after_help = config::KEYS_HELP)]
    Serve(ServeArgs),
    /// Geography tools: import real boundaries, locate points / 地理工具
    #[command(subcommand)]
    Geo(GeoCommand),
    /// Event hub tools / 事件工具
    #[command(subcommand)]
    Events(EventsCommand),
    /// Sensing hub tools / 物联设备工具
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Benchmarks that need a running server / 性能测试
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Drive the demo district's sensors over MQTT or HTTP, with scripted incidents (DEMO data) / 传感器模拟
    Simulate(SimulateArgs),
}

#[derive(Args)]
struct SimulateArgs {
    /// How many demo devices to drive (the server registered sensing.demo_devices of them).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Device messages per second across all devices.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// The server's MQTT device gateway (printed at its start and in /readyz).
    #[arg(long, value_name = "URL", default_value = "mqtt://127.0.0.1:1883")]
    broker: String,
    /// `gateway` (a few connections for all devices), `device` (one connection per device),
    /// `broker` (a few plain clients of an external broker that a cluster subscribes to, each
    /// device on its own topic v1/devices/{id}/telemetry) or `http` (each device's messages
    /// posted to the HTTP API given by --api).
    #[arg(long, default_value = "gateway")]
    mode: String,
    /// The server's HTTP API for --mode http, http://HOST:PORT.
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// Gateway connections (gateway mode), or concurrent requests (http mode).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
    /// Run without the scripted incidents (then nothing should alarm).
    #[arg(long)]
    no_incidents: bool,
    /// How much faster than real time the incident script runs.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// QoS of every MQTT publish: 0, 1 or 2 (default 1; not for http mode).
    #[arg(long, value_name = "0|1|2")]
    qos: Option<wanxiang::simulate::Qos>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// MQTT QoS 1 telemetry: Wanxiang's gateway (PUBACK = durable and judged) beside a plain
    /// broker forwarding the same messages to one subscriber / 遥测吞吐
    Telemetry(BenchTelemetryArgs),
    /// Alarm latency: publish → case dispatched (seen on the SSE stream) under background load
    /// / 告警时延
    Alarm(BenchAlarmArgs),
    /// 秒批: the decision models evaluated in-process, and applications submitted to a running
    /// demo server timed to their decision and certificate / 秒批时延
    Services(BenchServicesArgs),
    /// Fill the configured store with benchmark cases (labelled 压测数据 in every description),
    /// spread over past days, most taken to closed / 生成压测案件
    SeedCases(BenchSeedArgs),
}

#[derive(Args)]
struct BenchSeedArgs {
    /// Cases to add.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Spread over this many days before now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Share of cases older than three days taken to closed, 0-1 (younger ones fewer).
    #[arg(long, default_value_t = 0.9)]
    closed: f64,
    /// Random seed (the same seed gives the same cases).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
struct BenchServicesArgs {
    /// A running demo server's API, http://HOST:PORT (without it only the rules are measured).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// Applications to submit (the demo restaurant's food licence; half pass, half do not).
    #[arg(long, default_value_t = 2000)]
    applications: usize,
    /// Concurrent submitters.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Evaluations per model, in-process.
    #[arg(long, default_value_t = 100_000)]
    evaluations: usize,
}

#[derive(Args)]
struct BenchAlarmArgs {
    /// Wanxiang's MQTT gateway, mqtt://HOST:PORT.
    #[arg(long, value_name = "URL")]
    target: String,
    /// Its HTTP API, http://HOST:PORT.
    #[arg(long, value_name = "URL")]
    api: String,
    /// Background readings per second.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    /// Alarms to time.
    #[arg(long, default_value_t = 200)]
    probes: usize,
}

#[derive(Args)]
struct BenchTelemetryArgs {
    /// Wanxiang's MQTT gateway, mqtt://HOST:PORT (its demo slope sensors publish).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// A plain broker to compare with, mqtt://HOST:PORT (e.g. Mosquitto).
    #[arg(long, value_name = "URL")]
    baseline: Option<String>,
    /// Publishing clients.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Unacknowledged publishes per client.
    #[arg(long, default_value_t = 100)]
    inflight: u16,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Register devices from a CSV (header: type,name,lon,lat[,crs,owner_unit,installed_on,id]);
    /// their tokens go to a tokens file, shown nowhere else / 批量登记设备
    Import(DevicesImportArgs),
}

#[derive(Args)]
struct DevicesImportArgs {
    /// A .csv file.
    file: PathBuf,
    /// The owning organisation (a unit or department code) of rows that name none.
    #[arg(long, value_name = "CODE")]
    owner_unit: String,
    /// Where to write `id,token` lines (default: FILE with extension .tokens.csv), mode 0600.
    #[arg(long, value_name = "FILE")]
    tokens_out: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Train the free-text classifier on the shipped corpus minus a held-out fifth and report its
    /// accuracy on that fifth / 分类模型评估
    ClassifyEval,
    /// Import reports from a CSV (header: external_id,lon,lat,crs,category,description,reporter_contact[,channel]) or JSONL file / 批量导入
    Import(EventsImportArgs),
}

#[derive(Args)]
struct EventsImportArgs {
    /// A .csv or .jsonl file.
    file: PathBuf,
    /// The channel of rows that name none.
    #[arg(long, default_value = "hotline_12345")]
    channel: String,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Where the configuration comes from; shared by every command that opens the store.
#[derive(Args, Clone)]
struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (storage.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL, sqlite://PATH or postgres://… (storage.database_url).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Build and load the demo district of Luohu on first start.
    #[arg(long)]
    demo: bool,
    /// Address to listen on (server.listen), e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Log format (log.format).
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Where devices connect over MQTT (sensing.mqtt_listen), e.g. 127.0.0.1:1883, or `off`.
    #[arg(long, value_name = "ADDR")]
    mqtt_listen: Option<String>,
    /// What this node does (server.roles): any of api, ingest, worker, comma-separated.
    #[arg(long, value_name = "ROLES")]
    roles: Option<String>,
}

#[derive(Subcommand)]
enum GeoCommand {
    /// Import real boundaries of one level into the store, all or nothing / 导入真实边界
    Import(ImportArgs),
    /// Assign each lon,lat row of a CSV to the feature containing it / 批量点落面
    Locate(LocateArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// A GeoJSON FeatureCollection of Polygon/MultiPolygon features in WGS-84.
    file: PathBuf,
    /// The level of every feature.
    #[arg(long, value_parser = geo_cmd::parse_level)]
    level: Level,
    /// The property holding the unit code.
    #[arg(long, default_value = "code", value_name = "P")]
    code_property: String,
    /// The property holding the unit name.
    #[arg(long, default_value = "name", value_name = "Q")]
    name_property: String,
    /// The property holding the parent's code (checked against the code; the parent must exist).
    #[arg(long, value_name = "R")]
    parent_property: Option<String>,
    /// Validate only; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
struct LocateArgs {
    /// A GeoJSON FeatureCollection of polygons.
    #[arg(long, value_name = "FILE.geojson")]
    boundaries: PathBuf,
    /// A CSV of lon,lat rows (WGS-84), with or without a header.
    #[arg(long, value_name = "FILE.csv")]
    points: PathBuf,
    /// Write lon,lat,match rows here; match is the feature's index (or --code-property), empty where none.
    #[arg(long, value_name = "FILE.csv")]
    out: Option<PathBuf>,
    /// Write this property of the matching feature instead of its index.
    #[arg(long, value_name = "P")]
    code_property: Option<String>,
    /// How candidates are found: `grid` (precomputed cell grid, the default) or `rtree` (R-tree
    /// over bounding boxes); both give the same matches.
    #[arg(long, value_enum, default_value = "grid")]
    strategy: StrategyArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StrategyArg {
    Grid,
    Rtree,
}

fn load_config(args: &ConfigArgs, extra: Overrides) -> anyhow::Result<Config> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        database: args.database.clone(),
        ..extra
    };
    config::load(args.config.as_deref(), config::process_env(), &overrides)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let extra = Overrides {
                demo: args.demo.then_some(true),
                listen: args.listen,
                log_format: args.log_format,
                mqtt_listen: args.mqtt_listen.clone(),
                roles: args.roles.clone(),
                ..Overrides::default()
            };
            let config = load_config(&args.config, extra)?;
            init_logging(&config);
            runtime()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.server.listen)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen)
                    })?;
                serve::run(config, listener, serve::shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Geo(GeoCommand::Import(args)) => {
            let config = load_config(&args.config, Overrides::default())?;
            init_logging(&config);
            let options = ImportOptions {
                level: args.level,
                code_property: args.code_property,
                name_property: args.name_property,
                parent_property: args.parent_property,
            };
            let outcome = runtime()?.block_on(geo_cmd::import(
                &config,
                &args.file,
                &options,
                args.dry_run,
            ))?;
            match outcome {
                geo_cmd::ImportOutcome::Imported { units, revision } if args.dry_run => {
                    println!(
                        "dry run: {units} {} features are valid; nothing written (revision {revision})",
                        args.level
                    );
                    Ok(ExitCode::SUCCESS)
                }
                geo_cmd::ImportOutcome::Imported { units, revision } => {
                    println!(
                        "imported {units} {} units (revision {revision}); running servers reload within geo.reload_interval_secs",
                        args.level
                    );
                    Ok(ExitCode::SUCCESS)
                }
                geo_cmd::ImportOutcome::Refused(errors) => {
                    for e in &errors {
                        eprintln!("{e}");
                    }
                    eprintln!(
                        "refused: {} problem(s) in {}; nothing was imported / 导入被拒绝，未写入任何数据",
                        errors.len(),
                        args.file.display()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Events(EventsCommand::ClassifyEval) => {
            let examples = wanxiang_classify::parse_corpus(wanxiang_classify::DEFAULT_CORPUS)?;
            let e = wanxiang_classify::evaluate(&examples, 5);
            println!(
                "examples={} trained={} held_out={} top1={:.3} top3={:.3}",
                examples.len(),
                e.trained,
                e.held_out,
                e.top1,
                e.top3
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Events(EventsCommand::Import(args)) => {
            let config = load_config(&args.config, Overrides::default())?;
            init_logging(&config);
            let report = runtime()?.block_on(wanxiang::events_cmd::import(
                &config,
                &args.file,
                &args.channel,
            ))?;
            for failure in &report.failures {
                eprintln!("{failure}");
            }
            println!("{}", report.line());
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Simulate(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let mode = match (args.mode.as_str(), args.api) {
                ("http", Some(api)) => wanxiang::simulate::Mode::Http {
                    api,
                    workers: args.connections,
                },
                ("http", None) => {
                    anyhow::bail!("--mode http needs --api http://HOST:PORT, the server's HTTP API")
                }
                ("gateway" | "device" | "broker", Some(_)) => {
                    anyhow::bail!("--api is for --mode http; MQTT modes use --broker")
                }
                ("gateway", None) => wanxiang::simulate::Mode::Gateway {
                    connections: args.connections,
                },
                ("device", None) => wanxiang::simulate::Mode::Device,
                ("broker", None) => wanxiang::simulate::Mode::Broker {
                    connections: args.connections,
                },
                (other, _) => {
                    anyhow::bail!("--mode is gateway, device, broker or http, not {other:?}")
                }
            };
            if matches!(mode, wanxiang::simulate::Mode::Http { .. }) && args.qos.is_some() {
                anyhow::bail!("--qos is for MQTT; over HTTP a 2xx answer is the acknowledgement");
            }
            let opts = wanxiang::simulate::Options {
                devices: args.devices,
                rate: args.rate,
                broker: args.broker,
                mode,
                seconds: args.seconds,
                incidents: !args.no_incidents,
                speed: args.speed,
                qos: args.qos.unwrap_or_default(),
                quiet: false,
            };
            // The signal handler needs the runtime, so it is installed inside it.
            let summary = runtime()?.block_on(async {
                wanxiang::simulate::run(opts, serve::shutdown_signal()).await
            })?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::SeedCases(args)) => {
            let config = load_config(&args.config, Overrides::default())?;
            init_logging(&config);
            let opts = wanxiang::seed_cmd::Options {
                count: args.count,
                days: args.days,
                closed: args.closed.clamp(0.0, 1.0),
                seed: args.seed,
                label: wanxiang::seed_cmd::BENCH,
            };
            let started = std::time::Instant::now();
            let seeded = runtime()?.block_on(wanxiang::seed_cmd::seed_cases(&config, &opts))?;
            println!(
                "seeded cases={} closed={} linked={} in {:.1}s (benchmark data / 压测数据)",
                seeded.cases,
                seeded.closed,
                seeded.linked,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Services(args)) => {
            let opts = wanxiang::bench_services::Options {
                api: args.api,
                applications: args.applications,
                concurrency: args.concurrency,
                evaluations: args.evaluations.max(1),
            };
            runtime()?.block_on(wanxiang::bench_services::run(&opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Alarm(args)) => {
            let opts = wanxiang::bench_cmd::AlarmOptions {
                target: args.target,
                api: args.api,
                rate: args.rate,
                probes: args.probes.max(1),
            };
            runtime()?.block_on(wanxiang::bench_cmd::alarm(&opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Telemetry(args)) => {
            let opts = wanxiang::bench_cmd::Options {
                target: args.target,
                baseline: args.baseline,
                clients: args.clients,
                inflight: args.inflight,
                seconds: args.seconds,
            };
            if opts.target.is_none() && opts.baseline.is_none() {
                anyhow::bail!("give --target, --baseline or both");
            }
            runtime()?.block_on(wanxiang::bench_cmd::telemetry(&opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices(DevicesCommand::Import(args)) => {
            let config = load_config(&args.config, Overrides::default())?;
            init_logging(&config);
            let report = runtime()?.block_on(wanxiang::devices_cmd::import(
                &config,
                &args.file,
                &args.owner_unit,
                args.tokens_out.as_deref(),
            ))?;
            for failure in &report.failures {
                eprintln!("{failure}");
            }
            println!("{}", report.line());
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Geo(GeoCommand::Locate(args)) => {
            let stats = geo_cmd::locate(
                &args.boundaries,
                &args.points,
                args.out.as_deref(),
                args.code_property.as_deref(),
                match args.strategy {
                    StrategyArg::Grid => wanxiang_geo::Strategy::Grid,
                    StrategyArg::Rtree => wanxiang_geo::Strategy::RTree,
                },
            )?;
            println!("{}", stats.line());
            Ok(ExitCode::SUCCESS)
        }
    }
}
