//! `GET /api/v1/locate` (one point) and `POST /api/v1/locate` (a batch): which grid, community,
//! street and district hold a point given in WGS-84, GCJ-02 or BD-09.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_geo::{Atlas, Crs};

use crate::units::{UnitRef, atlas};
use crate::{AppError, AppState};

/// Most points one batch request may hold.
pub const MAX_BATCH: usize = 10_000;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(locate_one, locate_batch))
}

/// Query of a single lookup.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LocateQuery {
    /// Longitude in degrees, -180 to 180.
    lon: Option<String>,
    /// Latitude in degrees, -90 to 90.
    lat: Option<String>,
    /// `wgs84` (default), `gcj02` or `bd09`.
    crs: Option<String>,
}

/// A WGS-84 point.
#[derive(Debug, Serialize, ToSchema)]
pub struct Wgs84 {
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
}

/// The units holding a point.
#[derive(Debug, Serialize, ToSchema)]
pub struct Location {
    /// The point converted to WGS-84, the system boundaries are kept in.
    wgs84: Wgs84,
    /// The district (区).
    district: UnitRef,
    /// The street (街道), if the district is divided into streets there.
    street: Option<UnitRef>,
    /// The community (社区).
    community: Option<UnitRef>,
    /// The grid (网格).
    grid: Option<UnitRef>,
}

fn parse_crs(text: Option<&str>) -> Result<Crs, AppError> {
    match text {
        None | Some("") => Ok(Crs::Wgs84),
        Some(t) => Crs::parse(t).ok_or_else(|| {
            AppError::field("invalid_crs", "crs", format!("未知坐标系 {t:?}，可用 wgs84、gcj02、bd09 / unknown crs {t:?}: use wgs84, gcj02 or bd09"))
        }),
    }
}

fn parse_coordinate(text: Option<&str>, field: &'static str) -> Result<f64, AppError> {
    let zh = if field == "lon" { "经度" } else { "纬度" };
    let text = text.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        AppError::field(
            "missing_coordinate",
            field,
            format!("缺少{zh} / {field} is required"),
        )
    })?;
    let value: f64 = text.trim().parse().map_err(|_| {
        AppError::field(
            "invalid_coordinate",
            field,
            format!("{zh}不是数字 / {field} is not a number: {text:?}"),
        )
    })?;
    check_range(value, field)?;
    Ok(value)
}

fn check_range(value: f64, field: &'static str) -> Result<(), AppError> {
    let (limit, zh) = if field == "lon" {
        (180.0, "经度")
    } else {
        (90.0, "纬度")
    };
    if !value.is_finite() || value.abs() > limit {
        return Err(AppError::field(
            "coordinate_out_of_range",
            field,
            format!("{zh}超出范围 / {field} must be between -{limit} and {limit}, not {value}"),
        ));
    }
    Ok(())
}

fn locate(atlas: &Atlas, crs: Crs, lon: f64, lat: f64) -> Option<Location> {
    let (wlon, wlat) = crs.to_wgs84(lon, lat);
    let found = atlas.locate(wlon, wlat);
    Some(Location {
        wgs84: Wgs84 {
            lon: wlon,
            lat: wlat,
        },
        district: UnitRef::of(found.district?),
        street: found.street.map(UnitRef::of),
        community: found.community.map(UnitRef::of),
        grid: found.grid.map(UnitRef::of),
    })
}

/// The grid, community, street and district containing a point.
#[utoipa::path(get, path = "/api/v1/locate", tag = "geography", params(LocateQuery), responses(
    (status = 200, body = Location),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Missing, non-numeric or out-of-range coordinate, or unknown crs"),
    (status = 404, body = crate::error::ErrorEnvelope, description = "The point is outside the district (code `outside_district`)"),
))]
async fn locate_one(
    State(state): State<AppState>,
    Query(q): Query<LocateQuery>,
) -> Result<Json<Location>, AppError> {
    let crs = parse_crs(q.crs.as_deref())?;
    let lon = parse_coordinate(q.lon.as_deref(), "lon")?;
    let lat = parse_coordinate(q.lat.as_deref(), "lat")?;
    let atlas = atlas(&state)?;
    locate(&atlas, crs, lon, lat).map(Json).ok_or_else(|| {
        AppError::OutsideDistrict(format!(
            "该点 ({lon}, {lat}, {crs}) 不在本区范围内 / the point ({lon}, {lat}, {crs}) is outside the district"
        ))
    })
}

/// A batch of points.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LocateBatch {
    /// `wgs84` (default), `gcj02` or `bd09`, for every point.
    crs: Option<String>,
    /// Points as `[lon, lat]` pairs; at most 10,000.
    points: Vec<[f64; 2]>,
}

/// Answers of a batch, in the order of the points.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocateBatchResult {
    /// One entry per point: its location, or null outside the district.
    results: Vec<Option<Location>>,
    /// How many points fell inside the district.
    matched: usize,
}

/// Locates up to 10,000 points in one request; points outside the district answer null.
#[utoipa::path(post, path = "/api/v1/locate", tag = "geography", request_body = LocateBatch, responses(
    (status = 200, body = LocateBatchResult),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Too many points, a coordinate out of range, or an unknown crs"),
    (status = 413, body = crate::error::ErrorEnvelope, description = "Body over the configured limit"),
))]
async fn locate_batch(
    State(state): State<AppState>,
    Json(batch): Json<LocateBatch>,
) -> Result<Json<LocateBatchResult>, AppError> {
    let crs = parse_crs(batch.crs.as_deref())?;
    if batch.points.len() > MAX_BATCH {
        return Err(AppError::field(
            "too_many_points",
            "points",
            format!(
                "一次最多 {MAX_BATCH} 个点 / at most {MAX_BATCH} points per request, got {}",
                batch.points.len()
            ),
        ));
    }
    for [lon, lat] in &batch.points {
        check_range(*lon, "lon")?;
        check_range(*lat, "lat")?;
    }
    let atlas = atlas(&state)?;
    let results: Vec<Option<Location>> = batch
        .points
        .iter()
        .map(|&[lon, lat]| locate(&atlas, crs, lon, lat))
        .collect();
    let matched = results.iter().filter(|r| r.is_some()).count();
    Ok(Json(LocateBatchResult { results, matched }))
}
