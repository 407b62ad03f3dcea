//! Wanxiang's storage interface: what the platform keeps, independent of where it keeps it.
//!
//! Architecture invariant: this crate names no database. It holds the [`Store`] trait, its error
//! type, and (behind the `conformance` feature) the one test suite that every backend must pass,
//! so SQLite and PostgreSQL behave the same by construction rather than by hope.

use async_trait::async_trait;
use wanxiang_core::{Unit, UnitCode};

#[cfg(feature = "conformance")]
pub mod conformance;

/// Why a store operation failed. The API turns these into HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database holds migrations this binary does not know: it was used by a newer Wanxiang.
    /// Running on would risk corrupting data the newer version wrote, so we stop.
    #[error(
        "the database schema is newer than this binary (it has migration {found}, this binary knows up to {known}); run a newer wanxiang"
    )]
    SchemaTooNew {
        /// The unknown migration version found in the database.
        found: i64,
        /// The newest migration this binary carries.
        known: i64,
    },
    /// A migration failed to apply, or an applied one was changed after the fact.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A write broke a rule of the data (a unit whose parent does not exist, say).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back (a boundary that is not GeoJSON, an unknown level).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

/// Which engine a store runs on, for logs, `/readyz` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one SQLite file.
    Sqlite,
    /// PostgreSQL, for production and for several nodes.
    Postgres,
}

impl Backend {
    /// The name shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Everything Wanxiang persists. Implementations run their migrations when they are opened.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The engine behind this store.
    fn backend(&self) -> Backend;

    /// Checks that the database answers; `/readyz` calls it.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The newest migration applied to the database.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Every administrative unit, sorted by code.
    async fn units(&self) -> Result<Vec<Unit>, StoreError>;

    /// One unit by code.
    async fn unit(&self, code: &UnitCode) -> Result<Option<Unit>, StoreError>;

    /// A counter that grows whenever units change, so that every node can tell cheaply when to
    /// rebuild its spatial index.
    async fn units_revision(&self) -> Result<i64, StoreError>;

    /// Inserts or replaces units in one transaction: all of them are written or none is. Parents
    /// must exist already or come earlier in the same batch's levels. Returns the new revision.
    async fn import_units(&self, units: &[Unit]) -> Result<i64, StoreError>;
}

/// Encoding of units for the SQL backends, shared so both store exactly the same text.
pub mod codec {
    use wanxiang_core::{Level, Unit, UnitCode};
    use wanxiang_geo::geojson_io;

    use crate::StoreError;

    /// A unit row as both SQL backends hold it.
    #[derive(Debug, Clone)]
    pub struct UnitRow {
        /// Canonical code.
        pub code: String,
        /// Name.
        pub name: String,
        /// Level wire name.
        pub level: String,
        /// Parent code, if any.
        pub parent_code: Option<String>,
        /// Boundary as GeoJSON geometry text, if any.
        pub boundary: Option<String>,
        /// Whether the boundary is generated.
        pub synthetic: bool,
    }

    /// Encodes a unit for writing.
    pub fn encode(unit: &Unit) -> UnitRow {
        UnitRow {
            code: unit.code.to_string(),
            name: unit.name.clone(),
            level: unit.level.as_str().to_owned(),
            parent_code: unit.parent.as_ref().map(ToString::to_string),
            boundary: unit.boundary.as_ref().map(geojson_io::boundary_to_json),
            synthetic: unit.synthetic,
        }
    }

    /// Decodes a unit read back.
    pub fn decode(row: UnitRow) -> Result<Unit, StoreError> {
        let bad = |what: String| StoreError::Corrupt(format!("unit {}: {what}", row.code));
        let code = UnitCode::parse(&row.code).map_err(|e| bad(e.to_string()))?;
        let level = Level::parse(&row.level)
            .ok_or_else(|| bad(format!("unknown level {:?}", row.level)))?;
        let parent = row
            .parent_code
            .as_deref()
            .map(UnitCode::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        let boundary = row
            .boundary
            .as_deref()
            .map(geojson_io::boundary_from_json)
            .transpose()
            .map_err(bad)?;
        Ok(Unit {
            code,
            name: row.name,
            level,
            parent,
            boundary,
            synthetic: row.synthetic,
        })
    }

    /// Orders a batch so that parents are written before their children.
    pub fn parents_first(units: &[Unit]) -> Vec<&Unit> {
        let mut sorted: Vec<&Unit> = units.iter().collect();
        sorted.sort_by_key(|u| (u.level, u.code.clone()));
        sorted
    }
}
