//! The storage conformance suite: every backend runs these same cases.
//!
//! A backend's test file provides a [`Harness`] (how to open a fresh store, and how to make its
//! database look as if a newer Wanxiang had migrated it) and invokes [`conformance_suite!`], which
//! expands to one `#[tokio::test]` per case, as ripgrep's `rgtest!` runs each test per engine.

use std::sync::Arc;

use async_trait::async_trait;
use geo_types::{MultiPolygon, polygon};
use wanxiang_core::{Level, Unit, UnitCode};

use crate::{Store, StoreError};

/// What a backend supplies to run the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Opens (migrating) the store of this harness's private database; calling it again opens
    /// the same database anew.
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError>;
    /// Records in the database a migration newer than any this binary knows.
    async fn pretend_newer_schema(&self);
}

/// Expands to one test per conformance case. `$harness` is an async expression giving a fresh
/// [`Harness`] for each test.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@cases $harness;
            migrations_are_idempotent, refuses_a_newer_schema, a_new_store_is_empty,
            units_round_trip_exactly, import_is_all_or_nothing, import_replaces_and_bumps_revision);
    };
    (@cases $harness:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness.await;
                $crate::conformance::$case(&harness).await;
            }
        )*
    };
}

fn square(x: f64, y: f64, size: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![polygon![
        (x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size), (x: x, y: y)
    ]])
}

fn unit(code: &str, name: &str, boundary: Option<MultiPolygon<f64>>, synthetic: bool) -> Unit {
    let code = UnitCode::parse(code).expect("test codes are valid");
    Unit {
        level: code.level(),
        parent: code.parent(),
        code,
        name: name.into(),
        boundary,
        synthetic,
    }
}

/// A small tree: a district, two streets, a community and a grid.
fn small_tree() -> Vec<Unit> {
    vec![
        unit("440303", "罗湖区", Some(square(114.0, 22.5, 0.2)), false),
        unit(
            "440303001",
            "桂园街道",
            Some(square(114.0, 22.5, 0.1)),
            true,
        ),
        unit("440303002", "黄贝街道", None, true),
        unit(
            "440303001001",
            "大塘龙社区",
            Some(square(114.0, 22.5, 0.05)),
            true,
        ),
        unit(
            "440303001001001",
            "大塘龙社区第1网格",
            Some(square(114.0, 22.5, 0.01)),
            true,
        ),
    ]
}

/// Opening twice runs no migration twice and keeps the version.
pub async fn migrations_are_idempotent(h: &dyn Harness) {
    let first = h.open().await.expect("first open migrates");
    let v1 = first.schema_version().await.unwrap();
    assert!(v1 > 0, "a migrated store has a version");
    first.import_units(&small_tree()).await.unwrap();
    let second = h.open().await.expect("second open finds nothing to do");
    assert_eq!(second.schema_version().await.unwrap(), v1);
    assert_eq!(
        second.units().await.unwrap().len(),
        5,
        "data survives reopening"
    );
    second.ping().await.unwrap();
}

/// A database migrated by a newer binary is refused with a clear error.
pub async fn refuses_a_newer_schema(h: &dyn Harness) {
    h.open().await.unwrap();
    h.pretend_newer_schema().await;
    match h.open().await {
        Err(StoreError::SchemaTooNew { found, known }) => assert!(found > known),
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, the store opened"),
    }
}

/// A fresh store holds nothing.
pub async fn a_new_store_is_empty(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    assert!(s.units().await.unwrap().is_empty());
    assert_eq!(
        s.unit(&UnitCode::parse("440303").unwrap()).await.unwrap(),
        None
    );
    assert_eq!(s.units_revision().await.unwrap(), 0);
}

/// Units come back exactly as written, boundaries to the last bit, sorted by code.
pub async fn units_round_trip_exactly(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let mut tree = small_tree();
    // Written children-first on purpose: the store must order the batch itself.
    tree.reverse();
    s.import_units(&tree).await.unwrap();
    tree.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(s.units().await.unwrap(), tree);
    let grid = UnitCode::parse("440303001001001").unwrap();
    assert_eq!(
        s.unit(&grid).await.unwrap().as_ref(),
        tree.iter().find(|u| u.code == grid)
    );
    // Awkward floats survive: GeoJSON text must print the shortest exact representation.
    let odd = unit(
        "440303002001",
        "水库社区",
        Some(square(114.123_456_789_012_34, 22.1 + 0.2, 1e-7)),
        true,
    );
    s.import_units(std::slice::from_ref(&odd)).await.unwrap();
    assert_eq!(s.unit(&odd.code).await.unwrap(), Some(odd));
}

/// A batch with one bad unit writes nothing and leaves the revision alone.
pub async fn import_is_all_or_nothing(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    s.import_units(&small_tree()[..2]).await.unwrap();
    let before = (s.units().await.unwrap(), s.units_revision().await.unwrap());
    let batch = vec![
        unit("440303001002", "桂木园社区", None, false),
        // Its street was never imported.
        unit("440303009001", "孤儿社区", None, false),
    ];
    let err = s.import_units(&batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "got {err}");
    assert_eq!(
        (s.units().await.unwrap(), s.units_revision().await.unwrap()),
        before
    );
}

/// Re-importing a code replaces the unit, and every import bumps the revision.
pub async fn import_replaces_and_bumps_revision(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let r1 = s.import_units(&small_tree()).await.unwrap();
    assert!(r1 > 0);
    let real = unit(
        "440303001",
        "桂园街道",
        Some(square(114.01, 22.51, 0.08)),
        false,
    );
    let r2 = s.import_units(std::slice::from_ref(&real)).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(s.units_revision().await.unwrap(), r2);
    assert_eq!(s.unit(&real.code).await.unwrap(), Some(real));
    assert_eq!(s.units().await.unwrap().len(), 5);
    let levels: Vec<Level> = s.units().await.unwrap().iter().map(|u| u.level).collect();
    assert_eq!(
        levels,
        [
            Level::District,
            Level::Street,
            Level::Community,
            Level::Grid,
            Level::Street
        ]
    );
}
