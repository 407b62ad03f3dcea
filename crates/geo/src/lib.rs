//! Wanxiang's geography: "whose patch is this point on?", answered fast and exactly.
//!
//! Architecture invariant: like the core, this crate does no I/O. It turns GeoJSON text into
//! validated [`wanxiang_core::Unit`]s, builds the in-memory [`Atlas`] that locates points, converts
//! between China's three coordinate systems, and generates the demo district. Reading files and
//! storing units belong to the binary and the store.

pub mod atlas;
pub mod crs;
pub mod demo;
pub mod geojson_io;
mod grid;
pub mod import;
pub mod index;
mod partition;
pub mod prepared;

pub use atlas::{Atlas, Located};
pub use crs::Crs;
pub use index::{PolygonIndex, Strategy};
pub use prepared::PreparedPolygon;
