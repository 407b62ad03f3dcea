//! Layered configuration: built-in defaults, then a TOML file (`--config`), then
//! `WANXIANG__SECTION__KEY` environment variables, then command-line flags, each overriding the one
//! before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Every setting, as documented in `wanxiang serve --help` and the README.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Load the demo district (and later issues' demo content) on first start.
    pub demo: bool,
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Where data lives.
    pub storage: StorageConfig,
    /// Logging.
    pub log: LogConfig,
    /// Geography settings.
    pub geo: GeoConfig,
    /// Sessions, login throttling and browser access.
    pub auth: AuthConfig,
    /// The event hub's data files.
    pub events: EventsConfig,
    /// The sensing hub: device types, alarm rules, the MQTT device gateway.
    pub sensing: SensingConfig,
    /// The bus between nodes.
    pub bus: BusConfig,
    /// 一网通办.
    pub services: ServicesConfig,
}

/// `[services]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// How often worker nodes run the proactive triggers (无感申办), in minutes; 0 runs them only
    /// when a district admin asks (`POST /api/v1/services/triggers/run`).
    pub trigger_interval_mins: u64,
    /// The service catalogue (format of `crates/core/data/services/catalogue.toml`), its decision
    /// models in a `models/` directory beside it; empty for the shipped demo catalogue.
    pub catalogue_file: String,
}

/// `[bus]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// A NATS server (`nats://host:port`) through which the nodes of a cluster tell each other
    /// of changes, so every node's live stream shows all of them; empty for a single node.
    pub url: String,
    /// Subjects start with this (`<prefix>.changes`): clusters sharing one NATS keep apart.
    pub subject_prefix: String,
}

/// `[sensing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensingConfig {
    /// Where devices connect over MQTT (`off` for none). With `--demo`, when the port is taken,
    /// the next free one is used and printed.
    pub mqtt_listen: String,
    /// An external broker to subscribe to (`mqtt://[user:password@]host[:port]`), empty for
    /// none: devices publish to `v1/devices/{device id}/telemetry` there, and the nodes split the
    /// traffic through a shared subscription.
    pub mqtt_broker: String,
    /// This node's client id at the external broker; empty: `wanxiang-{host}-{HTTP port}`.
    pub mqtt_client_id: String,
    /// The shared-subscription group of the nodes at the external broker.
    pub mqtt_group: String,
    /// A device-types file in the format of `crates/core/data/device_types.toml`; empty = the
    /// built-in demo types.
    pub types_file: String,
    /// Alarms at or above this level (blue, yellow, orange, red) open a case in the event hub.
    pub case_level: String,
    /// Readings stamped more than this far in the future are refused.
    pub max_future_secs: u64,
    /// Readings older than this are refused.
    pub max_past_days: u64,
    /// Refused values per device per minute before the device is throttled.
    pub flood_limit_per_minute: i64,
    /// Raw readings older than this many days are deleted (hourly); 0 keeps them forever.
    pub retention_days: u64,
    /// 1-minute rollups older than this many days are deleted (hourly); 0 keeps them forever.
    pub rollup_minute_days: u64,
    /// 1-hour rollups older than this many days are deleted (hourly); 0 keeps them forever.
    pub rollup_hour_days: u64,
    /// An alarm nobody acknowledges for this many minutes goes one level up (again after as
    /// long, up to red), raising its case's priority; 0 never.
    pub escalate_unacknowledged_mins: u64,
    /// With `--demo`: how many demo sensors to register on first start (DEMO content).
    pub demo_devices: usize,
    /// With `--demo`: messages per second the built-in simulator sends for the demo sensors
    /// through the MQTT gateway, with its scripted incidents; 0 turns it off.
    pub demo_simulator_rate: f64,
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// A category / responsibility-list file in the format of `crates/core/data/categories.tsv`;
    /// empty = the built-in demo list.
    pub categories_file: String,
    /// A holiday calendar: lines `YYYY-MM-DD holiday|workday`; empty = weekends only.
    pub holidays_file: String,
    /// Reports without a category are dispatched at once when the classifier is at least this
    /// confident (0-1); below, they wait for a dispatcher with its suggestions.
    pub auto_dispatch_confidence: f64,
    /// A report of the same category this close (metres) to an open case … (0 turns linking off).
    pub duplicate_radius_m: f64,
    /// … and at most this many minutes after it is linked to it as a duplicate.
    pub duplicate_window_mins: u64,
    /// The largest attachment accepted, in MB.
    pub max_attachment_mb: u64,
    /// Most attachments on one report or step.
    pub max_attachments: usize,
    /// Notifications are also POSTed here (an SMS/WeChat gateway); empty: no webhook.
    pub webhook_url: String,
    /// Signs webhook bodies (HMAC-SHA256 in `X-Wanxiang-Signature`); empty: unsigned.
    pub webhook_secret: String,
    /// Attempts before a webhook delivery goes to the dead-letter list.
    pub webhook_max_attempts: u32,
    /// In demo mode, cases of the last 30 days generated on first start (labelled 演示数据), so
    /// the one screen has trends and rankings at once; 0 for none.
    pub demo_cases: usize,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Session lifetime in seconds.
    pub session_ttl_secs: u64,
    /// Mark the session cookie Secure; set when Wanxiang is served over HTTPS (behind a TLS proxy).
    pub secure_cookies: bool,
    /// Login and registration attempts per client address per minute.
    pub login_per_minute: u32,
    /// Failed logins allowed per username and per address before lock-out.
    pub lockout_free_failures: u32,
    /// The first lock-out in seconds; it doubles with each further failure.
    pub lockout_base_secs: u64,
    /// The longest lock-out in seconds.
    pub lockout_max_secs: u64,
    /// Origins allowed to call the API from browsers (CORS); empty = closed.
    pub cors_origins: Vec<String>,
    /// Addresses of the load balancers or reverse proxies in front of the node: from a
    /// connection of one of these, the client's address (for throttling and lock-out) is taken
    /// from `X-Forwarded-For`; from any other, the header is ignored. Empty = never.
    pub trusted_proxies: Vec<String>,
    /// Reports a resident account may send per minute.
    pub resident_reports_per_minute: u32,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body in bytes; larger ones are refused with 413.
    pub body_limit: usize,
    /// The built web UI (Vite's `web/dist`); empty means look for `./web/dist`, then beside the
    /// source tree the binary was built from.
    #[serde(default)]
    pub web_dir: String,
    /// What this node does, comma-separated: `api` (the HTTP API and web UI), `ingest` (device
    /// connections: the MQTT gateway, the external broker's subscription), `worker` (deadlines,
    /// webhook deliveries, retention, the demo's generated history). All three by default; a
    /// cluster may split them.
    pub roles: String,
}

/// What a node does (`server.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Serves the HTTP API and the web UI (without it: only `/healthz`, `/readyz`, `/metrics`).
    pub api: bool,
    /// Takes device connections.
    pub ingest: bool,
    /// Runs the timed work.
    pub worker: bool,
}

impl Roles {
    /// Parses `api,ingest,worker` (any of them, at least one).
    pub fn parse(text: &str) -> Result<Roles, String> {
        let mut roles = Roles {
            api: false,
            ingest: false,
            worker: false,
        };
        for role in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "api" => roles.api = true,
                "ingest" => roles.ingest = true,
                "worker" => roles.worker = true,
                other => {
                    return Err(format!(
                        "server.roles: unknown role {other:?}; use api, ingest, worker"
                    ));
                }
            }
        }
        if !(roles.api || roles.ingest || roles.worker) {
            return Err("server.roles: name at least one of api, ingest, worker".into());
        }
        Ok(roles)
    }
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for the SQLite file and, later, uploaded attachments.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://<data_dir>/wanxiang.db`.
    pub database_url: String,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `wanxiang=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[geo]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// Seconds between checks for changed boundaries (after `wanxiang geo import`, or on another
    /// node); the in-memory index is rebuilt when the store's revision moves.
    pub reload_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            demo: false,
            server: ServerConfig {
                listen: "127.0.0.1:8080".parse().expect("valid"),
                body_limit: 1024 * 1024,
                web_dir: String::new(),
                roles: "api,ingest,worker".into(),
            },
            storage: StorageConfig {
                data_dir: PathBuf::from("wanxiang-data"),
                database_url: String::new(),
            },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
            geo: GeoConfig {
                reload_interval_secs: 5,
            },
            events: EventsConfig {
                categories_file: String::new(),
                holidays_file: String::new(),
                auto_dispatch_confidence: 0.6,
                duplicate_radius_m: 50.0,
                duplicate_window_mins: 24 * 60,
                max_attachment_mb: 10,
                max_attachments: 9,
                webhook_url: String::new(),
                webhook_secret: String::new(),
                webhook_max_attempts: 8,
                demo_cases: 3000,
            },
            sensing: SensingConfig {
                mqtt_listen: "127.0.0.1:1883".into(),
                mqtt_broker: String::new(),
                mqtt_client_id: String::new(),
                mqtt_group: "wanxiang".into(),
                types_file: String::new(),
                case_level: "yellow".into(),
                max_future_secs: 300,
                max_past_days: 30,
                flood_limit_per_minute: 600,
                retention_days: 30,
                rollup_minute_days: 90,
                rollup_hour_days: 0,
                escalate_unacknowledged_mins: 60,
                demo_devices: 20_000,
                demo_simulator_rate: 200.0,
            },
            bus: BusConfig {
                url: String::new(),
                subject_prefix: "wanxiang".into(),
            },
            services: ServicesConfig {
                trigger_interval_mins: 60,
                catalogue_file: String::new(),
            },
            auth: AuthConfig {
                session_ttl_secs: 12 * 3600,
                secure_cookies: false,
                login_per_minute: 30,
                lockout_free_failures: 5,
                lockout_base_secs: 30,
                lockout_max_secs: 900,
                cors_origins: Vec::new(),
                trusted_proxies: Vec::new(),
                resident_reports_per_minute: 20,
            },
        }
    }
}

impl Config {
    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.storage.database_url.trim().is_empty() {
            format!(
                "sqlite://{}",
                self.storage.data_dir.join("wanxiang.db").display()
            )
        } else {
            self.storage.database_url.trim().to_owned()
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--demo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--mqtt-listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_listen: Option<String>,
    /// `--roles`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<String>,
}

/// Loads the configuration from the layers; `env` is normally [`process_env`].
pub fn load(file: Option<&Path>, env: Env, cli: &Overrides) -> Result<Config, Box<figment::Error>> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(Box::new(figment::Error::from(format!(
                "configuration file {} does not exist",
                file.display()
            ))));
        }
        figment = figment.merge(Toml::file(file));
    }
    figment = figment.merge(env);
    let mut flags = figment::value::Dict::new();
    let mut put = |section: &str, key: &str, value: figment::value::Value| {
        let entry = flags
            .entry(section.to_owned())
            .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
        if let figment::value::Value::Dict(_, dict) = entry {
            dict.insert(key.to_owned(), value);
        }
    };
    if let Some(listen) = cli.listen {
        put("server", "listen", listen.to_string().into());
    }
    if let Some(dir) = &cli.data_dir {
        put("storage", "data_dir", dir.display().to_string().into());
    }
    if let Some(url) = &cli.database {
        put("storage", "database_url", url.clone().into());
    }
    if let Some(format) = cli.log_format {
        put(
            "log",
            "format",
            if format == LogFormat::Json {
                "json"
            } else {
                "text"
            }
            .into(),
        );
    }
    if let Some(addr) = &cli.mqtt_listen {
        put("sensing", "mqtt_listen", addr.clone().into());
    }
    if let Some(roles) = &cli.roles {
        put("server", "roles", roles.clone().into());
    }
    if let Some(true) = cli.demo {
        flags.insert("demo".into(), true.into());
    }
    figment = figment.merge(Serialized::defaults(flags));
    figment.extract().map_err(Box::new)
}

/// The environment provider for `WANXIANG__SECTION__KEY` variables.
pub fn process_env() -> Env {
    Env::prefixed("WANXIANG__").split("__")
}

/// The text of `wanxiang serve --help` that lists every configuration key.
pub const KEYS_HELP: &str = "\
Configuration keys (defaults → --config FILE → WANXIANG__SECTION__KEY env → flags):
  demo                       load the demo district on first start     [false]      WANXIANG__DEMO / --demo
  server.listen              address to listen on                      [127.0.0.1:8080]
                                                                       WANXIANG__SERVER__LISTEN / --listen
  server.body_limit          largest request body, bytes (413 above)   [1048576]    WANXIANG__SERVER__BODY_LIMIT
  server.web_dir             the built web UI (web/dist)               [./web/dist, else the source tree's]
                                                                       WANXIANG__SERVER__WEB_DIR
  server.roles               what this node does: api, ingest, worker  [api,ingest,worker]
                                                                       WANXIANG__SERVER__ROLES / --roles
  storage.data_dir           directory for the SQLite file and files   [wanxiang-data]
                                                                       WANXIANG__STORAGE__DATA_DIR / --data-dir
  storage.database_url       sqlite://PATH or postgres://USER@HOST/DB  [sqlite://<data_dir>/wanxiang.db]
                                                                       WANXIANG__STORAGE__DATABASE_URL / --database
  log.format                 text or json                              [text]       WANXIANG__LOG__FORMAT / --log-format
  log.level                  tracing filter, e.g. info, wanxiang=debug [info]       WANXIANG__LOG__LEVEL (RUST_LOG wins)
  geo.reload_interval_secs   seconds between checks for new boundaries [5]          WANXIANG__GEO__RELOAD_INTERVAL_SECS
  auth.session_ttl_secs      session lifetime, seconds                 [43200]      WANXIANG__AUTH__SESSION_TTL_SECS
  auth.secure_cookies        Secure session cookie (behind HTTPS)      [false]      WANXIANG__AUTH__SECURE_COOKIES
  auth.login_per_minute      login/registration attempts per address   [30]         WANXIANG__AUTH__LOGIN_PER_MINUTE
  auth.lockout_free_failures failed logins before lock-out             [5]          WANXIANG__AUTH__LOCKOUT_FREE_FAILURES
  auth.lockout_base_secs     first lock-out, doubling after            [30]         WANXIANG__AUTH__LOCKOUT_BASE_SECS
  auth.lockout_max_secs      longest lock-out                          [900]        WANXIANG__AUTH__LOCKOUT_MAX_SECS
  auth.cors_origins          browser origins allowed (CORS)            [[] closed]  WANXIANG__AUTH__CORS_ORIGINS='[\"https://a.example\"]'
  auth.trusted_proxies       load balancers whose X-Forwarded-For is believed [[] none]
                                                                       WANXIANG__AUTH__TRUSTED_PROXIES='[\"10.0.1.5\"]'

  auth.resident_reports_per_minute  reports per resident account/minute [20]     WANXIANG__AUTH__RESIDENT_REPORTS_PER_MINUTE
  events.categories_file     category and responsibility list (TSV)    [built-in demo list]
                                                                       WANXIANG__EVENTS__CATEGORIES_FILE
  events.holidays_file       holidays and make-up workdays             [weekends only]
                                                                       WANXIANG__EVENTS__HOLIDAYS_FILE
  events.auto_dispatch_confidence  classifier confidence to dispatch   [0.6]        WANXIANG__EVENTS__AUTO_DISPATCH_CONFIDENCE
  events.duplicate_radius_m  link repeats of an open case this near    [50]         WANXIANG__EVENTS__DUPLICATE_RADIUS_M
  events.duplicate_window_mins  … reported within this many minutes    [1440]       WANXIANG__EVENTS__DUPLICATE_WINDOW_MINS
  events.max_attachment_mb   largest photo or document                 [10]         WANXIANG__EVENTS__MAX_ATTACHMENT_MB
  events.max_attachments     attachments per report or step            [9]          WANXIANG__EVENTS__MAX_ATTACHMENTS
  events.webhook_url         POST every notification here (http)       [none]       WANXIANG__EVENTS__WEBHOOK_URL
  events.webhook_secret      HMAC-SHA256 key for X-Wanxiang-Signature  [unsigned]   WANXIANG__EVENTS__WEBHOOK_SECRET
  events.webhook_max_attempts  attempts before the dead-letter list    [8]          WANXIANG__EVENTS__WEBHOOK_MAX_ATTEMPTS
  events.demo_cases          demo: past cases generated on first start [3000]       WANXIANG__EVENTS__DEMO_CASES
  sensing.mqtt_listen        MQTT device gateway address, or off       [127.0.0.1:1883]
                                                                       WANXIANG__SENSING__MQTT_LISTEN / --mqtt-listen
  sensing.mqtt_broker        subscribe to an external broker: mqtt://[user:pass@]host[:port]  [none]
                                                                       WANXIANG__SENSING__MQTT_BROKER
  sensing.mqtt_client_id     this node's client id there               [wanxiang-{host}-{http port}]
                                                                       WANXIANG__SENSING__MQTT_CLIENT_ID
  sensing.mqtt_group         shared-subscription group of the nodes    [wanxiang]   WANXIANG__SENSING__MQTT_GROUP
  sensing.types_file         device types and alarm rules (TOML)       [built-in demo types]
                                                                       WANXIANG__SENSING__TYPES_FILE
  sensing.case_level         alarms at this level or above open cases  [yellow]     WANXIANG__SENSING__CASE_LEVEL
  sensing.max_future_secs    refuse readings stamped further ahead     [300]        WANXIANG__SENSING__MAX_FUTURE_SECS
  sensing.max_past_days      refuse readings older than this           [30]         WANXIANG__SENSING__MAX_PAST_DAYS
  sensing.flood_limit_per_minute  bad values a device may send/minute  [600]        WANXIANG__SENSING__FLOOD_LIMIT_PER_MINUTE
  sensing.retention_days     delete raw readings older than this (0: never) [30] WANXIANG__SENSING__RETENTION_DAYS
  sensing.rollup_minute_days  delete 1-minute rollups older than this (0: never) [90]
                                                                       WANXIANG__SENSING__ROLLUP_MINUTE_DAYS
  sensing.rollup_hour_days   delete 1-hour rollups older than this (0: never) [0]
                                                                       WANXIANG__SENSING__ROLLUP_HOUR_DAYS
  sensing.escalate_unacknowledged_mins  unacknowledged alarms go up a level after (0: never) [60]
                                                                       WANXIANG__SENSING__ESCALATE_UNACKNOWLEDGED_MINS
  sensing.demo_devices       demo sensors registered on first start    [20000]      WANXIANG__SENSING__DEMO_DEVICES
  sensing.demo_simulator_rate  demo telemetry messages/s (0: off)      [200]        WANXIANG__SENSING__DEMO_SIMULATOR_RATE
  bus.url                    NATS server linking a cluster's nodes     [none]       WANXIANG__BUS__URL
  bus.subject_prefix         NATS subjects start with this             [wanxiang]   WANXIANG__BUS__SUBJECT_PREFIX
  services.trigger_interval_mins  run the proactive service triggers every (0: only on request) [60]
                                                                       WANXIANG__SERVICES__TRIGGER_INTERVAL_MINS
  services.catalogue_file    service catalogue (TOML; models/ beside it) [built-in demo catalogue]
                                                                       WANXIANG__SERVICES__CATALOGUE_FILE

Example wanxiang.toml:
  demo = true
  [server]
  listen = \"0.0.0.0:8080\"
  [storage]
  database_url = \"postgres://wanxiang@db.internal/wanxiang\"
";

/// The database URL with any password replaced, safe to log.
pub fn redact(url: &str) -> String {
    // postgres://user:secret@host/db → postgres://user:***@host/db
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

#[cfg(test)]
// figment::Jail closures return figment::Error, which is large; fine in tests.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_refuse_unknown_ones() {
        let all = Roles {
            api: true,
            ingest: true,
            worker: true,
        };
        assert_eq!(Roles::parse("api,ingest,worker"), Ok(all));
        assert_eq!(
            Roles::parse(" worker "),
            Ok(Roles {
                api: false,
                ingest: false,
                worker: true
            })
        );
        assert!(Roles::parse("api,cook").unwrap_err().contains("cook"));
        assert!(Roles::parse(" , ").is_err());
    }

    // figment's Jail sets files and variables for one closure and restores them after, and
    // runs jails one at a time, so these tests do not race on the process environment.
    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "wanxiang.toml",
                "demo = true\n[server]\nlisten = \"127.0.0.1:9000\"\nbody_limit = 10\n[storage]\ndata_dir = \"/from/file\"\n",
            )?;
            jail.set_env("WANXIANG__SERVER__BODY_LIMIT", "20");
            jail.set_env("WANXIANG__STORAGE__DATA_DIR", "/from/env");
            jail.set_env("WANXIANG__LOG__FORMAT", "json");
            let cli = Overrides {
                data_dir: Some("/from/flag".into()),
                ..Overrides::default()
            };
            let c = load(Some(Path::new("wanxiang.toml")), process_env(), &cli)
                .map_err(|e| e.to_string())?;
            assert!(c.demo, "file");
            assert_eq!(c.server.listen.port(), 9000, "file");
            assert_eq!(c.server.body_limit, 20, "env over file");
            assert_eq!(c.log.format, LogFormat::Json, "env over default");
            assert_eq!(
                c.storage.data_dir,
                PathBuf::from("/from/flag"),
                "flag over env"
            );
            assert_eq!(c.database_url(), "sqlite:///from/flag/wanxiang.db");
            Ok(())
        });
    }

    #[test]
    fn defaults_need_no_file_and_bad_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            let c = load(None, process_env(), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c, Config::default());
            assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
            jail.create_file(
                "bad.toml",
                "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
            )?;
            let err = load(
                Some(Path::new("bad.toml")),
                process_env(),
                &Overrides::default(),
            )
            .unwrap_err();
            assert!(err.to_string().contains("lisen"), "{err}");
            assert!(
                load(
                    Some(Path::new("missing.toml")),
                    process_env(),
                    &Overrides::default()
                )
                .is_err()
            );
            Ok(())
        });
    }

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact("postgres://wx:s3cret@db:5432/city"),
            "postgres://wx:***@db:5432/city"
        );
        assert_eq!(redact("postgres://wx@db/city"), "postgres://wx@db/city");
        assert_eq!(
            redact("sqlite://data/wanxiang.db"),
            "sqlite://data/wanxiang.db"
        );
    }
}
