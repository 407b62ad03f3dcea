//! Opening the store the configuration names: SQLite by default, PostgreSQL for `postgres://`;
//! and the application state the offline commands (imports, seeding) work through.

use std::sync::Arc;

use anyhow::Context;
use wanxiang_store::Store;
use wanxiang_store_postgres::PgStore;
use wanxiang_store_sqlite::SqliteStore;

use wanxiang_api::{ApiConfig, AppState, AtlasHandle};
use wanxiang_geo::Atlas;

use crate::config::{Config, redact};

/// Opens and migrates the configured store, creating the data directory for SQLite.
pub async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(&url)
            .await
            .with_context(|| format!("opening {}", redact(&url)))?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        if let Some(path) = url.strip_prefix("sqlite://").map(std::path::Path::new)
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
        let store = SqliteStore::open(&url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!(
            "database URL must start with sqlite:// or postgres://, not {:?}",
            redact(&url)
        )
    }
}

/// The configured store with its geography loaded and the configured event hub and sensing
/// settings: what `events import`, `devices import` and `bench seed-cases` take reports and
/// devices in through, exactly as the server would.
pub async fn offline_state(config: &Config) -> anyhow::Result<AppState> {
    let store = open(config).await?;
    let units = store.units().await?;
    let revision = store.units_revision().await?;
    let atlas = AtlasHandle::default();
    atlas.replace(
        revision,
        tokio::task::spawn_blocking(move || Atlas::new(units)).await?,
    );
    let mut state = AppState::new(store, atlas, ApiConfig::default());
    state.hub = crate::serve::load_hub(config)?;
    state.sensing = crate::serve::load_sensing(config)?;
    Ok(state)
}
