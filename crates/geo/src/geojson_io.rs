//! Boundaries to and from GeoJSON geometry text, the one format Wanxiang stores and serves them in.

use geo_types::{MultiPolygon, Polygon};
use geojson::{Geometry, GeometryValue};

/// Converts a GeoJSON geometry value to a multipolygon; a Polygon becomes a one-part multipolygon.
pub fn to_multipolygon(value: &GeometryValue) -> Result<MultiPolygon<f64>, String> {
    match value {
        GeometryValue::Polygon { .. } => Polygon::try_from(value)
            .map(|p| MultiPolygon(vec![p]))
            .map_err(|e| e.to_string()),
        GeometryValue::MultiPolygon { .. } => {
            MultiPolygon::try_from(value).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "a boundary must be a Polygon or MultiPolygon, not a {}",
            other.type_name()
        )),
    }
}

/// The GeoJSON geometry of a boundary.
pub fn to_geometry(shape: &MultiPolygon<f64>) -> Geometry {
    Geometry::new(GeometryValue::from(shape))
}

/// A boundary as GeoJSON geometry text, as the stores keep it.
pub fn boundary_to_json(shape: &MultiPolygon<f64>) -> String {
    serde_json::to_string(&to_geometry(shape)).expect("a geometry always serializes")
}

/// Reads a boundary back from GeoJSON geometry text.
pub fn boundary_from_json(text: &str) -> Result<MultiPolygon<f64>, String> {
    let geometry: Geometry = serde_json::from_str(text).map_err(|e| e.to_string())?;
    to_multipolygon(&geometry.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn round_trips_and_rejects_other_geometries() {
        let shape = MultiPolygon(vec![
            polygon![(x: 114.1, y: 22.5), (x: 114.2, y: 22.5), (x: 114.2, y: 22.6), (x: 114.1, y: 22.5)],
        ]);
        let text = boundary_to_json(&shape);
        assert!(text.contains("\"MultiPolygon\""));
        assert_eq!(boundary_from_json(&text).unwrap(), shape);
        let polygon = r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#;
        assert_eq!(boundary_from_json(polygon).unwrap().0.len(), 1);
        let point = r#"{"type":"Point","coordinates":[0,0]}"#;
        assert_eq!(
            boundary_from_json(point).unwrap_err(),
            "a boundary must be a Polygon or MultiPolygon, not a Point"
        );
    }
}
