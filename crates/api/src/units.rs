//! `GET /api/v1/units` (the tree) and `GET /api/v1/units/{code}` (one unit with its boundary).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::{Unit, UnitCode};
use wanxiang_geo::{Atlas, geojson_io};

use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units))
        .routes(routes!(get_unit))
        .routes(routes!(boundaries))
}

/// A unit named in another answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitRef {
    /// Canonical code: 12 digits, or 15 for a grid.
    pub code: String,
    /// Official name.
    pub name: String,
    /// `district`, `street`, `community` or `grid`.
    pub level: &'static str,
    /// True when the unit's boundary was generated, not surveyed.
    pub synthetic: bool,
}

impl UnitRef {
    pub(crate) fn of(u: &Unit) -> UnitRef {
        UnitRef {
            code: u.code.to_string(),
            name: u.name.clone(),
            level: u.level.as_str(),
            synthetic: u.synthetic,
        }
    }
}

/// A node of the unit tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitNode {
    /// Canonical code.
    pub code: String,
    /// Official name.
    pub name: String,
    /// `district`, `street`, `community` or `grid`.
    pub level: &'static str,
    /// The level in Chinese: 区, 街道, 社区, 网格.
    pub level_name: &'static str,
    /// True when the boundary was generated, not surveyed.
    pub synthetic: bool,
    /// The units directly below, down to the requested depth.
    #[schema(no_recursion)]
    pub children: Vec<UnitNode>,
}

/// One unit with its boundary.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDetail {
    /// Canonical code.
    pub code: String,
    /// Official name.
    pub name: String,
    /// `district`, `street`, `community` or `grid`.
    pub level: &'static str,
    /// The level in Chinese.
    pub level_name: &'static str,
    /// The enclosing unit.
    pub parent: Option<UnitRef>,
    /// True when the boundary was generated, not surveyed.
    pub synthetic: bool,
    /// The units directly below.
    pub children: Vec<UnitRef>,
    /// The boundary as a GeoJSON geometry (WGS-84), or null when unknown.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<serde_json::Value>,
}

/// Query of the tree listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TreeQuery {
    /// How many levels below the root to include: 0 gives the root alone; default all.
    depth: Option<String>,
    /// The code of the subtree's root; default the district.
    root: Option<String>,
}

pub(crate) fn atlas(state: &AppState) -> Result<Arc<Atlas>, AppError> {
    state
        .atlas
        .current()
        .ok_or_else(|| AppError::Unavailable("地理数据尚未加载 / geography not loaded yet".into()))
}

pub(crate) fn parse_code(text: &str, field: &'static str) -> Result<UnitCode, AppError> {
    UnitCode::parse(text)
        .map_err(|e| AppError::field("invalid_code", field, format!("单位编码不正确 / {e}")))
}

fn node(atlas: &Atlas, unit: &Unit, depth: usize) -> UnitNode {
    let children = if depth == 0 {
        Vec::new()
    } else {
        atlas
            .children(&unit.code)
            .map(|c| node(atlas, c, depth - 1))
            .collect()
    };
    UnitNode {
        code: unit.code.to_string(),
        name: unit.name.clone(),
        level: unit.level.as_str(),
        level_name: unit.level.name_zh(),
        synthetic: unit.synthetic,
        children,
    }
}

/// The administrative tree (区 → 街道 → 社区 → 网格), without boundaries.
#[utoipa::path(get, path = "/api/v1/units", tag = "geography", params(TreeQuery), responses(
    (status = 200, body = Vec<UnitNode>, description = "The roots (normally the one district) with their subtrees"),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Bad depth or root code"),
    (status = 404, body = crate::error::ErrorEnvelope, description = "Unknown root"),
))]
async fn list_units(
    State(state): State<AppState>,
    Query(q): Query<TreeQuery>,
) -> Result<Json<Vec<UnitNode>>, AppError> {
    let atlas = atlas(&state)?;
    let depth = match q.depth.as_deref() {
        None | Some("") => usize::MAX,
        Some(text) => text.parse::<usize>().map_err(|_| {
            AppError::field(
                "invalid_depth",
                "depth",
                format!("depth 必须是非负整数 / depth must be a whole number ≥ 0, not {text:?}"),
            )
        })?,
    };
    let roots: Vec<&Unit> =
        match q.root.as_deref() {
            None | Some("") => atlas
                .units()
                .iter()
                .filter(|u| u.parent.is_none())
                .collect(),
            Some(text) => {
                let code = parse_code(text, "root")?;
                vec![atlas.unit(&code).ok_or_else(|| {
                    AppError::NotFound(format!("没有单位 {code} / no unit {code}"))
                })?]
            }
        };
    Ok(Json(
        roots.into_iter().map(|u| node(&atlas, u, depth)).collect(),
    ))
}

/// One unit, with its parent, children and boundary as GeoJSON.
#[utoipa::path(get, path = "/api/v1/units/{code}", tag = "geography",
    params(("code" = String, Path, description = "Unit code, long or short form (440303, 440303001, 440303001001, 440303001001003)")),
    responses(
        (status = 200, body = UnitDetail),
        (status = 400, body = crate::error::ErrorEnvelope, description = "Not a unit code"),
        (status = 404, body = crate::error::ErrorEnvelope, description = "No such unit"),
))]
async fn get_unit(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<UnitDetail>, AppError> {
    let atlas = atlas(&state)?;
    let code = parse_code(&code, "code")?;
    let unit = atlas
        .unit(&code)
        .ok_or_else(|| AppError::NotFound(format!("没有单位 {code} / no unit {code}")))?;
    let boundary = unit
        .boundary
        .as_ref()
        .map(|b| serde_json::to_value(geojson_io::to_geometry(b)).expect("geometry serializes"));
    Ok(Json(UnitDetail {
        code: unit.code.to_string(),
        name: unit.name.clone(),
        level: unit.level.as_str(),
        level_name: unit.level.name_zh(),
        parent: unit
            .parent
            .as_ref()
            .and_then(|p| atlas.unit(p))
            .map(UnitRef::of),
        synthetic: unit.synthetic,
        children: atlas.children(&unit.code).map(UnitRef::of).collect(),
        boundary,
    }))
}

/// Query of the boundaries layer.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BoundariesQuery {
    /// `district`, `street`, `community` or `grid`; default `street`.
    level: Option<String>,
    /// Only units below this code (long or short form).
    within: Option<String>,
}

/// The boundaries of one level as a GeoJSON FeatureCollection, ready for a map: each feature's
/// properties are `code`, `name`, `level`, `parent` and `synthetic`.
#[utoipa::path(get, path = "/api/v1/boundaries", tag = "geography", params(BoundariesQuery), responses(
    (status = 200, description = "GeoJSON FeatureCollection", content_type = "application/geo+json", body = Object),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Unknown level or bad code"),
    (status = 404, body = crate::error::ErrorEnvelope, description = "Unknown `within` unit"),
))]
async fn boundaries(
    State(state): State<AppState>,
    Query(q): Query<BoundariesQuery>,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let atlas = atlas(&state)?;
    let level = match q.level.as_deref() {
        None | Some("") => wanxiang_core::Level::Street,
        Some(text) => wanxiang_core::Level::parse(text).ok_or_else(|| {
            AppError::field(
                "invalid_level",
                "level",
                format!("未知层级 {text:?} / unknown level {text:?}: use district, street, community or grid"),
            )
        })?,
    };
    let within = match q.within.as_deref() {
        None | Some("") => None,
        Some(text) => {
            let code = parse_code(text, "within")?;
            atlas
                .unit(&code)
                .ok_or_else(|| AppError::NotFound(format!("没有单位 {code} / no unit {code}")))?;
            Some(code)
        }
    };
    let features: Vec<geojson::Feature> = atlas
        .units()
        .iter()
        .filter(|u| u.level == level && within.as_ref().is_none_or(|w| w.encloses(&u.code)))
        .map(|u| {
            let mut properties = geojson::JsonObject::new();
            properties.insert("code".into(), u.code.to_string().into());
            properties.insert("name".into(), u.name.clone().into());
            properties.insert("level".into(), u.level.as_str().into());
            properties.insert(
                "parent".into(),
                u.parent.as_ref().map(|p| p.to_string()).into(),
            );
            properties.insert("synthetic".into(), u.synthetic.into());
            geojson::Feature {
                bbox: None,
                geometry: u.boundary.as_ref().map(geojson_io::to_geometry),
                id: Some(geojson::feature::Id::String(u.code.to_string())),
                properties: Some(properties),
                foreign_members: None,
            }
        })
        .collect();
    let collection = geojson::FeatureCollection {
        bbox: None,
        features,
        foreign_members: None,
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/geo+json")],
        collection.to_string(),
    ))
}
